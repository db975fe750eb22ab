"""The shift of each group's log-odds that takes its rows' predictions to a total.

A creative's (or a creative x audience cell's) factor moves a logistic model by a shift
of the log-odds, found on its logged rows' predictions summed in bins `LOGIT_BIN` wide
(`adopt.curves.creatives`, `adopt.curves.creative_audiences`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

LOGIT_BIN = 0.05  # width of the log-odds bins a creative's logged predictions are summed in
_SHIFT_BOUND = 20.0  # |shift| of a creative's log-odds (beyond: every prediction 0 or 1)
_SHIFT_STEPS = 60  # bisection steps (2 x 20 / 2^60: exact to the float)


def logit_shifts(bins: pd.DataFrame, totals: pd.Series) -> pd.Series:
    """Per creative, the shift d of the log-odds with sum w sigmoid(x + d) = total over its bins.

    Parameters
    ----------
    bins : columns ad_id, logit (a bin's log-odds) and weight (the rows in it, or their
        expected clicks).
    totals : the sum each creative's bins must reach (index ad_id).

    Returns
    -------
    pandas.Series
        The shifts, indexed like ``totals``; NaN for a creative without bins; within
        +-`_SHIFT_BOUND` (a total no shift reaches, every row at 0 or 1, stops there).
    """
    out = pd.Series(np.nan, index=totals.index, dtype=float)
    code = totals.index.get_indexer(bins["ad_id"].astype(str))
    keep = code >= 0
    if not keep.any():
        return out
    code, x = code[keep], bins["logit"].to_numpy(float)[keep]
    w = bins["weight"].to_numpy(float)[keep]
    n = len(totals)
    target = totals.to_numpy(float)
    low, high = np.full(n, -_SHIFT_BOUND), np.full(n, _SHIFT_BOUND)
    for _ in range(_SHIFT_STEPS):  # every creative's bisection at once: the sum rises with d
        mid = (low + high) / 2
        below = np.bincount(code, w * expit(x + mid[code]), minlength=n) < target
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    has_bins = np.bincount(code, minlength=n) > 0
    out[has_bins] = ((low + high) / 2)[has_bins]
    return out
