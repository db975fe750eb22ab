"""The Lagrangian decomposition (method "structured"): each group's priced pattern is its
true optimum, and column generation reaches the HiGHS optimum with a certificate.

Correctness of the pieces that make it fast (not timings: see bench/optimize_bench.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from adopt.optimize import PlanSpec, certify
from adopt.optimize.certificate import dual_value
from adopt.optimize.highs import solve_highs
from adopt.optimize.lagrangian import solve_lagrangian
from adopt.optimize.pricing import Pricer
from adopt.optimize.spec import FrequencyCap, Pin, SpendLimit

from .conftest import objective_of, small_lp


def _budget(total: float) -> PlanSpec:
    caps = [FrequencyCap(cap=3, placement_id="p0"), FrequencyCap(cap=2, placement_id="p3"),
            FrequencyCap(cap=4, across_placements=True)]
    return PlanSpec(budget=0.1 * total, objective="clicks", constraints=caps)


def _pinned(total: float) -> PlanSpec:
    return PlanSpec(budget=0.05 * total, objective="revenue", constraints=[
        SpendLimit(level="placement", key="p1", min=0.005 * total),
        Pin(campaign_id="c0", segment="s3", placement_id="p2", impressions=500.0),
    ])


def _least_spend(total: float) -> PlanSpec:
    return PlanSpec(objective={"metric": "clicks", "target": 500.0})


def _group_lp_value(lp, pricer: Pricer, y: np.ndarray, g: int) -> float:
    """A user's best reduced value in group g, by linprog over its local polytope."""
    r_m, r_u = pricer.reduced(y)
    best = -np.inf
    for n in range(lp.K):
        cap = pricer.cap[g, :, n]
        if pricer.ub_u[g, n] == 0 or cap.sum() < n + 1 - 1e-12:
            continue
        res = linprog(-r_m[g, :, n], A_eq=np.ones((1, cap.size)), b_eq=[n + 1],
                      bounds=list(zip(np.zeros(cap.size), cap, strict=True)), method="highs")
        best = max(best, -res.fun + r_u[g, n])
    return best


@pytest.mark.parametrize("seed", range(3))
def test_priced_pattern_is_each_groups_optimum(seed):
    lp, _, _ = small_lp(_budget, seed=seed, segments=30, placements=6, positions=5)
    _, y, _ = solve_highs(lp)
    rng = np.random.default_rng(seed)
    pricer = Pricer(lp)
    for prices in (y, y * rng.uniform(0.5, 1.5, y.size), np.zeros_like(y)):
        best = pricer.best(prices)
        for g in range(lp.n_groups):
            assert best.value[g] == pytest.approx(_group_lp_value(lp, pricer, prices, g),
                                                  rel=1e-9, abs=1e-12)
            n = best.n[g]
            assert best.z[g].sum() == pytest.approx(n)
            assert np.all(best.z[g] <= pricer.cap[g, :, n - 1] + 1e-12)


def test_dual_value_bounds_every_feasible_plan():
    lp, _, _ = small_lp(_budget, seed=1, segments=40, placements=4, positions=4)
    x, y, _ = solve_highs(lp)
    rng = np.random.default_rng(0)
    for _ in range(20):
        prices = np.abs(y * rng.uniform(0, 3, y.size))
        assert dual_value(lp, prices) >= objective_of(lp, x) * (1 - 1e-12)


@pytest.mark.parametrize("spec", [_budget, _pinned, _least_spend])
def test_column_generation_reaches_the_highs_optimum(spec):
    lp, _, _ = small_lp(spec, seed=4, segments=150, placements=5, positions=4, campaigns=1)
    x, y, info = solve_lagrangian(lp)
    assert info.converged, info.reason
    xg, _, _ = solve_highs(lp)
    cert = certify(lp, x, y)
    assert cert.certified and cert.gap <= 1e-7
    assert cert.primal == pytest.approx(objective_of(lp, xg), rel=1e-7)
    assert (lp.A @ x <= lp.b + 1e-7 * np.maximum(1, abs(lp.b))).all()


def test_bench_shaped_plan_equals_highs():
    # segments x 20 placements x 5 positions, budget, inventory and frequency caps
    lp, _, _ = small_lp(_budget, seed=0, segments=200, placements=20, positions=5)
    x, y, info = solve_lagrangian(lp)
    assert info.converged, info.reason
    xg, _, _ = solve_highs(lp, method="highs-ipm")
    cert = certify(lp, x, y)
    assert cert.certified and cert.complementarity <= 1e-6
    assert cert.primal == pytest.approx(objective_of(lp, xg), rel=1e-7)
