"""predict_pairs and the end-of-log feature state on a small built workspace."""

from __future__ import annotations

import copy

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves import PairState, predict_pairs
from adopt.curves.pairs import (
    predict_rows,
    required_columns,
    resolve_model,
    text_feature_hook,
)
from adopt.exceptions import InputError, WorkspaceError

from .conftest import RUN_ID


@pytest.fixture(scope="module")
def state(small_ws) -> PairState:
    return PairState.load(small_ws)


def test_predictions_are_consistent(small_ws, state) -> None:
    ads = state.ads.index[:4].to_numpy()
    out = predict_pairs(small_ws, RUN_ID, "u0001", ads, "home_banner", [1, 2, 3, 4], state=state)
    assert list(out["ad_id"]) == list(ads) and list(out["k"]) == [1, 2, 3, 4]
    assert ((out["p_click"] > 0) & (out["p_click"] < 1)).all()
    assert np.allclose(out["p_conversion"], out["p_click"] * out["p_conversion_given_click"])
    value = state.ads.loc[ads, "value_per_conversion"].to_numpy()
    assert np.allclose(out["expected_revenue"], out["p_conversion"] * value)
    assert (out["campaign_id"] == state.ads.loc[ads, "campaign_id"].to_numpy()).all()


def test_rows_carry_every_model_feature_at_end_of_log(small_ws, state) -> None:
    model, _ = resolve_model(small_ws, RUN_ID)
    n = len(state.users)
    rows = state.rows(np.arange(n), np.zeros(n, int), np.zeros(n, int), np.ones(n, int))
    assert set(required_columns(model)) <= set(rows.columns)
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute("select user_id, impressions from user_profiles").df()
    logged = logged.set_index("user_id")["impressions"].reindex(rows["user_id"]).to_numpy()
    # every impression of the log counts in the user's history at its end
    assert np.array_equal(rows["user_prior_impressions"].to_numpy(), logged)
    assert (rows["k_ad"] == 1).all() and (rows["cost"] == rows["cpm"] / 1000).all()


def test_value_per_conversion_is_price_times_the_observed_basket(state) -> None:
    ratio = state.ads["value_per_conversion"] / state.ads["price"]
    assert ratio.nunique() == 1 and ratio.iloc[0] >= 1.0  # a conversion buys >= 1 unit


def test_a_feature_the_rows_lack_is_an_error(small_ws, state) -> None:
    model, _ = resolve_model(small_ws, RUN_ID)
    changed = copy.deepcopy(model)
    changed.features_.numeric_ = [*changed.features_.numeric_, "user_mystery_score"]
    one = np.array([0])
    with pytest.raises(InputError, match="user_mystery_score"):
        predict_rows(state, changed, one, one, one, np.array([1]))


def test_text_features_are_attached_only_for_models_that_read_them(small_ws) -> None:
    model, _ = resolve_model(small_ws, RUN_ID)
    assert text_feature_hook(small_ws, model) is None
    changed = copy.deepcopy(model)
    changed.features_.vectors_ = ["user_vec", "ad_vec"]
    hook = text_feature_hook(small_ws, changed)
    rows = pd.DataFrame({"user_id": ["u0001"], "ad_id": ["a0001"]})
    with pytest.raises(WorkspaceError, match="embed"):  # the small world has no embeddings
        hook(rows)


def test_bad_ids_and_positions(small_ws, state) -> None:
    ad = state.ads.index[0]
    with pytest.raises(InputError, match="unknown id 'nobody'"):
        predict_pairs(small_ws, RUN_ID, "nobody", ad, "home_banner", state=state)
    with pytest.raises(InputError, match="positions start at 1"):
        predict_pairs(small_ws, RUN_ID, "u0001", ad, "home_banner", 0, state=state)
    with pytest.raises(WorkspaceError, match="No model run 'nope'"):
        predict_pairs(small_ws, "nope", "u0001", ad, "home_banner", state=state)
