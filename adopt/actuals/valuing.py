"""The plan's forecast of what was delivered: per impression, cell, day and place k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adopt.actuals.card import CELL, MAX_DAYS, METRICS, USER_ROW, VOLUME
from adopt.actuals.window import plan_inputs
from adopt.delivery import exposure_outcomes
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize.curves import CurveGrid, build_grid, curves_digest, read_table
from adopt.planner_args import select_campaigns


def plan_curves(doc: dict, alloc: pd.DataFrame, exposure: pd.DataFrame) -> CurveGrid | None:
    """The curves the plan was made from, as a grid: the file plan.json names, if its rows
    (restricted to the plan's campaigns) still hash to ``inputs.curves_hash``; for a plan
    without the hash, if it still values the plan's exposure profile as the plan did (cell
    by cell, to 1e-9). Else None."""
    inputs = plan_inputs(doc)
    path = inputs.get("curves")
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    try:
        table = read_table(path, "curves")
        if inputs.get("campaigns") is not None:
            table = select_campaigns("check_actuals", table, inputs["campaigns"])[0]
        if isinstance(inputs.get("curves_hash"), str):
            return build_grid(table) if curves_digest(table) == inputs["curves_hash"] else None
        valued = exposure_outcomes(table, exposure)
        grid = build_grid(table)
    except (InputError, ParameterError, WorkspaceError, OSError, ValueError):
        return None
    ours = valued.groupby(CELL)[list(METRICS)].sum()
    theirs = alloc.groupby(CELL)[list(METRICS)].sum().reindex(ours.index)
    same = np.isclose(ours.to_numpy(float), theirs.to_numpy(float), rtol=1e-9, atol=1e-12)
    return grid if same.all() else None


def delivered_forecast(grid: CurveGrid | None, alloc: pd.DataFrame, rows: pd.DataFrame,
                       positions: pd.DataFrame, daily: pd.DataFrame, bought: pd.MultiIndex
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """The forecast of what was delivered: per user row (aligned with `rows`) and per day
    (clicks, conversions, revenue), the table by place k, and the users beyond a curve's
    depth. Each impression at its place on the plan's `grid` (`at_position`); without it,
    at the plan's frequency (`at_plan_frequency`, spread evenly over the days, no table by
    k)."""
    if grid is None:
        row_forecast = at_plan_frequency(alloc, rows)
        return row_forecast, spread_by_day(daily, rows, row_forecast), pd.DataFrame(), 0
    valued, deep = at_position(grid, positions, rows, bought)
    forecasts = [f"at_delivered_{m}" for m in METRICS]
    row_forecast = valued.groupby(USER_ROW)[forecasts].sum().reindex(
        pd.MultiIndex.from_frame(rows[USER_ROW]), fill_value=0.0)
    row_forecast = row_forecast.set_axis(rows.index).set_axis(list(METRICS), axis=1)
    day_forecast = valued.groupby("day")[forecasts].sum().set_axis(list(METRICS), axis=1)
    return row_forecast, day_forecast, by_position(valued, grid.K), deep


def at_position(grid: CurveGrid, positions: pd.DataFrame, rows: pd.DataFrame,
                bought: pd.MultiIndex) -> tuple[pd.DataFrame, int]:
    """Each impression's forecast at its place k in its user's sequence of the campaign
    over all placements (time order): the cell's curve at k, the cell the user's segment at
    that placement gives (`rows`); past the curve's depth, its last position. Impressions
    outside the plan's cells are valued at 0. Returns `positions` with the forecasts added
    (``at_delivered_*``) and the users beyond a curve's depth.

    The plan values a user's N impressions at the mean of the curve over k = 1..N, what a
    random order gives on average; the order the ad server chose is known here."""
    out = positions.merge(rows[[*USER_ROW, "segment"]], on=USER_ROW, how="left",
                          validate="many_to_one")
    key = pd.MultiIndex.from_frame(out[CELL])
    cell = pd.MultiIndex.from_frame(grid.cells[CELL]).get_indexer(key)
    cell[~key.isin(bought)] = -1
    valued = cell >= 0
    at = np.where(valued, cell, 0)
    k = out["k"].to_numpy()
    position = np.minimum(k, grid.depth[at]) - 1
    imps = out["impressions"].to_numpy(float)
    for m in METRICS:
        out[f"at_delivered_{m}"] = np.where(valued, imps * grid.metric(m)[at, position], 0.0)
    deep = out.loc[valued & (k > grid.depth[at]), ["campaign_id", "user_id"]]
    return out, len(deep.drop_duplicates())


def at_plan_frequency(alloc: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's forecast at the plan's frequency: its cell's forecast per planned
    impression times the row's impressions (0 outside the plan's cells)."""
    planned = alloc.groupby(CELL)[["impressions", *METRICS]].sum()
    imps = planned["impressions"].to_numpy(float)
    per_imp = np.divide(planned[list(METRICS)].to_numpy(float), imps[:, None],
                        out=np.zeros((len(planned), len(METRICS))), where=imps[:, None] > 0)
    at = planned.index.get_indexer(pd.MultiIndex.from_frame(rows[CELL]))
    values = np.where(at[:, None] >= 0, per_imp[at], 0.0) \
        * rows["impressions"].to_numpy(float)[:, None]
    return pd.DataFrame(values, columns=list(METRICS), index=rows.index)


def cell_table(alloc: pd.DataFrame, rows: pd.DataFrame, row_forecast: pd.DataFrame) -> pd.DataFrame:
    """Planned and delivered per cell, with the forecast at what was delivered (the rows'
    forecasts summed) and at the plan's frequency (``at_volume_*``: each cell's forecast per
    impression times its delivered impressions)."""
    planned = alloc.groupby(CELL, as_index=False)[["impressions", "spend", *METRICS]].sum()
    planned = planned.rename(columns={"impressions": "planned_impressions",
                                      "spend": "planned_spend"}
                             | {m: f"forecast_{m}" for m in METRICS})
    frame = rows.join(row_forecast.add_prefix("at_delivered_"))
    sums = [*VOLUME, *METRICS, *(f"at_delivered_{m}" for m in METRICS)]
    got = frame.groupby(CELL, as_index=False)[sums].sum()
    out = planned.merge(got, on=CELL, how="outer").fillna(0.0)
    planned_imps = out["planned_impressions"].to_numpy(float)
    per_imp = np.divide(1.0, planned_imps, out=np.zeros(len(out)), where=planned_imps > 0)
    for m in METRICS:
        out[f"at_volume_{m}"] = out[f"forecast_{m}"] * per_imp * out["impressions"]
    out["on_plan"] = out["planned_impressions"] > 0
    return out.sort_values(CELL).reset_index(drop=True)


SUMS = ["planned_impressions", "planned_spend", "impressions", "spend",
        *(f"{p}_{m}" for m in METRICS for p in ("forecast", "at_volume", "at_delivered")),
        *METRICS]


def by_position(valued: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Per place k in the users' sequences (1..depth; the row at the curves' depth, marked
    ``and_after``, also every later one): the impressions, their forecast on the plan's
    curves, and the clicks, conversions and revenue that name them."""
    k = np.minimum(valued["k"].to_numpy(), depth)
    sums = ["impressions", *(f"at_delivered_{m}" for m in METRICS), *METRICS]
    out = valued[sums].groupby(k).sum().rename_axis("k").reset_index().astype({"k": int})
    out.insert(1, "and_after", out["k"] == depth)
    return out


def spread_by_day(daily: pd.DataFrame, rows: pd.DataFrame,
                  row_forecast: pd.DataFrame) -> pd.DataFrame:
    """Per day, the rows' forecasts shared out evenly over their impressions."""
    imps = rows["impressions"].to_numpy(float)
    per_imp = row_forecast.to_numpy(float) / np.where(imps > 0, imps, np.inf)[:, None]
    looked = rows[USER_ROW].join(pd.DataFrame(per_imp, columns=list(METRICS), index=rows.index))
    logged = daily[[*USER_ROW, "day", "impressions"]].merge(
        looked, on=USER_ROW, how="left", validate="many_to_one")
    logged[list(METRICS)] = logged[list(METRICS)].fillna(0.0).mul(logged["impressions"], axis=0)
    return logged.groupby("day")[list(METRICS)].sum()


def day_table(daily: pd.DataFrame, day_forecast: pd.DataFrame, first: pd.Timestamp,
              last: pd.Timestamp, delivery: dict[str, float],
              period: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """Per day of the card's window (whole days from its start, the last one cut at its end;
    none past `MAX_DAYS`): the plan at even pacing (its impressions and spend in proportion
    to the day's overlap with the plan's `period`), what was delivered, and the forecast of
    that day's impressions."""
    one = pd.Timedelta(days=1)
    n = max(int(np.ceil((last - first) / one)), 1)
    if n > MAX_DAYS:
        return pd.DataFrame()
    got = daily.groupby("day")[[*VOLUME, *METRICS]].sum().join(
        day_forecast.add_prefix("at_delivered_"), how="outer").fillna(0.0)
    starts = pd.date_range(first, periods=n, freq="D")
    p0, p1 = period
    share = np.array([max(min(d + one, last, p1) - max(d, p0), pd.Timedelta(0)) / (p1 - p0)
                      for d in starts])
    out = pd.DataFrame({"day": starts,
                        "planned_impressions": share * delivery["planned_impressions"],
                        "planned_spend": share * delivery["planned_spend"]})
    return out.join(got.reindex(range(len(out)), fill_value=0.0).reset_index(drop=True))


def count_noise(cells: pd.DataFrame, metric: str) -> float:
    """The log-variance the logged counts add to a forecast of `metric` at the delivered
    volume: Poisson, 1 / count for clicks and conversions; for revenue, conversions at each
    cell's order value (compound Poisson), sum of revenue^2 / conversions over the cells,
    over the total squared (0 where nothing is expected)."""
    if metric != "revenue":
        count = float(cells[f"at_delivered_{metric}"].sum())
        return 1.0 / count if count > 0 else 0.0
    rev = cells["at_delivered_revenue"].to_numpy(float)
    conv = cells["at_delivered_conversions"].to_numpy(float)
    total = rev.sum()
    if total <= 0:
        return 0.0
    per = np.divide(rev ** 2, conv, out=np.zeros(len(rev)), where=conv > 0)
    return float(per.sum() / total ** 2)
