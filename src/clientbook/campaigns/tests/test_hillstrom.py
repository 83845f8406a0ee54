"""Reference test: Kevin Hillstrom's MineThatData e-mail experiment (2008),
64,000 customers split at random into a men's e-mail, a women's e-mail and
no e-mail, imported as a campaign and evaluated; every figure must equal
the one computed here straight from the file, and the published means
(../shared/datasets/SOURCES.md, section 2).

In Hillstrom's data "visit" is the response (the website visit) and
"conversion" a purchase with its spend: the report's response rate is the
visit rate, its conversion rate the purchase rate.
"""

import csv
import datetime as dt
import gzip
import os
from decimal import Decimal
from pathlib import Path

import pytest
from scipy import stats as sp

from clientbook.campaigns import stats
from clientbook.campaigns.evaluation import campaign_report
from clientbook.campaigns.history import campaign_history_import
from clientbook.campaigns.models import Member, Response

DATASETS = Path(
    os.environ.get(
        "CLIENTBOOK_DATASETS",
        Path(__file__).resolve().parents[5] / "shared" / "datasets",
    )
)
FILE = DATASETS / "hillstrom" / "hillstrom_email_2008.03.20.csv.gz"
CONTROL = "No E-Mail"
ARMS = ("Mens E-Mail", "Womens E-Mail", CONTROL)
# SOURCES.md section 2: arm sizes and the observed means.
PUBLISHED = {
    "Mens E-Mail": (21307, 0.1828, 0.0125, 1.4226),
    "Womens E-Mail": (21387, 0.1514, 0.0088, 1.0772),
    "No E-Mail": (21306, 0.1062, 0.0057, 0.6528),
}


def _read() -> list[dict]:
    if not FILE.is_file():
        pytest.fail(
            f"The Hillstrom reference file {FILE} is missing: this test needs "
            "../shared/datasets (or set CLIENTBOOK_DATASETS); see SOURCES.md §2."
        )
    with gzip.open(FILE, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def _from_file(records: list[dict]) -> dict:
    """Per arm: visit, conversion and spend of each customer, as lists."""
    arms = {arm: {"visit": [], "conversion": [], "spend": []} for arm in ARMS}
    for record in records:
        arm = arms[record["segment"]]
        arm["visit"].append(int(record["visit"]))
        arm["conversion"].append(int(record["conversion"]))
        arm["spend"].append(Decimal(record["spend"]))
    return arms


def _rows(records: list[dict]):
    for number, record in enumerate(records, start=1):
        yield {
            "external_id": f"hillstrom-{number}",
            "arm": record["segment"],
            "visited": record["visit"],
            "converted": record["conversion"],
            "spend": record["spend"],
            "stratum": record["zip_code"],
        }


def _check_arm(arm, observed):
    n = len(observed["visit"])
    assert arm.members == n
    assert arm.responded == sum(observed["visit"])
    assert arm.converted == sum(observed["conversion"])
    assert arm.revenue == sum(observed["spend"])
    assert arm.response_rate == pytest.approx(sum(observed["visit"]) / n, rel=1e-12)
    assert arm.conversion_rate == pytest.approx(
        sum(observed["conversion"]) / n, rel=1e-12
    )
    assert arm.revenue_per_member == (sum(observed["spend"]) / n).quantize(
        Decimal("0.0001")
    )


def _check_published(arm, published):
    n, visit, conversion, spend = published
    assert arm.members == n
    assert arm.response_rate == pytest.approx(visit, abs=5e-5)
    assert arm.conversion_rate == pytest.approx(conversion, abs=5e-5)
    assert float(arm.revenue_per_member) == pytest.approx(spend, abs=5e-5)


def _check_rate_lift(result, treated: list[int], control: list[int]):
    x1, n1, x2, n2 = sum(treated), len(treated), sum(control), len(control)
    assert result.difference == pytest.approx(x1 / n1 - x2 / n2, rel=1e-12)
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    expected_p = sp.chi2_contingency(table, correction=False).pvalue
    assert result.p_value == pytest.approx(expected_p, rel=1e-6, abs=1e-300)
    low, high = stats.proportion_difference_ci(x1, n1, x2, n2)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert result.ci_low < result.difference < result.ci_high


def _check_spend_lift(result, treated: list[Decimal], control: list[Decimal]):
    a, b = [float(v) for v in treated], [float(v) for v in control]
    welch = sp.ttest_ind(a, b, equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert result.difference == pytest.approx(sum(a) / len(a) - sum(b) / len(b))
    assert result.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (interval.low, interval.high), rel=1e-6
    )


@pytest.mark.slow
def test_hillstrom_experiment_evaluates_to_the_figures_of_the_file(db, marketer):
    records = _read()
    observed = _from_file(records)

    campaign = campaign_history_import(
        name="Hillstrom e-mail test 2008",
        rows=_rows(records),
        actor=marketer,
        control=CONTROL,
        channel="email",
        started_at=dt.datetime(2008, 3, 1, tzinfo=dt.UTC),
        response_window_days=14,
    )
    assert Member.objects.filter(campaign=campaign).count() == 64000
    assert Response.objects.filter(member__campaign=campaign, kind="visit").count() == (
        sum(sum(o["visit"]) for o in observed.values())
    )

    report = campaign_report(campaign, by=("variant", "wave"))
    arms = {arm.label: arm for arm in report.overall.arms}
    assert set(arms) == set(ARMS)
    assert arms[CONTROL].is_control
    for name in ARMS:
        _check_arm(arms[name], observed[name])
        _check_published(arms[name], PUBLISHED[name])
    assert report.total.members == 64000

    control = observed[CONTROL]
    for name in ("Mens E-Mail", "Womens E-Mail"):
        lift = arms[name].lift
        _check_rate_lift(lift.response, observed[name]["visit"], control["visit"])
        _check_rate_lift(
            lift.conversion, observed[name]["conversion"], control["conversion"]
        )
        _check_spend_lift(lift.revenue, observed[name]["spend"], control["spend"])
        assert lift.response.significant and lift.revenue.significant
    # The treatment effect usually quoted: 0.770 $ a customer for men's mail.
    assert arms["Mens E-Mail"].lift.revenue.difference == pytest.approx(0.770, abs=5e-4)
    assert arms[CONTROL].lift is None
