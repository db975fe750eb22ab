"""Which cells of a plan more budget would extend, and at what rate, per placement.

Data flow: the allocation (``marginal_roi`` = objective per unit of spend of
the last position bought in a cell) and plan.json's binding constraints ->
`placement_margins` -> the sentences of `adopt.report.sections_why`.

In an optimal plan a cell whose last position is only partly bought and that
no other binding constraint touches is held back by the budget alone: more
spend there buys at about the budget's shadow price. A cell bought to its
frequency cap, or touched by a binding cap, pin, flight, spend limit or target,
cannot simply take more money, and its last rate says nothing about the next
impressions. `placement_margins` tells the two apart, so that "one more 1,000
on placement X" quotes a rate more spend could actually buy.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# spend-limit levels -> allocation column
_LEVEL = {"campaign": "campaign_id", "segment": "segment", "placement": "placement_id"}


def _key(name: str) -> str:
    m = re.fullmatch(r"[^\[]*\[(.*)\]", name)
    return m.group(1) if m else ""


def blocked_cells(allocation: pd.DataFrame, constraints: list[dict]) -> np.ndarray:
    """True for cells that a binding constraint other than the budget touches."""
    a = allocation
    camp, seg, pid = (a[c].astype(str).to_numpy() for c in
                      ("campaign_id", "segment", "placement_id"))
    out = np.zeros(len(a), bool)
    for row in constraints:
        if not row.get("binding"):
            continue
        kind, key = str(row.get("kind", "")), _key(str(row.get("name", "")))
        parts = key.split("/")
        if kind == "min_reach" and len(parts) == 2:
            out |= (camp == parts[0]) & (seg == parts[1])
        elif kind == "reachable" and "@" in key:
            s, p = key.split("@", 1)
            out |= (seg == s) & (pid == p)
        elif kind == "pin" and len(parts) == 3:
            out |= (camp == parts[0]) & (seg == parts[1]) & (pid == parts[2])
        elif kind == "flight" and "@" in key:
            c, p = key.split("@", 1)
            out |= (camp == c) & (pid == p)
        elif kind == "inventory":
            out |= pid == key
        elif kind in ("campaign_budget", "campaign_min_spend"):
            out |= camp == key
        elif kind in ("target_cpa", "target_roas"):
            out |= np.ones(len(a), bool) if key == "all" else camp == key
        elif kind in ("min_spend", "max_spend", "min_share", "max_share") and "=" in key:
            level, value = key.split("=", 1)
            column = _LEVEL.get(level)
            if column is not None:
                out |= a[column].astype(str).to_numpy() == value
    return out


def margin_cells(allocation: pd.DataFrame, constraints: list[dict]) -> np.ndarray:
    """Cells that more budget alone would extend: a partly bought last position, not blocked.

    Without a ``users`` column every unblocked cell counts.
    """
    a = allocation
    if "users" in a:
        full = a["frequency_cap"].to_numpy(float) * a["users"].to_numpy(float)
        partial = a["impressions"].to_numpy(float) < full * (1 - 1e-6)
    else:
        partial = np.ones(len(a), bool)
    return partial & ~blocked_cells(a, constraints)


def placement_margins(allocation: pd.DataFrame, constraints: list[dict]) -> pd.DataFrame:
    """Per placement: spend, the last rate bought and the rate more budget would buy.

    Returns
    -------
    DataFrame
        placement_id, spend, last_roi (spend-weighted ``marginal_roi`` of all
        its cells), margin_roi (the same over its `margin_cells`; NaN when none)
        and margin_cells (their count).
    """
    a = allocation.assign(margin=margin_cells(allocation, constraints))
    rows = []
    for p, part in a.groupby("placement_id", sort=True):
        at = part[part["margin"]]
        rows.append({"placement_id": p, "spend": float(part["spend"].sum()),
                     "last_roi": _weighted(part), "margin_roi": _weighted(at),
                     "margin_cells": int(len(at))})
    return pd.DataFrame(rows, columns=["placement_id", "spend", "last_roi", "margin_roi",
                                       "margin_cells"])


def _weighted(part: pd.DataFrame) -> float:
    if part.empty:
        return float("nan")
    w = part["spend"].to_numpy(float)
    r = part["marginal_roi"].to_numpy(float)
    return float((r * w).sum() / w.sum()) if w.sum() > 0 else float(r.mean())
