"""estimate_reach: exact shares on a tiny warehouse, and the logged impressions on a small world."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves.reach import estimate_reach
from adopt.exceptions import ParameterError

QUOTED = "it's"
# Four days of log, one impression time per day at 10:00 and the end at 2024-01-04 12:00,
# so a 1-day window i is day 4 - i. Segment "a" never visits B; "silent" is never
# shown anything; placement C never shows anything.
AUDIENCES = [("a1", "a"), ("a2", "a"), ("a3", "a"), ("a4", "a"),
             ("q1", QUOTED), ("q2", QUOTED), ("s1", "silent")]
IMPRESSIONS = (
    [("2024-01-04 10:00", "a1", "A")] * 3 + [("2024-01-04 10:00", "a2", "A")]
    + [("2024-01-04 12:00", "q1", "B")] * 2
    + [("2024-01-03 10:00", "a1", "A"), ("2024-01-03 10:00", "q1", "A"),
       ("2024-01-03 10:00", "q2", "B")]
    + [("2024-01-02 10:00", "a3", "A")] * 2
    + [("2024-01-01 10:00", "a4", "A")]
)


@pytest.fixture
def tiny_ws(tmp_path: Path) -> Path:
    """A warehouse with only the tables estimate_reach reads."""
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create table audiences (user_id varchar, segment varchar)")
        con.executemany("insert into audiences values (?, ?)", AUDIENCES)
        con.execute("create table stg_placements (placement_id varchar)")
        con.executemany("insert into stg_placements values (?)", [("A",), ("B",), ("C",)])
        con.execute("create table int_impressions (ts timestamp, user_id varchar, "
                    "placement_id varchar)")
        con.executemany("insert into int_impressions values (?::timestamp, ?, ?)", IMPRESSIONS)
    return tmp_path


def cell(table: pd.DataFrame, segment: str, placement: str) -> pd.Series:
    return table.set_index(["segment", "placement_id"]).loc[(segment, placement)]


def test_last_two_windows_exact(tiny_ws: Path) -> None:
    table = estimate_reach(tiny_ws, 1, windows=2, prior_users=0)
    assert len(table) == 3 * 3 and (table["windows"] == 2).all()
    a_at_a = cell(table, "a", "A")  # day 4: a1, a2 (4 impressions); day 3: a1 (1)
    assert a_at_a["reachable_share"] == pytest.approx((2 + 1) / 2 / 4)
    assert a_at_a["impressions_per_user"] == pytest.approx(5 / 3)
    assert a_at_a["observed_users"] == 2 and a_at_a["basis"] == "segment"
    a_at_b = cell(table, "a", "B")  # never there: share 0, B's own impressions per user
    assert a_at_b["reachable_share"] == 0.0
    assert a_at_b["impressions_per_user"] == pytest.approx(3 / 2)
    q_at_b = cell(table, QUOTED, "B")  # a segment name with a quote in it
    assert q_at_b["reachable_share"] == pytest.approx(0.5)
    assert q_at_b["impressions_per_user"] == pytest.approx(1.5)
    assert cell(table, QUOTED, "A")["reachable_share"] == pytest.approx(0.25)
    silent = cell(table, "silent", "A")  # no impressions: the population's share at A
    assert silent["basis"] == "placement"
    assert silent["reachable_share"] == pytest.approx(2 / 7)
    assert silent["impressions_per_user"] == pytest.approx(6 / 4)
    never = table[table["placement_id"] == "C"]  # the mean logged placement
    assert (never["basis"] == "population").all()
    assert np.allclose(never["reachable_share"], (2 / 7 + 1 / 7) / 2)
    assert np.allclose(never["impressions_per_user"], 9 / 6)
    assert table.attrs["log_days"] == 4 and table.attrs["window_days"] == 1


def test_all_windows_are_averaged_by_default(tiny_ws: Path) -> None:
    table = estimate_reach(tiny_ws, 1, prior_users=0)
    assert (table["windows"] == 4).all()
    a_at_a = cell(table, "a", "A")  # reached 2, 1, 1, 1 of 4; impressions 4 + 1 + 2 + 1
    assert a_at_a["reachable_share"] == pytest.approx(5 / 4 / 4)
    assert a_at_a["impressions_per_user"] == pytest.approx(8 / 5)
    assert a_at_a["observed_users"] == 4
    two_day = estimate_reach(tiny_ws, 2, prior_users=0)  # days 3-4 and days 1-2
    assert (two_day["windows"] == 2).all()
    assert cell(two_day, "a", "A")["reachable_share"] == pytest.approx((2 + 2) / 2 / 4)
    asked = estimate_reach(tiny_ws, 1, windows=10, prior_users=0)
    assert (asked["windows"] == 4).all() and "10 windows asked" in asked.attrs["note"]


def test_logged_impressions_per_window_are_kept(tiny_ws: Path) -> None:
    table = estimate_reach(tiny_ws, 1, prior_users=0)
    logged = table[table["basis"] == "segment"]
    carried = logged["reachable_share"] * logged["segment_users"] * logged["impressions_per_user"]
    assert carried.sum() == pytest.approx(len(IMPRESSIONS) / 4)


def test_period_longer_than_the_log(tiny_ws: Path) -> None:
    table = estimate_reach(tiny_ws, 10, prior_users=0)
    assert (table["windows"] == 1).all() and (table["window_days"] == 4).all()
    a_at_a = cell(table, "a", "A")  # all four users over the whole log, 8 impressions
    assert a_at_a["reachable_share"] == pytest.approx(1.0)
    assert a_at_a["impressions_per_user"] == pytest.approx(8 / 4 * 10 / 4)
    assert "scaled by 2.5" in table.attrs["note"]


def test_thin_segments_shrink_toward_the_placement(tiny_ws: Path) -> None:
    table = estimate_reach(tiny_ws, 1, windows=2, prior_users=3)
    a_at_b = cell(table, "a", "B")  # 4 users >= 3: its own logs, a little pulled up
    assert a_at_b["basis"] == "segment"
    assert a_at_b["reachable_share"] == pytest.approx(3 * (1 / 7) / (4 + 3))
    q_at_a = cell(table, QUOTED, "A")  # 2 users < 3: the prior weighs more
    assert q_at_a["basis"] == "shrunk"
    assert q_at_a["reachable_share"] == pytest.approx((0.5 + 3 * 2 / 7) / (2 + 3))
    assert q_at_a["impressions_per_user"] == pytest.approx(1.0)  # not shrunk


def test_deterministic_and_validated(tiny_ws: Path) -> None:
    first = estimate_reach(tiny_ws, 1.5)
    pd.testing.assert_frame_equal(first, estimate_reach(tiny_ws, 1.5))
    assert list(first["segment"]) == sorted(first["segment"])
    for kwargs, name in (({"days": 0}, "days"), ({"days": 1, "windows": 0}, "windows"),
                         ({"days": 1, "prior_users": -1}, "prior_users")):
        with pytest.raises(ParameterError, match=f"'{name}' parameter of estimate_reach"):
            estimate_reach(tiny_ws, **kwargs)


def test_small_world_shares_and_logged_impressions(small_ws: Path) -> None:
    days = 3.0
    table = estimate_reach(small_ws, days)
    assert table["windows"].iloc[0] == 4  # a 12-day log
    assert ((table["reachable_share"] > 0) & (table["reachable_share"] <= 1)).all()
    end = pd.Timestamp(table.attrs["end_ts"])
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute(
            "select count(*) from int_impressions inner join audiences using (user_id) "
            "where ts > $start", {"start": end - pd.Timedelta(days=days * 4)}).fetchone()[0]
    carried = table["reachable_share"] * table["segment_users"] * table["impressions_per_user"]
    assert carried.sum() == pytest.approx(logged / 4, rel=0.02)


def test_apply_reach_sets_reachable_users_and_capacity():
    from adopt.curves.reach import apply_reach

    curves = pd.DataFrame({"campaign_id": ["c", "c", "c"], "segment": ["s", "s", "t"],
                           "placement_id": ["a", "b", "a"], "k": 1, "users": 100.0,
                           "segment_users": 100.0, "cost_per_impression": 0.001,
                           "clicks": 0.01, "conversions": 0.0, "revenue": 0.0})
    reach = pd.DataFrame({"segment": ["s", "s"], "placement_id": ["a", "b"],
                          "reachable_share": [0.25, 1.0], "impressions_per_user": [3.0, 1.5]})
    out = apply_reach(curves, reach)
    assert out["users"].tolist() == [25.0, 100.0, 100.0]  # t has no estimate: all reachable
    assert out["impressions_per_user"].iloc[:2].tolist() == [3.0, 1.5]
    assert np.isnan(out["impressions_per_user"].iloc[2])
