from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, NotFittedError
from adopt.response.features import USER_TOTALS, Features


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "ts": pd.date_range("2026-01-01", periods=4, freq="h"),
        "user_id": [1, 2, 3, 4],
        "clicked": [0, 1, 0, 1],
        "placement_id": ["home", "feed", "home", "search"],
        "gender": ["f", "m", None, "f"],
        "k_ad": [1, 2, 3, 4],
        "user_vec": [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0]),
                     np.array([-1.0, 0.0])],
        "ad_vec": [np.array([1.0, 0.0])] * 4,
    })


def test_inference_skips_ids_labels_and_reads_vectors():
    f = Features(vector_components=None).fit(_frame())
    assert f.numeric_ == ["k_ad"]
    assert f.categorical_ == ["placement_id", "gender"]
    assert f.names_ == ["k_ad", "placement_id", "gender", "user_vec_0", "user_vec_1",
                        "ad_vec_0", "ad_vec_1", "cosine_user_ad"]
    frame = f.frame(_frame())
    assert frame["cosine_user_ad"].tolist() == pytest.approx([1.0, 0.0, 2 ** -0.5, -1.0])
    assert isinstance(frame["placement_id"].dtype, pd.CategoricalDtype)


def test_cost_and_revenue_known_after_the_impression_are_not_features():
    # an auction log's cost is the clearing price, known only after the impression
    df = _frame().assign(cost=[0.002, 0.009, 0.001, 0.008], revenue=[0.0, 0.0, 0.0, 30.0],
                         cpm=[2.0, 2.0, 1.0, 1.0])
    f = Features(vectors=()).fit(df)
    assert f.numeric_ == ["k_ad", "cpm"]
    assert "cost" not in f.names_ and "revenue" not in f.names_
    # asked for by name, it is read (an explicit choice)
    assert Features(numeric=["cost"], vectors=()).fit(df).numeric_ == ["cost"]


def test_the_users_running_totals_are_not_features_but_their_rates_are():
    # totals grow with time: in the serving state every user sits at their largest
    totals = {name: [3, 9, 27, 81] for name in sorted(USER_TOTALS)}
    df = _frame().assign(**totals, user_ctr_smoothed=[0.01, 0.02, 0.01, 0.03],
                         user_category_affinity=[0.1, 0.5, 0.2, 0.0])
    f = Features(vectors=()).fit(df)
    assert f.numeric_ == ["k_ad", "user_ctr_smoothed", "user_category_affinity"]
    assert Features(numeric=["user_prior_clicks"], vectors=()).fit(df).numeric_ == [
        "user_prior_clicks"]


def test_unseen_categories_are_missing_and_dense_is_standardised():
    f = Features(vector_components=None).fit(_frame())
    new = _frame().assign(placement_id=["home", "popup", "feed", "home"])
    assert f.frame(new)["placement_id"].isna().tolist() == [False, True, False, False]
    dense = f.dense(new)
    assert dense.shape == (4, 1 + 3 + 2 + 5)  # k_ad, 3 placements, 2 genders, vectors
    assert dense[:, 0].mean() == pytest.approx(0.0, abs=1e-6)  # k_ad standardised on train
    assert dense[1, 1:4].tolist() == [0.0, 0.0, 0.0]  # unseen placement: all-zero one-hot


def test_round_trip_and_errors():
    f = Features(vector_components=None).fit(_frame())
    g = Features.from_dict(f.to_dict())
    np.testing.assert_array_equal(g.dense(_frame()), f.dense(_frame()))
    with pytest.raises(NotFittedError, match="call fit"):
        Features().dense(_frame())
    short = _frame().assign(user_vec=[np.zeros(3)] * 4)
    with pytest.raises(InputError, match="column 'user_vec': vectors must have 2 dimensions"):
        f.dense(short)
    with pytest.raises(InputError, match="column 'price': feature column is missing"):
        Features(numeric=["price"]).fit(_frame())


def test_pca_components_are_learned_on_train_and_reapplied():
    rng = np.random.default_rng(0)
    # user vectors vary along two directions only: two components carry them all
    basis = rng.normal(size=(2, 16))
    coef = rng.normal(size=(200, 2))
    df = pd.DataFrame({
        "k_ad": rng.integers(1, 5, size=200),
        "user_vec": list((coef @ basis).astype(np.float32)),
        "ad_vec": list(rng.normal(size=(200, 16)).astype(np.float32)),
        "cosine_user_ad": 0.0,  # as attach_text_features adds it: recomputed, not read
    })
    f = Features(vector_components=2, seed=1).fit(df.iloc[:150])
    assert f.names_ == ["k_ad", "user_vec_pc0", "user_vec_pc1", "ad_vec_pc0", "ad_vec_pc1",
                        "cosine_user_ad"]
    frame = f.frame(df.iloc[150:])
    # the projection keeps the user vectors' variance (rows outside the fit included)
    u = np.stack(df["user_vec"].iloc[150:].to_numpy())
    kept = frame[["user_vec_pc0", "user_vec_pc1"]].to_numpy().var(axis=0).sum()
    assert kept == pytest.approx(u.var(axis=0).sum(), rel=1e-3)
    g = Features.from_dict(json.loads(json.dumps(f.to_dict())))
    pd.testing.assert_frame_equal(g.frame(df), f.frame(df))
    only_cos = Features(vector_components=0).fit(df)
    assert only_cos.names_ == ["k_ad", "cosine_user_ad"]


def test_missing_vectors_give_nan_cosine_and_a_clear_error_when_absent():
    df = _frame()
    df.loc[1, "user_vec"] = np.zeros(2)  # a user without a vector, as attach_text_features adds
    f = Features().fit(df)
    assert np.isnan(f.frame(df)["cosine_user_ad"].iloc[1])
    assert not np.isnan(f.dense(df)).any()
    with pytest.raises(InputError, match="column 'user_vec'.*attach_text_features"):
        f.frame(df.drop(columns=["user_vec", "ad_vec"]))
    with pytest.raises(ValueError, match="'vector_components' parameter of Features"):
        Features(vector_components=-1).fit(df)


def test_text_columns_are_read_with_the_vectors_only():
    # what attach_text_features adds beside the vectors
    df = _frame().assign(user_vec_missing=0.0, ad_vec_missing=0.0, cosine_user_ad=0.5,
                         text_match_user_ad=[0.1, 0.4, np.nan, 0.2],
                         topic_share_user_ad=[0.0, 0.5, np.nan, 0.25])
    no_text = Features(vectors=()).fit(df)
    assert no_text.names_ == ["k_ad", "placement_id", "gender"]  # a true no-text baseline
    text = Features(vector_components=0).fit(df)
    assert text.names_ == ["k_ad", "user_vec_missing", "ad_vec_missing", "topic_share_user_ad",
                           "placement_id", "gender", "cosine_user_ad"]
    frame = text.frame(df)
    assert np.isnan(frame["topic_share_user_ad"].iloc[2])
    assert frame["cosine_user_ad"].iloc[0] == pytest.approx(1.0)  # recomputed, not read
    with pytest.raises(InputError, match="column 'topic_share_user_ad'.*attach_text_features"):
        text.frame(df.drop(columns="topic_share_user_ad"))
    # the mean-cosine match is read only when named
    named = Features(numeric=["k_ad", "text_match_user_ad"], vector_components=0).fit(df)
    assert "text_match_user_ad" in named.names_
    # a share that is NaN everywhere (no profiles built) is not read
    unmatched = Features(vector_components=0).fit(df.assign(topic_share_user_ad=np.nan))
    assert "topic_share_user_ad" not in unmatched.names_
