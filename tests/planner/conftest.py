"""Fixtures of the planner API tests: a small seeded curves table and a planner on it."""

from __future__ import annotations

import pandas as pd
import pytest

import adopt
from adopt.optimize.examples import random_curves


def full_spend(curves: pd.DataFrame) -> float:
    """Spend of every position of every cell: budgets below it bind."""
    return float((curves["users"] * curves["cost_per_impression"]).sum())


@pytest.fixture(scope="session")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Curves (2 campaigns x 6 segments x 3 placements x 4 positions) and placements."""
    return random_curves(segments=6, placements=3, positions=4, campaigns=2, seed=1)


@pytest.fixture(scope="session")
def full(tables) -> float:
    """Spend of every position of every cell of the fixture curves."""
    return full_spend(tables[0])


@pytest.fixture
def planner(tmp_path) -> adopt.Planner:
    return adopt.Planner(tmp_path / "ws")


@pytest.fixture
def plan_at(planner, tables):
    """Plan on the fixture curves at a share of the full spend (no baselines: no logs here)."""
    curves, placements = tables

    def make(share: float, **options) -> adopt.Plan:
        options = {"curves": curves, "placements": placements, "baselines": False} | options
        return planner.plan(budget=share * full_spend(curves), **options)

    return make
