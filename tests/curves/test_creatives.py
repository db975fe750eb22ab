"""Each creative's own logged outcomes beyond the model: adopt.curves.creatives."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from adopt.curves import build_curves, load_audiences, predict_pairs
from adopt.curves.creative_audiences import audience_groupings
from adopt.curves.creatives import (
    CreativeAdjusted,
    effects_from_counts,
    fit_creative_effects,
    linked_factors,
    logit_shifts,
)
from adopt.curves.pairs import load_response_model, text_feature_hook
from adopt.optimize.forecast import curves_context
from adopt.response.features import CREATIVE_HISTORY, Features
from adopt.response.run import predict_response
from adopt.shrinkage import prior_strength, shrunk_factors

from .conftest import RUN_ID


def _simulated(strength: float, n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    expected = rng.uniform(20, 200, n)
    effect = rng.gamma(strength, 1 / strength, n) if np.isfinite(strength) else np.ones(n)
    return rng.poisson(expected * effect), expected, effect


def test_the_strength_recovers_the_spread_of_simulated_effects() -> None:
    observed, expected, _ = _simulated(50.0)
    assert 38 < prior_strength(observed, expected) < 65
    observed, expected, _ = _simulated(10.0, seed=1)
    assert 8 < prior_strength(observed, expected) < 12.5


def test_no_spread_beyond_chance_leaves_the_factors_near_one() -> None:
    observed, expected, _ = _simulated(np.inf)
    strength = prior_strength(observed, expected)
    assert strength > 500
    assert np.abs(shrunk_factors(observed, expected, strength) - 1).max() < 0.06
    assert prior_strength([3, 5], [4.0, 5.0]) == np.inf  # less spread than Poisson
    assert (shrunk_factors([3, 5], [4.0, 5.0], np.inf) == 1).all()


def test_shrunk_factors_are_closer_to_the_effects_than_the_raw_ratio() -> None:
    observed, expected, effect = _simulated(30.0, seed=2)
    factors = shrunk_factors(observed, expected, prior_strength(observed, expected))
    raw = observed / expected
    assert np.mean((factors - effect) ** 2) < 0.8 * np.mean((raw - effect) ** 2)


def _counts(per_click_slope: float, n: int = 400, seed: int = 3) -> tuple[pd.DataFrame,
                                                                        np.ndarray]:
    # a creative's quality q moves its clicks by e^q and, through the slope, its
    # conversions per click by e^(slope q); conversions are few, clicks many
    rng = np.random.default_rng(seed)
    expected = rng.uniform(50, 150, n)
    quality = rng.normal(0, 0.2, n)
    clicks = rng.poisson(expected * np.exp(quality))
    per_click = np.exp(per_click_slope * quality)
    counts = pd.DataFrame({"clicks": clicks, "expected_clicks": expected,
                           "conversions": rng.binomial(clicks, np.minimum(0.05 * per_click, 1)),
                           "expected_conversions": 0.05 * expected},
                          index=[f"a{i}" for i in range(n)])
    return counts, per_click


def test_conversions_get_only_what_the_click_effect_leaves() -> None:
    counts, _ = _counts(0.0)
    effects = effects_from_counts(counts)
    # conversions follow clicks here: the click effect explains their spread
    assert abs(effects.conversion_link[1]) < 0.6
    assert effects.table["conversion_factor"].std() < 0.5 * effects.table["click_factor"].std()
    click, per_click = effects.shifts(np.array(["a0", "never-logged"]))
    assert click[1] == 0.0 and per_click[1] == 0.0
    # without the rows' predictions a shift is the log of its factor (rare events)
    assert click[0] == pytest.approx(np.log(effects.table.loc["a0", "click_factor"]))


def test_conversions_per_click_learn_from_the_click_effect() -> None:
    # a creative that draws clicks also converts them: its few conversions alone barely
    # show it, the link fitted to its many clicks does
    counts, per_click = _counts(1.0)
    effects = effects_from_counts(counts)
    assert effects.conversion_link[1] > 0.5
    expected = counts["expected_conversions"] * effects.table["click_factor"]
    alone = shrunk_factors(counts["conversions"], expected,
                           prior_strength(counts["conversions"], expected))
    error = np.mean(np.log(effects.table["conversion_factor"] / per_click) ** 2)
    assert error < 0.7 * np.mean(np.log(alone / per_click) ** 2)


def test_the_link_does_not_read_the_luck_of_the_clicks_as_quality() -> None:
    # each creative's clicks are a Poisson draw around its quality: weighed against its
    # expected clicks x its click factor, a lucky run of clicks lifted its conversions'
    # residual and the link's slope read +0.25 where the truth's is 0 or 1
    for slope in (0.0, 1.0):
        fitted = [effects_from_counts(_counts(slope, seed=seed)[0]).conversion_link[1]
                  for seed in range(10)]
        assert abs(np.mean(fitted) - slope) < 0.08


def _clicked_by(seed: int, n: int = 300) -> pd.DataFrame:
    # no creative converts better than another; who clicked each is luck, and the users
    # who buy more also click more
    rng = np.random.default_rng(seed)
    share = rng.uniform(0.1, 0.5, n)  # of a creative's clicks, the share from buyers
    clicks = rng.poisson(100 * (0.7 + share))
    buyers = rng.binomial(clicks, share)
    of_clicks = 0.2 * buyers + 0.02 * (clicks - buyers)  # the prior's, on the clicked rows
    return pd.DataFrame({"clicks": clicks, "expected_clicks": np.full(n, 100.0),
                         "conversions": rng.poisson(of_clicks),
                         "expected_conversions": np.full(n, 100 * (0.3 * 0.2 + 0.7 * 0.02)),
                         "expected_conversions_of_clicks": of_clicks},
                        index=[f"a{i}" for i in range(n)])


def test_conversions_are_weighed_against_who_clicked() -> None:
    # a creative whose clicks came from the users who buy more is not a better
    # converter: against the prior's conversions of its own clicks its factor stays 1;
    # against the prior's mean per click it read as one, and the link took it up
    for seed in range(3):
        counts = _clicked_by(seed)
        own = effects_from_counts(counts)
        mean = effects_from_counts(counts.drop(columns="expected_conversions_of_clicks"))
        assert abs(own.conversion_link[1]) < 0.5 < 2.0 < mean.conversion_link[1]
        assert np.sqrt(np.mean(np.log(own.table["conversion_factor"]) ** 2)) < 0.05 < 0.2 < \
            np.sqrt(np.mean(np.log(mean.table["conversion_factor"]) ** 2))


def test_a_factor_moves_the_log_odds_and_keeps_the_creatives_total() -> None:
    # one creative logged on users from 2% to 60% likely: its factor 1.8 must hold on
    # the total, rise more at the bottom than at the top and never pass 1
    p = np.linspace(0.02, 0.6, 400)
    bins = pd.DataFrame({"ad_id": "a1", "logit": logit(p), "weight": 1.0})
    shift = logit_shifts(bins, pd.Series([1.8 * p.sum(), 3.0], index=["a1", "a2"]))
    assert np.isnan(shift["a2"]) and shift["a1"] > np.log(1.8)  # a2: no bins
    moved = expit(logit(p) + shift["a1"])
    assert moved.sum() == pytest.approx(1.8 * p.sum(), rel=1e-9)
    assert moved[0] / p[0] > 1.8 > moved[-1] / p[-1] and moved.max() < 1
    # a total no shift reaches stops at every row near 1
    too_many = pd.Series([len(p) + 1.0], index=["a1"])
    assert logit_shifts(bins, too_many)["a1"] == pytest.approx(20.0)


def test_the_effects_weigh_outcomes_against_the_prior_and_move_the_model(small_ws) -> None:
    # the prior's expectations set the factors; the shifts take the curves' model to them
    model, _ = load_response_model(small_ws, RUN_ID)
    attach = text_feature_hook(small_ws, model)
    halved = _Scaled(model, 0.5)
    against_prior = fit_creative_effects(small_ws, model, attach, prior=halved)
    own = fit_creative_effects(small_ws, model, attach)
    table, mine = against_prior.table, own.table.reindex(against_prior.table.index)
    assert np.allclose(table["expected_clicks"], 0.5 * mine["expected_clicks"])
    # on the logged rows the shifted model reaches the prior's expectation x the factor
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select * from training_examples").df()
    moved = CreativeAdjusted(model, against_prior).predict(attach(rows) if attach else rows)
    clicks = moved["p_click"].groupby(rows["ad_id"].astype(str)).sum().reindex(table.index)
    target = table["click_factor"] * table["expected_clicks"]
    assert np.allclose(clicks, target, rtol=0.02)


class _Scaled:
    """A model whose clicks are ``scale`` times another's (a prior that expects fewer)."""

    def __init__(self, model, scale: float) -> None:
        self.model, self.scale = model, scale

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = self.model.predict(rows).copy()
        out["p_click"] *= self.scale
        out["p_conversion"] = out["p_click"] * out["p_conversion_given_click"]
        return out


def _few_conversions(strength: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    # some four conversions for each of sixty creatives, spread around the link
    rng = np.random.default_rng(seed)
    expected, x = rng.uniform(1, 7, 60), rng.normal(0, 0.4, 60)
    spread = rng.gamma(strength, 1 / strength, 60) if np.isfinite(strength) else np.ones(60)
    effect = np.exp(0.5 * x) * spread
    return rng.poisson(expected * effect), expected, x, effect


def test_a_spread_too_thin_to_pin_down_still_moves_each_creative() -> None:
    # a real spread (sd 0.22 on the log scale) that a few conversions per creative cannot
    # always tell from none: where the likelihood's maximum sat at none, every creative
    # got the link alone; integrated over the strength its own counts always count
    moved, gain = [], []
    for seed in range(20):
        observed, expected, x, effect = _few_conversions(20.0, seed)
        factors, (a, b), _ = linked_factors(observed, expected, x)
        link = np.exp(a + b * x)
        moved.append(np.abs(np.log(factors / link)).mean())
        gain.append(np.mean(np.log(link / effect) ** 2) - np.mean(np.log(factors / effect) ** 2))
    assert min(moved) > 0.01 and min(gain) > 0
    # with no spread beyond the link the factors stay near it
    for seed in range(3):
        observed, expected, x, _ = _few_conversions(np.inf, seed)
        factors, (a, b), _ = linked_factors(observed, expected, x)
        assert np.abs(np.log(factors) - (a + b * x)).mean() < 0.05


def test_the_link_is_fitted_by_marginal_likelihood() -> None:
    # a Gamma spread around exp(a + b x) is recovered, and nothing logged leaves every 1
    rng = np.random.default_rng(6)
    expected = rng.uniform(20, 200, 3000)
    x = rng.normal(0, 0.3, 3000)
    mean = np.exp(-0.2 + 1.5 * x)
    observed = rng.poisson(expected * mean * rng.gamma(40, 1 / 40, 3000))
    factors, (a, b), strength = linked_factors(observed, expected, x)
    assert a == pytest.approx(-0.2, abs=0.03) and b == pytest.approx(1.5, abs=0.1)
    assert 30 < strength < 55
    factors, link, strength = linked_factors(np.zeros(3), np.ones(3), np.zeros(3))
    assert (factors == 1).all() and strength == np.inf and link == (0.0, 0.0)


def test_the_model_reads_no_creative_history(small_ws) -> None:
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select * from training_examples limit 500").df()
    names = Features(vectors=()).fit(rows)
    assert CREATIVE_HISTORY <= set(rows.columns)
    assert not CREATIVE_HISTORY & set(names.numeric_ + names.categorical_)


def test_effects_count_each_creatives_logged_outcomes(small_ws) -> None:
    model, _ = load_response_model(small_ws, RUN_ID)
    effects = fit_creative_effects(small_ws, model, text_feature_hook(small_ws, model),
                                   batch_rows=5_000)  # several batches
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select * from training_examples").df()
    logged = rows.groupby("ad_id").agg(clicks=("clicked", "sum"),
                                       conversions=("converted", "sum"))
    table = effects.table.reindex(logged.index)
    assert (table["clicks"].to_numpy() == logged["clicks"].to_numpy()).all()
    assert (table["conversions"].to_numpy() == logged["conversions"].to_numpy()).all()
    pred = predict_response(small_ws, rows, RUN_ID)
    expected = pred["p_click"].groupby(rows["ad_id"]).sum().reindex(logged.index)
    assert np.allclose(table["expected_clicks"], expected, rtol=1e-9)


def test_the_curves_carry_each_creatives_effect(ws_copy) -> None:
    summary = build_curves(ws_copy, run_id=RUN_ID, max_k=2, users_per_segment=10_000,
                           shape_users=10_000, n_boot=0, top_creatives=1, monotone=False,
                           frequency="model")
    record = json.loads((summary.curves_path.parent / "curves.json").read_text()
                        )["creative_effects"]
    assert record["creatives"] > 0 and "pseudo-clicks" in record["text"]
    assert curves_context(summary.curves_path).assumptions["creative_effects"] == record["text"]
    model, _ = load_response_model(ws_copy, RUN_ID)
    aud = load_audiences(ws_copy)
    with duckdb.connect(str(ws_copy / "warehouse.duckdb"), read_only=True) as con:
        groupings = audience_groupings(con, aud)
    effects = fit_creative_effects(ws_copy, model, text_feature_hook(ws_copy, model),
                                   groupings=groupings)
    curves = pd.read_parquet(summary.curves_path)
    for _, row in curves.loc[curves["k"] == 1].head(3).iterrows():
        users = aud.loc[aud["segment"] == row["segment"], "user_id"].to_numpy()
        pred = predict_pairs(ws_copy, RUN_ID, users, row["ad_id"], row["placement_id"], 1)
        click, per_click = effects.shifts(np.full(len(users), row["ad_id"]), users)
        p_click = expit(logit(pred["p_click"].to_numpy()) + click)
        per = expit(logit(pred["p_conversion_given_click"].to_numpy()) + per_click)
        assert row["clicks"] == pytest.approx(p_click.mean(), rel=1e-9)
        assert row["conversions"] == pytest.approx((p_click * per).mean(), rel=1e-9)
    plain = build_curves(ws_copy, run_id=RUN_ID, max_k=2, n_boot=0, creative_effects=False)
    assert json.loads((plain.curves_path.parent / "curves.json").read_text()
                      )["creative_effects"] is None


def test_the_adjusted_model_keeps_the_models_features(small_ws) -> None:
    model, _ = load_response_model(small_ws, RUN_ID)
    effects = effects_from_counts(pd.DataFrame(
        {"clicks": [0], "expected_clicks": [1.0], "conversions": [0],
         "expected_conversions": [0.1]}, index=["a0001"]))
    adjusted = CreativeAdjusted(model, effects)
    assert adjusted.features_ is model.features_
