from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, NotFittedError
from adopt.response.features import Features


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
    f = Features().fit(_frame())
    assert f.numeric_ == ["k_ad"]
    assert f.categorical_ == ["placement_id", "gender"]
    assert f.names_ == ["k_ad", "placement_id", "gender", "user_vec_0", "user_vec_1",
                        "ad_vec_0", "ad_vec_1", "cosine_user_ad"]
    frame = f.frame(_frame())
    assert frame["cosine_user_ad"].tolist() == pytest.approx([1.0, 0.0, 2 ** -0.5, -1.0])
    assert isinstance(frame["placement_id"].dtype, pd.CategoricalDtype)


def test_unseen_categories_are_missing_and_dense_is_standardised():
    f = Features().fit(_frame())
    new = _frame().assign(placement_id=["home", "popup", "feed", "home"])
    assert f.frame(new)["placement_id"].isna().tolist() == [False, True, False, False]
    dense = f.dense(new)
    assert dense.shape == (4, 1 + 3 + 2 + 5)  # k_ad, 3 placements, 2 genders, vectors
    assert dense[:, 0].mean() == pytest.approx(0.0, abs=1e-6)  # k_ad standardised on train
    assert dense[1, 1:4].tolist() == [0.0, 0.0, 0.0]  # unseen placement: all-zero one-hot


def test_round_trip_and_errors():
    f = Features().fit(_frame())
    g = Features.from_dict(f.to_dict())
    np.testing.assert_array_equal(g.dense(_frame()), f.dense(_frame()))
    with pytest.raises(NotFittedError, match="call fit"):
        Features().dense(_frame())
    short = _frame().assign(user_vec=[np.zeros(3)] * 4)
    with pytest.raises(InputError, match="column 'user_vec': vectors must have 2 dimensions"):
        f.dense(short)
    with pytest.raises(InputError, match="column 'price': feature column is missing"):
        Features(numeric=["price"]).fit(_frame())
