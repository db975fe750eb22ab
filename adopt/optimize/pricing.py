"""Each group's best exposure under row prices: the Lagrangian subproblem.

Data flow: `PlanLP` + multipliers y of its coupling rows -> `Pricer.best` ->
per campaign x segment group the best number of impressions N per user, the
best split of those N over the group's placements and its reduced value per
user. `adopt.optimize.certificate` turns that into the dual bound g(y);
`adopt.optimize.lagrangian` into new columns of its master LP.

Priced by y, a group's local polytope (see `adopt.optimize.lp`) splits by
user: a user with N impressions adds ``r_u[g, N] + sum_j r_m[j, N] z_j`` with
``sum_j z_j = N`` and ``0 <= z_j <= cap[j, N]``; the best split fills the
cells in decreasing order of r_m (a fractional knapsack with unit weights),
and the group puts all its users on the best N, or none when every N loses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adopt.optimize.lp import PlanLP


@dataclass
class Patterns:
    """One exposure pattern per group: what a user of the group receives.

    Attributes
    ----------
    n : ndarray of int (G,)
        Impressions per user N (1..K), -1 where no N is feasible.
    z : ndarray (G, P)
        Impressions per user at each of the group's cells (`Pricer.cells` order).
    value : ndarray (G,)
        Reduced value per user (-inf where no N is feasible).
    """

    n: np.ndarray
    z: np.ndarray
    value: np.ndarray


class Pricer:
    """The group structure of a `PlanLP` in padded arrays, priced many times.

    Attributes
    ----------
    cells : ndarray of int (G, P)
        Cell numbers of each group, padded with -1 (P: most cells in a group).
    """

    def __init__(self, lp: PlanLP) -> None:
        self.lp = lp
        G, K = lp.n_groups, lp.K  # noqa: N806
        order = np.argsort(lp.cell_group, kind="stable")
        sizes = np.bincount(lp.cell_group, minlength=G)
        P = int(sizes.max()) if G else 0  # noqa: N806
        slot = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        self.cells = np.full((G, P), -1)
        self.cells[lp.cell_group[order], slot] = order
        self.valid = self.cells >= 0
        safe = np.where(self.valid, self.cells, 0)
        cap = lp.cap[safe]  # G x P x K
        ub_m = lp.ub[: lp.n_m].reshape(lp.n_cells, K)[safe]
        self.cap = np.where(self.valid[:, :, None] & (ub_m > 0), cap, 0.0)
        self.ub_u = lp.ub[lp.n_m:].reshape(G, K)
        self.ks = np.arange(1, K + 1, dtype=float)

    def reduced(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reduced values c - A'y of the m block (G x P x K) and the u block (G x K)."""
        lp = self.lp
        r = lp.c - lp.A.T @ y if len(y) else lp.c.copy()
        r_m = r[: lp.n_m].reshape(lp.n_cells, lp.K)[np.where(self.valid, self.cells, 0)]
        return r_m, r[lp.n_m:].reshape(lp.n_groups, lp.K)

    def best(self, y: np.ndarray) -> Patterns:
        """Each group's best pattern under prices y (see the module docstring)."""
        r_m, r_u = self.reduced(y)
        G, P, K = r_m.shape  # noqa: N806
        usable = self.cap > 0
        key = np.where(usable, r_m, -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")  # per N, best cell first
        cap_s = np.take_along_axis(self.cap, order, axis=1)
        r_s = np.take_along_axis(np.where(usable, r_m, 0.0), order, axis=1)
        before = np.cumsum(cap_s, axis=1) - cap_s
        z_s = np.clip(self.ks[None, None, :] - before, 0.0, cap_s)
        value = (z_s * r_s).sum(axis=1) + r_u  # G x K
        feasible = (cap_s.sum(axis=1) >= self.ks[None, :] * (1 - 1e-12)) & (self.ub_u > 0)
        value = np.where(feasible, value, -np.inf)
        n_best = np.argmax(value, axis=1)
        g = np.arange(G)
        w = value[g, n_best]
        z = np.zeros((G, P))
        np.put_along_axis(z, order[g, :, n_best], z_s[g, :, n_best], axis=1)
        n_out = np.where(np.isfinite(w), n_best + 1, -1)
        return Patterns(n=n_out, z=z, value=w)

    def dual_value(self, y: np.ndarray) -> tuple[float, Patterns]:
        """g(y) = y.b + sum_g group_users * max(0, best value): a bound on the optimum."""
        best = self.best(y)
        gain = np.where(np.isfinite(best.value), np.maximum(best.value, 0.0), 0.0)
        return float(y @ self.lp.b + self.lp.group_users @ gain), best

    def columns(self, groups: np.ndarray, patterns: Patterns) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
        """Sparse (row = variable, col, value) triples of the patterns of `groups`.

        Column i puts z at the m variables of group groups[i] at N and 1 at u[g, N].
        """
        lp = self.lp
        K = lp.K  # noqa: N806
        n = patterns.n[groups] - 1
        z = patterns.z[groups]
        cells = self.cells[groups]
        i, p = np.nonzero((z > 0) & (cells >= 0))
        var_m = cells[i, p] * K + n[i]
        col = np.r_[i, np.arange(len(groups))]
        var = np.r_[var_m, lp.n_m + groups * K + n]
        val = np.r_[z[i, p], np.ones(len(groups))]
        return var, col, val
