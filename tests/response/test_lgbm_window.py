"""The time-ordered validation window of `LightGBMResponse` and its cross-validation fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.response.features import Features
from adopt.response.lgbm import MAX_WINDOW_SHARE, LightGBMResponse
from adopt.response.metrics import roc_auc
from adopt.response.split import time_split

from .conftest import make_examples

FAST = {"num_threads": 1, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def split():
    # 12 days: one valid day is a small share of the rows, as on a real log
    return time_split(make_examples(n=30_000, days=12, seed=1))


def _needing_two_days(split) -> int:
    """A `min_valid_positives` the valid day misses and the last two days reach."""
    return int(split.valid["clicked"].sum()) + 1


def test_few_valid_positives_stop_on_the_latest_days(split):
    need = _needing_two_days(split)
    model = LightGBMResponse(features=Features(vectors=()), params=FAST,
                             min_valid_positives=need).fit(split.train, split.valid)
    click = model.stopping_["click"]
    assert click["method"] == "time_window" and click["engine"] == "local"
    assert click["window_days"] == 2
    last_train_day = split.train["ts"].max().floor("D")
    assert click["window_first_day"] == str(last_train_day.date())
    window = pd.concat([split.train, split.valid])
    window = window[window["ts"] >= last_train_day]
    assert click["window_rows"] == len(window)
    assert click["valid_positives"] == int(window["clicked"].sum()) >= need
    assert model.best_iteration_["click"] == click["rounds"] >= 1
    # the window-fitted calibrator: calibrated on test days it never saw
    test = split.test
    p = model.predict_click(test)
    assert p.mean() / test["clicked"].mean() == pytest.approx(1.0, abs=0.1)
    # the thin conversion target keeps its cross-validation
    assert model.stopping_["conversion"]["method"] == "cv5"


@pytest.mark.slow
def test_the_window_scores_as_cross_validation_does(split):
    need = _needing_two_days(split)
    test, y = split.test, split.test["clicked"].to_numpy()
    auc = {}
    for validation in ("time", "cv"):
        model = LightGBMResponse(features=Features(vectors=()), params=FAST,
                                 min_valid_positives=need, validation=validation,
                                 conversion=False).fit(split.train, split.valid)
        auc[validation] = roc_auc(y, model.predict_click(test))
        assert model.stopping_["click"]["method"] == (
            "time_window" if validation == "time" else "cv5")
    assert auc["time"] >= auc["cv"] - 0.01  # (here it is 0.016 better)
    assert auc["time"] > 0.65


@pytest.mark.slow
def test_thin_data_and_wide_windows_fall_back_to_cross_validation(split):
    # a window that would need most of the days: cross-validate
    total = int(split.train["clicked"].sum() + split.valid["clicked"].sum())
    need = int(total * (MAX_WINDOW_SHARE + 0.2))
    model = LightGBMResponse(features=Features(vectors=()), params=FAST, conversion=False,
                             min_valid_positives=need).fit(split.train, split.valid)
    assert model.stopping_["click"]["method"] == "cv5"
    # thin data: fewer positives than SMALL_DATA_POSITIVES, however the days fall
    small = time_split(make_examples(n=6_000, days=12, seed=2))
    model = LightGBMResponse(features=Features(vectors=()), params=FAST, conversion=False,
                             min_valid_positives=int(small.valid["clicked"].sum()) + 1
                             ).fit(small.train, small.valid)
    assert model.stopping_["click"]["method"] == "cv5"


def test_the_window_is_deterministic_and_survives_save_and_load(split, tmp_path):
    kwargs = {"features": Features(vectors=()), "params": FAST, "conversion": False,
              "min_valid_positives": _needing_two_days(split), "seed": 3}
    first = LightGBMResponse(**kwargs).fit(split.train, split.valid)
    second = LightGBMResponse(**kwargs).fit(split.train, split.valid)
    np.testing.assert_array_equal(first.predict_click(split.test),
                                  second.predict_click(split.test))
    loaded = LightGBMResponse.load(first.save(tmp_path / "m"))
    assert loaded.stopping_["click"]["method"] == "time_window"
    np.testing.assert_allclose(loaded.predict_click(split.test), first.predict_click(split.test))


def test_a_target_with_many_positives_fits_on_a_share_of_its_negatives(split, tmp_path):
    fit = pd.concat([split.train, split.valid])
    positives = int(fit["clicked"].sum())
    kwargs = {"features": Features(vectors=()), "params": FAST, "conversion": False,
              "calibration": "none", "min_valid_positives": _needing_two_days(split)}
    model = LightGBMResponse(negatives_per_positive=2, **kwargs).fit(split.train, split.valid)
    click = model.stopping_["click"]
    assert click["method"] == "time_window"
    assert click["downsample_rate"] == pytest.approx(2 * positives / (len(fit) - positives))
    # the window keeps all its rows: the rounds and the calibrator see the true rates
    window = fit[fit["ts"] >= pd.Timestamp(click["window_first_day"])]
    assert click["window_rows"] == len(window)
    test, y = split.test, split.test["clicked"].to_numpy()
    p = model.predict_click(test)
    assert p.mean() / y.mean() == pytest.approx(1.0, abs=0.1)  # corrected to the true scale
    assert roc_auc(y, p) > 0.62  # (0.65; all negatives: 0.68, within this world's noise)
    every = LightGBMResponse(negatives_per_positive=0, **kwargs).fit(split.train, split.valid)
    assert every.stopping_["click"]["downsample_rate"] is None
    loaded = LightGBMResponse.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_click(test), p)


def test_unknown_validation_and_engine_are_refused(split):
    with pytest.raises(ValueError, match="'validation' parameter of LightGBMResponse"):
        LightGBMResponse(validation="kfold").fit(split.train, split.valid)
    with pytest.raises(ValueError, match="'engine' parameter of LightGBMResponse"):
        LightGBMResponse(engine="spark").fit(split.train, split.valid)


def test_rounds_of_a_loaded_booster_are_its_iterations():
    import lightgbm as lgb

    from adopt.response.lgbm import _rounds_of

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                        lgb.Dataset(x, (x[:, 0] > 0).astype(float)), num_boost_round=7)
    booster.best_iteration = -1  # what a booster loaded from a file says (Ray Train's)
    assert _rounds_of(booster) == 7
    booster.best_iteration = 4
    assert _rounds_of(booster) == 4
