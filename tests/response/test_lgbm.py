from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, NotFittedError
from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import evaluate, score
from adopt.response.split import time_split

FAST = {"num_threads": 1, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def split(examples):
    return time_split(examples)


@pytest.fixture(scope="module")
def fitted(split):
    feats = Features(vector_components=8)
    return LightGBMResponse(features=feats, params=FAST, seed=0).fit(split.train, split.valid)


def test_beats_the_base_rate_and_is_calibrated(fitted, split):
    test = split.test
    p = fitted.predict_click(test)
    y = test["clicked"].to_numpy()
    table = evaluate(y, p, base_rate=split.train["clicked"].mean())
    model = table[(table["slice"] == "overall") & (table["predictor"] == "model")].iloc[0]
    base = table[(table["slice"] == "overall") & (table["predictor"] == "base_rate")].iloc[0]
    assert model["auc"] > 0.72 > base["auc"]
    assert model["ne"] < 0.92 < base["ne"]
    assert model["calibration_ratio"] == pytest.approx(1.0, abs=0.15)
    assert model["ece"] < 0.02


def test_conversion_model_and_combined_prediction(fitted, split):
    clicks = split.test[split.test["clicked"] == 1]
    s = score(clicks["converted"].to_numpy(), fitted.predict_conversion(clicks))
    assert s["auc"] > 0.6
    out = fitted.predict(split.test)
    assert list(out.columns) == ["p_click", "p_conversion_given_click", "p_conversion"]
    expected = out["p_click"] * out["p_conversion_given_click"]
    np.testing.assert_allclose(out["p_conversion"], expected)


def test_features_use_categoricals_vectors_and_cosine(fitted):
    f = fitted.features_
    assert f.categorical_ == ["placement_id", "category", "brand"]
    assert {"k_ad", "k_campaign", "user_activity", "noise"} == set(f.numeric_)
    assert "cosine_user_ad" in f.names_ and "ad_vec_pc7" in f.names_
    imp = fitted.feature_importance()
    assert list(imp.columns) == ["click", "conversion"]
    # the signal lives in the interest match: the cosine and categoricals outrank pure noise
    assert imp.loc["cosine_user_ad", "click"] > imp.loc["noise", "click"]


def test_the_position_in_the_sequence_is_read_by_the_click_target_alone(fitted, split,
                                                                        tmp_path):
    # conversions per click do not fall with k: a thin target would read luck at one k
    rows = split.test.head(500)
    later = rows.assign(k_ad=rows["k_ad"] + 5, k_campaign=rows["k_campaign"] + 5)
    np.testing.assert_array_equal(fitted.predict_conversion(rows),
                                  fitted.predict_conversion(later))
    assert not np.allclose(fitted.predict_click(rows), fitted.predict_click(later))
    # the click's fall is in its linear base (a step per position), which the trees need
    # not repeat; the conversion's trees never split on it
    imp = fitted.feature_importance()
    assert (imp.loc[["k_ad", "k_campaign"], "conversion"] == 0).all()
    loaded = LightGBMResponse.load(fitted.save(tmp_path / "m"))
    assert loaded.skipped_ == {"conversion": ["k_ad", "k_campaign", "placement_id"]}
    np.testing.assert_array_equal(loaded.predict_conversion(later),
                                  fitted.predict_conversion(rows))


def test_where_a_click_came_from_reaches_conversions_through_its_factor_alone(
        fitted, split, tmp_path):
    # a few conversions a placement read as a feature are noise in every curve there; the
    # placement's own logged conversions give a shrunk factor instead
    table = fitted.placement_factors_.table
    assert table["conversions"].sum() == pytest.approx(table["expected"].sum())
    rows = split.test.head(500)
    a, b = table.index[:2]
    at_a, at_b = rows.assign(placement_id=a), rows.assign(placement_id=b)
    np.testing.assert_allclose(fitted.predict_conversion(at_a) / table.at[a, "factor"],
                               fitted.predict_conversion(at_b) / table.at[b, "factor"])
    assert not np.allclose(fitted.predict_click(at_a), fitted.predict_click(at_b))
    assert fitted.feature_importance().loc["placement_id", "conversion"] == 0
    loaded = LightGBMResponse.load(fitted.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.placement_factors_.table, table, check_names=False)
    np.testing.assert_array_equal(loaded.predict_conversion(at_a),
                                  fitted.predict_conversion(at_a))


def test_downsampling_keeps_predictions_on_the_true_scale(split):
    model = LightGBMResponse(params=FAST, downsample_rate=0.2, calibration="none",
                             conversion=False).fit(split.train, split.valid)
    y = split.test["clicked"].to_numpy()
    p = model.predict_click(split.test)
    assert p.mean() / y.mean() == pytest.approx(1.0, abs=0.15)
    raw = model.boosters_["click"].predict(model.features_.frame(split.test))
    assert raw.mean() > 2 * y.mean()  # uncorrected, downsampled odds would be far off


def test_save_and_load_predict_the_same(fitted, split, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = LightGBMResponse.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(split.test), fitted.predict(split.test))
    assert loaded.lgb_params() == fitted.lgb_params()
    assert loaded.stopping_ == fitted.stopping_


def test_explicit_feature_choice_is_kept(split, tmp_path):
    feats = Features(numeric=["k_ad"], categorical=["placement_id"], vectors=())
    model = LightGBMResponse(features=feats, params=FAST, conversion=False)
    model.fit(split.train, split.valid).save(tmp_path / "m")
    loaded = LightGBMResponse.load(tmp_path / "m")
    assert loaded.features_.names_ == ["k_ad", "placement_id"]
    assert loaded.features.numeric == ["k_ad"]


def test_errors_name_what_is_wrong(split):
    with pytest.raises(NotFittedError, match="call fit"):
        LightGBMResponse().predict(split.test)
    with pytest.raises(ValueError, match="'calibration' parameter of LightGBMResponse"):
        LightGBMResponse(calibration="beta").fit(split.train, split.valid)
    no_clicks = split.valid.assign(clicked=0)
    with pytest.raises(InputError, match="column 'clicked'.*valid split needs both outcomes"):
        LightGBMResponse(params=FAST).fit(split.train, no_clicks)


def test_click_only_logs_fit_the_click_model_alone(split):
    """Public click logs (Taobao, Criteo, Avazu samples) have no conversions at all."""
    train, valid = (part.assign(converted=False) for part in (split.train, split.valid))
    model = LightGBMResponse(params=FAST, num_boost_round=20).fit(train, valid)
    assert set(model.boosters_) == {"click"}
    with pytest.raises(InputError, match="column 'converted'.*needs both outcomes"):
        LightGBMResponse(params=FAST, num_boost_round=20, conversion=True).fit(train, valid)


def test_a_target_with_few_valid_positives_is_cross_validated(fitted, split):
    # the valid day holds hundreds of clicks but only dozens of conversions
    assert split.valid["clicked"].sum() >= 200 > split.valid["converted"].sum()
    click, conversion = fitted.stopping_["click"], fitted.stopping_["conversion"]
    assert click["method"] == "valid"
    assert conversion["method"] == "cv5"
    assert conversion["positives"] == int(split.train["converted"].sum()
                                          + split.valid["converted"].sum())
    # few positives: shallow regularised trees, the caller's params still on top
    assert conversion["params"]["num_leaves"] == 3 and conversion["params"]["learning_rate"] == 0.1
    # the out-of-fold calibrator is calibrated on rows it never saw
    clicks = split.test[split.test["clicked"] == 1]
    ratio = fitted.predict_conversion(clicks).mean() / clicks["converted"].mean()
    assert ratio == pytest.approx(1.0, abs=0.2)


def test_min_valid_positives_zero_stops_every_target_on_valid(split):
    model = LightGBMResponse(params=FAST, min_valid_positives=0).fit(split.train, split.valid)
    assert {t: s["method"] for t, s in model.stopping_.items()} == {
        "click": "valid", "conversion": "valid"}


def test_cross_validation_with_downsampling_keeps_the_true_scale(split):
    model = LightGBMResponse(params=FAST, min_valid_positives=10**6, downsample_rate=0.3,
                             calibration="none").fit(split.train, split.valid)
    assert model.stopping_["click"]["method"] == "cv5"
    ratio = model.predict_click(split.test).mean() / split.test["clicked"].mean()
    assert ratio == pytest.approx(1.0, abs=0.15)


def test_stratified_folds_spread_each_class_evenly():
    from adopt.response.lgbm import _stratified_folds

    y = np.r_[np.ones(23), np.zeros(977)].astype(int)
    folds = _stratified_folds(y, 5, seed=1)
    held = np.concatenate([h for _, h in folds])
    assert sorted(held) == list(range(1000))
    assert {int(y[h].sum()) for _, h in folds} <= {4, 5}
    for fit, h in folds:
        assert not set(fit) & set(h)
