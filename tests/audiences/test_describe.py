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
    ({"cvr": math.nan}, "· CTR 3.1%"),
])
def test_words(changes: dict, words: str) -> None:
    assert words in describe(row(**changes))
