import datetime as dt
from decimal import Decimal

import pytest

from clientbook.customers.services import customer_create
from clientbook.privacy.models import AuditEntry
from clientbook.sales.models import Order, OrderLine
from clientbook.tests.api import ApiClient
from clientbook.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea(db):
    return ProductFactory(
        sku="TEA-1",
        name="普洱茶",
        category="茶",
        price=Decimal("88.00"),
        unit_cost=Decimal("30.00"),
    )


@pytest.fixture
def customer(source, branch):
    return customer_create(name="孙八", source=source, branch=branch)


def order(customer, number, *lines, when="2025-11-11T10:00:00+08:00"):
    return {
        "customer": str(customer.uuid),
        "number": number,
        "ordered_at": when,
        "lines": list(lines) or [{"sku": "TEA-1", "quantity": 2}],
    }


def test_order_totals_are_sums_of_lines_and_returns_are_negative(
    manager, customer, tea
):
    api = ApiClient(manager)

    sale = api.post("/orders", {**order(customer, "A1"), "source": "manual"})
    ret = api.post(
        "/orders",
        {
            **order(customer, "A1-R", {"sku": "TEA-1", "quantity": -1}),
            "source": "manual",
        },
    )

    assert sale.status_code == 201, sale.content
    assert Decimal(sale.json()["amount"]) == Decimal("176.00")
    assert Decimal(sale.json()["cost"]) == Decimal("60.00")
    assert Decimal(ret.json()["amount"]) == Decimal("-88.00")
    summary = api.get(f"/customers/{customer.uuid}/orders").json()
    assert sum(Decimal(o["amount"]) for o in summary) == Decimal("88.00")


def test_duplicate_order_number_is_409(manager, customer, tea):
    api = ApiClient(manager)
    api.post("/orders", {**order(customer, "A1"), "source": "manual"})
    again = api.post("/orders", {**order(customer, "A1"), "source": "manual"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_order"


def test_bulk_accepts_good_items_and_reports_bad_ones_by_index(manager, customer, tea):
    items = [
        order(customer, "B0"),
        order(customer, "B1", {"sku": "NOPE", "quantity": 1}),
        order(customer, "B2", {"sku": "TEA-1", "quantity": "abc"}),
        order(customer, "B0"),  # the same number twice in one request
        {**order(customer, "B4"), "customer": "not-a-uuid"},
        "not an object",
        {**order(customer, "B6"), "ordered_at": "yesterday"},
        order(customer, "B7"),
    ]

    response = ApiClient(manager).post(
        "/orders/bulk", {"source": "manual", "items": items}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] == 2
    rejected = {r["index"]: (r["code"], r.get("field")) for r in body["rejected"]}
    assert rejected == {
        1: ("unknown_product", "lines.0.sku"),
        2: ("invalid", "lines.0.quantity"),
        3: ("duplicate_order", "number"),
        4: ("unknown_customer", "customer"),
        5: ("invalid", None),
        6: ("invalid", "ordered_at"),
    }
    assert set(Order.objects.values_list("number", flat=True)) == {"B0", "B7"}
    assert OrderLine.objects.count() == 2
    assert AuditEntry.objects.filter(action="order.create").count() == 2


def test_bulk_of_10000_orders(manager, customer, tea):
    items = [order(customer, f"N{i:05d}") for i in range(10_000)]

    response = ApiClient(manager).post(
        "/orders/bulk", {"source": "manual", "items": items}
    )

    assert response.json()["created"] == 10_000
    assert Order.objects.count() == 10_000
    too_many = ApiClient(manager).post(
        "/orders/bulk", {"source": "manual", "items": [*items, items[0]]}
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "too_many"


def test_bulk_rejects_other_branch_customers(branch_staff, other_branch, source, tea):
    stranger = customer_create(name="外人", source=source, branch=other_branch)

    response = ApiClient(branch_staff).post(
        "/orders/bulk", {"source": "manual", "items": [order(stranger, "X1")]}
    )

    assert response.json()["rejected"][0]["code"] == "unknown_customer"
    assert not Order.objects.exists()


def test_order_of_another_branch_is_404(
    branch_staff, other_branch, source, tea, manager
):
    stranger = customer_create(name="外人", source=source, branch=other_branch)
    made = ApiClient(manager).post(
        "/orders", {**order(stranger, "Z1"), "source": "manual"}
    )

    assert (
        ApiClient(branch_staff).get(f"/orders/{made.json()['uuid']}").status_code == 404
    )
    assert ApiClient(manager).get(f"/orders/{made.json()['uuid']}").status_code == 200


def test_product_create_and_conflict(manager):
    api = ApiClient(manager)
    body = {
        "sku": "CAKE-1",
        "name": "月饼",
        "category": "糕点",
        "price": "128.00",
        "unit_cost": "40.5",
    }
    assert api.post("/products", body).status_code == 201
    assert api.post("/products", body).status_code == 409
    assert [p["sku"] for p in api.get("/products").json()] == ["CAKE-1"]


def test_naive_times_are_taken_in_local_time(manager, customer, tea):
    made = ApiClient(manager).post(
        "/orders",
        {**order(customer, "T1", when="2025-01-01T08:00:00"), "source": "manual"},
    )
    stored = Order.objects.get(number="T1").ordered_at
    assert stored == dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert made.status_code == 201
