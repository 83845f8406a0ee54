"""RFM scores and cells on ten customers worked out by hand.

Positions (0-based, worst first) and scores 1 + floor(5 * position / 10):
recency days a1 b2 c3 d3 e10 f20 g30 h60 i90 j200 give R = 5 5 4 4 3 3 2 2 1 1
(c and d tie at position 6); frequency a10 b1 c5 d5 e1 f3 g2 h1 i1 j8 gives
F = 5 1 4 4 1 3 3 1 1 5 (the four single buyers tie at position 0, g is at 4).
"""

import pandas as pd
import pytest
from django.utils import translation

from clientbook.analytics.engines import rfm


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "recency": [1, 2, 3, 3, 10, 20, 30, 60, 90, 200],
            "frequency": [10, 1, 5, 5, 1, 3, 2, 1, 1, 8],
            "monetary": [500.0, 20, 200, 150, 30, 90, 60, 10, 10, 400],
        },
        index=pd.Index(list("abcdefghij"), name="customer_id"),
    )


def test_quintile_scores_by_hand():
    scored = rfm.rfm_scores(_customers())
    assert scored["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scored["f_score"].tolist() == [5, 1, 4, 4, 1, 3, 3, 1, 1, 5]
    assert scored["m_score"].tolist() == [5, 2, 4, 4, 2, 3, 3, 1, 1, 5]
    assert scored.loc["a", "rfm_code"] == "555"


def test_named_cells_by_hand():
    cells = rfm.rfm_scores(_customers())["cell"]
    assert cells.to_dict() == {
        "a": rfm.CHAMPIONS,
        "b": rfm.NEW,
        "c": rfm.LOYAL,
        "d": rfm.LOYAL,
        "e": rfm.ABOUT_TO_SLEEP,
        "f": rfm.NEED_ATTENTION,
        "g": rfm.AT_RISK,
        "h": rfm.HIBERNATING,
        "i": rfm.LOST,
        "j": rfm.CANT_LOSE,
    }


def test_scores_do_not_depend_on_row_order():
    shuffled = _customers().sample(frac=1, random_state=3)
    assert (
        rfm.rfm_scores(shuffled)
        .sort_index()
        .equals(rfm.rfm_scores(_customers()).sort_index())
    )


def test_every_cell_has_a_translatable_label():
    grid_cells = set(
        rfm.rfm_cells(
            pd.Series([r for r in range(1, 6) for _ in range(5)]),
            pd.Series(list(range(1, 6)) * 5),
        )
    )
    assert grid_cells == set(rfm.CELL_LABELS)
    with translation.override("en"):
        assert str(rfm.CELL_LABELS[rfm.CANT_LOSE]) == "Can't lose them"


def test_three_bins_map_onto_the_five_point_grid():
    scored = rfm.rfm_scores(_customers(), rfm.RFMConfig(bins=3))
    assert scored["r_score"].between(1, 3).all()
    # R 3 / F 3 is the best third on both: champions
    assert scored.loc["a", "cell"] == rfm.CHAMPIONS


def test_grid_counts_and_value():
    grid = rfm.rfm_grid(rfm.rfm_scores(_customers())).set_index(["r_score", "f_score"])
    assert len(grid) == 25
    assert grid["customers"].sum() == 10
    assert grid.loc[(4, 4)].tolist() == [2, 350.0, 175.0]
    assert grid.loc[(1, 1)].tolist() == [1, 10.0, 10.0]
    assert grid.loc[(3, 5)].tolist() == [0, 0.0, 0.0]


def test_cell_summary_lists_every_cell():
    summary = rfm.cell_summary(rfm.rfm_scores(_customers())).set_index("cell")
    assert list(summary.index) == list(rfm.CELL_LABELS)
    assert summary.loc[rfm.LOYAL, "customers"] == 2
    assert summary.loc[rfm.POTENTIAL_LOYALIST, "customers"] == 0
    assert summary["share"].sum() == pytest.approx(1.0)


def test_rfm_from_transactions_ignores_the_future_and_nets_returns():
    transactions = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 1],
            "order_id": [10, 10, 11, 12, 13],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-20", "2024-01-05", "2024-03-01"]
            ),
            "amount": [100.0, 50.0, -30.0, 80.0, 999.0],
        }
    )
    frame = rfm.rfm_from_transactions(
        transactions, as_of="2024-02-01", order_col="order_id"
    )
    assert frame.loc[1].tolist() == [12, 2, 120.0]
    assert frame.loc[2].tolist() == [27, 1, 80.0]


def test_config_validation():
    with pytest.raises(ValueError):
        rfm.RFMConfig(bins=1)
