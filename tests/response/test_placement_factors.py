"""Each placement's conversions per click as a shrunk factor: adopt.response.placement_factors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from adopt.response.placement_factors import PlacementFactors, fit_placement_factors

PLACEMENTS = [f"p{i}" for i in range(8)]


def _clicks(effects: np.ndarray, clicks_each: int, seed: int, level: float = 0.08):
    """Simulated logged clicks: a placement's true rate is `level` times its effect, while
    the model expects `level` x 1.1 everywhere (a level the factors must not carry)."""
    rng = np.random.default_rng(seed)
    placement = np.repeat(PLACEMENTS, clicks_each)
    rate = level * np.repeat(effects, clicks_each)
    converted = (rng.random(len(rate)) < rate).astype(int)
    expected = np.full(len(rate), level * 1.1)
    return pd.Series(placement), converted, expected


def test_placements_that_convert_alike_get_factors_of_one() -> None:
    # some 80 conversions a placement, no real spread: the factors stay within noise of 1,
    # where the raw ratios spread by chance alone
    spreads = []
    for seed in range(10):
        factors = fit_placement_factors(*_clicks(np.ones(8), 1000, seed))
        f = factors.table["factor"]
        assert f.between(0.9, 1.1).all(), (seed, f.round(3).tolist())
        raw = factors.table["conversions"] / factors.table["expected"]
        spreads.append((f.std(), raw.std()))
    assert np.mean([s[0] for s in spreads]) < 0.5 * np.mean([s[1] for s in spreads])


def test_real_placement_differences_are_recovered_and_the_level_is_left_alone() -> None:
    effects = np.exp(np.linspace(-0.5, 0.5, 8))
    factors = fit_placement_factors(*_clicks(effects, 4000, seed=1))
    table = factors.table
    assert np.isfinite(factors.strength)
    assert table["expected"].sum() == pytest.approx(table["conversions"].sum())
    relative = effects / np.average(effects, weights=np.ones(8))
    np.testing.assert_allclose(table["factor"], relative, rtol=0.12)
    assert np.corrcoef(np.log(table["factor"]), np.log(effects))[0, 1] > 0.95


def test_factors_apply_per_row_and_survive_json() -> None:
    factors = fit_placement_factors(*_clicks(np.exp(np.linspace(-0.5, 0.5, 8)), 4000, seed=2))
    again = PlacementFactors.from_dict(json.loads(json.dumps(factors.to_dict())))
    pd.testing.assert_frame_equal(again.table, factors.table, check_names=False)
    assert again.strength == factors.strength
    p = np.array([0.1, 0.1, 0.9, 0.1])
    out = again.apply(p, pd.Series(["p0", "p7", "p7", "unseen"]))
    f = factors.table["factor"]
    np.testing.assert_allclose(out, [0.1 * f["p0"], 0.1 * f["p7"], min(1.0, 0.9 * f["p7"]), 0.1])
    assert "shrunk by" in factors.describe()


def test_no_spread_round_trips_as_no_strength() -> None:
    factors = fit_placement_factors(pd.Series(["a", "a", "b", "b"]), np.array([1, 0, 0, 1]),
                                    np.full(4, 0.5))
    assert factors.strength == np.inf and (factors.table["factor"] == 1).all()
    state = json.loads(json.dumps(factors.to_dict()))
    assert state["strength"] is None
    assert PlacementFactors.from_dict(state).strength == np.inf
    assert "no spread beyond chance" in factors.describe()
