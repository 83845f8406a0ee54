"""The evaluation report, the responder profile and the campaign KPIs, on a
small campaign whose figures are counted by hand."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation
from scipy import stats as sp

from clientbook.analytics.models import CustomerScore
from clientbook.campaigns import stats
from clientbook.campaigns.evaluation import (
    campaign_kpis,
    campaign_report,
    report_chart,
    responder_profile,
)
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Member,
    Response,
    Stage,
    Variant,
    Wave,
)
from clientbook.customers.models import Address
from clientbook.segments.models import Segment
from clientbook.tests.factories import BranchFactory, CustomerFactory

AT = dt.datetime(2026, 4, 1, 10, tzinfo=dt.UTC)
SENT, DELIVERED, HELD = (
    ContactStatus.SENT,
    ContactStatus.DELIVERED,
    ContactStatus.HELD_OUT,
)

# Per arm: (status, responded, revenue, wave) of each member; a response is
# "r" (a reply), "u" (an unsubscribe only: not a response), "t" (only
# responded_at set) or "" (nothing).
PLAN = {
    "a": [
        (DELIVERED, "r", "120.00", Wave.TEST),
        (DELIVERED, "r", "0", Wave.TEST),
        (SENT, "t", "80.00", Wave.ROLLOUT),
        (SENT, "u", "0", Wave.ROLLOUT),
        (SENT, "", "0", Wave.ROLLOUT),
        (ContactStatus.FAILED, "", "0", Wave.ROLLOUT),
    ],
    "b": [
        (DELIVERED, "r", "50.00", Wave.TEST),
        (SENT, "", "0", Wave.ROLLOUT),
        (SENT, "", "0", Wave.ROLLOUT),
        (SENT, "", "0", Wave.ROLLOUT),
    ],
    "control": [
        (HELD, "r", "30.00", Wave.TEST),
        (HELD, "", "0", Wave.ROLLOUT),
        (HELD, "", "0", Wave.ROLLOUT),
        (HELD, "", "0", Wave.ROLLOUT),
        (HELD, "", "0", Wave.ROLLOUT),
    ],
}


@pytest.fixture
def campaign(db):
    campaign = Campaign.objects.create(
        name="Autumn tea",
        stage=Stage.EVALUATE,
        executed_at=AT,
        cost_per_contact=Decimal("2.50"),
        expected_response_rate=Decimal("0.2000"),
    )
    north, south = BranchFactory(name="North"), BranchFactory(name="South")
    segment = Segment.objects.create(name="Tea lovers", definition={})
    for code in PLAN:
        Variant.objects.create(
            campaign=campaign,
            code=code,
            name=code.upper(),
            is_control=code == "control",
        )
    for code, plan in PLAN.items():
        variant = campaign.variants.get(code=code)
        for i, (status, response, revenue, wave) in enumerate(plan):
            customer = CustomerFactory(branch=north if i % 2 == 0 else south)
            member = Member.objects.create(
                campaign=campaign,
                customer=customer,
                variant=variant,
                segment=segment if i < 2 else None,
                status=status,
                wave=wave,
                sent_at=AT if status != HELD else None,
                responded_at=AT if response == "t" else None,
                revenue=Decimal(revenue),
                margin=Decimal(revenue) / 2,
                orders=1 if Decimal(revenue) else 0,
            )
            if response in ("r", "u"):
                kind = "reply" if response == "r" else "unsubscribe"
                Response.objects.create(
                    member=member, kind=kind, via="ui", occurred_at=AT
                )
    # A suppressed member is not in any arm.
    Member.objects.create(
        campaign=campaign, customer=CustomerFactory(), suppression="no_consent"
    )
    return campaign


def _arms(report):
    return {arm.key: arm for arm in report.overall.arms}


def _revenues(code):
    return [float(Decimal(row[2])) for row in PLAN[code]]


def test_report_counts_each_arm_by_hand(campaign):
    arms = _arms(campaign_report(campaign))

    a = arms["a"]
    assert (a.members, a.contacted, a.delivered) == (6, 5, 2)
    # replies twice and responded_at once; the unsubscribe is not a response
    assert (a.responded, a.responded_contacted, a.converted) == (3, 3, 2)
    assert a.response_rate == pytest.approx(3 / 6)
    assert a.response_rate_contacted == pytest.approx(3 / 5)
    assert a.conversion_rate == pytest.approx(2 / 6)
    assert a.revenue == Decimal("200.00")
    assert a.margin == Decimal("100.00")
    assert a.cost == Decimal("12.50")
    assert a.roi == pytest.approx((100 - 12.5) / 12.5)
    assert a.revenue_per_member == Decimal("33.3333")

    control = arms["control"]
    assert control.is_control
    assert (control.members, control.contacted, control.responded) == (5, 0, 1)
    assert control.cost == 0 and control.roi is None
    assert control.lift is None
    assert list(arms) == ["a", "b", "control"]


def test_lift_over_control_uses_the_statistics(campaign):
    report = campaign_report(campaign)
    a = _arms(report)["a"]

    assert a.lift.response == stats.proportions_compare(3, 6, 1, 5)
    assert a.lift.conversion == stats.proportions_compare(2, 6, 1, 5)
    welch = sp.ttest_ind(_revenues("a"), _revenues("control"), equal_var=False)
    assert a.lift.revenue.difference == pytest.approx(200 / 6 - 30 / 5)
    assert a.lift.revenue.p_value == pytest.approx(welch.pvalue, rel=1e-9)

    treated = report.overall.treated
    assert (treated.members, treated.responded, treated.contacted) == (10, 4, 9)
    assert treated.lift.response == stats.proportions_compare(4, 10, 1, 5)
    assert report.total.members == 15


def test_report_by_branch_segment_and_wave(campaign):
    with translation.override("en"):
        report = campaign_report(campaign, by=("branch", "segment", "wave"))

    branches = {g.label: g for g in report.dimensions["branch"]}
    assert set(branches) == {"North", "South"}
    north = {arm.key: arm for arm in branches["North"].arms}
    assert (north["a"].members, north["b"].members, north["control"].members) == (
        3,
        2,
        3,
    )
    assert north["a"].lift.response == stats.proportions_compare(
        north["a"].responded, 3, north["control"].responded, 3
    )
    segments = {g.label: g for g in report.dimensions["segment"]}
    assert {label: sum(a.members for a in g.arms) for label, g in segments.items()} == {
        "Tea lovers": 6,
        "None": 9,
    }
    waves = {g.key: g for g in report.dimensions["wave"]}
    assert sum(a.members for a in waves[Wave.TEST].arms) == 4
    assert waves[Wave.TEST].control.responded == 1
    # the sums over any dimension are the campaign's
    for groups in report.dimensions.values():
        assert sum(arm.members for g in groups for arm in g.arms) == 15


def test_report_is_one_aggregate_query(campaign, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        campaign_report(campaign, by=("branch", "segment", "wave"))


def test_report_without_control_has_no_lift(db):
    campaign = Campaign.objects.create(name="No control")
    variant = Variant.objects.create(campaign=campaign, code="a", name="A")
    Member.objects.create(
        campaign=campaign, customer=CustomerFactory(), variant=variant, status=SENT
    )
    report = campaign_report(campaign)
    assert report.overall.control is None
    assert report.overall.arms[0].lift is None
    assert report.overall.arms[0].response_rate == 0


def test_report_rejects_an_unknown_dimension(campaign):
    with pytest.raises(ValueError, match="colour"):
        campaign_report(campaign, by=("colour",))


def test_chart_has_a_bar_and_a_whisker_per_arm(campaign):
    chart = report_chart(campaign_report(campaign), "response")
    bars, whiskers = chart["data"]["datasets"]
    assert chart["data"]["labels"] == ["A", "B", "CONTROL"]
    assert bars["data"][0] == pytest.approx(50.0)
    low, high = stats.wilson_interval(3, 6)
    assert whiskers["data"][0] == pytest.approx([100 * low, 100 * high], abs=1e-3)
    assert whiskers["grouped"] is False
    conversion = report_chart(campaign_report(campaign), "conversion")
    assert conversion["data"]["datasets"][0]["data"][2] == pytest.approx(20.0)


def test_kpis_of_several_campaigns_in_one_query(
    campaign, db, django_assert_num_queries
):
    empty = Campaign.objects.create(name="Not yet")
    with django_assert_num_queries(1):
        kpis = campaign_kpis([campaign, empty])

    figures = kpis[campaign.pk]
    # treated and contacted: a 5, b 4; responders among them: a 3, b 1
    assert (figures["members"], figures["contacted"], figures["responders"]) == (
        15,
        9,
        4,
    )
    assert figures["response_rate"] == pytest.approx(4 / 9)
    assert figures["revenue"] == Decimal("250.00")
    assert figures["cost"] == Decimal("22.50")
    assert figures["roi"] == pytest.approx((125 - 22.5) / 22.5)
    assert figures["meets_target"] and figures["meets_expected"]
    assert figures["target"] == pytest.approx(0.05)
    assert kpis[empty.pk]["response_rate"] is None
    assert kpis[empty.pk]["meets_target"] is None


@pytest.fixture
def profiled(db):
    """40 contacted members: responders mostly women of the North branch with
    higher lifetime values."""
    campaign = Campaign.objects.create(name="Profiled", stage=Stage.EVALUATE)
    variant = Variant.objects.create(campaign=campaign, code="a", name="A")
    north, south = BranchFactory(name="North"), BranchFactory(name="South")
    people = []
    for i in range(40):
        responder = i < 15
        woman = (i % 5 != 0) if responder else (i % 3 == 0)
        customer = CustomerFactory(
            gender="F" if woman else "M",
            branch=north if (responder or i % 4 == 0) else south,
            birth_date=dt.date(1960 + i, 6 + i % 6, 1 + i % 27),
        )
        Address.objects.create(
            customer=customer,
            province="浙江省" if i % 2 else "江苏省",
            source=customer.source,
        )
        clv = Decimal(300 + 40 * i) if responder else Decimal(100 + 7 * i)
        CustomerScore.objects.create(
            customer=customer, clv=clv, frequency=i % 7, recency_days=float(i)
        )
        Member.objects.create(
            campaign=campaign,
            customer=customer,
            variant=variant,
            status=DELIVERED,
            responded_at=AT if responder else None,
        )
        people.append((responder, woman, float(clv), customer.birth_date))
    # a held-out or unsent member is not in the profile
    Member.objects.create(
        campaign=campaign, customer=CustomerFactory(), variant=variant, responded_at=AT
    )
    return campaign, people


def test_responder_profile_compares_categories_and_means(profiled):
    campaign, people = profiled
    with translation.override("en"):
        profile = responder_profile(campaign, today=dt.date(2026, 1, 1))
    attributes = {a.name: a for a in profile.attributes}

    assert (profile.responders, profile.others) == (15, 25)
    gender = attributes["gender"]
    women = [sum(1 for r, w, *_ in people if r == flag and w) for flag in (True, False)]
    table = [[women[0], women[1]], [15 - women[0], 25 - women[1]]]
    assert gender.p_value == pytest.approx(
        sp.chi2_contingency(table, correction=False).pvalue
    )
    shares = {v.label: v for v in gender.values}
    assert shares["Female"].responders_share == pytest.approx(women[0] / 15)

    clv = attributes["clv"]
    welch = sp.ttest_ind(
        [c for r, _w, c, _b in people if r],
        [c for r, _w, c, _b in people if not r],
        equal_var=False,
    )
    assert clv.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert clv.responders_mean > clv.others_mean

    age = attributes["age"]
    ages = [(r, 2026 - b.year - ((b.month, b.day) > (1, 1))) for r, *_x, b in people]
    expected = [a for r, a in ages if r]
    assert age.responders_mean == pytest.approx(sum(expected) / len(expected))
    assert attributes["province"].kind == "categorical"
    assert attributes["monetary"].p_value is None  # no values to test
    p_values = [a.p_value for a in profile.attributes if a.p_value is not None]
    assert p_values == sorted(p_values)
    assert profile.attributes[-1].p_value is None


def test_evaluation_fragment_renders_tables_chart_and_profile(campaign):
    from django.template.loader import render_to_string

    with translation.override("en"):
        report = campaign_report(campaign, by=("branch", "wave"))
        html = render_to_string(
            "campaigns/_evaluation.html",
            {"report": report, "profile": responder_profile(campaign)},
        )
    assert 'data-chart="campaign-response-chart"' in html
    assert 'id="campaign-conversion-chart"' in html
    assert "analytics/chart.umd.min.js" in html
    for table in ("variant", "branch", "wave", "profile"):
        assert f'id="evaluation-{table}"' in html
    assert "All variants" in html  # two variants: their sum is shown too
    assert "50.00%" in html  # A's response rate
    # without a profile, and in the default language
    assert "evaluation-profile" not in render_to_string(
        "campaigns/_evaluation.html", {"report": report, "profile": None}
    )
