"""Integer frequency caps: every reached user of a campaign x segment receives exactly its cap.

Data flow: `PlanLP` + the LP `PlanResult` -> an integer-cap `PlanResult`
(`scipy.optimize.milp`). In the LP a group's users may be spread over several
numbers of impressions N. With integer caps each campaign x segment picks one
N (binary b[g, N], at most one per group) and every user it reaches gets
exactly N impressions of the campaign: u[g, N] <= group_users * b[g, N].
The split over placements stays an average per user, which delivery rounds
per user (`adopt.delivery`). The LP optimum bounds the integer one; the gap is
reported in `PlanResult.integer_gap`.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from adopt.exceptions import InfeasibleError
from adopt.optimize.highs import linprog_args
from adopt.optimize.lp import PlanLP
from adopt.optimize.result import PlanResult, package


def integer_plan(
    lp: PlanLP, relaxed: PlanResult, time_limit: float = 60.0, rel_gap: float = 1e-4
) -> PlanResult:
    """Solve the integer-cap plan and report its gap to the LP bound.

    Parameters
    ----------
    lp : PlanLP
    relaxed : PlanResult
        The LP optimum (its value is the bound).
    time_limit : float
        Seconds the MILP solver may run.
    rel_gap : float
        Relative MIP gap at which the solver stops.

    Returns
    -------
    PlanResult
        status "integer"; `integer_gap` = (LP bound - integer value) / |LP bound|.
    """
    args = linprog_args(lp)
    n, G, K = lp.n_vars, lp.n_groups, lp.K  # noqa: N806
    nb = G * K
    # u[g, N] - users_g b[g, N] <= 0, and sum_N b[g, N] <= 1
    r = np.arange(nb)
    users = np.repeat(lp.group_users, K)
    link = sp.csr_matrix((np.r_[np.ones(nb), -users], (np.r_[r, r], np.r_[lp.n_m + r, n + r])),
                         shape=(nb, n + nb))
    one = sp.csr_matrix((np.ones(nb), (np.repeat(np.arange(G), K), n + r)), shape=(G, n + nb))

    def widen(a: sp.csr_matrix) -> sp.csr_matrix:
        return sp.hstack([a, sp.csr_matrix((a.shape[0], nb))], format="csr")

    blocks = [
        LinearConstraint(widen(args["A_ub"]), -np.inf, args["b_ub"]),
        LinearConstraint(widen(args["A_eq"]), args["b_eq"], args["b_eq"]),
        LinearConstraint(link, -np.inf, 0),
        LinearConstraint(one, -np.inf, 1),
    ]
    start = time.perf_counter()
    res = milp(
        np.r_[args["c"], np.zeros(nb)],
        constraints=blocks,
        integrality=np.r_[np.zeros(n), np.ones(nb)],
        bounds=Bounds(np.zeros(n + nb), np.r_[lp.ub, (lp.ub[lp.n_m:] > 0).astype(float)]),
        options={"time_limit": time_limit, "mip_rel_gap": rel_gap},
    )
    if res.x is None:
        raise InfeasibleError(
            f"No integer-cap plan found in {time_limit:g} s ({res.message}); the LP plan "
            f"(fractional caps) is feasible with objective {relaxed.objective['value']:,.6g}."
        )
    x = np.clip(res.x[:n], 0, lp.ub)
    # the LP duals still bound the optimum: the certificate gap is the integer gap
    y = relaxed.duals["shadow_price"].to_numpy() * lp.sign * (-1 if lp.minimise_spend else 1)
    out = package(lp, x, y, "milp", time.perf_counter() - start,
                  [*relaxed.notes, f"milp: {res.message}"])
    bound = relaxed.certificate.primal
    out.status = "integer"
    out.integer_gap = abs(bound - out.certificate.primal) / max(1.0, abs(bound))
    return out
