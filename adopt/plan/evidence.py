"""What a plan's forecast rests on, creative by creative.

A cell's curve values the creative the curve stage chose for it. A creative with
logs of its own is read from them as far as they go (`adopt.curves.creatives`);
one never logged is the response model's read of its features alone, whose error
on generated worlds runs to a factor of two or three (docs/curves.md, session
26). The plan says, in numbers, how much of its forecast rests on such creatives
and how thin the others' logs are (plan.json's ``inputs.creative_evidence``, the
report's "What the forecast assumes").
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def creative_evidence_line(allocation: pd.DataFrame, creatives: dict | None, metric: str
                           ) -> str | None:
    """One line on the creatives the plan buys and their own logs.

    Parameters
    ----------
    allocation : the plan's rows (``ad_id`` and the forecast of ``metric`` per row).
    creatives : ``{ad_id: {"impressions", "clicks", "conversions"}}`` the curve stage
        recorded (`adopt.optimize.forecast.curves_context`); None: not recorded.
    metric : the forecast's metric (a column of ``allocation``).

    Returns
    -------
    str or None
        None when nothing was recorded or the plan buys no creative.
    """
    if not creatives or allocation.empty or "ad_id" not in allocation or metric not in allocation:
        return None
    by_ad = allocation.groupby(allocation["ad_id"].astype(str))[metric].sum()
    by_ad = by_ad[by_ad > 0]
    if by_ad.empty:
        return None
    counts = pd.DataFrame([creatives.get(ad, {}) for ad in by_ad.index], index=by_ad.index)
    counts = counts.reindex(columns=["impressions", "clicks", "conversions"])
    unknown = counts["impressions"].isna()
    never = counts["impressions"].eq(0)  # NaN (not recorded) is neither
    total = float(by_ad.sum())
    line = (f"the plan buys {len(by_ad)} creative(s); {int(never.sum())} never logged carry "
            f"{by_ad[never].sum() / total:.1%} of the forecast {metric} (read from their "
            "features alone)")
    logged = counts[counts["impressions"] > 0]
    if not logged.empty:
        def spread(name: str) -> str:
            v = np.sort(logged[name].to_numpy(dtype=int))
            return f"{name} min {v[0]:,}, median {v[len(v) // 2]:,}"

        line += f"; the logged ones hold {spread('clicks')}; {spread('conversions')} each"
    if unknown.any():
        line += f"; {int(unknown.sum())} not in the curves' record"
    return line
