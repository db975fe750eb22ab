from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adopt.exceptions import InfeasibleError, InputError
from adopt.optimize import (
    PlanSpec,
    budget_frontier,
    fit_curves,
    optimize,
)
from adopt.optimize.examples import random_curves
from adopt.optimize.spec import (
    CampaignBudget,
    FrequencyCap,
    Inventory,
    MinReach,
    Pin,
    SpendLimit,
    min_spend,
)
from adopt.plan import make_plan

from .conftest import spend_of_all


@pytest.fixture(scope="module")
def world():
    return random_curves(segments=25, placements=3, positions=3, campaigns=2, seed=11)


def test_frontier_is_non_decreasing_and_concave(world):
    curves, placements = world
    total = spend_of_all(curves)
    budgets = np.linspace(0.02, 0.6, 8) * total
    f = budget_frontier(curves, PlanSpec(budget=1.0, objective="conversions"), budgets,
                        placements)
    assert f["certified"].all()
    assert (np.diff(f["objective"]) >= -1e-9).all()
    slopes = np.diff(f["objective"]) / np.diff(f["budget"])
    assert (np.diff(slopes) <= 1e-9 * slopes.max()).all()
    # the budget's shadow price is a supergradient of the frontier
    assert (f["marginal_value"].iloc[:-1].to_numpy() >= slopes - 1e-9).all()
    assert (f["marginal_value"].iloc[1:].to_numpy() <= slopes + 1e-9).all()


@settings(max_examples=8, deadline=None)
@given(unit=st.sampled_from([0.01, 1.0, 7.3, 1000.0]), seed=st.integers(0, 10_000))
def test_invariant_to_currency_and_segment_order(unit, seed):
    curves, placements = random_curves(segments=12, placements=3, positions=3, seed=seed)
    budget = 0.15 * spend_of_all(curves)
    spec = PlanSpec(budget=budget, objective="revenue",
                    constraints=[min_spend("segment", "s1", 0.01 * budget)])
    base = optimize(curves, spec, placements)
    scaled = curves.assign(cost_per_impression=curves["cost_per_impression"] * unit,
                           revenue=curves["revenue"] * unit)
    spec_u = PlanSpec(budget=budget * unit, objective="revenue",
                      constraints=[min_spend("segment", "s1", 0.01 * budget * unit)])
    shuffled = scaled.sample(frac=1.0, random_state=seed % 97)
    other = optimize(shuffled, spec_u, placements)
    assert other.objective["value"] == pytest.approx(base.objective["value"] * unit, rel=1e-6)
    assert other.totals["clicks"] == pytest.approx(base.totals["clicks"], rel=1e-5, abs=1e-6)
    assert other.shadow_price("budget") == pytest.approx(base.shadow_price("budget"), rel=1e-5)


@pytest.mark.parametrize(
    ("constraints", "match"),
    [
        ([min_spend("segment", "s1", 600.0), min_spend("segment", "s2", 600.0)],
         r"minimum spends add up to 1,200 but the budget is 1,000"),
        ([MinReach(segment="s1", users=10**9)], r"min_reach\[c0/s1\] needs at least"),
        ([Inventory(placement_id="p0", impressions=10.0),
          Pin(campaign_id="c0", segment="s1", placement_id="p0", impressions=50.0)],
         r"inventory\[p0\] \(10\) must be raised by 40|pin\[c0/s1/p0\].*must be moved by 40"),
        ([CampaignBudget(campaign_id="c0", min_spend=800.0),
          CampaignBudget(campaign_id="c1", min_spend=300.0)],
         r"minimum spends add up|campaign_min_spend\[c\d\].*must be lowered"),
        ([SpendLimit(level="placement", key="p0", min=900.0),
          SpendLimit(level="placement", key="p0", max_share=0.5)],
         r"max_share\[placement=p0\].*|min_spend\[placement=p0\].*must be lowered"),
    ],
)
def test_infeasible_plans_are_explained(world, constraints, match):
    curves, placements = world
    with pytest.raises(InfeasibleError, match=match):
        optimize(curves, PlanSpec(budget=1000.0, objective="clicks", constraints=constraints),
                 placements)


def test_unknown_names_are_input_errors(world):
    curves, placements = world
    with pytest.raises(InputError, match=r"constraints\[0\].key.*unknown segment 'nope'"):
        optimize(curves, PlanSpec(budget=100.0, constraints=[min_spend("segment", "nope", 1)]))


def test_integer_caps_within_reported_gap(world):
    curves, placements = world
    spec = PlanSpec(budget=0.1 * spend_of_all(curves), objective="clicks",
                    constraints=[FrequencyCap(cap=2, placement_id="p1")], integer_caps=True)
    lp_plan = optimize(curves, spec.model_copy(update={"integer_caps": False}), placements)
    result = optimize(curves, spec, placements)
    assert result.status == "integer"
    bound = lp_plan.objective["value"]
    assert result.objective["value"] <= bound * (1 + 1e-9)
    assert result.objective["value"] >= bound * (1 - result.integer_gap) - 1e-9
    assert result.integer_gap <= 1e-3
    # every reached user of a campaign x segment gets the same number of impressions
    assert (result.exposure.groupby(["campaign_id", "segment"])["frequency"].nunique() == 1).all()


def test_make_plan_from_files_writes_the_plan_folder(tmp_path, world):
    curves, placements = world
    curves.to_csv(tmp_path / "curves.csv", index=False)
    placements.to_parquet(tmp_path / "placements.parquet")
    (tmp_path / "plan.toml").write_text(
        f'budget = {0.1 * spend_of_all(curves)}\nobjective = "conversions"\n'
        '[[constraints]]\ntype = "frequency_cap"\ncap = 2\n'
    )
    plan = make_plan(tmp_path / "plan.toml", curves=tmp_path / "curves.csv",
                     placements=tmp_path / "placements.parquet", out=tmp_path / "plans")
    plan_id, folder = plan.plan_id, plan.folder
    assert folder == tmp_path / "plans" / plan_id
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["allocation.csv", "allocation.parquet", "audiences.parquet", "exposure.csv",
                     "exposure.parquet", "frontier.parquet", "plan.json"]
    doc = json.loads((folder / "plan.json").read_text())
    assert doc["status"] == "optimal" and doc["certificate"]["gap"] <= 1e-6
    assert set(doc["totals"]) == {"spend", "impressions", "reach", "clicks", "conversions",
                                  "revenue"}
    assert "budget" in doc["binding_constraints"] and doc["duals"]["budget"] > 0
    alloc = pd.read_parquet(folder / "allocation.parquet")
    assert alloc["frequency_cap"].max() <= 2
    assert alloc["spend"].sum() == pytest.approx(doc["totals"]["spend"])
    again = make_plan(tmp_path / "plan.toml", curves=tmp_path / "curves.csv",
                      placements=tmp_path / "placements.parquet", out=tmp_path / "plans")
    assert again.plan_id == plan_id


def test_fit_curves_recovers_a_saturating_response():
    rng = np.random.default_rng(0)
    rows = []
    for seg, (a, s) in {"s0": (500.0, 40_000.0), "s1": (900.0, 90_000.0)}.items():
        for period, imps in enumerate(rng.uniform(5_000, 150_000, 12)):
            clicks = a * (1 - np.exp(-imps / s)) * rng.normal(1, 0.01)
            rows.append({"segment": seg, "placement_id": "p0", "period": period,
                         "spend": imps * 0.004, "impressions": imps, "clicks": clicks,
                         "conversions": clicks * 0.05, "revenue": clicks * 2.0})
    curves, fit = fit_curves(pd.DataFrame(rows), positions=4)
    clicks = fit[fit["metric"] == "clicks"].set_index("segment")
    assert clicks.loc["s0", "s"] == pytest.approx(40_000, rel=0.1)
    assert clicks.loc["s1", "a"] == pytest.approx(900, rel=0.1)
    assert (fit["r2"] > 0.95).all()
    assert (np.diff(curves.loc[curves["segment"] == "s0", "clicks"]) < 0).all()
    assert optimize(curves, PlanSpec(budget=200.0, objective="clicks")).status == "optimal"


def test_fit_curves_refuses_when_no_cell_can_be_fitted():
    one = pd.DataFrame({"segment": ["s"], "placement_id": ["p"], "period": [1], "spend": [1.0],
                        "impressions": [100.0], "clicks": [1.0], "conversions": [0.1],
                        "revenue": [3.0]})
    with pytest.raises(InputError, match=r"no cell could be fitted: 1 impression level\(s\) < 5"):
        fit_curves(one)
