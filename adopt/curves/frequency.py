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

    eta_i = -depth * (1 - exp(-(k_i - 1) / scale)) + placement effect_i

``depth`` is the click-logit penalty the fall approaches and ``scale`` the
number of impressions over which it sets in; the placement effects absorb a
pair's impressions landing on different placements. Fitted by maximum
likelihood (L-BFGS-B); a conversion is worth the same whichever impression
brought the click, so conversion and revenue fall with the click rate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import duckdb
import numpy as np
from scipy.optimize import minimize

from adopt.warehouse import has_table
from adopt.workspace import Workspace

log = logging.getLogger("adopt")

# Below this many informative pairs the fit is left to the response model.
MIN_PAIRS = 200
_BOUNDS_DEPTH = (-3.0, 6.0)
_BOUNDS_SCALE = (0.25, 50.0)

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
order by pair
"""


@dataclass(frozen=True)
class FrequencyDecay:
    """The click-logit penalty of the k-th impression, ``depth * (1 - exp(-(k - 1) / scale))``.

    Attributes
    ----------
    depth : the penalty's limit as k grows (click-logit units; 0 means no fall).
    scale : impressions over which the penalty sets in.
    pairs : user x campaign pairs with one click the fit read.
    impressions : their impressions.
    """

    depth: float
    scale: float
    pairs: int
    impressions: int

    def penalty(self, k: np.ndarray | int) -> np.ndarray:
        """The click-logit penalty at positions ``k`` (0 at k = 1)."""
        k = np.asarray(k, dtype=float)
        return self.depth * (1.0 - np.exp(-(k - 1.0) / self.scale))

    def __str__(self) -> str:
        return (f"click-logit penalty {self.depth:.2f} x (1 - exp(-(k - 1) / {self.scale:.2f})) "
                f"from {self.pairs:,} one-click user x campaign pairs")


def fit_frequency_decay(workspace: str | os.PathLike[str], min_pairs: int = MIN_PAIRS
                        ) -> FrequencyDecay | None:
    """Fit the fall of the click rate with k on the warehouse's ``training_examples``.

    Returns None when the logs hold fewer than ``min_pairs`` user x campaign
    pairs with one click among two or more impressions (or no
    ``training_examples`` table): too few to tell the fall apart.
    """
    ws = Workspace(workspace)
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
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
    k = rows["k_campaign"].to_numpy(dtype=float)
    clicked = rows["clicked"].to_numpy(dtype=float) > 0
    fitted = _fit(pair, placement.reshape(-1), k, clicked)
    if fitted is None:
        return None
    decay = FrequencyDecay(depth=fitted[0], scale=fitted[1], pairs=n_pairs,
                           impressions=len(rows))
    log.info("frequency: %s", decay)
    return decay


def _fit(pair: np.ndarray, placement: np.ndarray, k: np.ndarray, clicked: np.ndarray
         ) -> tuple[float, float] | None:
    """Maximum conditional likelihood of (depth, scale, placement effects); ``pair`` sorted.

    None (with a warning) when the optimizer fails or depth or scale ends on a bound: a
    fall the logs cannot pin down is left to the response model.
    """
    n_pairs = int(pair[-1]) + 1
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    n_placements = int(placement.max()) + 1
    steps = k - 1.0
    y = clicked.astype(float)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        depth, scale = theta[0], theta[1]
        effect = np.r_[0.0, theta[2:]]  # the first placement is the reference
        decay = np.exp(-steps / scale)
        eta = -depth * (1.0 - decay) + effect[placement]
        top = np.maximum.reduceat(eta, starts)
        weight = np.exp(eta - top[pair])
        total = np.add.reduceat(weight, starts)
        value = -(eta[clicked].sum() - (np.log(total) + top).sum()) / n_pairs
        residual = y - weight / total[pair]  # click minus its share within the pair
        grad = np.empty_like(theta)
        grad[0] = residual @ (1.0 - decay) / n_pairs
        grad[1] = -residual @ (depth * decay * steps / scale**2) / n_pairs
        grad[2:] = -np.bincount(placement, weights=residual, minlength=n_placements)[1:] / n_pairs
        return float(value), grad

    start = np.r_[0.5, 3.0, np.zeros(n_placements - 1)]
    bounds = [_BOUNDS_DEPTH, _BOUNDS_SCALE] + [(-5.0, 5.0)] * (n_placements - 1)
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
    depth, scale = float(result.x[0]), float(result.x[1])
    on_bound = any(np.isclose(v, b) for v, bound in ((depth, _BOUNDS_DEPTH),
                                                      (scale, _BOUNDS_SCALE)) for b in bound)
    if not result.success or on_bound:
        log.warning("frequency: the fit within user x campaign pairs did not settle (%s; depth "
                    "%.2f, scale %.2f); the response model gives the fall with k",
                    result.message, depth, scale)
        return None
    return depth, scale
