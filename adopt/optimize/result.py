"""The plan result: allocation table, totals, duals, binding rows, certificate.

Data flow: solver output (x, y) + `PlanLP` -> `package` -> `PlanResult`, which
`adopt.plan.Plan` holds and saves as allocation.parquet/.csv, audiences.parquet
and plan.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adopt.optimize.certificate import Certificate, certify
from adopt.optimize.curves import METRICS
from adopt.optimize.lp import PlanLP

# The totals of a plan, in the order every table and report shows them (one definition:
# the plan, delivery, scoring and the observed baselines import it).
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
        One row per cell (campaign x segment x placement) that gets impressions:
        campaign_id, segment, placement_id, ad_id (creative, when given), users
        (reachable there), impressions, reach (users with at least one
        impression there), frequency_cap (most impressions a user gets there),
        avg_frequency, spend, clicks, conversions, revenue, marginal_roi (the
        cell's objective per unit of spend).
    exposure : DataFrame
        The exposure profile an ad server delivers: one row per campaign x
        segment x frequency N x placement: users (who get exactly N
        impressions of the campaign over all placements), impressions (theirs
        at the placement), per_user, ad_id.
    audiences : DataFrame
        One row per campaign x segment (`audiences_table`).
    totals : dict
        Sums of spend, impressions, reach (users of each campaign x segment
        with any impression), clicks, conversions, revenue.
    certificate : Certificate
    duals : DataFrame
        One row per constraint: name, kind, sense, rhs, lhs, slack, shadow_price
        (objective gained per unit of rhs), binding.
    method : str
        "structured" or "highs"; notes say why a fallback happened.
    x : ndarray (n_vars,)
        The LP solution (`adopt.optimize.lp` lays it out).
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
    exposure: pd.DataFrame = field(default_factory=pd.DataFrame)
    audiences: pd.DataFrame = field(default_factory=pd.DataFrame)
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
    """Plan totals; reach counts the users of each campaign x segment who get any impression."""
    return {name: float(lp.value(name) @ x) for name in TOTALS}


def exposure_table(lp: PlanLP, x: np.ndarray, tol: float = 1e-9) -> pd.DataFrame:
    """What an ad server needs per campaign x segment x N x placement (`PlanResult.exposure`)."""
    m, u = lp.m_part(x), lp.u_part(x)
    cells = lp.grid.cells
    j, k = np.nonzero(m > tol * np.maximum(1.0, lp.group_users[lp.cell_group])[:, None])
    out = cells.iloc[j][["campaign_id", "segment", "placement_id"]].reset_index(drop=True)
    if "ad_id" in cells.columns:
        out["ad_id"] = cells["ad_id"].to_numpy()[j]
    out["frequency"] = k + 1
    out["users"] = u[lp.cell_group[j], k]
    out["impressions"] = m[j, k]
    out["per_user"] = np.divide(out["impressions"], out["users"], out=np.zeros(len(out)),
                                where=out["users"].to_numpy() > 0)
    return out.sort_values(["campaign_id", "segment", "frequency", "placement_id"],
                           kind="stable").reset_index(drop=True)


def cell_outcomes(lp: PlanLP, x: np.ndarray) -> pd.DataFrame:
    """Every cell with its impressions, reach, frequency cap, spend and outcomes.

    Reach at a cell counts the users of the N-groups who get at least one
    impression there: min(users, impressions) per N (a user gets the floor or
    the ceiling of the group's impressions per user, `adopt.delivery`).
    """
    m, u = lp.m_part(x), lp.u_part(x)
    users_n = u[lp.cell_group]
    out = lp.grid.cells.drop(columns=["segment_users"]).copy()
    out["impressions"] = m.sum(axis=1)
    out["reach"] = np.minimum(m, users_n).sum(axis=1)
    per_user = np.ceil(np.divide(m, users_n, out=np.zeros_like(m), where=users_n > 0) - 1e-6)
    out["frequency_cap"] = per_user.max(axis=1, initial=0).astype(int)
    out["avg_frequency"] = np.divide(out["impressions"], out["reach"],
                                     out=np.zeros(len(out)), where=out["reach"].to_numpy() > 0)
    for name in ("spend", *METRICS):
        out[name] = (lp.value(name)[: lp.n_m].reshape(m.shape) * m).sum(axis=1)
    return out


def allocation_table(lp: PlanLP, x: np.ndarray, tol: float = 1e-9) -> pd.DataFrame:
    """One row per cell with impressions (see `PlanResult.allocation`)."""
    out = cell_outcomes(lp, x)
    metric = lp.spec.objective.metric
    value = out[metric] if metric != "reach" else out["reach"]
    out["marginal_roi"] = np.divide(value, out["spend"], out=np.zeros(len(out)),
                                    where=out["spend"].to_numpy() > 0)
    keep = out["impressions"] > tol * np.maximum(lp.grid.users, 1)
    return out.loc[keep].reset_index(drop=True)


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
    """One row per campaign x segment: users, reach, impressions, frequency, spend and outcomes."""
    m, u = lp.m_part(x), lp.u_part(x)
    out = lp.groups.copy()
    out["reach"] = u.sum(axis=1)
    out["impressions"] = np.bincount(lp.cell_group, weights=m.sum(axis=1), minlength=len(out))
    used = u > 1e-9 * np.maximum(1.0, lp.group_users)[:, None]
    out["frequency_cap"] = np.where(used.any(axis=1), lp.K - np.argmax(used[:, ::-1], axis=1), 0)
    for name in ("spend", "clicks", "conversions", "revenue"):
        per = (lp.value(name)[: lp.n_m].reshape(m.shape) * m).sum(axis=1)
        out[name] = np.bincount(lp.cell_group, weights=per, minlength=len(out))
    return out


def package(lp: PlanLP, x: np.ndarray, y: np.ndarray, method: str, seconds: float,
            notes: list[str]) -> PlanResult:
    """Assemble a `PlanResult` (allocation, totals, duals, certificate) from x and y."""
    cert = certify(lp, x, y)
    metric = lp.spec.objective.metric
    totals = totals_of(lp, x)
    if lp.minimise_spend:
        objective = {"name": "spend", "sense": "min", "value": totals["spend"],
                     "target": {metric: lp.spec.objective.target}}
    else:
        objective = {"name": metric, "sense": "max", "value": float(lp.c @ x)}
    return PlanResult(
        status="optimal" if cert.certified else "uncertified",
        objective=objective,
        allocation=allocation_table(lp, x),
        exposure=exposure_table(lp, x),
        audiences=audiences_table(lp, x),
        totals=totals,
        certificate=cert,
        duals=duals_table(lp, x, y),
        method=method,
        solve_seconds=seconds,
        x=x,
        notes=[*lp.notes, *notes],
    )
