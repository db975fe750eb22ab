from __future__ import annotations

import json

import numpy as np
import pandas as pd

from adopt.response.card import ModelCard, data_fingerprint, library_versions


def test_fingerprint_changes_with_any_value_and_hashes_vectors():
    df = pd.DataFrame({"a": [1, 2], "v": [np.array([0.1, 0.2]), np.array([0.3, 0.4])]})
    same = data_fingerprint(df.copy())
    assert data_fingerprint(df) == same
    assert data_fingerprint(df.assign(a=[1, 3])) != same
    assert data_fingerprint(df.assign(v=[np.array([0.1, 0.2]), np.array([0.3, 0.5])])) != same


def test_card_round_trip_writes_strict_json_and_markdown(tmp_path):
    card = ModelCard(
        run_id="r1", model="lightgbm",
        data={"fingerprint": "abc", "split": {"test": {"rows": 5, "first_day": "2026-01-05",
                                                       "last_day": "2026-01-05"}}},
        features=["k_ad"], hyperparameters={"num_leaves": np.int64(31)},
        metrics=[{"target": "click", "slice": "overall", "group": "all", "predictor": "model",
                  "n": 5, "auc": float("nan"), "ne": 0.9, "calibration_ratio": 1.0,
                  "ece": 0.01}],
        tuning=[{"num_leaves": 31, "valid_logloss": 0.2}],
    )
    card.write(tmp_path)
    text = (tmp_path / "card.json").read_text()
    data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert data["metrics"][0]["auc"] is None  # NaN is written as null: strict JSON
    read = ModelCard.read(tmp_path)
    assert read.hyperparameters == {"num_leaves": 31}
    md = (tmp_path / "card.md").read_text()
    assert "- test: 5 rows, 2026-01-05 to 2026-01-05" in md
    assert "## Tuning (1 trials on valid)" in md
    assert set(library_versions()) >= {"python", "lightgbm", "torch", "ray"}


def test_markdown_says_how_each_target_chose_its_rounds():
    targets = {
        "click": {"method": "time_window", "rounds": 120, "window_days": 2,
                  "window_first_day": "2026-02-20", "valid_positives": 253, "engine": "ray",
                  "workers": 2},
        "conversion": {"method": "cv5", "rounds": 40, "positives": 441, "engine": "local"},
    }
    card = ModelCard(run_id="r", model="lightgbm", data={}, features=[],
                     hyperparameters={"targets": targets}, metrics=[])
    text = card.to_markdown()
    assert ("- click model: 120 rounds, early-stopped on the latest 2 day(s) from 2026-02-20 "
            "(253 positives), then refitted on all train and valid rows; trained on Ray Train, "
            "2 workers") in text
    assert ("- conversion model: 40 rounds by 5-fold cross-validation (441 positives: too few "
            "for a time window); trained locally") in text


def test_markdown_says_when_a_target_fitted_on_a_share_of_its_negatives():
    targets = {"click": {"method": "valid", "rounds": 90, "downsample_rate": 0.2,
                         "engine": "local"}}
    card = ModelCard(run_id="r", model="lightgbm", data={}, features=[],
                     hyperparameters={"targets": targets}, metrics=[])
    assert ("- click model: 90 rounds, early-stopped on the valid days; fitted on every "
            "positive and 20.0% of the negatives (predictions corrected back); trained "
            "locally") in card.to_markdown()
