"""Login, logout, the home page, the language switch and the shared helpers."""

import datetime as dt
import decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from clientbook.customers.services import customer_create
from clientbook.sales.services import order_create
from clientbook.tests.factories import InteractionFactory, ProductFactory
from clientbook.web.audit import audit_rows, mask_audit_data
from clientbook.web.templatetags.clientbook_ui import money


def test_home_needs_login(client):
    response = client.get(reverse("web:home"))
    assert response.status_code == 302
    assert response.url == f"{reverse('web:login')}?next=/"


def test_login_page_is_our_own(client):
    response = client.get(reverse("web:login"))
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "web/login.html"
    assert "admin/" not in response.templates[0].name


def test_login_then_home(client, manager):
    response = client.post(
        reverse("web:login"), {"username": "manager", "password": "pass-1234"}
    )
    assert response.status_code == 302
    assert response.url == reverse("web:home")
    home = client.get(reverse("web:home"))
    assert home.status_code == 200
    assert "manager" in home.content.decode()


def test_wrong_password_shows_an_error(client, manager):
    response = client.post(
        reverse("web:login"), {"username": "manager", "password": "nope"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_logout_asks_on_get_and_logs_out_on_post(client, manager):
    client.force_login(manager)
    assert client.get(reverse("web:logout")).status_code == 200
    assert "_auth_user_id" in client.session
    response = client.post(reverse("web:logout"))
    assert response.status_code == 302
    assert response.url == reverse("web:login")
    assert "_auth_user_id" not in client.session


def test_top_bar_names_user_role_and_branch(client, branch_staff):
    client.force_login(branch_staff)
    html = client.get(reverse("web:home")).content.decode()
    assert "clerk" in html
    assert "上海南京路店" in html
    assert reverse("admin:index") in html
    assert reverse("customers:create") in html


def test_top_bar_has_no_new_customer_link_for_auditors(client, auditor):
    client.force_login(auditor)
    html = client.get(reverse("web:home")).content.decode()
    assert reverse("customers:create") not in html


def test_pages_load_no_external_assets(client, manager):
    client.force_login(manager)
    html = client.get(reverse("web:home")).content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in html
    assert "/static/web/app.css" in html
    for outside in ("http://", "https://", "//cdn", "fonts.googleapis"):
        assert outside not in html


def test_static_assets_are_served(client):
    for path in ("/static/web/app.css", "/static/django_htmx/htmx-2.min.js"):
        response = client.get(path)
        assert response.status_code == 200
        b"".join(response.streaming_content)


def test_home_counts_only_what_the_user_may_see(
    client, branch_staff, manager, source, branch, other_branch
):
    # given: one customer per branch, each with an order this month
    product = ProductFactory(price=decimal.Decimal("10.00"))
    for name, where in (("张三", branch), ("李四", other_branch)):
        customer = customer_create(name=name, source=source, branch=where)
        order_create(
            customer=customer,
            number=f"SO-{name}",
            ordered_at=timezone.now() - dt.timedelta(minutes=5),
            lines=[{"sku": product.sku, "quantity": 3}],
            source=source,
        )
        InteractionFactory(customer=customer, summary=f"回访{name}", source=source)
    # when
    client.force_login(branch_staff)
    response = client.get(reverse("web:home"))
    # then
    overview = response.context["overview"]
    assert (overview.live_customers, overview.orders_this_month) == (1, 1)
    assert overview.revenue_this_month == decimal.Decimal("30.00")
    html = response.content.decode()
    assert "回访张三" in html and "回访李四" not in html
    client.force_login(manager)
    assert client.get(reverse("web:home")).context["overview"].live_customers == 2


# Languages -----------------------------------------------------------------------


def test_default_language_is_simplified_chinese(client, manager):
    client.force_login(manager)
    html = client.get(reverse("customers:search")).content.decode()
    assert 'lang="zh-hans"' in html
    assert "客户搜索" in html


def test_language_switch_renders_english(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("set_language"),
        {"language": "en", "next": reverse("customers:search")},
    )
    assert response.status_code == 302
    html = client.get(reverse("customers:search")).content.decode()
    assert 'lang="en"' in html
    assert "Customer search" in html
    assert "客户搜索" not in html


def test_login_page_switches_language_too(client):
    client.post(reverse("set_language"), {"language": "en", "next": "/login/"})
    assert "Password" in client.get(reverse("web:login")).content.decode()


# Helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (decimal.Decimal("1234.5"), "¥1,234.50"),
        (decimal.Decimal("0"), "¥0.00"),
        (decimal.Decimal("-3"), "-¥3.00"),
        (None, ""),
    ],
)
def test_money(value, text):
    assert money(value) == text


def test_audit_payloads_are_masked_by_identifier_type_and_shape():
    data = {
        "type": "mobile",
        "value": "+8613912345678",
        "old": ["11010519491231002X"],
        "note": "plain text",
    }
    assert mask_audit_data(data) == {
        "type": "mobile",
        "value": "+86139****5678",
        "old": ["110***********002X"],
        "note": "plain text",
    }


def test_audit_rows_unmasked_for_view_pii(manager, marketer):
    data = {"type": "national_id", "value": "11010519491231002X"}
    assert ("value", "11010519491231002X") in audit_rows(manager, data)
    assert ("value", "110***********002X") in audit_rows(marketer, data)
