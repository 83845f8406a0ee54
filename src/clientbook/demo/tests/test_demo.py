"""The demo data: loaded once, consistent with the services' rules,
reproducible, and shaped so value analyses have something to find."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.customers import normalise
from clientbook.customers.models import (
    HARD_IDENTIFIER_TYPES,
    Address,
    Customer,
    Identifier,
)
from clientbook.demo import data
from clientbook.demo.builder import Loader, build, counts, is_loaded
from clientbook.org.models import Role, User
from clientbook.privacy.models import AuditEntry, Consent, Source, SourceKind
from clientbook.sales.models import Order, OrderLine

SEED = 7
TODAY = dt.date(2026, 11, 23)
SIZE = 300


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One small demo for the whole module, rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        summary = build(customers=SIZE, seed=SEED, today=TODAY)
        yield summary
        transaction.set_rollback(True)


pytestmark = pytest.mark.django_db


def test_a_second_build_changes_nothing(demo):
    # given
    before = counts()
    entries = AuditEntry.objects.count()

    # when
    again = build(customers=SIZE, seed=SEED, today=TODAY)

    # then
    assert demo.created and not again.created
    assert counts() == before
    assert AuditEntry.objects.count() == entries
    assert is_loaded()


def test_the_load_is_summarised_in_a_few_audit_entries(demo):
    entries = AuditEntry.objects.filter(entity="demo")
    assert entries.count() == 5
    marker = entries.get(action="demo.load")
    assert marker.after["counts"]["customers"] == SIZE
    assert not AuditEntry.objects.filter(entity="sales.order").exists()


def test_sizes_are_those_asked_for(demo):
    assert demo.counts["customers"] == SIZE
    assert demo.counts["branches"] == len(data.BRANCHES)
    assert demo.counts["products"] == len(data.PRODUCTS) >= 55
    assert demo.counts["orders"] > 5 * SIZE
    assert Customer.objects.filter(kind="organisation").exists()


def test_staff_of_every_role_and_the_printed_logins_work(demo):
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    admin = User.objects.get(username=demo.username)
    clerk = User.objects.get(username=demo.branch_username)
    assert admin.check_password(demo.password) and admin.is_superuser
    assert clerk.check_password(demo.password)
    assert clerk.role == Role.BRANCH_STAFF and clerk.branch.code == "SH01"
    assert clerk.groups.filter(name="role:branch_staff").exists()


def test_every_source_kind_is_registered(demo):
    assert set(Source.objects.values_list("kind", flat=True)) == set(SourceKind.values)


def test_order_totals_are_the_sums_of_their_lines(demo):
    # Summed in Python: SQLite sums decimals as floats.
    totals: dict[int, list[Decimal]] = {}
    for order_id, amount, cost in OrderLine.objects.values_list(
        "order_id", "amount", "cost"
    ):
        pair = totals.setdefault(order_id, [Decimal(0), Decimal(0)])
        pair[0] += amount
        pair[1] += cost
    orders = Order.objects.values_list("id", "amount", "cost")
    assert len(totals) == orders.count()
    for order_id, amount, cost in orders:
        assert [amount, cost] == totals[order_id]
        assert amount == amount.quantize(Decimal("0.01"))


def test_returns_are_about_two_percent_of_orders(demo):
    returns = Order.objects.filter(amount__lt=0).count()
    share = returns / Order.objects.count()
    assert 0.005 < share < 0.04
    assert not Order.objects.filter(amount__lt=0, lines__quantity__gt=0).exists()


def test_identifiers_are_stored_normalised(demo):
    for type_, value in Identifier.objects.values_list("type", "value"):
        assert normalise.identifier(type_, value) == value, (type_, value)


def test_national_ids_agree_with_the_profile_and_address(demo):
    # given
    district_codes = {
        (city.name, d.name): d.code
        for city in data.CITIES.values()
        for d in city.districts
    }
    ids = Identifier.objects.filter(type="national_id").select_related("customer")

    # then
    assert ids.count() > SIZE * 0.3
    for ident in ids:
        parsed = normalise.national_id(ident.value)
        customer = ident.customer
        assert parsed.birth_date == customer.birth_date
        assert parsed.gender == customer.gender
        home = Address.objects.get(customer=customer, type="home")
        assert parsed.region_code == district_codes[(home.city, home.district)]


def test_hard_identifiers_have_one_live_holder(demo):
    shared = (
        Identifier.objects.filter(is_live=True, type__in=HARD_IDENTIFIER_TYPES)
        .values("type", "value")
        .annotate(holders=Count("customer", distinct=True))
        .filter(holders__gt=1)
    )
    assert not shared.exists()
    assert not Identifier.objects.filter(
        is_live=True, customer__archived_at__isnull=False
    ).exists()


def test_shares_of_identifiers_are_realistic(demo):
    individuals = Customer.objects.filter(kind="individual")
    with_mobile = individuals.filter(identifiers__type="mobile").count()
    with_email = individuals.filter(identifiers__type="email").count()
    assert 0.8 < with_mobile / individuals.count() < 0.97
    assert 0.35 < with_email / individuals.count() < 0.65


def test_names_carry_their_match_keys(demo):
    for name, pinyin, initials in Customer.objects.values_list(
        "name", "name_pinyin", "name_initials"
    ):
        assert name == normalise.name(name)
        assert (pinyin, initials) == normalise.name_keys(name)


def test_everything_names_its_source(demo):
    assert not Customer.objects.filter(source__isnull=True).exists()
    assert not Consent.objects.filter(source__isnull=True).exists()


def test_some_consents_are_withdrawn_later_and_history_kept(demo):
    withdrawn = Consent.objects.filter(status="withdrawn")
    assert withdrawn.exists()
    for entry in withdrawn[:20]:
        assert Consent.objects.filter(
            customer=entry.customer,
            channel=entry.channel,
            purpose=entry.purpose,
            status="granted",
            occurred_at__lt=entry.occurred_at,
        ).exists()
    assert len({s for s in Consent.objects.values_list("source__code", flat=True)}) >= 4


def test_lifecycle_stages_agree_with_orders(demo):
    recent = timezone.make_aware(dt.datetime.combine(TODAY, dt.time()))
    recent -= dt.timedelta(days=181)
    bought = Q(orders__amount__gt=0)
    assert (
        not Customer.objects.filter(lifecycle_stage="prospect").filter(bought).exists()
    )
    active = Customer.objects.filter(lifecycle_stage="active")
    assert active.exists()
    assert active.filter(orders__ordered_at__gte=recent).distinct().count() == (
        active.count()
    )
    lapsed = Customer.objects.filter(lifecycle_stage="lapsed")
    assert not lapsed.filter(
        orders__amount__gt=0, orders__ordered_at__gte=recent + dt.timedelta(days=2)
    ).exists()


def test_the_same_seed_gives_the_same_people(demo):
    names = list(Customer.objects.order_by("id").values_list("name", flat=True))
    planned = Loader(customers=SIZE, seed=SEED, today=TODAY, progress=None)._plans()
    other = Loader(customers=SIZE, seed=SEED + 1, today=TODAY, progress=None)._plans()
    assert [p.person.name for p in planned] == names
    assert [p.person.name for p in other] != names


def test_the_top_fifth_of_customers_bring_most_of_the_revenue(demo):
    revenue = sorted(
        (
            row["net"]
            for row in Order.objects.values("customer").annotate(net=Sum("amount"))
        ),
        reverse=True,
    )
    top = sum(revenue[: SIZE // 5], Decimal(0))
    assert top / sum(revenue) >= Decimal("0.5")


def test_three_years_of_orders_with_a_double_eleven_peak(demo):
    # given
    days = Counter(
        timezone.localtime(at).date()
        for at in Order.objects.values_list("ordered_at", flat=True)
    )

    # then
    assert min(days) <= TODAY - dt.timedelta(days=3 * 365 - 45)
    assert max(days) >= TODAY - dt.timedelta(days=10)
    assert max(days) < TODAY
    november = Counter()
    for day, orders in days.items():
        if day.month == 11:
            november[day.day] += orders
    others = (sum(november.values()) - november[11]) / 29
    assert november.most_common(1)[0][0] == 11
    assert november[11] > 2 * others


def test_interactions_are_recorded_by_staff(demo):
    assert Interaction.objects.count() > SIZE / 2
    assert not Interaction.objects.filter(staff__isnull=True).exists()
    kinds = set(Interaction.objects.values_list("type", flat=True))
    assert {"call", "visit", "complaint", "enquiry", "email"} <= kinds
