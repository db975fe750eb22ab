"""How the click rate falls with the k-th impression of a campaign to a user, read from the logs.

Data flow: the warehouse table ``training_examples`` -> `fit_frequency_decay`
-> `FrequencyDecay` -> `adopt.curves.grid.predict_grid`, which turns each
user's k = 1 predictions into the whole k range with it.

Why not ask the response model at each k: in logged data the users who saw a
campaign many times are the ones the serving policy chose for it, the more
interested ones, so across users k rises with interest and the model learns a
fall with k that is too shallow (on the demo world it predicted 1.3x the true
clicks of the third impression). Within one user x campaign pair the user's
interest is fixed, so comparing a pair's impressions with each other measures
the fall alone. For the pairs with exactly one click among two or more
impressions, the chance that the click fell on impression j is
``exp(eta_j) / sum_i exp(eta_i)`` whatever the pair's own click rate (a
conditional logit), with

    eta_i = -pen(k_i) + placement effect_i,   pen(1) = 0,
    pen(k) = d_2 + ... + d_k,  d_j >= 0        (k <= observed_k)
    pen(k) = pen(observed_k) + (k - observed_k) * d_observed_k     (beyond)

No functional form: one non-negative increment of the click-logit penalty per
position, so the fall is monotone in k and can be any shape (a logit penalty
that saturates, a geometric fall of the probability, a cliff). ``observed_k``
is the last position of an unbroken run from k = 2 with at least
`MIN_SUPPORT` impressions of the pairs; later impressions still enter the
likelihood, through the increment carried past it. Where positions are thin,
a ridge on the changes of the increments, ``RIDGE * sum_j (d_j - d_{j-1})^2``
on the summed log-likelihood, pulls them toward the trend of their
neighbours; it is a fixed number of pseudo-observations, so it vanishes
against the data as pairs grow. The placement effects absorb a pair's
impressions landing on different placements. Fitted by maximum likelihood
(L-BFGS-B, increments bounded below by 0); a conversion is worth the same
whichever impression brought the click, so conversion and revenue fall with
the click rate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from adopt.workspace import Workspace, has_table

log = logging.getLogger("adopt")

# Below this many informative pairs the fit is left to the response model.
MIN_PAIRS = 200
# A position gets its own increment when the pairs hold at least this many impressions there.
MIN_SUPPORT = 100
# Weight of the ridge on the changes of the increments, in log-likelihood units.
RIDGE = 20.0
_MAX_INCREMENT = 5.0
_SHOWN_K = 10  # positions __str__ lists
_EFFECT_BOUND = 5.0

# ordered within each pair too: the sums over a pair's rows must see them in one order,
# whatever order DuckDB's threads return them in (run to run, the last bits moved)
_ONE_CLICK_PAIRS_SQL = """
with pairs as (
    select user_id, campaign_id, placement_id, k_campaign, clicked::int as clicked,
        sum(clicked::int) over (partition by user_id, campaign_id) as pair_clicks,
        count(*) over (partition by user_id, campaign_id) as pair_impressions,
    from training_examples
    where k_campaign is not null
)
select dense_rank() over (order by user_id, campaign_id) - 1 as pair,
    placement_id, k_campaign, clicked
from pairs
where pair_clicks = 1 and pair_impressions >= 2
order by pair, k_campaign, placement_id, clicked
"""


@dataclass(frozen=True)
class FrequencyDecay:
    """The click-logit penalty of the k-th impression, per position.

    Attributes
    ----------
    penalties : the penalty at k = 1, ..., observed_k (0 at k = 1, non-decreasing).
    increment_beyond : the penalty added per impression past observed_k (extrapolated:
        the last estimated increment, carried flat).
    observed_k : the last position the logs support with at least `MIN_SUPPORT` impressions.
    pairs : user x campaign pairs with one click the fit read.
    impressions : their impressions.
    """

    penalties: tuple[float, ...]
    increment_beyond: float
    observed_k: int
    pairs: int
    impressions: int

    def penalty(self, k: np.ndarray | int) -> np.ndarray:
        """The click-logit penalty at positions ``k`` (0 at k = 1; linear past observed_k)."""
        k = np.asarray(k, dtype=float)
        inside = np.interp(k, np.arange(1, self.observed_k + 1), self.penalties)
        return inside + np.maximum(k - self.observed_k, 0.0) * self.increment_beyond

    def __str__(self) -> str:
        shown = min(self.observed_k, _SHOWN_K)
        values = ", ".join(f"{p:.2f}" for p in self.penalties[:shown])
        if self.observed_k > shown:
            values += f", ... {self.penalties[-1]:.2f} at k = {self.observed_k}"
        return (f"click-logit penalty by k (1, 2, ...): {values}; "
                f"+{self.increment_beyond:.2f} per impression past k = {self.observed_k} "
                f"(extrapolated); from {self.pairs:,} one-click user x campaign pairs")


def fit_frequency_decay(workspace: str | os.PathLike[str], min_pairs: int = MIN_PAIRS
                        ) -> FrequencyDecay | None:
    """Fit the fall of the click rate with k on the warehouse's ``training_examples``.

    Returns None when the logs hold fewer than ``min_pairs`` user x campaign
    pairs with one click among two or more impressions (or no
    ``training_examples`` table): too few to tell the fall apart; and None
    (with a warning) when the optimizer fails.
    """
    with Workspace.of(workspace).connect(read_only=True) as con:
        if not has_table(con, "training_examples"):
            return None
        rows = con.execute(_ONE_CLICK_PAIRS_SQL).df()
    pair = rows["pair"].to_numpy(dtype=np.int64)
    n_pairs = int(pair.max()) + 1 if len(pair) else 0
    if n_pairs < min_pairs:
        log.info("frequency: %d one-click user x campaign pairs (< %d); the response model "
                 "gives the fall with k", n_pairs, min_pairs)
        return None
    placement = np.unique(rows["placement_id"].astype(str).to_numpy(), return_inverse=True)[1]
    k = rows["k_campaign"].to_numpy(dtype=np.int64)
    clicked = rows["clicked"].to_numpy(dtype=float) > 0
    decay = fit_within_pairs(pair, placement.reshape(-1), k, clicked)
    if decay is not None:
        log.info("frequency: %s", decay)
    return decay


def _supported_k(k: np.ndarray, min_support: int = MIN_SUPPORT) -> int:
    """The last position of the unbroken run from k = 2 with ``min_support`` impressions
    (at least 2)."""
    counts = np.bincount(np.clip(k, 1, None))
    thin = np.flatnonzero(counts[2:] < min_support)
    return max(2, int(thin[0]) + 1 if len(thin) else len(counts) - 1)


def fit_within_pairs(pair: np.ndarray, placement: np.ndarray, k: np.ndarray,
                     clicked: np.ndarray, ridge: float = RIDGE,
                     min_support: int = MIN_SUPPORT) -> FrequencyDecay | None:
    """Maximum conditional likelihood of the increments and placement effects.

    Parameters
    ----------
    pair : sorted pair index (0, 1, ...) of each impression; each pair one click.
    placement : placement code (0, 1, ...) of each impression; code 0 is the reference.
    k : position of each impression in its user x campaign sequence (1 = first).
    clicked : whether the impression was clicked.
    ridge : weight of the ridge on the changes of the increments (0: none).
    min_support : impressions a position needs for its own increment.

    Returns None (with a warning) when the optimizer fails.
    """
    n_pairs = int(pair[-1]) + 1
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    n_placements = int(placement.max()) + 1
    top_k = _supported_k(k, min_support)
    inside = np.clip(k, 1, top_k)  # the position whose cumulative penalty applies
    beyond = np.maximum(k - top_k, 0).astype(float)
    n_inc = top_k - 1  # increments d_2 .. d_top_k
    y = clicked.astype(float)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        inc = theta[:n_inc]
        effect = np.r_[0.0, theta[n_inc:]]  # the first placement is the reference
        pen = np.r_[0.0, 0.0, np.cumsum(inc)]  # indexed by k: pen[1] = 0
        eta = -(pen[inside] + beyond * inc[-1]) + effect[placement]
        top = np.maximum.reduceat(eta, starts)
        weight = np.exp(eta - top[pair])
        total = np.add.reduceat(weight, starts)
        change = np.diff(inc)
        value = (-(eta[clicked].sum() - (np.log(total) + top).sum())
                 + ridge * (change @ change)) / n_pairs
        residual = y - weight / total[pair]  # click minus its share within the pair
        # d value / d pen(k) = residual summed over k; d pen(k) / d d_j = 1 for j <= k
        at_k = np.bincount(inside, weights=residual, minlength=top_k + 1)
        grad = np.empty_like(theta)
        grad[:n_inc] = np.cumsum(at_k[::-1])[::-1][2:top_k + 1]
        grad[n_inc - 1] += residual @ beyond
        grad[:n_inc] += 2.0 * ridge * (np.r_[0.0, change] - np.r_[change, 0.0])
        grad[:n_inc] /= n_pairs
        grad[n_inc:] = -np.bincount(placement, weights=residual,
                                    minlength=n_placements)[1:] / n_pairs
        return float(value), grad

    start = np.r_[np.full(n_inc, 0.1), np.zeros(n_placements - 1)]
    bounds = ([(0.0, _MAX_INCREMENT)] * n_inc
              + [(-_EFFECT_BOUND, _EFFECT_BOUND)] * (n_placements - 1))
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        log.warning("frequency: the fit within user x campaign pairs did not settle (%s); the "
                    "response model gives the fall with k", result.message)
        return None
    inc = result.x[:n_inc]
    penalties = np.r_[0.0, np.cumsum(inc)]
    return FrequencyDecay(penalties=tuple(float(p) for p in penalties),
                          increment_beyond=float(inc[-1]), observed_k=top_k,
                          pairs=n_pairs, impressions=len(k))


def fall_factor(click: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Multiplier of a k = 1 click rate once the click logit falls by `penalty` (0 where 0)."""
    safe = np.clip(click, 1e-12, 1 - 1e-12)
    logit = np.log(safe) - np.log1p(-safe)
    fall = 1.0 / (1.0 + np.exp(-(logit - penalty))) / safe
    return np.where(click > 0, fall, 0.0)
