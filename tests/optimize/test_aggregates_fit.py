"""fit_curves on exports that look like real ones: per-ad rows, base term, thin cells, audience."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError
from adopt.optimize import fit_curves, validate_curves
from adopt.optimize.observed import cell_table, forecast_at, historical_check
from adopt.synth.aggregates import FORMS, generate_aggregates


def _per_ad(rows: list[tuple], segment: str = "s", campaign: str = "c1") -> pd.DataFrame:
    return pd.DataFrame([{"campaign_id": campaign, "segment": segment, "spend": imps / 1000,
                          "impressions": imps, "clicks": clicks, "conversions": conv}
                         for imps, clicks, conv in rows])


def _exact(b: float, a: float, s: float, levels: np.ndarray) -> list[tuple]:
    return [(i, 100 * (1 - np.exp(-i / s)), b + a * (1 - np.exp(-i / s))) for i in levels]


def test_per_ad_rows_without_period_are_units_of_one_period():
    levels = np.array([0.0, 2e3, 5e3, 1e4, 2e4, 4e4, 8e4])
    curves, fit = fit_curves(_per_ad(_exact(0.5, 20.0, 3e4, levels)), positions=3)
    cell = cell_table(curves).iloc[0]
    # no period: the rows are the cell's units in one period, so history = their sums
    assert cell["fit_units"] == len(levels)
    assert cell["historical_impressions"] == pytest.approx(levels.sum())
    assert cell["observed_spend"] == pytest.approx(levels.sum() / 1000)
    assert cell["placement_id"] == "all"
    conv = fit[fit["metric"] == "conversions"].iloc[0]
    assert (conv["b"], conv["a"], conv["s"]) == pytest.approx((0.5, 20.0, 3e4), rel=1e-3)
    # the base: the zero-spend unit converted, so the cell's base is 0.5 a unit
    assert cell["base_conversions"] == pytest.approx(0.5 * len(levels), rel=1e-3)
    check = historical_check(curves)
    assert check["conversions"]["ratio"] == pytest.approx(1.0, abs=1e-3)


def test_a_curve_without_base_misses_zero_spend_outcomes():
    # regression of the issue: zero-spend ads converted; the base term carries them
    levels = np.array([0.0, 0.0, 0.0, 3e3, 6e3, 1.2e4, 2.4e4, 4.8e4])
    curves, _ = fit_curves(_per_ad(_exact(2.0, 10.0, 2e4, levels)))
    assert cell_table(curves)["base_conversions"].iloc[0] == pytest.approx(16.0, rel=1e-3)
    assert historical_check(curves)["conversions"]["base"] == pytest.approx(16.0, rel=1e-3)


def test_periods_sum_rows_and_take_the_latest_period_as_history():
    rows = []
    for period, imps in enumerate([1e4, 3e4, 2e4, 5e4, 4e4, 6e4], start=1):
        for half in (0.5, 0.5):  # two ads a period: added up
            rows.append({"segment": "s", "placement_id": "p", "period": f"2026-0{period}-01",
                         "spend": half * imps / 1000, "impressions": half * imps,
                         "clicks": half * 50 * (1 - np.exp(-imps / 3e4))})
    curves, fit = fit_curves(pd.DataFrame(rows))
    cell = cell_table(curves).iloc[0]
    assert cell["fit_units"] == 1 and fit["points"].iloc[0] == 6
    assert cell["historical_impressions"] == pytest.approx(6e4)
    assert cell["observed_spend"] == pytest.approx(60.0)
    # no conversions or revenue column: those curves are zero, their r2 undefined
    assert curves["conversions"].eq(0).all() and curves["revenue"].eq(0).all()
    assert fit.set_index("metric").loc["revenue", "r2"] != fit.set_index("metric").loc[
        "revenue", "r2"]


def test_a_metric_that_never_varies_has_r2_nan_not_one():
    levels = np.array([1e3, 2e3, 4e3, 8e3, 1.6e4])
    data = _per_ad([(i, 10 * (1 - np.exp(-i / 5e3)), 0.0) for i in levels])
    _, fit = fit_curves(data)
    by = fit.set_index("metric")["r2"]
    assert np.isnan(by["conversions"]) and by["clicks"] > 0.99


def test_thin_cells_are_pooled_and_empty_cells_skipped_not_an_abort():
    levels = np.array([1e3, 3e3, 6e3, 1.2e4, 2.4e4, 4.8e4])
    rich = _per_ad(_exact(0.0, 10.0, 2e4, levels), "rich")
    thin = _per_ad(_exact(0.0, 30.0, 2e4, np.array([5e3, 1e4])), "thin")
    empty = _per_ad([(0.0, 0.0, 3.0)], "empty")
    curves, fit = fit_curves(pd.concat([rich, thin, empty], ignore_index=True))
    level = fit.drop_duplicates("segment").set_index("segment")
    assert level.loc["rich", "level"] == "cell"
    assert level.loc["thin", "level"] == "campaign x placement"
    assert "2 impression level(s) < 5" in level.loc["thin", "reason"]
    assert level.loc["empty", "level"] == "skipped"
    assert "no impressions" in level.loc["empty", "reason"]
    # pooled: the campaign's shape (its scale s), at the thin cell's own level: what the
    # thin cell produced, not what the pooled shape alone predicts there
    conv = fit[fit["metric"] == "conversions"].set_index("segment")
    t = conv.loc["thin"]
    pred = t["b"] + t["a"] * (1 - np.exp(-np.array([5e3, 1e4]) / t["s"]))
    produced = thin["conversions"].sum()
    assert pred.sum() == pytest.approx(produced, rel=1e-9)
    pooled_s = fit_curves(pd.concat([rich, thin, empty]).assign(segment="one"))[1]
    assert t["s"] == pytest.approx(pooled_s.set_index("metric").loc["conversions", "s"])
    # the skipped cell stays with no users (the plan cannot buy it) and its history
    cells = cell_table(curves).set_index("segment")
    assert cells.loc["empty", "users"] == 0
    assert cells.loc["empty", "historical_conversions"] == 3.0
    assert len(validate_curves(curves)) == len(curves)


def test_audience_size_is_explicit_and_never_the_click_scale():
    levels = np.array([1e3, 3e3, 6e3, 1.2e4, 2.4e4, 4.8e4])
    data = _per_ad(_exact(0.0, 10.0, 2e4, levels))
    curves, fit = fit_curves(data)
    # default: one impression per user at the historical level, said so
    assert curves["users"].iloc[0] == pytest.approx(levels.sum())
    assert curves["users_source"].iloc[0].startswith("assumed")
    assert curves["users"].iloc[0] != pytest.approx(fit.set_index("metric").loc["clicks", "s"])
    assert fit_curves(data, users=5e4)[0]["users"].iloc[0] == 5e4
    assert fit_curves(data, users={"s": 7e4})[0]["users"].iloc[0] == 7e4
    assert fit_curves(data.assign(users=1e4))[0]["users"].iloc[0] == 1e4 * len(levels)
    with pytest.raises(InputError, match="no segment 's'"):
        fit_curves(data, users={"other": 1.0})
    with pytest.raises(InputError, match="positive number"):
        fit_curves(data, users=-3.0)


@pytest.mark.parametrize("column,value,row", [("spend", -1.0, 3), ("impressions", "x", 2),
                                              ("conversions", np.nan, 1)])
def test_errors_name_the_one_based_data_row(column, value, row):
    data = _per_ad(_exact(0.0, 10.0, 2e4, np.array([1e3, 2e3, 4e3, 8e3, 1.6e4])))
    data[column] = data[column].astype(object)
    data.loc[row - 1, column] = value
    with pytest.raises(InputError, match=rf"column '{column}', row {row}:"):
        fit_curves(data)


def test_missing_columns_and_ids_are_refused():
    data = _per_ad(_exact(0.0, 10.0, 2e4, np.array([1e3, 2e3, 4e3, 8e3, 1.6e4])))
    with pytest.raises(InputError, match="'impressions'.*required column is missing"):
        fit_curves(data.drop(columns="impressions"))
    with pytest.raises(InputError, match="at least one outcome column"):
        fit_curves(data.drop(columns=["clicks", "conversions"]))
    data.loc[4, "segment"] = None
    with pytest.raises(InputError, match="column 'segment', row 5: missing id"):
        fit_curves(data)


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("periods", [None, 6])
def test_fed_the_historical_allocation_the_curves_reproduce_it(form, periods):
    export, _ = generate_aggregates(campaigns=2, interests=2, form=form, periods=periods,
                                    seed=4)
    curves, _ = fit_curves(export)
    check = historical_check(curves)
    for metric in ("clicks", "conversions", "revenue"):
        assert check[metric]["ratio"] == pytest.approx(1.0, abs=0.10), (metric, check["text"])
    assert "where it produced" in check["text"]


def test_forecast_is_exact_on_noise_free_truth_at_the_historical_mix():
    export, truth = generate_aggregates(campaigns=1, interests=2, noise=False, zero_share=0.0,
                                        seed=5)
    curves, _ = fit_curves(export, min_points=3)
    cells = cell_table(curves)
    own = cells["fit_level"] == "cell"
    hist = cells["historical_impressions"].to_numpy()
    fc = forecast_at(cells[own], hist[own.to_numpy()])
    produced = float(cells.loc[own, "historical_clicks"].sum())
    assert fc["clicks"] + float(cells.loc[own, "base_clicks"].sum()) == pytest.approx(
        produced, rel=1e-3)
    assert truth.form == "exp"
