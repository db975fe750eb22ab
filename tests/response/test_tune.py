"""Hyperparameter searches on a real local Ray (slow)."""

from __future__ import annotations

import pytest

from adopt.response.run import train_response
from adopt.response.split import time_split
from adopt.response.tune import tune_lightgbm

from .conftest import make_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small():
    return make_examples(n=5000, users=150, ads=25, days=5, seed=5)


def test_lightgbm_search_records_every_trial_and_picks_the_best(idle_ray, small, tmp_path):
    split = time_split(small)
    result = tune_lightgbm(split.train, split.valid, num_samples=4, seed=3,
                           storage_path=tmp_path)
    trials = result.trials
    assert len(trials) == 4
    assert {"num_leaves", "learning_rate", "min_child_samples", "valid_logloss",
            "valid_auc", "best_iteration"} <= set(trials.columns)
    assert trials["valid_logloss"].is_monotonic_increasing
    best_row = trials.iloc[0]
    assert result.best == {k: best_row[k] for k in ("num_leaves", "learning_rate",
                                                    "min_child_samples")}
    assert trials["valid_auc"].min() > 0.6
    assert len(result.records()) == 4


def test_adopt_train_with_tune_trains_the_best_trial_and_records_the_search(idle_ray, small,
                                                                           tmp_path):
    card = train_response(tmp_path, "lightgbm", examples=small, run_id="tuned", tune=True,
                          num_trials=2, params={"num_threads": 1})
    assert len(card.tuning) == 2
    best = min(card.tuning, key=lambda t: t["valid_logloss"])
    used = card.hyperparameters["params"]
    assert {k: used[k] for k in ("num_leaves", "learning_rate", "min_child_samples")} == {
        k: best[k] for k in ("num_leaves", "learning_rate", "min_child_samples")}
    assert "## Tuning (2 trials on valid)" in (tmp_path / "models/tuned/card.md").read_text()
