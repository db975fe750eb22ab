"""score_plan on a small generated world: the oracle bounds the plan, baselines at equal budget."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adopt.curves import build_curves, load_audiences
from adopt.curves.baselines import evaluate_allocation
from adopt.exceptions import WorkspaceError
from adopt.optimize import optimize, parse_spec, plan_from_workspace
from adopt.scoring import ScoreCard, creative_truth, score_plan
from adopt.synth import load_truth

from .conftest import RUN_ID


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory, small_ws: Path
            ) -> tuple[Path, Path, Path, float]:
    """The curves tests' small world with curves and a conversions plan whose budget binds."""
    root = tmp_path_factory.mktemp("scoring") / "copy"
    shutil.copytree(small_ws.parent, root)
    ws = root / "ws"
    summary = build_curves(ws, run_id=RUN_ID, max_k=4, users_per_segment=40, shape_users=15,
                           n_boot=0, top_creatives=2)
    inv = pd.read_parquet(summary.placements_path).set_index("placement_id")["inventory"]
    cpi = pd.read_parquet(summary.curves_path).groupby("placement_id")["cost_per_impression"]
    budget = round(0.2 * float((inv * cpi.first()).sum()), 2)
    config = root / "plan.toml"
    config.write_text(f'plan_id = "t"\nbudget = {budget}\nobjective = "conversions"\n'
                      '[[constraints]]\ntype = "frequency_cap"\ncap = 3\n')
    _, folder = plan_from_workspace(ws, config)
    return root / "world", ws, folder, budget


@pytest.fixture(scope="module")
def card(planned) -> ScoreCard:
    world, ws, folder, _ = planned
    return score_plan(world, ws, folder)


def test_oracle_bounds_the_plan_and_baselines_spend_the_budget(card, planned) -> None:
    budget = planned[3]
    assert card.metric == "conversions" and card.budget == budget
    assert card.value("oracle") >= card.value("plan") * (1 - 1e-9)
    assert card.value("oracle") >= card.value("uniform") * (1 - 1e-9)
    for name in ("plan", "oracle", "uniform", "historical"):
        assert card.true[name]["spend"] == pytest.approx(budget, rel=1e-6)
    assert 0 < card.ratio("oracle") <= 1 + 1e-9
    assert card.predicted["conversions"] > 0


def test_the_oracle_value_is_its_own_optimum_on_the_truth(card, planned) -> None:
    world, ws, folder, budget = planned
    truth = load_truth(world)
    curves = pd.read_parquet(ws / "curves" / "curves.parquet")
    aud = load_audiences(ws)
    oracle_curves = truth.true_curves(aud, 4, ads=truth.ads.index[
        truth.ads["campaign_id"].isin(curves["campaign_id"].unique())])
    placements = pd.read_parquet(ws / "curves" / "placements.parquet")
    spec = parse_spec({"budget": budget, "objective": "conversions",
                       "constraints": [{"type": "frequency_cap", "cap": 3}]})
    result = optimize(oracle_curves, spec, placements)
    assert evaluate_allocation(oracle_curves, result.allocation)["conversions"] == \
        pytest.approx(result.totals["conversions"], rel=1e-6)
    assert card.value("oracle") == pytest.approx(result.totals["conversions"], rel=1e-6)


def test_creative_truth_is_the_expected_response_averaged_over_the_segment(planned) -> None:
    world, ws, _, _ = planned
    truth = load_truth(world)
    aud = load_audiences(ws)
    cell = pd.read_parquet(ws / "curves" / "curves.parquet").iloc[[0]]
    got = creative_truth(truth, aud, cell, 3)
    users = aud.loc[aud["segment"] == cell["segment"].iloc[0], "user_id"].to_numpy()
    for k in (1, 3):
        n = len(users)
        exp = truth.expected(users, np.full(n, cell["ad_id"].iloc[0]),
                             np.full(n, cell["placement_id"].iloc[0]), k)
        row = got.loc[got["k"] == k].iloc[0]
        assert row["conversions"] == pytest.approx(exp["p_conversion"].mean(), rel=1e-9)
        assert row["clicks"] == pytest.approx(exp["p_click"].mean(), rel=1e-9)


def test_card_prints_a_table(card) -> None:
    text = str(card)
    for word in ("plan (predicted)", "oracle", "uniform", "historical", "plan / oracle"):
        assert word in text
    assert card.to_dict()["plan_vs_oracle"] == pytest.approx(card.ratio("oracle"))
    assert np.isfinite(card.ratio("historical"))


def test_missing_plan_files_are_named(planned, tmp_path: Path) -> None:
    world, ws, folder, _ = planned
    broken = tmp_path / "plan"
    shutil.copytree(folder, broken)
    (broken / "plan.json").unlink()
    with pytest.raises(WorkspaceError, match="plan.json is missing"):
        score_plan(world, ws, broken)
