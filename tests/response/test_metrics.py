from __future__ import annotations

import math

import numpy as np
import pytest

from adopt.exceptions import InputError
from adopt.response import metrics as m


def test_auc_by_hand_counts_pairs_and_half_ties():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.9])
    # positives 0.35, 0.8, 0.9 vs negatives 0.1, 0.4, 0.8: wins 1 + (2 + 0.5) + 3 = 6.5 of 9
    assert m.roc_auc(y, p) == pytest.approx(6.5 / 9)


def test_auc_is_nan_for_one_class_and_one_for_perfect_order():
    assert math.isnan(m.roc_auc(np.ones(4), np.linspace(0, 1, 4)))
    assert m.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0


def test_logloss_and_normalized_entropy_by_hand():
    y = np.array([1, 0, 0, 0])
    p = np.array([0.5, 0.2, 0.1, 0.25])
    expected = -(math.log(0.5) + math.log(0.8) + math.log(0.9) + math.log(0.75)) / 4
    assert m.log_loss(y, p) == pytest.approx(expected)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert m.normalized_entropy(y, p) == pytest.approx(expected / h)
    # predicting the base rate itself scores NE = 1
    assert m.normalized_entropy(y, np.full(4, 0.25)) == pytest.approx(1.0)


def test_calibration_ratio_and_equal_mass_ece_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    assert m.calibration_ratio(y, p) == pytest.approx(np.mean(p) / 0.5)
    table = m.reliability_table(y, p, n_bins=2)
    assert table["count"].tolist() == [3, 3]
    assert table["mean_predicted"].tolist() == pytest.approx([0.2, 0.7])
    assert table["observed"].tolist() == pytest.approx([1 / 3, 2 / 3])
    expected = 0.5 * abs(0.2 - 1 / 3) + 0.5 * abs(0.7 - 2 / 3)
    assert m.expected_calibration_error(y, p, n_bins=2) == pytest.approx(expected)


def test_perfectly_calibrated_scores_have_small_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.3, size=200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert m.expected_calibration_error(y, p) < 0.005
    assert m.calibration_ratio(y, p) == pytest.approx(1.0, abs=0.02)


def test_evaluate_has_model_and_base_rate_rows_per_group():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.5, size=5000)
    y = (rng.random(p.size) < p).astype(int)
    place = rng.choice(["home", "feed"], size=p.size)
    cold = rng.random(p.size) < 0.1
    table = m.evaluate(y, p, groups={"placement_id": place, "cold_start": cold})
    assert len(table) == 2 * (1 + 2 + 2)
    overall = table.set_index(["slice", "predictor"]).loc["overall"]
    assert overall.loc["base_rate", "ne"] == pytest.approx(1.0)
    assert overall.loc["base_rate", "auc"] == 0.5
    assert overall.loc["model", "ne"] < 1.0
    assert overall.loc["model", "auc"] > 0.6
    home = table[(table["group"] == "home") & (table["predictor"] == "model")]
    assert home["n"].item() == (place == "home").sum()


def test_bad_inputs_name_the_column_and_row():
    with pytest.raises(InputError, match=r"column 'y', row 2: labels must be 0 or 1; got 2"):
        m.roc_auc(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(InputError, match=r"column 'p', row 1: probabilities must lie in \[0, 1\]"):
        m.log_loss(np.array([0, 1]), np.array([np.nan, 0.2]))
    with pytest.raises(InputError, match="same length"):
        m.evaluate(np.array([0, 1]), np.array([0.3]))


def test_normalized_entropy_is_undefined_when_every_label_is_the_same():
    from adopt.response.metrics import normalized_entropy

    assert np.isnan(normalized_entropy(np.zeros(5), np.full(5, 0.1)))
    assert normalized_entropy(np.array([0, 1, 0, 0]), np.full(4, 0.25)) == pytest.approx(1.0)
