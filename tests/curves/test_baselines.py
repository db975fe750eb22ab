"""Baseline allocations and evaluate_allocation on random curves (no warehouse needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.curves.baselines import (
    allocation_shares,
    evaluate_allocation,
    uniform_allocation,
)
from adopt.exceptions import InputError, ParameterError
from adopt.optimize import build_grid, optimize, parse_spec
from adopt.optimize.examples import random_curves


@pytest.fixture(scope="module")
def curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    return random_curves(segments=6, placements=3, positions=5, campaigns=2, seed=4)


def _used(alloc: pd.DataFrame, placements: pd.DataFrame) -> pd.Series:
    inv = placements.set_index("placement_id")["inventory"]
    return alloc.groupby("placement_id")["impressions"].sum() / inv.reindex(
        alloc.groupby("placement_id").size().index)


def test_uniform_spends_the_budget_evenly_within_cap(curves) -> None:
    table, placements = curves
    alloc = uniform_allocation(table, 500.0, placements, cap=2)
    assert alloc["spend"].sum() == pytest.approx(500.0, rel=1e-6)
    assert alloc["frequency_cap"].max() == 2
    assert (_used(alloc, placements) <= 1 + 1e-9).all()
    # cells that are not full get the same spend
    full = np.isclose(alloc["reach"], alloc["users"])
    spend = alloc.loc[~full, "spend"]
    assert spend.max() == pytest.approx(spend.min(), rel=1e-6)


def test_uniform_respects_inventory_and_stops_when_everything_is_used(curves) -> None:
    table, placements = curves
    alloc = uniform_allocation(table, 1e9, placements)
    assert alloc["spend"].sum() < 1e9
    assert _used(alloc, placements).max() == pytest.approx(1.0, rel=1e-6)
    assert (alloc["reach"] <= alloc["users"] * (1 + 1e-9)).all()


def test_uniform_rejects_a_bad_budget(curves) -> None:
    with pytest.raises(ParameterError, match="'budget' parameter of uniform_allocation"):
        uniform_allocation(curves[0], -1.0)
    with pytest.raises(ParameterError, match="'cap' parameter"):
        uniform_allocation(curves[0], 10.0, cap=0)


def test_evaluating_the_optimizers_allocation_returns_its_totals(curves) -> None:
    table, placements = curves
    spec = parse_spec({"budget": 800.0, "objective": "conversions"})
    result = optimize(table, spec, placements)
    value = evaluate_allocation(table, result.allocation)
    for name in ("spend", "impressions", "clicks", "conversions", "revenue", "reach"):
        assert value[name] == pytest.approx(result.totals[name], rel=1e-6, abs=1e-9)


def test_optimizer_beats_uniform_on_the_same_curves(curves) -> None:
    table, placements = curves
    spec = parse_spec({"budget": 800.0, "objective": "conversions"})
    best = optimize(table, spec, placements).totals["conversions"]
    uniform = evaluate_allocation(table, uniform_allocation(table, 800.0, placements))
    assert uniform["spend"] == pytest.approx(800.0, rel=1e-6)
    assert best >= uniform["conversions"] - 1e-9


def test_shares_from_impressions_and_reach_or_explicit_columns(curves) -> None:
    table, _ = curves
    grid = build_grid(table)
    cell = grid.cells.iloc[[0]][["campaign_id", "segment", "placement_id"]]
    users = grid.users[0]
    alloc = cell.assign(impressions=2.5 * 0.4 * users, reach=0.4 * users)
    x = allocation_shares(grid, alloc)
    assert x[0].tolist() == pytest.approx([0.4, 0.4, 0.2, 0.0, 0.0])
    assert x[1:].sum() == 0
    capped = cell.assign(impressions=300.0, frequency_cap=3)
    assert allocation_shares(grid, capped)[0, :4] * users == pytest.approx([100, 100, 100, 0])
    explicit = cell.assign(x_1=0.5, x_2=0.25)
    assert allocation_shares(grid, explicit)[0, :3].tolist() == [0.5, 0.25, 0.0]


def test_unknown_cell_is_named(curves) -> None:
    alloc = pd.DataFrame({"campaign_id": ["c0"], "segment": ["nope"], "placement_id": ["p0"],
                          "impressions": [1.0], "reach": [1.0]})
    with pytest.raises(InputError, match="cell not in the curves.*nope"):
        evaluate_allocation(curves[0], alloc)
