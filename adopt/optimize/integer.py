"""Integer frequency caps: every reached user of a cell receives exactly its cap.

Data flow: `PlanLP` + the LP `PlanResult` -> an integer-cap `PlanResult`
(`scipy.optimize.milp`). In the LP, a cell's users may receive different
numbers of impressions (x[k] falls with k). With integer caps each cell picks
a cap f (binary z[k] = 1 for k < f, non-increasing) and a reached share r:
x[k] = r for k < f and 0 beyond, linearised as x[k] <= z[k] and
x[k] >= x[0] - (1 - z[k]). The LP optimum bounds the integer one; the gap is
reported in `PlanResult.integer_gap`.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from adopt.exceptions import InfeasibleError
from adopt.optimize.lp import PlanLP, chain_matrix
from adopt.optimize.result import PlanResult


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
    from adopt.optimize.solve import package

    n, K = lp.shape  # noqa: N806
    N = n * K  # noqa: N806
    eye = sp.eye(N, format="csr")
    chain = chain_matrix(n, K)
    zero_c = sp.csr_matrix(chain.shape)
    # x[j, k] >= x[j, 0] - (1 - z[j, k])  <=>  x[j, 0] - x[j, k] + z[j, k] <= 1  (k >= 1)
    j, k = np.meshgrid(np.arange(n), np.arange(1, K), indexing="ij")
    here, first = (j * K + k).ravel(), (j * K).ravel()
    r = np.arange(here.size)
    link = sp.csr_matrix((np.r_[np.ones(r.size), -np.ones(r.size)], (np.r_[r, r],
                          np.r_[first, here])), shape=(r.size, N))
    link_z = sp.csr_matrix((np.ones(r.size), (r, here)), shape=(r.size, N))
    ineq = ~lp.eq
    blocks = [
        LinearConstraint(sp.hstack([lp.A[ineq], sp.csr_matrix((int(ineq.sum()), N))]),
                         -np.inf, lp.b[ineq]),
        LinearConstraint(sp.hstack([chain, zero_c]), -np.inf, 0),
        LinearConstraint(sp.hstack([zero_c, chain]), -np.inf, 0),
        LinearConstraint(sp.hstack([eye, -eye]), -np.inf, 0),
        LinearConstraint(sp.hstack([link, link_z]), -np.inf, 1),
    ]
    if lp.eq.any():
        a_eq = sp.hstack([lp.A[lp.eq], sp.csr_matrix((int(lp.eq.sum()), N))])
        blocks.append(LinearConstraint(a_eq, lp.b[lp.eq], lp.b[lp.eq]))
    ub = lp.ub.ravel()
    start = time.perf_counter()
    res = milp(
        np.r_[-lp.c.ravel(), np.zeros(N)],
        constraints=blocks,
        integrality=np.r_[np.zeros(N), np.ones(N)],
        bounds=Bounds(np.zeros(2 * N), np.r_[ub, ub]),
        options={"time_limit": time_limit, "mip_rel_gap": rel_gap},
    )
    if res.x is None:
        raise InfeasibleError(
            f"No integer-cap plan found in {time_limit:g} s ({res.message}); the LP plan "
            f"(fractional caps) is feasible with objective {relaxed.objective['value']:,.6g}."
        )
    x = np.clip(res.x[:N].reshape(n, K), 0, lp.ub)
    # the LP duals still bound the optimum: the certificate gap is the integer gap
    y = relaxed.duals["shadow_price"].to_numpy() * lp.sign * (-1 if lp.minimise_spend else 1)
    out = package(lp, x, y, "milp", time.perf_counter() - start,
                  [*relaxed.notes, f"milp: {res.message}"])
    bound = relaxed.certificate.primal
    out.status = "integer"
    out.integer_gap = abs(bound - out.certificate.primal) / max(1.0, abs(bound))
    return out
