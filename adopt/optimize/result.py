"""The plan result: allocation table, totals, duals, binding rows, certificate.

Data flow: solver output (x, y) + `PlanLP` -> `PlanResult`, which `io.write_plan`
saves as allocation.parquet/.csv, audiences.parquet and plan.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adopt.optimize.certificate import Certificate
from adopt.optimize.curves import METRICS, CurveGrid
from adopt.optimize.lp import PlanLP

TOTALS = ("spend", "impressions", "reach", "clicks", "conversions", "revenue")


@dataclass
class PlanResult:
    """An optimal plan and its proof.

    Attributes
    ----------
    status : str
        "optimal" (certified), or "integer" for an integer-cap plan.
    objective : dict
        name (the metric or "spend"), sense ("max" / "min") and value.
    allocation : DataFrame
        One row per cell that gets impressions: campaign_id, segment,
        placement_id, ad_id (creative, when given), users, impressions, reach,
        frequency_cap, spend, clicks, conversions, revenue, marginal_roi.
    totals : dict
        Sums of spend, impressions, reach (reach model: see `adopt.optimize.lp`),
        clicks, conversions, revenue.
    certificate : Certificate
    duals : DataFrame
        One row per constraint: name, kind, sense, rhs, lhs, slack, shadow_price
        (objective gained per unit of rhs), binding.
    method : str
        "structured" or "highs"; notes say why a fallback happened.
    x : ndarray (n_cells, K)
        The LP solution.
    """

    status: str
    objective: dict
    allocation: pd.DataFrame
    totals: dict
    certificate: Certificate
    duals: pd.DataFrame
    method: str
    solve_seconds: float
    x: np.ndarray
    notes: list[str] = field(default_factory=list)
    integer_gap: float | None = None

    @property
    def binding(self) -> list[str]:
        """Names of the constraints that hold with equality and have a nonzero price."""
        return self.duals.loc[self.duals["binding"], "name"].tolist()

    def shadow_price(self, name: str) -> float:
        """Objective gained per unit more of constraint `name` (e.g. "budget")."""
        row = self.duals.loc[self.duals["name"] == name, "shadow_price"]
        return float(row.iloc[0]) if len(row) else 0.0


def totals_of(lp: PlanLP, x: np.ndarray) -> dict:
    """Plan totals; reach counts each campaign x segment at most its segment_users."""
    out = {name: float((lp.value(name) * x).sum()) for name in TOTALS if name != "reach"}
    out["reach"] = float(_segment_reach(lp, x).sum())
    return out


def _segment_reach(lp: PlanLP, x: np.ndarray) -> np.ndarray:
    cells = lp.grid.cells
    seg = cells.groupby(["campaign_id", "segment"], sort=False).ngroup().to_numpy()
    raw = np.bincount(seg, weights=lp.grid.users * x[:, 0])
    cap = cells.groupby(seg)["segment_users"].max().to_numpy()
    return np.minimum(raw, cap)


def cell_outcomes(grid: CurveGrid, x: np.ndarray, tol: float) -> pd.DataFrame:
    """Every cell with the impressions, reach, frequency cap, spend and outcomes of shares `x`.

    `x` holds the share of each cell's users receiving each position; positions
    with a share at or below `tol` do not count towards the frequency cap.
    """
    users = grid.users
    out = grid.cells.drop(columns=["segment_users"]).copy()
    out["impressions"] = users * x.sum(axis=1)
    out["reach"] = users * x[:, 0]
    used = x > tol
    out["frequency_cap"] = np.where(used.any(axis=1), grid.K - np.argmax(used[:, ::-1], axis=1),
                                    0)
    out["avg_frequency"] = np.divide(out["impressions"], out["reach"],
                                     out=np.zeros(len(out)), where=out["reach"].to_numpy() > 0)
    out["spend"] = (users[:, None] * grid.cpi * x).sum(axis=1)
    for name in METRICS:
        out[name] = (users[:, None] * grid.metric(name) * x).sum(axis=1)
    return out


def allocation_table(lp: PlanLP, x: np.ndarray, tol: float = 1e-9) -> pd.DataFrame:
    """One row per cell with impressions (see `PlanResult.allocation`)."""
    g = lp.grid
    users = g.users
    out = cell_outcomes(g, x, tol)
    # value per unit spend of the last position bought (the next one when none is)
    metric = lp.spec.objective.metric
    k = np.clip(out["frequency_cap"].to_numpy() - 1, 0, g.K - 1)
    rows = np.arange(len(out))
    val, cost = lp.value(metric)[rows, k], lp.cost[rows, k]
    out["marginal_roi"] = np.divide(val, cost, out=np.zeros(len(out)), where=cost > 0)
    return out.loc[out["impressions"] > tol * np.maximum(users, 1)].reset_index(drop=True)


def duals_table(lp: PlanLP, x: np.ndarray, y: np.ndarray, tol: float = 1e-7) -> pd.DataFrame:
    """Constraints in their own sense with lhs, slack and shadow price."""
    lhs = lp.A @ x.ravel() if len(lp.b) else np.zeros(0)
    sense = np.where(lp.eq, "==", np.where(lp.sign < 0, ">=", "<="))
    slack = np.where(lp.eq, 0.0, lp.b - lhs)
    # y prices the stored (<=) row; a >= row was negated, so its price flips sign
    price = y * lp.sign
    if lp.minimise_spend:
        price = -price  # report spend saved as a positive cost per unit
    tight = abs(slack) <= tol * np.maximum(1.0, abs(lp.b))
    return pd.DataFrame({
        "name": lp.labels,
        "kind": lp.kinds,
        "sense": sense,
        "rhs": lp.b * lp.sign,
        "lhs": lhs * lp.sign,
        "slack": slack,
        "shadow_price": price,
        "binding": tight & (abs(y) > tol * max(1.0, float(np.max(abs(y), initial=0)))),
    })


def audiences_table(lp: PlanLP, x: np.ndarray) -> pd.DataFrame:
    """One row per campaign x segment: users, reach, impressions, spend and outcomes."""
    cells = lp.grid.cells
    key = ["campaign_id", "segment"]
    frame = cells[key].copy()
    frame["impressions"] = lp.grid.users * x.sum(axis=1)
    frame["spend"] = (lp.cost * x).sum(axis=1)
    for name in ("clicks", "conversions", "revenue"):
        frame[name] = (lp.value(name) * x).sum(axis=1)
    out = frame.groupby(key, sort=False).sum().reset_index()
    out.insert(2, "segment_users", cells.groupby(key, sort=False)["segment_users"].max().values)
    out.insert(3, "reach", _segment_reach(lp, x))
    return out
