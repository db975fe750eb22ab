"""Shared helpers of the optimizer tests: small seeded plans."""

from __future__ import annotations

import numpy as np

from adopt.optimize import build_grid, build_lp
from adopt.optimize.examples import random_curves


def spend_of_all(curves) -> float:
    return float((curves["users"] * curves["cost_per_impression"]).sum())


def small_lp(spec_factory, seed=0, **shape):
    curves, placements = random_curves(seed=seed, **shape)
    grid = build_grid(curves)
    return build_lp(grid, spec_factory(spend_of_all(curves)), placements), curves, placements


def objective_of(lp, x) -> float:
    return float(lp.c @ np.asarray(x, float).ravel())
