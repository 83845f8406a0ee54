"""The customer pages: search, the 360 page, create/edit and the small actions."""

import datetime as dt
import decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from clientbook.activity.services import interaction_record
from clientbook.customers.models import Customer, CustomField, Identifier
from clientbook.customers.services import custom_field_define, customer_create
from clientbook.ingest.services import import_job_create, import_job_run
from clientbook.privacy.models import AuditEntry, Consent
from clientbook.sales.services import order_create
from clientbook.tests.factories import ProductFactory
from clientbook.web.audit import action_label

MOBILE = "13912345678"
MOBILE_E164 = "+8613912345678"
MOBILE_MASKED = "+86139****5678"
NATIONAL_ID = "11010519491231002X"


def make_customer(source, branch, *, name="张三", mobile=None, **profile):
    identifiers = [{"type": "mobile", "value": mobile}] if mobile else []
    return customer_create(
        name=name,
        source=source,
        branch=branch,
        identifiers=identifiers,
        lifecycle_stage="active",
        **profile,
    )


@pytest.fixture
def zhang(source, branch):
    return make_customer(source, branch, mobile=MOBILE)


@pytest.fixture
def stranger(source, other_branch):
    """A customer of another branch than the branch staff's."""
    return make_customer(source, other_branch, name="张伟", mobile="13700001111")


def detail_url(customer):
    return reverse("customers:detail", args=[customer.uuid])


def action_url(customer, name):
    return reverse("customers:action", args=[customer.uuid, name])


def search(client, query, **headers):
    return client.get(reverse("customers:search"), {"q": query}, **headers)


# Login -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["customers:search", "customers:create"])
def test_pages_need_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("web:login"))


def test_360_page_needs_login(client, zhang):
    response = client.get(detail_url(zhang))
    assert response.status_code == 302
    assert response.url.startswith(reverse("web:login"))


# Search ------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["张", "张三", "zhangsan", "zhang", "zs", MOBILE])
def test_search_finds_by_name_pinyin_initials_and_phone(client, manager, zhang, query):
    client.force_login(manager)
    response = search(client, query)
    assert response.status_code == 200
    assert detail_url(zhang) in response.content.decode()


def test_search_finds_by_national_id_and_email(client, manager, zhang, source):
    from clientbook.customers.services import identifier_add

    identifier_add(customer=zhang, type="national_id", value=NATIONAL_ID, source=source)
    identifier_add(customer=zhang, type="email", value="zs@example.cn", source=source)
    client.force_login(manager)
    for query in (NATIONAL_ID, "ZS@example.cn"):
        assert detail_url(zhang) in search(client, query).content.decode()


def test_search_without_match_says_so(client, manager, zhang):
    client.force_login(manager)
    response = search(client, "王")
    assert detail_url(zhang) not in response.content.decode()
    assert "王" in response.content.decode()


def test_search_with_htmx_returns_the_results_only(client, manager, zhang):
    client.force_login(manager)
    response = search(client, "zs", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    html = response.content.decode()
    assert detail_url(zhang) in html
    assert "<html" not in html


def test_search_results_mask_the_phone_without_view_pii(client, branch_staff, zhang):
    client.force_login(branch_staff)
    html = search(client, "zs").content.decode()
    assert MOBILE_MASKED in html
    assert MOBILE_E164 not in html


def test_search_results_show_the_phone_with_view_pii(client, manager, zhang):
    client.force_login(manager)
    assert MOBILE_E164 in search(client, "zs").content.decode()


def test_branch_staff_never_find_another_branchs_customer(
    client, branch_staff, zhang, stranger
):
    client.force_login(branch_staff)
    for query in ("张", "zhangwei", "13700001111"):
        html = search(client, query).content.decode()
        assert detail_url(stranger) not in html
    assert detail_url(zhang) in search(client, "张").content.decode()


def test_search_query_count_does_not_grow_with_results(
    client, manager, source, branch, other_branch, django_assert_max_num_queries
):
    # given: thirty customers, each with a phone, in two branches
    for i in range(30):
        make_customer(
            source,
            branch if i % 2 else other_branch,
            name=f"张{i:02d}",
            mobile=f"1390000{i:04d}",
        )
    client.force_login(manager)
    # when / then: session, user, the user's branch (top bar), two for the
    # view_pii permission check, customers with branches, phones: none per row
    # Each way of matching is its own indexed lookup (see customer_search).
    with django_assert_max_num_queries(11):
        response = search(client, "zhang")
    assert response.content.decode().count("/customers/") >= 30


# The 360 page ------------------------------------------------------------------


@pytest.fixture
def with_history(zhang, source, manager):
    product = ProductFactory(
        sku="TEA01",
        name="龙井茶",
        price=decimal.Decimal("120.50"),
        unit_cost=decimal.Decimal("70.00"),
    )
    order_create(
        customer=zhang,
        number="SO-0001",
        ordered_at=timezone.now() - dt.timedelta(days=30),
        lines=[{"sku": product.sku, "quantity": 2}],
        source=source,
    )
    interaction_record(
        customer=zhang,
        channel="phone",
        direction="out",
        type="call",
        source=source,
        summary="回访：对新茶很满意",
        actor=manager,
    )
    return zhang


def test_360_page_shows_value_summary_and_timeline(client, manager, with_history):
    client.force_login(manager)
    html = client.get(detail_url(with_history)).content.decode()
    assert "¥241.00" in html  # revenue: 2 × 120.50
    assert "¥101.00" in html  # margin: 241.00 − 140.00
    assert "SO-0001" in html
    assert "龙井茶" in html
    assert "回访：对新茶很满意" in html


def test_360_page_shows_profile_consents_and_preferences(
    client, manager, zhang, source
):
    from clientbook.customers.services import key_date_add, preference_set
    from clientbook.privacy.services import consent_record

    preference_set(customer=zhang, key="饮品", value="胡萝卜汁", source=source)
    key_date_add(customer=zhang, kind="anniversary", date="2020-05-20", source=source)
    consent_record(
        customer=zhang,
        channel="sms",
        purpose="marketing",
        status="granted",
        source=source,
        evidence="门店登记表 0042",
    )
    client.force_login(manager)
    html = client.get(detail_url(zhang)).content.decode()
    for text in ("胡萝卜汁", "2020-05-20", "门店登记表 0042", "上海南京路店"):
        assert text in html


@pytest.mark.parametrize("user", ["branch_staff", "marketer"])
def test_360_page_masks_identifiers_without_view_pii(
    client, request, zhang, source, user
):
    from clientbook.customers.services import identifier_add

    identifier_add(customer=zhang, type="national_id", value=NATIONAL_ID, source=source)
    client.force_login(request.getfixturevalue(user))
    html = client.get(detail_url(zhang)).content.decode()
    assert MOBILE_MASKED in html
    assert "110***********002X" in html
    # Neither the identifiers card nor the audit log gives the numbers away.
    assert MOBILE_E164 not in html
    assert NATIONAL_ID not in html


@pytest.mark.parametrize("user", ["manager", "admin_user"])
def test_360_page_shows_identifiers_with_view_pii(client, request, zhang, user):
    client.force_login(request.getfixturevalue(user))
    assert MOBILE_E164 in client.get(detail_url(zhang)).content.decode()


def test_branch_staff_get_404_for_another_branchs_customer(
    client, branch_staff, stranger
):
    client.force_login(branch_staff)
    assert client.get(detail_url(stranger)).status_code == 404
    assert (
        client.get(reverse("customers:edit", args=[stranger.uuid])).status_code == 404
    )
    response = client.post(action_url(stranger, "preference"), {"key": "a"})
    assert response.status_code == 404


def test_unknown_uuid_is_404(client, manager):
    client.force_login(manager)
    url = reverse("customers:detail", args=["00000000-0000-0000-0000-000000000000"])
    assert client.get(url).status_code == 404


def test_360_page_shows_the_audit_log_with_actor(client, manager, zhang):
    client.force_login(manager)
    client.post(action_url(zhang, "preference"), _action_data(zhang)["preference"])
    html = client.get(detail_url(zhang)).content.decode()
    assert 'id="audit"' in html
    assert "manager" in html


def test_360_audit_log_names_related_records(client, manager, source, branch):
    """Snapshots keep foreign keys as ids; the log shows the branch by name."""
    client.force_login(manager)
    client.post(reverse("customers:create"), _create_data(source, branch))
    customer = Customer.objects.get(name="李四")
    audit = client.get(detail_url(customer)).content.decode().split('id="audit"')[1]
    branch_label = Customer._meta.get_field("branch").verbose_name
    assert f"<li>{branch_label}: {branch}</li>" in audit
    assert f"<li>{branch_label}: {branch.pk}</li>" not in audit


def test_360_audit_log_shows_the_import_that_created_the_customer(
    client, manager, source, tmp_path, settings
):
    # given: a customer created by an import of 会员.csv
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": str(tmp_path)}
    path = tmp_path / "会员.csv"
    path.write_text("姓名,手机\n孙八,13912345678\n", encoding="utf-8")
    job = import_job_run(job=import_job_create(path=path, source=source, actor=manager))
    # when: its 360 page is read
    client.force_login(manager)
    page = client.get(detail_url(Customer.objects.get(name="孙八")))
    # then: its audit log names the import, its file and who ran it
    audit = page.content.decode().split('id="audit"')[1]
    with translation.override("zh-hans"):  # the page's language
        assert action_label("customer.import_create") in audit
    assert "会员.csv" in audit and str(job.uuid) in audit and "manager" in audit


# Create and edit ---------------------------------------------------------------


def _create_data(source, branch, **extra):
    data = {
        "kind": "individual",
        "name": "李四",
        "gender": "F",
        "birth_date": "1985-03-02",
        "lifecycle_stage": "prospect",
        "income_band": "",
        "branch": branch.pk,
        "source": source.pk,
        "mobile": "13611112222",
        "email": "lisi@example.cn",
        "national_id": "",
        "tags": "VIP, 茶友",
    }
    data.update(extra)
    return data


def test_create_writes_the_customer_and_an_audit_entry(client, manager, source, branch):
    client.force_login(manager)
    response = client.post(reverse("customers:create"), _create_data(source, branch))
    customer = Customer.objects.get(name="李四")
    assert response.status_code == 302
    assert response.url == detail_url(customer)
    assert customer.branch == branch
    assert sorted(customer.tags.values_list("name", flat=True)) == ["VIP", "茶友"]
    assert set(customer.identifiers.values_list("value", flat=True)) == {
        "+8613611112222",
        "lisi@example.cn",
    }
    entry = AuditEntry.objects.get(action="customer.create", customer=customer)
    assert entry.actor == manager


def test_create_form_names_the_invalid_mobile(client, manager, source, branch):
    client.force_login(manager)
    response = client.post(
        reverse("customers:create"), _create_data(source, branch, mobile="12345")
    )
    assert response.status_code == 422
    form = response.context["form"]
    assert list(form.errors) == ["mobile"]
    assert "12345" in form.errors["mobile"][0]
    assert not Customer.objects.filter(name="李四").exists()
    assert not AuditEntry.objects.filter(action="customer.create").exists()


def test_create_form_requires_a_name(client, manager, source, branch):
    client.force_login(manager)
    response = client.post(
        reverse("customers:create"), _create_data(source, branch, name="")
    )
    assert response.status_code == 422
    assert "name" in response.context["form"].errors


def test_create_form_refuses_a_taken_mobile_naming_the_holder(
    client, manager, source, branch, zhang
):
    client.force_login(manager)
    response = client.post(
        reverse("customers:create"), _create_data(source, branch, mobile=MOBILE)
    )
    assert response.status_code == 409
    assert "张三" in response.context["form"].errors["mobile"][0]
    assert not Customer.objects.filter(name="李四").exists()


def test_branch_staff_create_only_in_their_branch(
    client, branch_staff, source, branch, other_branch
):
    client.force_login(branch_staff)
    form = client.get(reverse("customers:create")).context["form"]
    assert list(form.fields["branch"].queryset) == [branch]
    response = client.post(
        reverse("customers:create"), _create_data(source, other_branch)
    )
    assert response.status_code == 422
    assert "branch" in response.context["form"].errors
    assert not Customer.objects.filter(name="李四").exists()


def test_create_form_has_an_input_per_custom_field(client, manager, source, branch):
    custom_field_define(
        key="shoe_size", label="鞋码", customer_kind="individual", field_type="integer"
    )
    custom_field_define(
        key="tier",
        label="等级",
        customer_kind="individual",
        field_type="choice",
        choices=["金", "银"],
    )
    custom_field_define(
        key="vat_no", label="税号", customer_kind="organisation", field_type="text"
    )
    client.force_login(manager)
    html = client.get(reverse("customers:create")).content.decode()
    assert 'name="cf_shoe_size"' in html and 'name="cf_tier"' in html
    assert 'name="cf_vat_no"' not in html
    html = client.get(reverse("customers:create"), {"kind": "organisation"})
    assert 'name="cf_vat_no"' in html.content.decode()

    response = client.post(
        reverse("customers:create"),
        _create_data(source, branch, cf_shoe_size="abc", cf_tier="金"),
    )
    assert response.status_code == 422
    assert "cf_shoe_size" in response.context["form"].errors

    response = client.post(
        reverse("customers:create"),
        _create_data(source, branch, cf_shoe_size="42", cf_tier="金"),
    )
    customer = Customer.objects.get(name="李四")
    values = {v.field.key: v.value for v in customer.custom_values.all()}
    assert values == {"shoe_size": 42, "tier": "金"}


def test_required_custom_field_error_comes_back_on_its_input(
    client, manager, source, branch
):
    field = CustomField.objects.create(
        key="member_since",
        label="入会日期",
        customer_kind="individual",
        field_type="date",
        is_required=True,
    )
    client.force_login(manager)
    response = client.post(reverse("customers:create"), _create_data(source, branch))
    assert response.status_code == 422
    assert f"cf_{field.key}" in response.context["form"].errors


def test_edit_changes_the_profile_and_audits_the_change(
    client, branch_staff, zhang, branch
):
    client.force_login(branch_staff)
    url = reverse("customers:edit", args=[zhang.uuid])
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(occupation="教师", birth_date="1980-01-02", branch=branch.pk)
    response = client.post(url, data)
    assert response.status_code == 302
    zhang.refresh_from_db()
    assert zhang.occupation == "教师"
    entry = AuditEntry.objects.get(action="customer.update", customer=zhang)
    assert entry.actor == branch_staff
    assert entry.after["occupation"] == "教师"


def test_edit_refuses_a_future_birth_date_on_its_field(client, manager, zhang, branch):
    client.force_login(manager)
    url = reverse("customers:edit", args=[zhang.uuid])
    response = client.post(
        url,
        {
            "name": "张三",
            "lifecycle_stage": "active",
            "branch": branch.pk,
            "birth_date": "2999-01-01",
        },
    )
    assert response.status_code == 422
    assert "birth_date" in response.context["form"].errors


# The small actions of the 360 page ---------------------------------------------


def _action_data(customer):
    source = customer.source.pk
    return {
        "identifier": {"type": "email", "value": "ZS@Example.cn", "source": source},
        "address": {
            "type": "home",
            "province": "上海市",
            "city": "上海市",
            "district": "黄浦区",
            "street": "南京东路 100 号",
            "postcode": "200001",
            "country": "CN",
            "source": source,
        },
        "preference": {
            "category": "饮品",
            "key": "饮料",
            "value": "胡萝卜汁",
            "source": source,
        },
        "key_date": {
            "kind": "birthday",
            "date": "1990-06-01",
            "label": "",
            "source": source,
        },
        "consent": {
            "channel": "sms",
            "purpose": "marketing",
            "status": "granted",
            "evidence": "短信回复 Y",
            "source": source,
        },
        "interaction": {
            "type": "visit",
            "channel": "store",
            "direction": "in",
            "summary": "到店试茶",
            "outcome": "购买",
            "source": source,
        },
        "archive": {"reason": "客户要求"},
    }


ACTION_AUDIT = {
    "identifier": "identifier.add",
    "address": "address.add",
    "preference": "preference.set",
    "key_date": "key_date.add",
    "consent": "consent.record",
    "interaction": "interaction.record",
    "archive": "customer.archive",
}


@pytest.mark.parametrize("name", list(ACTION_AUDIT))
def test_each_action_writes_through_its_service_with_an_audit_entry(
    client, branch_staff, zhang, name
):
    client.force_login(branch_staff)
    response = client.post(action_url(zhang, name), _action_data(zhang)[name])
    assert response.status_code == 302
    assert response.url == f"{detail_url(zhang)}#{name}"
    entry = AuditEntry.objects.get(action=ACTION_AUDIT[name], customer=zhang)
    assert entry.actor == branch_staff


def test_restore_brings_an_archived_customer_back(client, manager, zhang):
    client.force_login(manager)
    client.post(action_url(zhang, "archive"), {"reason": ""})
    zhang.refresh_from_db()
    assert zhang.archived_at is not None
    html = client.get(detail_url(zhang)).content.decode()
    edit_url = reverse("customers:edit", args=[zhang.uuid])
    assert "restore" in html
    assert edit_url not in html  # an archived record is not edited
    response = client.post(action_url(zhang, "restore"))
    assert response.status_code == 302
    zhang.refresh_from_db()
    assert zhang.archived_at is None
    assert edit_url in client.get(detail_url(zhang)).content.decode()


def test_identifier_conflict_names_the_existing_customer(
    client, manager, zhang, source, other_branch
):
    other = make_customer(source, other_branch, name="王五")
    client.force_login(manager)
    response = client.post(
        action_url(other, "identifier"),
        {"type": "mobile", "value": MOBILE, "source": source.pk},
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "张三" in html and str(zhang.uuid) in html
    assert response.context["open_action"] == "identifier"
    assert not other.identifiers.exists()


def test_invalid_identifier_is_shown_on_the_value_field(client, manager, zhang):
    client.force_login(manager)
    response = client.post(
        action_url(zhang, "identifier"),
        {"type": "national_id", "value": "123", "source": zhang.source.pk},
    )
    assert response.status_code == 422
    assert "value" in response.context["forms"]["identifier"].errors


def test_action_form_errors_keep_the_page_and_write_nothing(client, manager, zhang):
    client.force_login(manager)
    before = AuditEntry.objects.count()
    response = client.post(
        action_url(zhang, "address"),
        {"type": "home", "source": zhang.source.pk, "country": "CN"},
    )
    assert response.status_code == 422
    assert "street" in response.context["forms"]["address"].errors
    assert AuditEntry.objects.count() == before


def test_auditor_sees_no_forms(client, auditor, zhang):
    client.force_login(auditor)
    html = client.get(detail_url(zhang)).content.decode()
    assert '<form method="post" action="/customers/' not in html
    assert reverse("customers:create") not in html
    assert reverse("customers:edit", args=[zhang.uuid]) not in html


@pytest.mark.parametrize("name", list(ACTION_AUDIT))
def test_auditor_cannot_post_a_change(client, auditor, zhang, name):
    client.force_login(auditor)
    before = (
        AuditEntry.objects.count(),
        Identifier.objects.count(),
        Consent.objects.count(),
    )
    response = client.post(action_url(zhang, name), _action_data(zhang)[name])
    assert response.status_code == 403
    assert "Traceback" not in response.content.decode()
    assert (
        AuditEntry.objects.count(),
        Identifier.objects.count(),
        Consent.objects.count(),
    ) == before
    zhang.refresh_from_db()
    assert zhang.archived_at is None


def test_auditor_cannot_create_or_edit(client, auditor, zhang, source, branch):
    client.force_login(auditor)
    assert client.get(reverse("customers:create")).status_code == 403
    response = client.post(reverse("customers:create"), _create_data(source, branch))
    assert response.status_code == 403
    assert not Customer.objects.filter(name="李四").exists()
    edit = reverse("customers:edit", args=[zhang.uuid])
    assert client.post(edit, {"name": "改名"}).status_code == 403
    zhang.refresh_from_db()
    assert zhang.name == "张三"


def test_an_identifier_is_marked_verified_and_removed_from_its_row(
    client, branch_staff, zhang
):
    # given: the 360 page of a customer with an unverified mobile
    ident = zhang.identifiers.get()
    client.force_login(branch_staff)
    page = client.get(detail_url(zhang)).content.decode()
    assert action_url(zhang, "identifier_verify") in page
    assert f'name="identifier" value="{ident.pk}"' in page
    # when: staff mark it verified, then remove it
    verified = client.post(
        action_url(zhang, "identifier_verify"), {"identifier": ident.pk}
    )
    ident.refresh_from_db()
    removed = client.post(
        action_url(zhang, "identifier_remove"), {"identifier": ident.pk}
    )
    # then: each through its service, audited, back at the identifiers
    assert verified.url == removed.url == f"{detail_url(zhang)}#identifiers-card"
    assert ident.is_verified and not zhang.identifiers.exists()
    entries = AuditEntry.objects.filter(customer=zhang, actor=branch_staff)
    assert {"identifier.verify", "identifier.remove"} <= set(
        entries.values_list("action", flat=True)
    )
    assert (
        action_url(zhang, "identifier_verify")
        not in client.get(detail_url(zhang)).content.decode()
    )


def test_an_identifier_removed_already_is_a_message_not_an_error_page(
    client, branch_staff, zhang
):
    # given: an identifier removed, its row's button still on another tab
    ident = zhang.identifiers.get()
    client.force_login(branch_staff)
    client.post(action_url(zhang, "identifier_remove"), {"identifier": ident.pk})
    # when: it is clicked again, to remove or to verify
    for name in ("identifier_remove", "identifier_verify"):
        response = client.post(
            action_url(zhang, name), {"identifier": ident.pk}, follow=True
        )
        # then: back at the identifiers, told why nothing happened
        assert response.status_code == 200
        assert response.redirect_chain[-1][0].endswith("#identifiers-card")
        with translation.override("zh-hans"):  # the page's language
            told = gettext("This identifier is no longer there: it was removed.")
        assert told != "This identifier is no longer there: it was removed."
        assert told in response.content.decode()
    assert AuditEntry.objects.filter(action="identifier.remove").count() == 1


def test_another_customers_identifier_is_not_touched(
    client, manager, zhang, stranger, auditor
):
    theirs = stranger.identifiers.get()
    client.force_login(manager)
    for name in ("identifier_verify", "identifier_remove"):
        response = client.post(action_url(zhang, name), {"identifier": theirs.pk})
        assert response.status_code == 404
    client.force_login(auditor)
    mine = zhang.identifiers.get()
    response = client.post(
        action_url(zhang, "identifier_remove"), {"identifier": mine.pk}
    )
    assert response.status_code == 403
    assert "identifier_remove" not in client.get(detail_url(zhang)).content.decode()
    theirs.refresh_from_db()
    assert not theirs.is_verified and zhang.identifiers.filter(pk=mine.pk).exists()


def test_unknown_action_is_404(client, manager, zhang):
    client.force_login(manager)
    assert client.post(action_url(zhang, "explode")).status_code == 404


def test_360_page_opens_with_the_newest_timeline_and_can_show_all(
    client, manager, source, branch
):

    customer = customer_create(name="长历史", source=source, branch=branch)
    for day in range(1, 36):
        interaction_record(
            customer=customer,
            channel="phone",
            direction="out",
            type="call",
            source=source,
            summary=f"第{day}次回访",
            occurred_at=f"2025-01-{day % 28 + 1:02d}T{day % 24:02d}:00:00",
        )
    client.force_login(manager)

    first = client.get(f"/customers/{customer.uuid}/").content.decode()
    whole = client.get(f"/customers/{customer.uuid}/?show=timeline").content.decode()

    assert first.count('class="kind-interaction"') == 30
    assert "?show=timeline" in first
    assert whole.count('class="kind-interaction"') == 35


def test_360_action_forms_load_when_opened(client, manager, auditor, source, branch):
    customer = customer_create(name="懒加载", source=source, branch=branch)
    client.force_login(manager)
    url = reverse("customers:action", args=[customer.uuid, "identifier"])

    page = client.get(f"/customers/{customer.uuid}/").content.decode()
    opened = client.get(f"/customers/{customer.uuid}/?open=identifier").content.decode()
    partial = client.get(url)

    assert f'hx-get="{url}"' in page and f'action="{url}"' not in page
    assert f'action="{url}"' in opened
    assert partial.status_code == 200 and 'name="value"' in partial.content.decode()
    client.force_login(auditor)
    assert client.get(url).status_code == 403
