import datetime as dt
import json
from decimal import Decimal

import pytest

from clientbook.activity.models import Interaction
from clientbook.customers.services import customer_create
from clientbook.ingest.services import import_job_create, import_job_run
from clientbook.ingest.tests.test_import_customers import write_csv
from clientbook.sales.models import Order, OrderLine
from clientbook.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
ORDER_HEADERS = ["订单号", "下单时间", "手机", "商品编码", "数量", "单价"]


@pytest.fixture
def shop(source, branch):
    ProductFactory(sku="TEA", price=Decimal("88.00"), unit_cost=Decimal("30.00"))
    ProductFactory(sku="CAKE", price=Decimal("20.00"), unit_cost=Decimal("5.00"))
    return customer_create(
        name="陈一",
        source=source,
        branch=branch,
        identifiers=[
            {"type": "mobile", "value": "13800138000"},
            {"type": "membership", "value": "VIP9"},
        ],
    )


def run(path, source, kind, **kwargs):
    return import_job_run(
        job=import_job_create(path=path, source=source, kind=kind, **kwargs)
    )


def test_orders_span_rows_and_bad_orders_are_rejected_whole(
    tmp_path, source, shop, settings
):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": 2}
    rows = [
        ["A1", "2025-11-11 10:00", "13800138000", "TEA", "2", ""],
        ["A1", "2025-11-11 10:00", "13800138000", "CAKE", "3", "18.5"],
        ["A1", "2025-11-11 10:00", "13800138000", "TEA", "-1", ""],  # a return line
        ["A2", "2025/11/12", "13900139000", "TEA", "1", ""],  # unknown customer
        ["A3", "2025-11-13", "13800138000", "NOPE", "1", ""],
        ["A3", "2025-11-13", "13800138000", "TEA", "1", ""],
        ["A4", "someday", "13800138000", "TEA", "1", ""],
    ]
    path = write_csv(tmp_path / "sales.csv", ORDER_HEADERS, rows)

    job = run(path, source, "orders")

    assert (job.read, job.created, job.rejected) == (7, 1, 4)
    order = Order.objects.get()
    assert order.customer == shop
    assert order.amount == Decimal("88.00") * 2 + Decimal("55.50") - Decimal("88.00")
    assert order.ordered_at == dt.datetime(2025, 11, 11, 2, 0, tzinfo=dt.UTC)
    assert OrderLine.objects.count() == 3
    rejects = {(r.row_number, r.code) for r in job.rejects.all()}
    assert rejects == {
        (4, "unknown_customer"),
        (5, "unknown_product"),
        (6, "unknown_product"),
        (7, "invalid"),
    }
    assert job.rejects.get(row_number=5).column == "商品编码"
    assert job.rejects.get(row_number=7).column == "下单时间"


def test_reimporting_orders_changes_nothing(tmp_path, source, shop):
    path = write_csv(
        tmp_path / "sales.csv",
        ORDER_HEADERS,
        [["B1", "2025-01-01", "138 0013 8000", "TEA", "1", ""]],
    )
    run(path, source, "orders")

    again = run(path, source, "orders")

    assert (again.created, again.unchanged, again.rejected) == (0, 1, 0)
    assert Order.objects.count() == 1


def test_interactions_by_membership_number(tmp_path, source, shop):
    headers = ["会员号", "时间", "渠道", "类型", "方向", "内容", "结果"]
    rows = [
        ["VIP9", "2025-03-01 09:30", "phone", "call", "out", "回访", "满意"],
        ["VIP9", "2025-03-02", "电话", "投诉", "呼入", "投诉包装", "已处理"],
        ["VIP0", "2025-03-03", "phone", "call", "out", "", ""],
        ["VIP9", "2025-03-04", "fax", "call", "out", "", ""],
    ]
    path = write_csv(tmp_path / "calls.csv", headers, rows)
    mapping = {
        "会员号": "membership",
        "时间": "occurred_at",
        "渠道": "channel",
        "类型": "type",
        "方向": "direction",
        "内容": "summary",
        "结果": "outcome",
    }

    job = run(path, source, "interactions", mapping=mapping)
    again = run(path, source, "interactions", mapping=mapping)

    assert (job.created, job.rejected) == (2, 2)
    assert (again.created, again.unchanged) == (0, 2)
    complaint = Interaction.objects.get(type="complaint")
    assert (complaint.channel, complaint.direction) == ("phone", "in")
    codes = {r.row_number: (r.code, r.column) for r in job.rejects.all()}
    assert codes == {3: ("unknown_customer", ""), 4: ("invalid", "渠道")}


@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
def test_a_character_no_database_stores_refuses_its_row(tmp_path, source, shop, bad):
    # given: interactions with a NUL or half a surrogate pair (JSON Lines
    # escapes make one) in a mapped cell, and in an unmapped one (either
    # failed the whole job)
    path = tmp_path / "calls.jsonl"
    rows = [
        {"会员号": "VIP9", "时间": "2025-03-01", "内容": f"回{bad}访", "备用": ""},
        {"会员号": "VIP9", "时间": "2025-03-02", "内容": "投诉", "备用": f"x{bad}"},
    ]
    rows = [{**r, "渠道": "phone", "类型": "call"} for r in rows]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    mapping = {"会员号": "membership", "时间": "occurred_at", "内容": "summary"}
    mapping |= {"渠道": "channel", "类型": "type"}
    # when
    job = run(path, source, "interactions", mapping=mapping)
    # then: the row is refused naming the column, the other is imported
    assert (job.status, job.created, job.rejected) == ("done", 1, 1)
    reject = job.rejects.get()
    assert (reject.row_number, reject.column, reject.value) == (1, "内容", "回\ufffd访")
    assert Interaction.objects.get().summary == "投诉"


@pytest.mark.django_db(transaction=True)
def test_worker_runs_a_queued_import(tmp_path, source, shop):
    from django.core.management import call_command

    from clientbook.ingest.services import import_job_enqueue

    path = write_csv(
        tmp_path / "sales.csv",
        ORDER_HEADERS,
        [["W1", "2025-01-01", "13800138000", "TEA", "1", ""]],
    )
    job = import_job_create(path=path, source=source, kind="orders")
    import_job_enqueue(job=job)

    call_command("worker", "--batch", verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.created) == ("done", 1)
