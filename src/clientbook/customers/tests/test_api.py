import pytest

from clientbook.customers.models import Customer, Identifier
from clientbook.customers.services import customer_create, identifier_add
from clientbook.org.services import api_token_create, api_token_revoke
from clientbook.privacy.models import AuditEntry
from clientbook.tests.api import ApiClient

pytestmark = pytest.mark.django_db

ZHANG = {
    "name": "张三",
    "source": "manual",
    "gender": "M",
    "birth_date": "1985-03-02",
    "branch": "SH01",
    "identifiers": [
        {"type": "mobile", "value": "138-0013-8000"},
        {"type": "national_id", "value": "110105491231002"},
    ],
    "addresses": [
        {
            "province": "上海市",
            "city": "上海市",
            "district": "黄浦区",
            "street": "南京东路 100 号",
        }
    ],
    "tags": ["VIP"],
}


def test_create_then_read_by_uuid(source, branch, manager):
    api = ApiClient(manager)

    created = api.post("/customers", ZHANG)

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["branch"] == "SH01"
    assert {i["type"]: i["value"] for i in body["identifiers"]} == {
        "mobile": "+8613800138000",
        # The 15-digit form is stored as its 18-digit equivalent.
        "national_id": "11010519491231002X",
    }
    fetched = api.get(f"/customers/{body['uuid']}")
    assert fetched.status_code == 200
    assert fetched.json()["tags"] == ["VIP"]
    customer = Customer.objects.get(uuid=body["uuid"])
    entry = AuditEntry.objects.get(action="customer.create", customer=customer)
    assert entry.actor == manager


def test_no_token_is_401_and_revoked_token_is_401(source, manager):
    assert ApiClient().get("/customers").status_code == 401
    token, key = api_token_create(user=manager, name="laptop")
    api = ApiClient(key=key)
    assert api.get("/customers").status_code == 200
    api_token_revoke(token=token)
    response = api.get("/customers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_token_is_stored_hashed(manager):
    token, key = api_token_create(user=manager, name="ci")
    assert key not in token.key_hash
    assert len(token.key_hash) == 64


def test_unknown_customer_is_404(manager):
    response = ApiClient(manager).get("/customers/8d5e6c1e-6a39-4d5c-9b8c-0d7e4c3b2a10")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_schema_error_is_422_with_field_path(source, manager):
    response = ApiClient(manager).post("/customers", {"source": "manual"})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["error"]["errors"]]
    assert "name" in fields


def test_invalid_identifier_is_422_naming_field_and_value(source, branch, manager):
    bad = {**ZHANG, "identifiers": [{"type": "mobile", "value": "12345"}]}

    response = ApiClient(manager).post("/customers", bad)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_identifier"
    assert error["field"] == "mobile"
    assert error["value"] == "12345"
    assert not Customer.objects.exists(), "nothing is written on a rejected request"


def test_hard_identifier_conflict_is_409_naming_existing_customer(
    source, branch, manager
):
    api = ApiClient(manager)
    first = api.post("/customers", ZHANG).json()
    second = {
        **ZHANG,
        "name": "张叁",
        "identifiers": [{"type": "mobile", "value": "+86 138 0013 8000"}],
    }

    response = api.post("/customers", second)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "identifier_taken"
    assert error["existing_customer"] == first["uuid"]
    assert "张三" in error["message"]
    assert Customer.objects.count() == 1, "no half-written second customer"


def test_branch_staff_see_only_their_branch(source, branch, other_branch, branch_staff):
    mine = customer_create(name="李四", source=source, branch=branch)
    theirs = customer_create(name="李五", source=source, branch=other_branch)
    api = ApiClient(branch_staff)

    listed = api.get("/customers")

    assert [c["uuid"] for c in listed.json()["items"]] == [str(mine.uuid)]
    assert api.get(f"/customers/{theirs.uuid}").status_code == 404
    assert api.get("/customers", q="李").json()["items"][0]["name"] == "李四"
    assert len(api.get("/customers", q="李").json()["items"]) == 1


def test_branch_staff_cannot_move_customer_to_another_branch(
    source, branch, other_branch, branch_staff
):
    mine = customer_create(name="李四", source=source, branch=branch)

    response = ApiClient(branch_staff).patch(
        f"/customers/{mine.uuid}", {"branch": "BJ01"}
    )

    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.branch == branch


def test_auditor_cannot_write_403(source, branch, auditor):
    customer = customer_create(name="王五", source=source, branch=branch)
    api = ApiClient(auditor)

    assert api.get(f"/customers/{customer.uuid}").status_code == 200
    response = api.patch(f"/customers/{customer.uuid}", {"name": "王六"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only"
    customer.refresh_from_db()
    assert customer.name == "王五"


def test_phone_and_national_id_masked_without_view_pii(
    source, branch, marketer, manager
):
    customer = customer_create(
        name="赵六",
        source=source,
        branch=branch,
        identifiers=[
            {"type": "mobile", "value": "13800138000"},
            {"type": "national_id", "value": "11010519491231002X"},
            {"type": "email", "value": "zhao@example.com"},
        ],
    )
    masked = ApiClient(marketer).get(f"/customers/{customer.uuid}").json()
    clear = ApiClient(manager).get(f"/customers/{customer.uuid}").json()

    values = {i["type"]: i["value"] for i in masked["identifiers"]}
    assert values == {
        "mobile": "+86138****8000",
        "national_id": "110***********002X",
        "email": "zhao@example.com",
    }
    assert {i["type"]: i["value"] for i in clear["identifiers"]}[
        "mobile"
    ] == "+8613800138000"


def test_update_records_before_and_after(source, branch, manager):
    customer = customer_create(name="钱七", source=source, branch=branch)

    response = ApiClient(manager).patch(
        f"/customers/{customer.uuid}",
        {"occupation": "教师", "lifecycle_stage": "active"},
    )

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="customer.update", customer=customer)
    assert entry.before == {"occupation": "", "lifecycle_stage": "prospect"}
    assert entry.after == {"occupation": "教师", "lifecycle_stage": "active"}
    assert entry.actor == manager


def test_archive_frees_hard_identifiers(source, branch, manager):
    api = ApiClient(manager)
    old = api.post("/customers", ZHANG).json()

    assert api.post(f"/customers/{old['uuid']}/archive").json()["archived_at"]
    again = api.post("/customers", {**ZHANG, "name": "张三丰"})

    assert again.status_code == 201
    # The archived one cannot come back while a live customer holds its mobile.
    restore = api.post(f"/customers/{old['uuid']}/restore")
    assert restore.status_code == 409
    assert restore.json()["error"]["existing_customer"] == again.json()["uuid"]


def test_search_by_phone_pinyin_and_national_id(source, branch, manager):
    api = ApiClient(manager)
    uuid = api.post("/customers", ZHANG).json()["uuid"]
    customer_create(name="张伟", source=source, branch=branch)

    for query in [
        "13800138000",
        "+86 138 0013 8000",
        "zhangsan",
        "zs",
        "张三",
        "110105491231002",
        "11010519491231002x",
    ]:
        items = api.get("/customers", q=query).json()["items"]
        assert [c["uuid"] for c in items] == [uuid], query


def test_sub_resources(source, branch, manager):
    api = ApiClient(manager)
    uuid = api.post("/customers", ZHANG).json()["uuid"]

    ident = api.post(
        f"/customers/{uuid}/identifiers",
        {"type": "email", "value": "Zhang@Example.COM ", "source": "manual"},
    )
    pref = api.post(
        f"/customers/{uuid}/preferences",
        {"category": "饮品", "key": "饮料", "value": "胡萝卜汁", "source": "manual"},
    )
    date = api.post(
        f"/customers/{uuid}/key-dates",
        {"kind": "birthday", "date": "1985-03-02", "source": "manual"},
    )
    addr = api.post(
        f"/customers/{uuid}/addresses",
        {"type": "work", "city": "杭州市", "street": "文三路 1 号", "source": "manual"},
    )

    assert ident.status_code == 201 and ident.json()["value"] == "zhang@example.com"
    assert (
        pref.status_code == 201 and date.status_code == 201 and addr.status_code == 201
    )
    assert len(api.get(f"/customers/{uuid}/identifiers").json()) == 3
    assert api.get(f"/customers/{uuid}/preferences").json()[0]["value"] == "胡萝卜汁"
    removed = api.delete(f"/customers/{uuid}/identifiers/{ident.json()['id']}")
    assert removed.status_code == 204
    assert not Identifier.objects.filter(value="zhang@example.com").exists()
    assert AuditEntry.objects.filter(action="identifier.remove").get().before[
        "value"
    ] == ("zhang@example.com")


def test_identifier_conflict_on_add(source, branch, manager):
    holder = customer_create(name="甲", source=source, branch=branch)
    identifier_add(customer=holder, type="membership", value="VIP-001", source=source)
    other = customer_create(name="乙", source=source, branch=branch)

    response = ApiClient(manager).post(
        f"/customers/{other.uuid}/identifiers",
        {"type": "membership", "value": "VIP-001", "source": "manual"},
    )

    assert response.status_code == 409
    assert response.json()["error"]["existing_customer"] == str(holder.uuid)


def test_unknown_source_is_422(branch, manager):
    response = ApiClient(manager).post("/customers", {**ZHANG, "source": "nope"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"], error["value"]) == (
        "unknown_source",
        "source",
        "nope",
    )


def test_openapi_docs_are_served(manager):
    response = ApiClient(manager).client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/customers" in response.json()["paths"]


def test_list_and_detail_query_counts_do_not_grow(
    source, branch, manager, django_assert_max_num_queries
):
    for i in range(30):
        customer_create(
            name=f"客户{i}",
            source=source,
            branch=branch,
            identifiers=[{"type": "mobile", "value": f"1390000{i:04d}"}],
            tags=["A", "B"],
        )
    api = ApiClient(manager)
    one = Customer.objects.first()

    with django_assert_max_num_queries(4):  # token, user perms, page
        assert len(api.get("/customers", page_size=30).json()["items"]) == 30
    with django_assert_max_num_queries(9):
        assert api.get(f"/customers/{one.uuid}").status_code == 200
    with django_assert_max_num_queries(8):
        assert len(api.get("/customers", q="kehu").json()["items"]) == 30
