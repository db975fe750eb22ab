"""Creative folds: every creative predicted by a refit of the model that never saw it."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import ParameterError
from adopt.response.creative_folds import (
    CreativeFolds,
    HeldOut,
    deal_creatives,
    fit_creative_folds,
    held_out,
)
from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.run import load_response, train_response
from adopt.response.split import time_split

from .conftest import make_examples

FAST = {"num_threads": 1, "learning_rate": 0.1}
LUCKY = 7  # the creative whose logged clicks ran high


@pytest.fixture(scope="module")
def lucky_split():
    """The response fixtures' world, with one creative's rows clicked far more than its
    category, text and placement say (luck, or a quality no feature shows)."""
    df = make_examples(n=30_000, seed=3).copy()
    rows = df["ad_id"].to_numpy() == LUCKY
    extra = np.random.default_rng(1).random(len(df)) < 0.25
    df.loc[rows & extra, "clicked"] = 1
    return time_split(df)


@pytest.fixture(scope="module")
def folded(lucky_split):
    model = LightGBMResponse(features=Features(vector_components=8), params=FAST,
                             seed=0).fit(lucky_split.train, lucky_split.valid)
    return model, fit_creative_folds(model, lucky_split.train, lucky_split.valid, folds=4)


def test_creatives_are_dealt_evenly_and_the_same_way_every_time():
    ids = pd.Series([f"a{i:02d}" for i in range(23)] * 3)
    first = deal_creatives(ids, 5, seed=0)
    assert first == deal_creatives(ids.sample(frac=1.0, random_state=4), 5, seed=0)
    assert sorted(first) == sorted(set(ids))
    sizes = np.bincount(list(first.values()), minlength=5)
    assert sizes.max() - sizes.min() <= 1
    assert first != deal_creatives(ids, 5, seed=1)


def test_each_creative_is_predicted_by_the_refit_that_never_saw_it(folded, lucky_split):
    model, folds = folded
    rows = pd.concat([lucky_split.train, lucky_split.valid])
    lucky = rows.loc[rows["ad_id"] == LUCKY]
    in_sample = model.predict_click(lucky).mean()
    held = HeldOut(model, folds).predict(lucky)["p_click"].mean()
    fold = folds.fold_of[str(LUCKY)]
    refit_alone = folds.models[fold].predict_click(lucky).mean()
    assert held == pytest.approx(refit_alone)
    # the model learnt the creative's luck from its own rows; the refit that never saw
    # them predicts it from what it shares with the others
    observed = lucky["clicked"].mean()
    assert in_sample > held * 1.3
    assert abs(in_sample - observed) < abs(held - observed)
    # the other creatives' rows: the refits are models as good as the one they copy
    others = lucky_split.test.loc[lucky_split.test["ad_id"] != LUCKY]
    ratio = HeldOut(model, folds).predict(others)["p_click"].mean() / others["clicked"].mean()
    assert 0.8 < ratio < 1.25


def test_held_out_keeps_the_rows_order_and_answers_unknown_creatives_with_the_model(folded,
                                                                                    lucky_split):
    model, folds = folded
    rows = lucky_split.test.sample(500, random_state=0).set_index(
        pd.Index(np.arange(1000, 1500)[::-1]))
    rows.loc[rows.index[:40], "ad_id"] = 999  # a creative no fold holds
    out = HeldOut(model, folds).predict(rows)
    assert list(out.index) == list(rows.index)
    assert list(out.columns) == list(model.predict(rows).columns)
    unknown = rows.index[:40]
    pd.testing.assert_frame_equal(out.loc[unknown], model.predict(rows.loc[unknown]))
    fold_0 = rows.index[rows["ad_id"].astype(str).map(folds.fold_of) == 0]
    pd.testing.assert_frame_equal(out.loc[fold_0], folds.models[0].predict(rows.loc[fold_0]))


def test_a_model_without_folds_is_its_own_prediction(folded):
    model, folds = folded
    bare, carrying = copy.copy(model), copy.copy(model)
    carrying.creative_folds_ = folds
    assert held_out(bare) is bare
    assert isinstance(held_out(carrying), HeldOut)


def test_too_few_creatives_give_no_folds(lucky_split):
    few = lucky_split.train.loc[lucky_split.train["ad_id"] < 5]
    valid = lucky_split.valid.loc[lucky_split.valid["ad_id"] < 5]
    model = LightGBMResponse(params=FAST).fit(few, valid)
    assert fit_creative_folds(model, few, valid, folds=5) is None


def test_train_saves_the_folds_and_load_predicts_the_same(tmp_path):
    df = make_examples(n=8_000, seed=2)
    card = train_response(tmp_path, "lightgbm", examples=df, run_id="r", params=FAST,
                          creative_folds=3)
    # the five creatives launched on the last day are in the test split alone
    assert card.hyperparameters["creative_folds"] == {"folds": 3, "creatives": 35}
    folder = tmp_path / "models" / "r"
    assert {p.name for p in (folder / "creative_folds").iterdir()} == {
        "fold_0", "fold_1", "fold_2", "folds.json"}
    loaded = load_response(folder)
    assert isinstance(held_out(loaded), HeldOut)
    again = CreativeFolds.load(folder)
    rows = df.tail(300)
    pd.testing.assert_frame_equal(held_out(loaded).predict(rows), HeldOut(loaded, again)
                                  .predict(rows))
    none = train_response(tmp_path, "lightgbm", examples=df, run_id="bare", params=FAST,
                          creative_folds=0)
    assert none.hyperparameters["creative_folds"] is None
    assert load_response(tmp_path / "models" / "bare").creative_folds_ is None


def test_one_fold_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="creative_folds"):
        train_response(tmp_path, "lightgbm", examples=make_examples(n=2_000), creative_folds=1)


def test_saved_folds_predict_as_the_refits_did(folded, lucky_split, tmp_path):
    # the linear bases' categories keep their order through the file (their coefficients'
    # order): a sorted copy once moved the demo plan by 2%
    model, folds = folded
    model.save(tmp_path)
    folds.save(tmp_path)
    loaded = CreativeFolds.load(tmp_path)
    rows = lucky_split.test
    pd.testing.assert_frame_equal(HeldOut(model, loaded).predict(rows),
                                  HeldOut(model, folds).predict(rows))
