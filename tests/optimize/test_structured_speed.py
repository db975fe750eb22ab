"""The structured method's trust region: sound boxes, exact box LPs, same optimum as HiGHS.

Correctness of the pieces that make it fast (not timings: see bench/optimize_bench.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from adopt.optimize import PlanSpec, certify
from adopt.optimize.certificate import best_prefix, dual_value, reduced_values
from adopt.optimize.highs import solve_highs
from adopt.optimize.spec import FrequencyCap, Pin, SpendLimit
from adopt.optimize.structured import _box_lp, _open_cells, _Plan, solve_structured

from .conftest import objective_of, small_lp


def _budget(total: float) -> PlanSpec:
    caps = [FrequencyCap(cap=3, placement_id="p0"), FrequencyCap(cap=2, placement_id="p3")]
    return PlanSpec(budget=0.1 * total, objective="clicks", constraints=caps)


def _pinned(total: float) -> PlanSpec:
    return PlanSpec(budget=0.15 * total, objective="revenue", constraints=[
        SpendLimit(level="placement", key="p1", min=0.02 * total),
        Pin(campaign_id="c0", segment="s3", placement_id="p2", impressions=500.0),
    ])


def _least_spend(total: float) -> PlanSpec:
    return PlanSpec(objective={"metric": "clicks", "target": 500.0})


def _plan_and_prices(seed: int):
    lp, _, _ = small_lp(_budget, seed=seed, segments=80, placements=6, positions=5)
    _, y, _ = solve_highs(lp)
    rng = np.random.default_rng(seed)
    return lp, _Plan(lp, small=64), y * rng.uniform(0.8, 1.2, y.size)


@pytest.mark.parametrize("seed", range(3))
def test_fixed_cells_keep_their_prefix_everywhere_in_the_box(seed):
    lp, plan, y = _plan_and_prices(seed)
    sigma = np.maximum(abs(y), 0.1 * plan.typical)
    box = _open_cells(plan, y, sigma, work=40)
    fixed = box.hi == box.lo
    assert 0 < (~fixed).sum() < fixed.sum()
    rng = np.random.default_rng(seed)
    for _ in range(50):
        # corners are where a prefix is likeliest to change
        corner = np.where(rng.random(y.size) < 0.5, box.lower, box.upper)
        m, _, _ = best_prefix(reduced_values(lp, corner))
        assert np.array_equal(m[fixed], box.lo[fixed])
        assert np.all((m >= box.lo) & (m <= box.hi))


@pytest.mark.parametrize("seed", range(3))
def test_box_lp_minimises_the_dual_over_the_box(seed):
    lp, plan, y = _plan_and_prices(seed)
    box = _open_cells(plan, y, np.maximum(abs(y), 0.1 * plan.typical), work=40)
    x, y_box, used, why = _box_lp(plan, box)
    assert why == ""
    assert np.all((y_box >= box.lower - 1e-12) & (y_box <= box.upper * (1 + 1e-9)))
    best = dual_value(lp, y_box)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        inside = box.lower + rng.random(y.size) * (box.upper - box.lower)
        assert dual_value(lp, inside) >= best - 1e-9 * abs(best)
    # the LP's plan with its elastic use priced at the box edges is worth g(y_box)
    value = objective_of(lp, x) - float(box.upper @ np.where(lp.eq, 0.0, used))
    assert value <= best * (1 + 1e-9)


@pytest.mark.parametrize("spec", [_budget, _pinned, _least_spend])
@pytest.mark.parametrize("work", [3, 40])
def test_many_small_rounds_reach_the_highs_optimum(spec, work):
    lp, _, _ = small_lp(spec, seed=4, segments=150, placements=5, positions=4, campaigns=1)
    x, y, info = solve_structured(lp, work=work, sample=40)
    assert info.converged, info.reason
    if work == 3 and spec is _budget:
        assert info.rounds > 1  # the start is off: the box had to move and grow
    xg, yg, _ = solve_highs(lp)
    cert = certify(lp, x, y)
    assert cert.certified and cert.gap <= 1e-7
    assert cert.primal == pytest.approx(objective_of(lp, xg), rel=1e-7)
    assert (lp.A @ x.ravel() <= lp.b + 1e-7 * np.maximum(1, abs(lp.b))).all()


def test_bench_shaped_plan_equals_highs():
    # segments x 20 placements x 5 positions, budget, inventory and frequency caps
    lp, _, _ = small_lp(_budget, seed=0, segments=200, placements=20, positions=5)
    x, y, info = solve_structured(lp, work=300, sample=200)
    assert info.converged, info.reason
    xg, _, _ = solve_highs(lp, method="highs-ipm")
    cert = certify(lp, x, y)
    assert cert.certified and cert.complementarity <= 1e-6
    assert cert.primal == pytest.approx(objective_of(lp, xg), rel=1e-7)
