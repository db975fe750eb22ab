"""The curves' construction recalibrated against the latest logs."""

from __future__ import annotations

import numpy as np
import pytest

from adopt.curves.calibrate import LevelCalibration, _fit_platt, calibrate_levels, recalibrate
from adopt.curves.frequency import FrequencyDecay
from adopt.curves.grid import CellValues, expand_k
from adopt.curves.pairs import load_response_model

from .conftest import RUN_ID


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("shift", [-0.4, 0.0, 0.3])
def test_the_intercept_is_recovered_and_shrunk_toward_none(shift):
    rng = np.random.default_rng(0)
    z = rng.normal(-3.5, 0.8, 200_000)  # the construction's click logits
    offset = rng.choice([0.0, 0.4, 0.7], z.size)  # the fall at each impression's k
    y = (rng.random(z.size) < _sigmoid(shift + z - offset)).astype(float)
    a, b = _fit_platt(z, offset, y)
    assert b == 1.0  # the slope stays: a slope changed which cells plans buy
    assert a == pytest.approx(shift, abs=0.05)
    few = slice(0, 300)  # a handful of clicks barely moves it
    a_few, _ = _fit_platt(z[few], offset[few], y[few])
    assert abs(a_few) < abs(shift) + 0.2


def test_recalibrate_moves_clicks_on_the_logit_and_keeps_conversions_per_click():
    cal = LevelCalibration(window_days=7, impressions=1, clicks=1, predicted_clicks=1.0,
                           conversions=1, predicted_conversions=1.0, intercept=0.5, slope=1.0,
                           conversion_factor=1.2)
    first = np.array([[[0.02, 0.002, 0.1], [0.0, 0.0, 0.0]]])  # 1 user x 2 placements x 3
    decay = FrequencyDecay(penalties=(0.0, 0.4, 0.7), increment_beyond=0.3, observed_k=3,
                           pairs=1000, impressions=3000)
    values = CellValues(ads={}, first={(0, 0): first},
                        shape={(0, 0): expand_k(first, decay, np.arange(1, 4))}, rows=0)
    out = recalibrate(values, cal, decay)
    click = out.first[(0, 0)][0, 0, 0]
    assert click == pytest.approx(_sigmoid(0.5 + np.log(0.02 / 0.98)))
    assert out.first[(0, 0)][0, 0, 1] / click == pytest.approx(0.1 * 1.2)
    assert np.all(out.first[(0, 0)][0, 1] == 0)
    assert np.allclose(out.shape[(0, 0)], expand_k(out.first[(0, 0)], decay, np.arange(1, 4)))
    assert recalibrate(values, None, decay) is values


def test_the_window_is_replayed_on_a_small_world(small_ws):
    model, _ = load_response_model(small_ws, RUN_ID)
    cal = calibrate_levels(small_ws, model, None, None, days=10.0, max_k=4, min_clicks=20)
    assert cal is not None and cal.window_days == 10.0 and cal.impressions > 0
    assert cal.clicks >= 20 and cal.predicted_clicks > 0
    assert calibrate_levels(small_ws, model, None, None, days=10.0, max_k=4,
                            min_clicks=10**9) is None
    # the intercept moves the construction's clicks toward the logged ones
    assert np.sign(cal.intercept) == np.sign(cal.clicks - cal.predicted_clicks) or \
        abs(cal.intercept) < 1e-3
    assert "click logit x1.000" in str(cal)
