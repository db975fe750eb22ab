"""The exposure-profile model: a user's impressions of a campaign count across placements.

The plan's forecast must equal what random-order delivery yields; the old per-placement
model (each placement's first impression valued at k = 1) overstated it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from adopt.optimize import PlanSpec, optimize
from adopt.optimize.spec import FrequencyCap

FALL = np.array([1.0, 0.5, 0.25, 0.125])  # value of a user's k-th impression of the campaign
LEVEL = {"p0": 0.010, "p1": 0.008, "p2": 0.006}  # clicks of a first impression per placement


def _curves(users: float = 1000.0) -> pd.DataFrame:
    rows = [{"campaign_id": "c", "segment": "s", "placement_id": p, "k": k + 1,
             "users": users, "cost_per_impression": 0.001, "clicks": level * FALL[k],
             "conversions": 0.0, "revenue": 0.0}
            for p, level in LEVEL.items() for k in range(len(FALL))]
    return pd.DataFrame(rows)


def _delivered_per_user(placements: list[str]) -> float:
    """Exact expected clicks of one user who gets one impression at each placement,
    in random order: the mean over all orders of the value at each position."""
    orders = list(itertools.permutations(placements))
    return float(np.mean([sum(LEVEL[p] * FALL[k] for k, p in enumerate(order))
                          for order in orders]))


def _per_placement_forecast(allocation: pd.DataFrame) -> float:
    """The old model: each cell valued on its own k = 1..cap, as if placements were apart."""
    per_user = allocation["impressions"] / allocation["reach"]
    return float(sum(r * LEVEL[p] * FALL[: int(round(f))].sum()
                     for p, r, f in zip(allocation["placement_id"], allocation["reach"], per_user,
                                        strict=True)))


def test_one_segment_bought_at_three_placements_forecasts_its_delivery():
    # a budget for three impressions per user, at most one per placement: every user of
    # the segment is bought at all three placements
    spec = PlanSpec(budget=3.0, objective="clicks", constraints=[FrequencyCap(cap=1)])
    result = optimize(_curves(), spec)
    exposure = result.exposure
    assert set(exposure["placement_id"]) == set(LEVEL)
    assert exposure["frequency"].unique().tolist() == [3]
    assert exposure["users"].iloc[0] == pytest.approx(1000.0)
    delivered = 1000.0 * _delivered_per_user(list(LEVEL))
    assert result.totals["clicks"] == pytest.approx(delivered, rel=1e-9)
    # the per-placement model promises every impression at k = 1: 1.8x what delivery yields
    old = _per_placement_forecast(result.allocation)
    assert old == pytest.approx(1000.0 * sum(LEVEL.values()))
    assert old / delivered > 1.5


def test_the_cap_across_placements_is_per_user():
    spec = PlanSpec(budget=3.0, objective="clicks",
                    constraints=[FrequencyCap(cap=2, across_placements=True)])
    result = optimize(_curves(), spec)
    assert result.exposure["frequency"].max() <= 2
    per_user = result.exposure.groupby("frequency")["impressions"].sum() / \
        result.exposure.groupby("frequency")["users"].first()
    assert np.allclose(per_user.to_numpy(), per_user.index.to_numpy())
    assert result.totals["impressions"] <= 2 * 1000.0 * (1 + 1e-9)


def test_users_reachable_at_a_placement_bound_its_impressions():
    curves = _curves()
    curves.loc[curves["placement_id"] == "p0", "users"] = 200.0  # a fifth reachable there
    curves["segment_users"] = 1000.0
    result = optimize(curves, PlanSpec(budget=5.0, objective="clicks",
                                       constraints=[FrequencyCap(cap=1)]))
    at_p0 = result.allocation.set_index("placement_id").loc["p0"]
    assert at_p0["impressions"] <= 200.0 * (1 + 1e-9)
    assert at_p0["reach"] <= 200.0 * (1 + 1e-9)


def test_a_single_placement_that_reaches_half_a_segment_gives_its_users_every_impression():
    # one placement, half the segment reachable there: the plan's users are drawn among
    # those, each can get N impressions (drawn from all users, no N-user would fit)
    curves = _curves()
    curves = curves.loc[curves["placement_id"] == "p0"].copy()
    curves["users"], curves["segment_users"] = 490.0, 1000.0
    result = optimize(curves, PlanSpec(budget=5.0, objective="clicks"))
    assert result.totals["spend"] == pytest.approx(490.0 * 4 * 0.001, rel=1e-6)
    assert result.exposure["users"].sum() == pytest.approx(490.0, rel=1e-9)
    assert result.exposure["frequency"].unique().tolist() == [4]


def test_placements_reach_a_segment_independently():
    # two placements reaching 30% and 50%: 65% of the segment is reachable at either
    curves = _curves()
    curves = curves.loc[curves["placement_id"] != "p2"].copy()
    curves["segment_users"] = 1000.0
    curves["users"] = np.where(curves["placement_id"] == "p0", 300.0, 500.0)
    result = optimize(curves, PlanSpec(budget=50.0, objective="clicks",
                                       constraints=[FrequencyCap(cap=1)]))
    assert result.exposure.groupby("frequency")["users"].first().sum() == \
        pytest.approx(650.0, rel=1e-6)
    reach = result.allocation.set_index("placement_id")["reach"]
    assert reach["p0"] <= 300.0 * (1 + 1e-9) and reach["p1"] <= 500.0 * (1 + 1e-9)
