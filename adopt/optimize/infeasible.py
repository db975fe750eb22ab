"""Explaining infeasible plans, before and after solving.

Data flow: `PlanLP` -> `InfeasibleError` whose message names the constraints
that conflict and by how much. `precheck` catches the common conflicts by
arithmetic (minimum spends above the budget, reach above the audience, pins
above inventory); `explain` solves the *elastic* LP, where each row may be
violated at a price, and reports the least relaxation that makes the plan
feasible. A bare solver status never reaches the user.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from adopt.exceptions import InfeasibleError
from adopt.optimize.highs import linprog_args
from adopt.optimize.lp import PlanLP


def _fmt(v: float) -> str:
    return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"


def precheck(lp: PlanLP) -> None:
    """Raise `InfeasibleError` for conflicts visible without solving.

    Checks: each row alone (its most favourable use of every cell cannot meet
    it), and minimum spends of campaigns, segments or placements that add up
    to more than the budget.
    """
    problems: list[str] = []
    a = lp.A.tocsr()
    ub = lp.ub
    for i in range(a.shape[0]):
        lo, hi = a.indptr[i], a.indptr[i + 1]
        vals = a.data[lo:hi] * ub[a.indices[lo:hi]]
        best = float(np.minimum(vals, 0).sum())  # least the row's lhs can be
        most = float(np.maximum(vals, 0).sum())
        name, s = lp.labels[i], lp.sign[i]
        if best > lp.b[i] + 1e-9 * max(1.0, abs(lp.b[i])):
            if s < 0:
                problems.append(f"{name} needs at least {_fmt(-lp.b[i])} but the curves allow "
                                f"at most {_fmt(-best)}")
            else:
                problems.append(f"{name} allows at most {_fmt(lp.b[i])} but its cells need "
                                f"at least {_fmt(best)}")
        if lp.eq[i] and most < lp.b[i] - 1e-9 * max(1.0, abs(lp.b[i])):
            problems.append(f"{name} asks for {_fmt(lp.b[i])} but the cell holds at most "
                            f"{_fmt(most)}")
    if lp.spec.budget is not None:
        for kind in ("min_spend", "campaign_min_spend"):
            mins = [(lp.labels[i], -lp.b[i]) for i in range(len(lp.b)) if lp.kinds[i] == kind]
            total = sum(v for _, v in mins)
            if len(mins) > 1 and total > lp.spec.budget * (1 + 1e-9):
                names = ", ".join(n for n, _ in mins)
                problems.append(f"minimum spends add up to {_fmt(total)} but the budget is "
                                f"{_fmt(lp.spec.budget)} ({names})")
    problems += _unmet_targets(lp, a)
    if problems:
        raise InfeasibleError("The plan is infeasible: " + "; ".join(problems) + ".")


def _unmet_targets(lp: PlanLP, a) -> list[str]:
    """Target CPA / ROAS rows that only spending nothing meets.

    Such a row holds at x = 0, so the solver would return an "optimal" plan
    that spends nothing on the target's campaigns; that is a conflict between
    the target and the budget, and is said as one.
    """
    problems = []
    spend, conv, rev = lp.value("spend"), lp.value("conversions"), lp.value("revenue")
    for i in np.flatnonzero(np.isin(lp.kinds, ("target_cpa", "target_roas"))):
        cols = a.indices[a.indptr[i]: a.indptr[i + 1]]
        vals = a.data[a.indptr[i]: a.indptr[i + 1]]
        open_ = (lp.ub[cols] > 0) & (spend[cols] > 0)
        if not open_.any() or (vals[open_] < -1e-12).any():
            continue  # nothing to spend on, or some cell meets the target
        cols = cols[open_]
        target = next(c.value for c in lp.spec.constraints if getattr(c, "type", None)
                      == lp.kinds[i] and f"{c.type}[{c.campaign_id or 'all'}]" == lp.labels[i])
        if lp.kinds[i] == "target_cpa":
            best = np.divide(spend[cols], conv[cols], out=np.full(cols.size, np.inf),
                             where=conv[cols] > 0).min()
            what = f"the best CPA any cell reaches is {_fmt(best)}" if np.isfinite(best) \
                else "no cell has conversions"
        else:
            best = float((rev[cols] / spend[cols]).max())
            what = f"the best ROAS any cell reaches is {_fmt(best)}"
        problems.append(f"{lp.labels[i]} {_fmt(target)} cannot be met: {what}, so the plan "
                        "could only spend nothing")
    return problems


def explain(lp: PlanLP) -> InfeasibleError:
    """The least relaxation of the constraints that makes the plan feasible.

    Solves min sum(w_i s_i) subject to A x <= b + s (and equality rows with a
    slack each way), where w_i = 1 / max(1, |b_i|) so relaxations are compared
    in relative terms.

    Returns
    -------
    InfeasibleError
        Naming each constraint that must give, with the amount.
    """
    args = linprog_args(lp)
    n_x = args["c"].size
    ineq = np.flatnonzero(~lp.eq)
    eq = np.flatnonzero(lp.eq)
    m_ub, m_eq = args["A_ub"].shape[0], args["A_eq"].shape[0]
    # slack columns: one per inequality coupling row, two per equality row (local rows hold)
    s_ub = sp.csr_matrix((-np.ones(ineq.size), (np.arange(ineq.size), np.arange(ineq.size))),
                         shape=(m_ub, ineq.size + 2 * eq.size))
    a_ub = sp.hstack([args["A_ub"], s_ub], format="csr")
    w = 1.0 / np.maximum(1.0, abs(lp.b))
    cost = np.r_[np.zeros(n_x), w[ineq], w[eq], w[eq]]
    r = np.arange(eq.size)
    s_eq = sp.csr_matrix((np.r_[-np.ones(eq.size), np.ones(eq.size)],
                          (np.r_[r, r], np.r_[ineq.size + r, ineq.size + eq.size + r])),
                         shape=(m_eq, ineq.size + 2 * eq.size))
    kw = {"A_eq": sp.hstack([args["A_eq"], s_eq], format="csr"), "b_eq": args["b_eq"]}
    bounds = np.r_[args["bounds"], np.c_[np.zeros(cost.size - n_x), np.full(cost.size - n_x,
                                                                            np.inf)]]
    res = linprog(cost, A_ub=a_ub, b_ub=args["b_ub"], bounds=bounds, method="highs", **kw)
    if res.status != 0:
        return InfeasibleError(f"The plan is infeasible and its relaxation failed too: "
                               f"{res.message}")
    s = res.x[n_x:]
    amount = np.zeros(len(lp.b))
    amount[ineq] = s[: ineq.size]
    amount[eq] = s[ineq.size: ineq.size + eq.size] + s[ineq.size + eq.size:]
    parts = []
    for i in np.flatnonzero(amount > 1e-7 * np.maximum(1.0, abs(lp.b))):
        verb = "lowered" if lp.sign[i] < 0 else "raised"
        if lp.eq[i]:
            verb = "moved"
        parts.append(f"{lp.labels[i]} ({_fmt(lp.b[i] * lp.sign[i])}) must be {verb} by "
                     f"{_fmt(amount[i])}")
    conflict = "; ".join(parts) or "no single constraint (numerical trouble)"
    # rows whose price in the elastic LP is nonzero are the ones in the conflict
    price = np.zeros(len(lp.b))
    price[ineq] = res.ineqlin.marginals[: ineq.size]
    price[eq] = res.eqlin.marginals[: eq.size]
    names = [lp.labels[i] for i in np.flatnonzero(abs(price) > 1e-9)]
    return InfeasibleError(f"The plan is infeasible: the constraints {', '.join(names)} "
                           f"conflict. The least change that makes it feasible: {conflict}.")
