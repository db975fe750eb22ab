"""The forecast interval: the users' bootstrap and the levels drawn from their evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.optimize import PlanSpec, build_grid, optimize
from adopt.optimize.curves import METRICS
from adopt.optimize.examples import random_curves
from adopt.optimize.forecast import _replicate_grid, _replicate_values, forecast_interval

N_BOOT = 4000


@pytest.fixture(scope="module")
def planned():
    curves, placements = random_curves(segments=6, placements=2, positions=3, campaigns=2,
                                       seed=3)
    grid = build_grid(curves)
    spend = float((curves["users"] * curves["cost_per_impression"]).sum())
    result = optimize(grid, PlanSpec(budget=0.3 * spend, objective="conversions"), placements)
    m = result.x[: grid.n_cells * grid.K].reshape(grid.n_cells, grid.K)
    # replicates equal to the curves: any width comes from the campaigns' level draws
    replicates = pd.concat([curves.assign(replicate=b) for b in range(N_BOOT)],
                           ignore_index=True)
    return curves, grid, m, replicates


def _log_width(forecast: dict, metric: str) -> float:
    entry = forecast[metric]
    return float(np.log(entry["hi"] / entry["lo"]))


def test_without_evidence_the_interval_is_the_bootstrap_alone(planned) -> None:
    _, grid, m, replicates = planned
    forecast = forecast_interval(grid, m, replicates)
    for metric in METRICS:
        assert forecast[metric]["lo"] == pytest.approx(forecast[metric]["point"])
        assert forecast[metric]["hi"] == pytest.approx(forecast[metric]["point"])
    assert "not resampled" in forecast["basis"] and "logged" not in forecast["basis"]


def test_a_campaign_known_from_few_outcomes_widens_the_interval_as_its_sampling_error(
        planned) -> None:
    curves, grid, m, replicates = planned
    campaigns = sorted(curves["campaign_id"].astype(str).unique())
    spend = pd.Series((m * grid.cpi).sum(axis=1), index=grid.cells["campaign_id"].astype(str))
    bought = spend.groupby(level=0).sum()
    assert (bought.reindex(campaigns) > 0).all()  # both campaigns are bought
    thin = {c: {"clicks": 99, "conversions": 24} for c in campaigns}
    thick = {c: {"clicks": 9999, "conversions": 2499} for c in campaigns}
    wide = forecast_interval(grid, m, replicates, thin)
    narrow = forecast_interval(grid, m, replicates, thick)
    assert "logged" in wide["basis"]
    # clicks: variance 1 / 100 per campaign; conversions add 1 / 25. Two independent
    # campaigns: the plan's width lies between one campaign's and one over sqrt(2) of it.
    for metric, var in (("clicks", 0.01), ("conversions", 0.05), ("revenue", 0.05)):
        one = 2 * 1.96 * np.sqrt(var)
        assert one / np.sqrt(2) * 0.95 <= _log_width(wide, metric) <= one * 1.05
        assert _log_width(narrow, metric) < _log_width(wide, metric) / 8
    # conversions carry the clicks' draw and their own: wider than the clicks
    assert _log_width(wide, "conversions") > 2 * _log_width(wide, "clicks")
    # a campaign never logged is known from its features alone: wider still
    never = forecast_interval(grid, m, replicates, {})
    assert _log_width(never, "conversions") > 3 * _log_width(wide, "conversions")


def test_the_interval_is_the_same_run_after_run(planned) -> None:
    curves, grid, m, replicates = planned
    evidence = {c: {"clicks": 50, "conversions": 5}
                for c in curves["campaign_id"].astype(str).unique()}
    assert forecast_interval(grid, m, replicates, evidence) == forecast_interval(
        grid, m, replicates, evidence)


def test_the_level_draws_do_not_hang_on_the_curve_stages_few_replicates(planned) -> None:
    # the curve stage keeps 30 replicates; the level draws cycle over them, so the 95%
    # quantiles are those of many draws, not the extremes of 30
    curves, grid, m, replicates = planned
    evidence = {c: {"clicks": 99, "conversions": 24}
                for c in curves["campaign_id"].astype(str).unique()}
    few = replicates.loc[replicates["replicate"] < 30]
    many = forecast_interval(grid, m, replicates, evidence)
    thirty = forecast_interval(grid, m, few, evidence)
    for metric in METRICS:
        assert _log_width(thirty, metric) == pytest.approx(_log_width(many, metric), rel=0.05)


def test_the_level_draws_spread_around_the_point_forecast(planned) -> None:
    # the point is a mean: the campaigns' level factors have mean 1, not median 1
    curves, grid, m, replicates = planned
    evidence = {c: {"clicks": 9, "conversions": 2}
                for c in curves["campaign_id"].astype(str).unique()}
    point = forecast_interval(grid, m, replicates)["conversions"]["point"]
    values = _replicate_values(grid, m, _replicate_grid(grid, replicates), evidence)
    assert values[:, METRICS.index("conversions")].mean() == pytest.approx(point, rel=0.03)


def _segments_of(curves: pd.DataFrame) -> list[str]:
    return sorted(curves["segment"].astype(str).unique())


def test_segments_a_campaign_was_rarely_logged_in_widen_the_interval(planned) -> None:
    # the same campaign totals, well known; the plan's segments each hold a few of them:
    # each campaign x segment is drawn with the sampling error of its own counts
    curves, grid, m, replicates = planned
    campaigns, segments = sorted(curves["campaign_id"].astype(str).unique()), _segments_of(curves)
    totals = {"clicks": 9999, "conversions": 2499}
    alone = {c: dict(totals) for c in campaigns}
    spread = {c: {**totals, "segments": {s: {"clicks": 99, "conversions": 24} for s in segments}}
              for c in campaigns}
    narrow = forecast_interval(grid, m, replicates, alone)
    wide = forecast_interval(grid, m, replicates, spread)
    assert "campaign x segment" in wide["basis"]
    for metric, var in (("clicks", 0.01 - 1e-4), ("conversions", 0.05 - 5e-4)):
        one = 2 * 1.96 * np.sqrt(var)  # one campaign x segment's width beyond its campaign's
        assert _log_width(wide, metric) > 3 * _log_width(narrow, metric)
        assert _log_width(wide, metric) < one
    # a segment the campaign never reached is known from the model alone: wider still
    unseen = {c: {**totals, "segments": {}} for c in campaigns}
    assert _log_width(forecast_interval(grid, m, replicates, unseen), "conversions") > \
        2 * _log_width(wide, "conversions")


def test_segments_that_hold_all_their_campaigns_outcomes_add_nothing(planned) -> None:
    # the campaign's part of a cell's error is drawn once for all its cells: a campaign
    # logged in every segment as much as in all (one user in every segment) draws the same
    # levels as a record without segments (curves built before they were kept)
    curves, grid, m, replicates = planned
    totals = {"clicks": 99, "conversions": 24}
    campaigns = curves["campaign_id"].astype(str).unique()
    alone = {c: dict(totals) for c in campaigns}
    full = {c: {**totals, "segments": {s: dict(totals) for s in _segments_of(curves)}}
            for c in campaigns}
    a, b = forecast_interval(grid, m, replicates, alone), forecast_interval(grid, m, replicates,
                                                                           full)
    assert {k: a[k] for k in METRICS} == {k: b[k] for k in METRICS}


def test_each_cell_is_drawn_with_its_own_campaign_x_segments_counts() -> None:
    # uneven counts on shuffled rows: each cell's total log-variance is 1 / (n + 1) of its
    # own campaign x segment, its campaign's part 1 / (n + 1) of the campaign's
    from adopt.optimize.forecast import _log_variances

    cells = pd.DataFrame({"campaign_id": ["b", "a", "b", "a", "b", "c"],
                          "segment": ["s2", "s1", "s1", "s2", "s2", "s1"],
                          "placement_id": ["p1", "p1", "p2", "p1", "p2", "p1"]})
    evidence = {"a": {"clicks": 99, "conversions": 9,
                      "segments": {"s1": {"clicks": 79, "conversions": 7},
                                   "s2": {"clicks": 19, "conversions": 1}}},
                "b": {"clicks": 49, "conversions": 4,
                      "segments": {"s2": {"clicks": 49, "conversions": 4}}}}
    grid = type("Grid", (), {"cells": cells})()
    campaign_var, group_var, group_campaign, cell_group = _log_variances(grid, evidence)
    total = (campaign_var[group_campaign] + group_var)[cell_group]
    own = {("a", "s1"): (80, 8), ("a", "s2"): (20, 2), ("b", "s2"): (50, 5),
           ("b", "s1"): (1, 1),  # b never reached s1: the model's word alone
           ("c", "s1"): (1, 1)}  # c never logged: as before, no part beyond the campaign's
    for row, (campaign, segment) in enumerate(zip(cells["campaign_id"], cells["segment"],
                                                  strict=True)):
        np.testing.assert_allclose(total[row], 1.0 / np.array(own[campaign, segment]))
    campaign_of_cell = campaign_var[group_campaign[cell_group]]
    np.testing.assert_allclose(campaign_of_cell[1], [1 / 100, 1 / 10])  # a's, on row 1


def test_the_level_draws_with_segments_spread_around_the_point_forecast(planned) -> None:
    curves, grid, m, replicates = planned
    evidence = {c: {"clicks": 99, "conversions": 24,
                    "segments": {s: {"clicks": 9, "conversions": 2} for s in _segments_of(curves)}}
                for c in curves["campaign_id"].astype(str).unique()}
    point = forecast_interval(grid, m, replicates)["conversions"]["point"]
    values = _replicate_values(grid, m, _replicate_grid(grid, replicates), evidence)
    assert values[:, METRICS.index("conversions")].mean() == pytest.approx(point, rel=0.03)


def _with_creatives(curves: pd.DataFrame) -> pd.DataFrame:
    """The curves with one creative per campaign (``ad-<campaign>``)."""
    return curves.assign(ad_id="ad-" + curves["campaign_id"].astype(str))


def test_never_logged_creatives_are_read_from_the_curve_stages_record() -> None:
    from adopt.optimize.forecast import UnloggedCreatives

    creatives = {"a1": {"impressions": 0, "clicks": 0, "conversions": 0},
                 "a2": {"impressions": 900, "clicks": 12, "conversions": 1}}
    effects = {"click_strength": 4.0, "conversion_strength": None,
               "conversion_link": {"intercept": 0.1, "slope_on_log_click_factor": 0.6}}
    unlogged = UnloggedCreatives.from_record(creatives, effects)
    assert unlogged.ad_ids == {"a1"}
    # the log-normal with a Gamma(4, 4) factor's mean and variance; None: no spread
    assert unlogged.click_log_var == pytest.approx(np.log(1.25))
    assert unlogged.per_click_log_var == 0.0 and unlogged.link_slope == 0.6
    logged = {"a2": creatives["a2"]}
    assert UnloggedCreatives.from_record(logged, effects) is None
    assert UnloggedCreatives.from_record(creatives, None) is None  # no effects fitted


def test_never_logged_creatives_the_plan_buys_widen_the_interval_by_their_spread(
        planned) -> None:
    from adopt.optimize.forecast import UnloggedCreatives

    curves, _, m, replicates = planned
    grid = build_grid(_with_creatives(curves))
    ads = frozenset("ad-" + curves["campaign_id"].astype(str).unique())
    click_var, per_click_var, slope = 0.16, 0.04, 0.6
    unlogged = UnloggedCreatives(ads, click_var, per_click_var, slope)
    known = forecast_interval(grid, m, replicates)
    drawn = forecast_interval(grid, m, replicates, None, unlogged)
    assert "2 never-logged creative(s)" in drawn["basis"]
    assert "never-logged" not in known["basis"]
    conversion_var = (1 + slope) ** 2 * click_var + per_click_var
    for metric, var in (("clicks", click_var), ("conversions", conversion_var)):
        assert _log_width(known, metric) == pytest.approx(0.0, abs=1e-9)
        one = 2 * 1.96 * np.sqrt(var)  # both campaigns' creatives, drawn apart
        assert one / np.sqrt(2) * 0.9 <= _log_width(drawn, metric) <= one * 1.05
    # the draws have mean 1: they spread around the point forecast
    values = _replicate_values(grid, m, _replicate_grid(grid, replicates), None, unlogged)
    point = drawn["conversions"]["point"]
    assert values[:, METRICS.index("conversions")].mean() == pytest.approx(point, rel=0.03)


def test_a_plan_that_buys_no_never_logged_creative_keeps_its_interval_to_the_digit(
        planned) -> None:
    from adopt.optimize.forecast import UnloggedCreatives

    curves, _, m, replicates = planned
    grid = build_grid(_with_creatives(curves))
    evidence = {c: {"clicks": 99, "conversions": 24}
                for c in curves["campaign_id"].astype(str).unique()}
    elsewhere = UnloggedCreatives(frozenset({"ad-not-in-these-curves"}), 0.16, 0.04, 0.6)
    assert forecast_interval(grid, m, replicates, evidence, elsewhere) == forecast_interval(
        grid, m, replicates, evidence)
    # one campaign's creative never logged: only that campaign's cells are drawn wider,
    # and the draws of the campaigns' levels are the same as without it
    first = "ad-" + sorted(curves["campaign_id"].astype(str).unique())[0]
    one = UnloggedCreatives(frozenset({first}), 0.16, 0.04, 0.6)
    with_one = forecast_interval(grid, m, replicates, evidence, one)
    without = forecast_interval(grid, m, replicates, evidence)
    assert _log_width(with_one, "conversions") > _log_width(without, "conversions")
    assert with_one == forecast_interval(grid, m, replicates, evidence, one)  # run after run
