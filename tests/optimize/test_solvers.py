from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from adopt.exceptions import InfeasibleError
from adopt.optimize import PlanSpec, build_grid, certify, optimize
from adopt.optimize.examples import random_curves
from adopt.optimize.highs import linprog_args, solve_highs
from adopt.optimize.lagrangian import solve_lagrangian
from adopt.optimize.pricing import Pricer
from adopt.optimize.spec import CampaignBudget, MinReach, Pin, SpendLimit, TargetRatio

from .conftest import objective_of, small_lp, spend_of_all


@pytest.mark.parametrize("seed", range(4))
def test_tiny_instances_equal_highs(seed):
    lp, _, _ = small_lp(lambda total: PlanSpec(budget=0.3 * total, objective="clicks"),
                        seed=seed, segments=2, placements=2, positions=3)
    x, y, info = solve_lagrangian(lp)
    assert info.converged
    res = linprog(**linprog_args(lp), method="highs-ipm")
    assert objective_of(lp, x) == pytest.approx(-res.fun, rel=1e-7)
    assert certify(lp, x, y).certified


def _constrained(total: float) -> PlanSpec:
    return PlanSpec(budget=0.2 * total, objective="conversions", constraints=[
        SpendLimit(level="segment", key="s1", min=0.004 * total),
        SpendLimit(level="placement", key="p0", max_share=0.3),
        CampaignBudget(campaign_id="c1", max_spend=0.05 * total),
        MinReach(segment="s2", users=500),
        TargetRatio(type="target_cpa", value=60.0),
        Pin(campaign_id="c0", segment="s3", placement_id="p1", impressions=300.0),
    ])


@pytest.mark.parametrize("seed", range(3))
def test_structured_equals_highs_with_many_constraint_kinds(seed):
    lp, _, _ = small_lp(_constrained, seed=seed, segments=40, placements=5, positions=4,
                        campaigns=2)
    x1, y1, info = solve_lagrangian(lp)
    x2, y2, _ = solve_highs(lp)
    assert info.converged
    c1, c2 = certify(lp, x1, y1), certify(lp, x2, y2)
    assert c1.certified and c2.certified
    assert c1.primal == pytest.approx(c2.primal, rel=1e-7)


def test_kkt_and_certificate_on_a_larger_plan():
    lp, _, _ = small_lp(lambda t: PlanSpec(budget=0.1 * t, objective="revenue"),
                        seed=7, segments=600, placements=8, positions=5)
    x, y, info = solve_lagrangian(lp)
    cert = certify(lp, x, y)
    assert info.converged and cert.certified and cert.gap <= 1e-6
    assert cert.primal_violation <= 1e-9 and cert.dual_violation <= 1e-12
    assert cert.complementarity <= 1e-6
    # stationarity: each group's users are worth its best pattern's value under y
    best = Pricer(lp).best(y)
    used = lp.u_part(x).sum(axis=1) > 1e-9
    assert np.all(best.value[used] >= -1e-7 * max(1.0, abs(cert.primal)) / lp.segment_users[used])
    assert (lp.A @ x <= lp.b + 1e-7 * np.maximum(1, abs(lp.b))).all()


def _even_share_plan(lp, weights):
    """One impression per reached user, split over placements by reachable share; spend = budget."""
    m = np.zeros((lp.n_cells, lp.K))
    u = np.zeros((lp.n_groups, lp.K))
    share = lp.cap[:, 0] / np.bincount(lp.cell_group, weights=lp.cap[:, 0])[lp.cell_group]
    u[:, 0] = weights
    m[:, 0] = weights[lp.cell_group] * share
    x = lp.stack(m, u)
    return x * lp.spec.budget / float(lp.value("spend") @ x)


@pytest.mark.parametrize("split", ["uniform", "historical"])
def test_never_worse_than_a_reference_split(split):
    lp, _, _ = small_lp(lambda t: PlanSpec(budget=0.2 * t, objective="clicks"),
                        seed=5, segments=60, placements=4, positions=3)
    rng = np.random.default_rng(0)
    w = np.ones(lp.n_groups) if split == "uniform" else rng.lognormal(size=lp.n_groups)
    ref = _even_share_plan(lp, w)
    assert lp.value("spend") @ ref <= lp.spec.budget * (1 + 1e-9)
    x, _, _ = solve_lagrangian(lp)
    assert objective_of(lp, x) >= objective_of(lp, ref)


def test_min_spend_for_a_target():
    curves, placements = random_curves(segments=30, placements=3, seed=1)
    best = optimize(curves, PlanSpec(budget=0.3 * spend_of_all(curves), objective="clicks"),
                    placements)
    target = 0.5 * best.totals["clicks"]
    cheap = optimize(curves, PlanSpec(objective={"metric": "clicks", "target": target}),
                     placements)
    assert cheap.objective["name"] == "spend" and cheap.status == "optimal"
    assert cheap.totals["clicks"] == pytest.approx(target, rel=1e-7)
    assert cheap.totals["spend"] < 0.3 * spend_of_all(curves)
    assert cheap.binding == ["target[clicks]"]


def test_reach_objective_counts_each_segment_user_once():
    curves, placements = random_curves(segments=10, placements=4, seed=3)
    spec = PlanSpec(budget=spend_of_all(curves), objective="reach")
    result = optimize(curves, spec, placements)
    assert result.status == "optimal"
    aud = result.allocation.groupby("segment")["reach"].sum()
    seg_users = build_grid(curves).cells.groupby("segment")["segment_users"].max()
    assert (aud <= seg_users[aud.index] * (1 + 1e-9)).all()
    assert result.totals["reach"] == pytest.approx(result.objective["value"], rel=1e-7)


def test_an_infeasible_plan_falls_back_to_highs_which_explains_it():
    curves, placements = random_curves(segments=20, placements=2, positions=2, seed=3)
    spec = PlanSpec(budget=0.01 * spend_of_all(curves), objective="clicks",
                    constraints=[MinReach(segment="s1", users=1e9)])
    with pytest.raises(InfeasibleError, match="min_reach"):
        optimize(curves, spec, placements)
