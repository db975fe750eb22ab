"""The words of a segment portrait."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from adopt.audiences.describe import describe


def row(**changes: object) -> pd.Series:
    base = {"size": 1240, "top_categories": ["sports", "outdoor", "books"], "monetary": 90.0,
            "monetary_index": 1.8, "recency_days": 4.0, "active_share": 0.9, "ctr": 0.0312,
            "cvr": 0.095}
    return pd.Series({**base, **changes})


def test_the_planner_line() -> None:
    assert describe(row()) == ("1,240 users · sports, outdoor · high spend, active in last "
                               "7 days · CTR 3.1%, CVR 9.5%")


@pytest.mark.parametrize(("changes", "words"), [
    ({"monetary_index": 0.3}, "low spend, active in last 7 days"),
    ({"monetary_index": 1.0, "recency_days": 20.0}, "average spend, active in last 30 days"),
    ({"monetary": 0.0, "recency_days": 45.0}, "no spend, last active about 45 days ago"),
    ({"active_share": 0.2}, "high spend, mostly inactive"),
    ({"recency_days": math.nan}, "high spend, mostly inactive"),
    ({"top_categories": []}, "1,240 users · no category signal ·"),
    ({"ctr": math.nan, "cvr": math.nan}, "· no ad history"),
    ({"cvr": math.nan}, "· CTR 3.1%, CVR n/a (no clicks)"),
])
def test_words(changes: dict, words: str) -> None:
    assert words in describe(row(**changes))


def test_a_segment_without_clicks_has_no_cvr() -> None:
    """least() skips NULL: the rate of a segment with no clicks is missing, never 100%."""
    import duckdb

    from adopt.audiences.describe import MEMBERS, segment_stats

    con = duckdb.connect()
    con.execute("""
        create table user_profiles as select * from (values
            ('u1', 3, 0, 0, null::double, 0, 0.0, []::struct(category varchar, share double)[],
             []::varchar[]),
            ('u2', 4, 2, 1, 1.0, 1, 5.0, [], []),
            ('u3', 1, 0, 2, 2.0, 2, 9.0, [], [])
        ) as t(user_id, impressions, clicks, conversions, recency_days, frequency, monetary,
               category_affinity, top_categories)""")
    con.execute(f"create temp table {MEMBERS} as select * from (values "
                "('a', 'u1'), ('b', 'u2'), ('c', 'u3')) as t(segment, user_id)")
    stats = segment_stats(con).set_index("segment")
    assert math.isnan(stats.loc["a", "cvr"]) and stats.loc["a", "ctr"] == 0.0
    assert stats.loc["b", "cvr"] == 0.5
    # view-through conversions without a click: still no rate (not capped at 100%)
    assert math.isnan(stats.loc["c", "cvr"])
    words = describe(stats.reset_index().iloc[0])
    assert "CVR n/a (no clicks)" in words and "100" not in words
