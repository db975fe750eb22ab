from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from adopt.optimize import PlanSpec, build_grid, build_lp, certify, optimize
from adopt.optimize.certificate import best_prefix, reduced_values
from adopt.optimize.examples import random_curves
from adopt.optimize.highs import linprog_args, solve_highs
from adopt.optimize.spec import CampaignBudget, MinReach, Pin, SpendLimit, TargetRatio
from adopt.optimize.structured import solve_structured

from .conftest import objective_of, small_lp, spend_of_all


def _vertices_best(lp) -> float:
    """Brute force: the LP optimum is at a vertex; enumerate all bases of the tiny LP."""
    args = linprog_args(lp)
    n = args["c"].size
    a = np.vstack([args["A_ub"].toarray(), np.eye(n), -np.eye(n)])
    b = np.r_[args["b_ub"], args["bounds"][:, 1], np.zeros(n)]
    best = -np.inf
    for rows in itertools.combinations(range(len(b)), n):
        sub = a[list(rows)]
        if abs(np.linalg.det(sub)) < 1e-12:
            continue
        x = np.linalg.solve(sub, b[list(rows)])
        if np.all(a @ x <= b + 1e-7 * np.maximum(1, abs(b))):
            best = max(best, -float(args["c"] @ x))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_brute_force_on_tiny_instances(seed):
    lp, _, _ = small_lp(lambda total: PlanSpec(budget=0.3 * total, objective="clicks"),
                        seed=seed, segments=2, placements=1, positions=3)
    x, y, info = solve_structured(lp)
    assert info.converged
    assert objective_of(lp, x) == pytest.approx(_vertices_best(lp), rel=1e-7)


def _constrained(total: float) -> PlanSpec:
    return PlanSpec(budget=0.2 * total, objective="conversions", constraints=[
        SpendLimit(level="segment", key="s1", min=0.01 * total),
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
    x1, y1, info = solve_structured(lp, work=50)
    x2, y2, _ = solve_highs(lp)
    assert info.converged
    c1, c2 = certify(lp, x1, y1), certify(lp, x2, y2)
    assert c1.certified and c2.certified
    assert c1.primal == pytest.approx(c2.primal, rel=1e-7)


def test_kkt_and_certificate_on_a_larger_plan():
    lp, _, _ = small_lp(lambda t: PlanSpec(budget=0.1 * t, objective="revenue"),
                        seed=7, segments=600, placements=8, positions=5)
    x, y, info = solve_structured(lp, work=500)
    cert = certify(lp, x, y)
    assert info.converged and cert.certified and cert.gap <= 1e-6
    assert cert.primal_violation <= 1e-9 and cert.dual_violation <= 1e-12
    assert cert.complementarity <= 1e-6
    # stationarity: every cell's plan is (as good as) its best prefix under y
    r = reduced_values(lp, y)
    _, best, _ = best_prefix(r)
    mine = (np.where(lp.ub > 0, r, 0.0) * x).sum(axis=1)
    assert np.all(mine >= best - 1e-7 * max(1.0, abs(cert.primal)))
    # perturbing the plan along any single cell cannot beat it without breaking a row
    assert (lp.A @ x.ravel() <= lp.b + 1e-7 * np.maximum(1, abs(lp.b))).all()


def test_chain_is_needed_and_holds():
    # a cheaper 2nd impression: without the chain the LP would buy it without the 1st
    curves, _ = random_curves(segments=5, placements=2, positions=3, seed=2)
    curves.loc[curves["k"] == 2, "cost_per_impression"] /= 20
    lp = build_lp(build_grid(curves), PlanSpec(budget=0.05 * spend_of_all(curves),
                                               objective="clicks"))
    args = linprog_args(lp)
    n_chain = lp.shape[0] * (lp.shape[1] - 1)
    free = linprog(args["c"], A_ub=args["A_ub"][:-n_chain], b_ub=args["b_ub"][:-n_chain],
                   bounds=args["bounds"], method="highs")
    loose = free.x.reshape(lp.shape)
    assert (loose[:, 1] > loose[:, 0] + 1e-6).any()
    result = optimize(curves, lp.spec)
    assert np.all(np.diff(result.x, axis=1) <= 1e-9)
    assert result.objective["value"] < -free.fun


def _even_share_plan(lp, weights):
    """Every cell's users get the same share of every position, spend = budget."""
    x = np.where(lp.ub > 0, weights[:, None], 0.0)
    spend = (lp.cost * x).sum()
    return np.clip(x * lp.spec.budget / spend, 0, 1)


@pytest.mark.parametrize("split", ["uniform", "historical"])
def test_never_worse_than_a_reference_split(split):
    lp, _, _ = small_lp(lambda t: PlanSpec(budget=0.2 * t, objective="clicks"),
                        seed=5, segments=60, placements=4, positions=3)
    rng = np.random.default_rng(0)
    w = np.ones(lp.shape[0]) if split == "uniform" else rng.lognormal(size=lp.shape[0])
    ref = _even_share_plan(lp, w)
    assert (lp.cost * ref).sum() <= lp.spec.budget * (1 + 1e-9)
    x, _, _ = solve_structured(lp)
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


def test_many_coupling_rows_fall_back_to_highs_and_say_so():
    curves, placements = random_curves(segments=300, placements=2, positions=2, seed=3)
    result = optimize(curves, PlanSpec(budget=0.2 * spend_of_all(curves), objective="reach"),
                      placements)
    assert result.method == "highs" and result.status == "optimal"
    assert any("solved by HiGHS instead" in note for note in result.notes)
