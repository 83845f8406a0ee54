"""The back office applies the same rules as the web UI and the API."""

import pytest
from django.core.management import call_command
from django.test import Client

from clientbook.customers.models import Customer
from clientbook.customers.services import customer_create, identifier_add
from clientbook.org.models import ApiToken
from clientbook.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_customers(source, branch, other_branch):
    mine = customer_create(name="本店客户", source=source, branch=branch)
    theirs = customer_create(name="外店客户", source=source, branch=other_branch)
    return mine, theirs


def test_branch_staff_list_only_their_branch(two_customers, branch_staff):
    mine, theirs = two_customers
    client = logged_in(branch_staff)

    page = client.get("/admin/customers/customer/")

    assert page.status_code == 200
    assert "本店客户" in page.text and "外店客户" not in page.text
    other = client.get(f"/admin/customers/customer/{theirs.pk}/change/")
    assert other.status_code == 302  # the admin's "does not exist" redirect
    assert client.get(f"/admin/customers/customer/{mine.pk}/change/").status_code == 200


def test_admin_masks_identifiers_without_view_pii(
    source, branch, branch_staff, manager
):
    customer = customer_create(name="脱敏", source=source, branch=branch)
    identifier_add(customer=customer, type="mobile", value="13800138000", source=source)
    url = f"/admin/customers/customer/{customer.pk}/change/"

    assert "+86138****8000" in logged_in(branch_staff).get(url).text
    assert "+8613800138000" not in logged_in(branch_staff).get(url).text
    assert "+8613800138000" in logged_in(manager).get(url).text


def test_auditor_reads_but_cannot_change(two_customers, auditor):
    mine, _theirs = two_customers
    client = logged_in(auditor)
    url = f"/admin/customers/customer/{mine.pk}/change/"

    assert client.get("/admin/customers/customer/").status_code == 200
    response = client.post(url, {"name": "改名", "kind": "individual"})

    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.name == "本店客户"


def test_admin_save_goes_through_the_service(source, branch, manager):
    client = logged_in(manager)
    form = {
        "kind": "individual",
        "name": "  后台  新建 ",
        "gender": "F",
        "birth_date": "",
        "lifecycle_stage": "prospect",
        "income_band": "",
        "branch": branch.pk,
        "source": source.pk,
        "notes": "",
        **{
            f"{p}-{k}": v
            for p in (
                "identifiers",
                "addresses",
                "preferences",
                "key_dates",
                "custom_values",
            )
            for k, v in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
        },
    }

    response = client.post("/admin/customers/customer/add/", form)

    assert response.status_code == 302, response.text[:2000]
    customer = Customer.objects.get()
    assert customer.name == "后台 新建"  # normalised by the service
    assert customer.name_pinyin == "houtaixinjian"
    assert AuditEntry.objects.get(action="customer.create").actor == manager


def test_nothing_can_be_deleted_in_the_back_office(two_customers, admin_user):
    mine, _ = two_customers
    response = logged_in(admin_user).get(f"/admin/customers/customer/{mine.pk}/delete/")
    assert response.status_code == 403


def test_api_token_command_shows_key_once_and_revokes(manager, capsys):
    call_command("api_token", "manager", "--name", "etl")
    key = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(name="etl")
    assert key.startswith(token.prefix)
    call_command("api_token", "manager", "--revoke", token.prefix)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_back_office_of_the_work_apps_by_role(branch_staff, manager, auditor):
    for user, page, status in [
        (manager, "/admin/ingest/importjob/", 200),
        (manager, "/admin/quality/customerquality/", 200),
        (auditor, "/admin/analytics/analysisrun/", 200),
        (branch_staff, "/admin/ingest/importjob/", 200),
        (branch_staff, "/admin/analytics/analysisrun/", 403),
    ]:
        assert logged_in(user).get(page).status_code == status, (user, page)
