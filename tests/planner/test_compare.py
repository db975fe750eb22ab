"""Plan.compare: KPI deltas, cells that moved, what the extra spend buys."""

from __future__ import annotations

import numpy as np
import pytest

import adopt


@pytest.fixture(scope="module")
def pair(tables, full, tmp_path_factory):
    curves, placements = tables
    planner = adopt.Planner(tmp_path_factory.mktemp("compare"))
    return tuple(planner.plan(budget=share * full, curves=curves,
                              placements=placements, baselines=False) for share in (0.3, 0.15))


def test_kpi_deltas_are_this_minus_other(pair):
    big, small = pair
    cmp = big.compare(small)
    assert cmp.this == big.plan_id and cmp.other == small.plan_id
    for kpi in ("spend", "conversions", "clicks", "revenue"):
        assert cmp.kpis.loc[kpi, "delta"] == pytest.approx(big.kpis[kpi] - small.kpis[kpi])
    assert cmp.kpis.loc["spend", "relative"] == pytest.approx(
        (big.kpis["spend"] - small.kpis["spend"]) / small.kpis["spend"])


def test_what_the_extra_spend_buys_lies_between_the_marginal_values(pair):
    big, small = pair
    buys = big.compare(small).buys
    assert buys["extra_spend"] > 0 and buys["extra_conversions"] > 0
    rate = buys["conversions_per_extra_spend"]
    # the frontier is concave: the average rate over the step lies between its end slopes
    low = big.duals.set_index("name").loc["budget", "shadow_price"]
    high = small.duals.set_index("name").loc["budget", "shadow_price"]
    assert low - 1e-12 <= rate <= high + 1e-12
    assert buys["incremental_cpa"] == pytest.approx(1 / rate)


def test_cells_that_gained_and_lost_spend_account_for_the_delta(pair):
    big, small = pair
    cmp = big.compare(small)
    gained, lost = cmp.gained(), cmp.lost()
    assert len(gained) > 0
    assert (gained["delta_spend"] > 0).all() and (np.diff(gained["delta_spend"]) <= 0).all()
    assert (lost["delta_spend"] < 0).all()
    total = gained["delta_spend"].sum() + lost["delta_spend"].sum()
    assert total == pytest.approx(cmp.buys["extra_spend"], rel=1e-6)
    keys = set(map(tuple, cmp.cells[["campaign_id", "segment", "placement_id"]].values))
    assert keys == set(map(tuple, big.allocation[["campaign_id", "segment", "placement_id"]]
                           .values)) | set(map(tuple, small.allocation[
                               ["campaign_id", "segment", "placement_id"]].values))


def test_reverse_comparison_flips_the_signs(pair):
    big, small = pair
    there, back = big.compare(small), small.compare(big)
    assert back.buys["extra_spend"] == pytest.approx(-there.buys["extra_spend"])
    assert back.buys["conversions_per_extra_spend"] == pytest.approx(
        there.buys["conversions_per_extra_spend"])
    assert len(back.gained()) == len(there.lost())
    assert "less than" in back.summary() and "each 1,000 of spend cut loses" in back.summary()


def test_readable_text_and_html(pair):
    big, small = pair
    cmp = big.compare(small)
    text = str(cmp)
    assert f"plan {big.plan_id} vs {small.plan_id}" in text
    assert "more than" in text and "each 1,000 of spend added buys" in text
    assert "cells that gained spend" in text
    page = cmp._repr_html_()
    assert page.startswith('<div class="adopt-plan-comparison">') and "delta" in page


def test_a_plan_compared_with_itself_changes_nothing(plan_at):
    plan = plan_at(0.2)
    cmp = plan.compare(plan)
    assert (cmp.this, cmp.other) == ("this", "other")
    assert np.isnan(cmp.buys["conversions_per_extra_spend"])
    assert cmp.gained().empty and cmp.lost().empty
    assert "spends the same" in cmp.summary()
