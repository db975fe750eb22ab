"""Hyperparameter searches on a real local Ray (slow)."""

from __future__ import annotations

import pytest

from adopt.response.split import time_split
from adopt.response.tune import tune_lightgbm

pytestmark = pytest.mark.slow


def test_lightgbm_search_records_every_trial_and_picks_the_best(ray_session, examples, tmp_path):
    split = time_split(examples)
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
