from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from adopt.exceptions import WorkspaceError
from adopt.optimize import PlanSpec, optimize
from adopt.optimize.examples import random_curves
from adopt.optimize.spec import CampaignBudget, FrequencyCap, MinReach, Pin, SpendLimit, target_roas
from adopt.plan import make_plan

from .conftest import spend_of_all


@pytest.fixture(scope="module")
def world():
    return random_curves(segments=20, placements=3, positions=4, campaigns=2, seed=21)


def _plan(world, budget_share=0.2, **kw):
    curves, placements = world
    return optimize(curves, PlanSpec(budget=budget_share * spend_of_all(curves), **kw),
                    placements)


def test_flights_limit_a_campaign_to_its_share_of_inventory(world):
    period = {"period_start": dt.date(2026, 3, 1), "period_end": dt.date(2026, 3, 10)}
    flight = CampaignBudget(campaign_id="c1", start=dt.date(2026, 3, 9),
                            end=dt.date(2026, 3, 20))
    result = _plan(world, budget_share=0.9, objective="clicks", constraints=[flight], **period)
    _, placements = world
    imps = result.allocation[result.allocation["campaign_id"] == "c1"].groupby(
        "placement_id")["impressions"].sum()
    inv = placements.set_index("placement_id")["inventory"]
    assert (imps <= 0.2 * inv[imps.index] * (1 + 1e-7)).all()
    outside = CampaignBudget(campaign_id="c1", start=dt.date(2026, 4, 1))
    result = _plan(world, objective="clicks", constraints=[outside], **period)
    assert "c1" not in set(result.allocation["campaign_id"])
    assert any("flight outside the period" in n for n in result.notes)


def test_campaign_budget_share_and_cap_limits_hold(world):
    cons = [CampaignBudget(campaign_id="c0", max_spend=500.0, min_spend=100.0),
            SpendLimit(level="segment", key="s2", max_share=0.05),
            SpendLimit(level="placement", key="p2", min_share=0.5),
            FrequencyCap(cap=2)]
    result = _plan(world, objective="revenue", constraints=cons)
    alloc = result.allocation
    total = alloc["spend"].sum()
    assert 100 - 1e-6 <= alloc.loc[alloc["campaign_id"] == "c0", "spend"].sum() <= 500 + 1e-6
    assert alloc.loc[alloc["segment"] == "s2", "spend"].sum() <= 0.05 * total * (1 + 1e-7)
    assert alloc.loc[alloc["placement_id"] == "p2", "spend"].sum() >= 0.5 * total * (1 - 1e-7)
    assert alloc["frequency_cap"].max() <= 2
    assert set(result.binding) >= {"campaign_budget[c0]"}


def test_pins_reach_and_roas_targets_hold(world):
    cons = [Pin(campaign_id="c0", segment="s1", placement_id="p0", impressions=1234.0),
            Pin(campaign_id="c1", segment="s3", placement_id="p1", impressions=0.0),
            MinReach(segment="s4", users=800.0, campaign_id="c1"),
            target_roas(1.0)]
    result = _plan(world, objective="conversions", constraints=cons)
    a = result.allocation.set_index(["campaign_id", "segment", "placement_id"])
    assert a.loc[("c0", "s1", "p0"), "impressions"] == pytest.approx(1234.0, rel=1e-7)
    assert ("c1", "s3", "p1") not in a.index
    assert a.loc[("c1", "s4"), "reach"].sum() >= 800 * (1 - 1e-7)
    assert result.totals["revenue"] >= result.totals["spend"] * (1 - 1e-7)
    highs = optimize(world[0], PlanSpec(budget=0.2 * spend_of_all(world[0]),
                                        objective="conversions", constraints=cons),
                     world[1], method="highs")
    assert result.objective["value"] == pytest.approx(highs.objective["value"], rel=1e-7)


def test_cross_placement_cap_bounds_impressions_per_segment_user(world):
    result = _plan(world, budget_share=0.9, objective="clicks",
                   constraints=[FrequencyCap(cap=1.5, across_placements=True)])
    curves, _ = world
    seg_users = curves.groupby(["campaign_id", "segment"])["users"].max()
    imps = result.allocation.groupby(["campaign_id", "segment"])["impressions"].sum()
    assert np.all(imps <= 1.5 * seg_users[imps.index] * (1 + 1e-7))


def test_workspace_without_curves_says_what_to_run(tmp_path):
    (tmp_path / "plan.toml").write_text("budget = 10.0\n")
    with pytest.raises(WorkspaceError, match="run the curve stage first"):
        make_plan(tmp_path / "plan.toml", workspace=tmp_path / "ws")


@pytest.mark.parametrize("limits", [{"min": 50, "max": 10}, {"min_share": 0.6, "max_share": 0.2}])
def test_spend_limit_with_min_above_max_is_rejected_when_built(limits):
    with pytest.raises(ValueError, match="exceeds max"):
        SpendLimit(level="segment", key="s01", **limits)
