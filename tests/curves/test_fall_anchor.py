"""The curves' k = 1 reconciled with the model at the logged rows' own k (`anchor_fall`)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from scipy.special import expit, logit

from adopt.curves.calibrate import recalibrate
from adopt.curves.fall_anchor import FallAnchor, anchor_fall
from adopt.curves.frequency import FrequencyDecay
from adopt.curves.grid import CellValues, expand_k
from adopt.curves.pairs import load_response_model

from .conftest import RUN_ID


def _decay(penalties: tuple[float, ...]) -> FrequencyDecay:
    return FrequencyDecay(penalties=penalties, increment_beyond=penalties[-1] - penalties[-2],
                          observed_k=len(penalties), pairs=1000, impressions=5000)


def _logged(ws, model, max_k):
    """Every logged row within the depth: the model at its own k and at k = 1, and its k."""
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select * from training_examples where k_campaign <= ?",
                           [max_k]).df()
    first = rows.assign(k_ad=1, k_campaign=1)
    return (model.predict(rows)["p_click"].to_numpy(), model.predict(first)["p_click"].to_numpy(),
            rows["k_campaign"].to_numpy())


def test_the_construction_gives_the_model_its_own_clicks(small_ws):
    model, _ = load_response_model(small_ws, RUN_ID)
    decay = _decay((0.0, 0.4, 0.7, 0.9))
    anchor = anchor_fall(small_ws, model, None, decay, max_k=4)
    own, first, k = _logged(small_ws, model, 4)
    assert anchor.impressions == len(k)  # the small world's rows are all read
    assert anchor.model_clicks == pytest.approx(own.sum(), rel=1e-9)
    carried = expit(logit(first) - decay.penalty(k))
    assert anchor.construction_clicks == pytest.approx(carried.sum(), rel=1e-9)
    moved = expit(logit(first) + anchor.intercept - decay.penalty(k))
    assert moved.sum() == pytest.approx(own.sum(), rel=1e-6)
    assert str(anchor).startswith(f"k = 1 click logit {anchor.intercept:+.3f}: on {len(k):,}")


def test_a_steeper_fall_than_the_models_lifts_k1_and_none_follows_the_model(small_ws):
    model, _ = load_response_model(small_ws, RUN_ID)
    own, first, _ = _logged(small_ws, model, 4)
    steep = anchor_fall(small_ws, model, None, _decay((0.0, 1.0, 2.0, 3.0)), max_k=4)
    assert steep.intercept > 0 and steep.construction_clicks < steep.model_clicks
    flat = anchor_fall(small_ws, model, None, _decay((0.0, 0.0, 0.0, 0.0)), max_k=4)
    # with no fall the construction is the model at k = 1 on every row
    assert flat.construction_clicks == pytest.approx(first.sum(), rel=1e-9)
    assert np.sign(flat.intercept) == np.sign(own.sum() - first.sum())


def test_every_nth_row_beyond_the_cap_and_the_same_fit_each_run(small_ws):
    model, _ = load_response_model(small_ws, RUN_ID)
    decay = _decay((0.0, 0.4, 0.7, 0.9))
    whole = anchor_fall(small_ws, model, None, decay, max_k=4)
    part = anchor_fall(small_ws, model, None, decay, max_k=4, max_rows=whole.impressions // 5)
    assert part.impressions <= whole.impressions // 5
    assert part == anchor_fall(small_ws, model, None, decay, max_k=4,
                               max_rows=whole.impressions // 5)
    assert part.intercept == pytest.approx(whole.intercept, abs=0.1)


def test_recalibrate_moves_clicks_on_the_logit_and_keeps_conversions_per_click():
    anchor = FallAnchor(impressions=10, model_clicks=2.0, construction_clicks=1.8,
                        intercept=0.25)
    assert anchor.click_rate(np.array([0.02]))[0] == pytest.approx(expit(logit(0.02) + 0.25))
    assert FallAnchor(1, 1.0, 1.0, 0.0).click_rate(np.array([0.3]))[0] == pytest.approx(0.3)
    first = np.array([[[0.02, 0.002, 0.1]]])  # 1 user x 1 placement x (clicks, conv, revenue)
    decay = _decay((0.0, 0.4, 0.7))
    values = CellValues(ads={}, first={(0, 0): first},
                        shape={(0, 0): expand_k(first, decay, np.arange(1, 4))}, rows=0)
    out = recalibrate(values, anchor, decay).first[(0, 0)][0, 0]
    assert out[0] == pytest.approx(expit(logit(0.02) + 0.25))
    assert out[1] / out[0] == pytest.approx(0.1) and out[2] / out[0] == pytest.approx(5.0)
