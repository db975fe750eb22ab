from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, ParameterError
from adopt.response.split import (
    SUGGEST_POSITIVES,
    check_outcomes,
    cold_start_flag,
    outcome_problem,
    split_settings,
    time_split,
)


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


def test_shares_cut_in_time_order(examples):
    split = time_split(examples, valid_frac=0.2, test_frac=0.1)
    n = len(examples)
    assert [len(split.train), len(split.valid), len(split.test)] == [
        int(n * 0.7), int(n * 0.9) - int(n * 0.7), n - int(n * 0.9)]
    assert split.train["ts"].max() <= split.valid["ts"].min()
    assert split.valid["ts"].max() <= split.test["ts"].min()
    assert split.how == {"valid_frac": 0.2, "test_frac": 0.1, "valid_days": None,
                         "test_days": None}
    # one share given: the other is 0.15
    assert split_settings(test_frac=0.3)["valid_frac"] == 0.15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"valid_days": 2, "valid_frac": 0.2}, "either in days .* or as shares"),
        ({"test_days": 0}, r"'test_days' parameter of time_split must be an int >= 1. Got 0"),
        ({"valid_frac": 1.5}, r"'valid_frac' parameter of time_split must be a share in \(0, 1\)"),
        ({"valid_frac": 0.5, "test_frac": 0.4}, "must leave at least 20% of the examples"),
    ],
)
def test_bad_split_settings_are_refused(examples, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        time_split(examples, **kwargs)


def _sparse_log(seed: int = 0) -> pd.DataFrame:
    """Two years of a sparse log: a few impressions a day, a few clicks a week."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    per_day = rng.poisson(4, len(days))
    ts = np.repeat(days.to_numpy(), per_day) + pd.to_timedelta(
        rng.uniform(0, 86_000, per_day.sum()), unit="s").to_numpy()
    clicked = (rng.random(len(ts)) < 0.05).astype(int)
    df = pd.DataFrame({"ts": ts, "clicked": clicked}).sort_values("ts", ignore_index=True)
    day = df["ts"].dt.floor("D")
    df.loc[day == pd.Timestamp("2025-12-30"), "clicked"] = 0  # the valid day: no click
    test_day = np.flatnonzero(day == pd.Timestamp("2025-12-31"))
    df.loc[test_day, "clicked"] = 0
    df.loc[test_day[0], "clicked"] = 1  # the test day: one click
    return df


def test_a_thin_valid_split_says_what_to_change():
    df = _sparse_log()
    split = time_split(df)
    with pytest.raises(InputError) as err:
        check_outcomes(split)
    message = str(err.value)
    assert message.startswith(
        "table 'training_examples', column 'clicked': the valid split (2025-12-30 to "
        "2025-12-30) has ")
    assert "rows and 0 positives (clicked)" in message
    days = int(re.search(r"--valid-days (\d+) \(valid_days=\1\)", message).group(1))
    frac = float(re.search(r"--valid-frac ([0-9.]+) \(valid_frac=\1\)", message).group(1))
    # what the message suggests works: a valid split with at least SUGGEST_POSITIVES clicks
    for fixed in (time_split(df, valid_days=days), time_split(df, valid_frac=frac)):
        check_outcomes(fixed)
        assert fixed.valid["clicked"].sum() >= SUGGEST_POSITIVES
    assert days > 1 and 0 < frac < 0.85


def test_a_train_split_without_clicks_says_to_hold_out_less():
    df = _sparse_log()
    df.loc[df["ts"] < pd.Timestamp("2025-06-01"), "clicked"] = 0
    with pytest.raises(InputError, match=r"the train split \(2024-01-01 to .*0 positives.*"
                       r"give fewer \(--valid-days, --test-days\)"):
        check_outcomes(time_split(df, valid_days=300))


def test_cli_train_split_options(tmp_path, capsys, own_log_handler):
    from adopt.cli import main

    ws = str(tmp_path / "ws")
    assert main(["train", "--workspace", ws, "--valid-days", "2", "--valid-frac", "0.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("adopt: error: The split of train_response is given either in days")
    assert main(["train", "--workspace", ws, "--test-frac", "1.5"]) == 2
    assert "'test_frac' parameter of train_response" in capsys.readouterr().err


def test_a_test_split_without_clicks_trains_unscored_and_says_what_to_change():
    df = _sparse_log()
    df.loc[df["ts"] >= pd.Timestamp("2025-12-31"), "clicked"] = 0
    split = time_split(df, valid_days=30)
    check_outcomes(split)  # the model can be fitted: only its score is missing
    assert re.match(r"the test split \(2025-12-31 to 2025-12-31\).*to be scored on it; give "
                    r"it more days: --test-days \d+", outcome_problem(split, "test"))
    assert outcome_problem(split, "valid") is None
