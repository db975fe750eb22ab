from __future__ import annotations

import pandas as pd
import pytest

from adopt.exceptions import InputError
from adopt.response.split import cold_start_flag, time_split


def test_split_by_day_keeps_order_and_every_row(examples):
    split = time_split(examples)
    assert len(split.train) + len(split.valid) + len(split.test) == len(examples)
    assert split.train["ts"].max() < split.valid["ts"].min()
    assert split.valid["ts"].max() < split.test["ts"].min()
    summary = split.summary()
    assert summary["test"]["first_day"] == summary["test"]["last_day"] == "2026-01-05"
    assert summary["valid"]["first_day"] == "2026-01-04"
    assert summary["train"] == {"rows": len(split.train), "first_day": "2026-01-01",
                                "last_day": "2026-01-03"}


def test_two_valid_days():
    split = time_split(pd.DataFrame({"ts": pd.date_range("2026-03-01", periods=10, freq="12h")}),
                       valid_days=2)
    assert split.summary()["valid"] == {"rows": 4, "first_day": "2026-03-03",
                                        "last_day": "2026-03-04"}


def test_a_log_shorter_than_the_split_is_cut_in_time_order():
    stamps = pd.date_range("2026-01-01 00:00", periods=20, freq="min")
    df = pd.DataFrame({"ts": stamps[::-1], "i": range(20)})  # rows out of time order
    split = time_split(df)
    assert [len(split.train), len(split.valid), len(split.test)] == [14, 3, 3]
    assert split.train["ts"].max() < split.valid["ts"].min()
    assert split.valid["ts"].max() < split.test["ts"].min()
    with pytest.raises(InputError, match=r"column 'ts'.*at least 3 rows.*got 2"):
        time_split(df.head(2))


def test_cold_start_flags_ads_first_seen_in_test(examples):
    split = time_split(examples)
    history = pd.concat([split.train, split.valid])
    cold = cold_start_flag(history, split.test)
    assert cold.any() and not cold.all()
    new_ads = set(split.test["ad_id"]) - set(history["ad_id"])
    assert set(split.test.loc[cold, "ad_id"]) == new_ads
