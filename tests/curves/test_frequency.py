"""The fall of the click rate with k, fitted within user x campaign pairs of the logs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves.frequency import FrequencyDecay, fit_frequency_decay
from adopt.curves.grid import expand_k

DEPTH, SCALE = 1.3, 3.0
PLACEMENT_EFFECT = {"p1": 0.0, "p2": 0.6, "p3": -0.4}


def confounded_logs(pairs: int, seed: int = 0) -> pd.DataFrame:
    """Impressions where the pairs a policy shows most are the most interested ones.

    Each pair's click logit is its own interest plus a placement effect minus
    the known fall with k; the number of impressions grows with the interest.
    """
    rng = np.random.default_rng(seed)
    interest = rng.normal(0.0, 1.0, pairs)
    shown = 1 + rng.poisson(2.0 * np.exp(0.8 * interest))
    pair = np.repeat(np.arange(pairs), shown)
    k = np.concatenate([np.arange(1, n + 1) for n in shown])
    placement = rng.choice(list(PLACEMENT_EFFECT), len(pair))
    effect = pd.Series(PLACEMENT_EFFECT)[placement].to_numpy()
    logit = -3.0 + 1.5 * interest[pair] + effect - DEPTH * (1 - np.exp(-(k - 1) / SCALE))
    clicked = rng.random(len(pair)) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"user_id": [f"u{p}" for p in pair], "campaign_id": "c1",
                         "placement_id": placement, "k_campaign": k, "clicked": clicked})


def workspace_with(logs: pd.DataFrame, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.register("logs", logs)
        con.execute("create table training_examples as select * from logs")
    return root


def test_the_fit_recovers_a_fall_that_comparing_users_understates(tmp_path: Path) -> None:
    logs = confounded_logs(20_000)
    by_k = logs.groupby("k_campaign")["clicked"].mean()
    true_ratio = np.exp(-DEPTH * (1 - np.exp(-2 / SCALE)))
    assert by_k[3] / by_k[1] > 1.5 * true_ratio  # the pooled logs hide most of the fall
    decay = fit_frequency_decay(workspace_with(logs, tmp_path / "ws"))
    assert decay is not None and decay.pairs > 1000
    assert decay.depth == pytest.approx(DEPTH, abs=0.3)
    assert decay.scale == pytest.approx(SCALE, abs=1.5)
    assert float(decay.penalty(3)) == pytest.approx(DEPTH * (1 - np.exp(-2 / SCALE)), abs=0.1)
    assert "one-click user x campaign pairs" in str(decay)


def test_too_few_pairs_or_no_logs_leave_the_fall_to_the_model(tmp_path: Path) -> None:
    assert fit_frequency_decay(workspace_with(confounded_logs(300), tmp_path / "few")) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    duckdb.connect(str(empty / "warehouse.duckdb")).close()
    assert fit_frequency_decay(empty) is None


def test_expand_k_lowers_clicks_by_the_penalty_and_keeps_value_per_click() -> None:
    decay = FrequencyDecay(depth=1.0, scale=2.0, pairs=500, impressions=2000)
    first = np.array([[[0.02, 0.002, 0.1]], [[0.0, 0.0, 0.0]]])  # users x placements x 3
    ks = np.arange(1, 6)
    out = expand_k(first, decay, ks)
    assert out.shape == (2, 1, 5, 3)
    assert np.allclose(out[:, :, 0, :], first)
    logit = np.log(0.02 / 0.98) - decay.penalty(ks)
    assert np.allclose(out[0, 0, :, 0], 1 / (1 + np.exp(-logit)))
    assert np.allclose(out[0, 0, :, 1] / out[0, 0, :, 0], 0.1)
    assert np.allclose(out[0, 0, :, 2] / out[0, 0, :, 0], 5.0)
    assert (np.diff(out[0, 0, :, 0]) < 0).all()
    assert (out[1] == 0).all()
