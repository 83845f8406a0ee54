"""Rough sets on Pawlak's flu decision table, worked out by hand.

Source: Z. Pawlak (1997), "Rough set approach to knowledge-based decision
support", *European Journal of Operational Research* 99:48-57, table 1 (the
same table is in Pawlak 2002, "Rough sets and intelligent data analysis",
*Information Sciences* 147). Patients p2 and p5 share every symptom but only
p2 has flu, so flu is rough: lower {p1, p3, p6}, upper {p1, p2, p3, p5, p6},
accuracy 3/5; not-flu: lower {p4}, upper {p2, p4, p5}, accuracy 1/3; the
positive region {p1, p3, p4, p6} gives gamma = 4/6. The paper's reducts are
{headache, temperature} and {muscle pain, temperature}, so the core is
{temperature}.
"""

import pandas as pd
import pytest

from clientbook.analytics.engines import roughsets as rs

CONDITIONS = ["headache", "muscle_pain", "temperature"]


def _flu() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "headache": ["no", "yes", "yes", "no", "yes", "no"],
            "muscle_pain": ["yes", "no", "yes", "yes", "no", "yes"],
            "temperature": ["high", "high", "very high", "normal", "high", "very high"],
            "flu": ["yes", "yes", "yes", "no", "no", "yes"],
        },
        index=pd.Index([f"p{i}" for i in range(1, 7)], name="patient"),
    )


def test_approximations_of_flu():
    flu = rs.approximate(_flu(), CONDITIONS, "flu", "yes")
    assert flu.lower.tolist() == ["p1", "p3", "p6"]
    assert flu.upper.tolist() == ["p1", "p2", "p3", "p5", "p6"]
    assert flu.boundary.tolist() == ["p2", "p5"]
    assert flu.accuracy == pytest.approx(3 / 5)


def test_approximations_of_no_flu():
    no_flu = rs.approximate(_flu(), CONDITIONS, "flu", "no")
    assert no_flu.lower.tolist() == ["p4"]
    assert no_flu.upper.tolist() == ["p2", "p4", "p5"]
    assert no_flu.accuracy == pytest.approx(1 / 3)


def test_indiscernibility_and_dependency():
    classes = rs.indiscernibility_classes(_flu(), CONDITIONS)
    assert classes["p2"] == classes["p5"]
    assert classes.nunique() == 5
    assert rs.positive_region(_flu(), CONDITIONS, "flu").tolist() == [
        "p1",
        "p3",
        "p4",
        "p6",
    ]
    assert rs.dependency_degree(_flu(), CONDITIONS, "flu") == pytest.approx(4 / 6)
    assert rs.dependency_degree(_flu(), ["temperature"], "flu") == pytest.approx(3 / 6)


def test_reducts_and_core_match_pawlak():
    assert rs.all_reducts(_flu(), CONDITIONS, "flu") == [
        ("headache", "temperature"),
        ("muscle_pain", "temperature"),
    ]
    assert rs.core(_flu(), CONDITIONS, "flu") == ("temperature",)
    assert rs.find_reduct(_flu(), CONDITIONS, "flu") == ("headache", "temperature")


def test_quick_reduct_finds_a_reduct():
    config = rs.ReductConfig(max_exhaustive=0)
    reduct = rs.find_reduct(_flu(), CONDITIONS, "flu", config)
    assert reduct in rs.all_reducts(_flu(), CONDITIONS, "flu")


def test_certain_and_possible_rules_on_a_reduct():
    rules = rs.decision_rules(_flu(), ["headache", "temperature"], "flu")
    certain = rules[rules["kind"] == rs.CERTAIN]
    possible = rules[rules["kind"] == rs.POSSIBLE]
    # certain: one per patient outside the boundary, confidence 1
    assert sorted(
        map(tuple, certain[["headache", "temperature", "flu"]].to_numpy())
    ) == [
        ("no", "high", "yes"),
        ("no", "normal", "no"),
        ("no", "very high", "yes"),
        ("yes", "very high", "yes"),
    ]
    assert (certain["support"] == 1).all()
    # possible: headache and high temperature, flu or not, half the time each
    assert possible[
        ["headache", "temperature", "flu", "support"]
    ].to_numpy().tolist() == [
        ["yes", "high", "no", 1],
        ["yes", "high", "yes", 1],
    ]
    assert possible["confidence"].tolist() == [0.5, 0.5]
    # coverage: flu has 4 patients, no-flu 2
    flu_rule = possible[possible["flu"] == "yes"].iloc[0]
    assert flu_rule["coverage"] == pytest.approx(1 / 4)
    assert possible[possible["flu"] == "no"].iloc[0]["coverage"] == pytest.approx(1 / 2)


def test_discretise_equal_frequency():
    values = pd.Series([5, 1, 3, 3, 9, 7])
    assert rs.discretise(values, 3, ["low", "mid", "high"]).tolist() == [
        "mid",
        "low",
        "low",
        "low",
        "high",
        "high",
    ]
    with pytest.raises(ValueError):
        rs.discretise(values, 1)
