"""Small-segment suppression for reports and exports.

Data flow: `adopt.report.data` decides, from segment sizes (the ``segments``
table, else the plan's audiences or allocation) and the segments table's own
``suppressed`` flag, which segments are shown one by one; every table the
report or the exports show is passed through `suppress_frame` (rows of hidden
segments merged into one ``other (suppressed)`` row per remaining key) and
every constraint label and note through `redact`, so no number and no name of
a small segment appears individually.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adopt.configs import ReportConfig

OTHER = "other (suppressed)"
# Segments with fewer users are not shown one by one (the default of every report and
# export, from the report's config).
MIN_SEGMENT_SIZE = ReportConfig.default("min_segment_size")
# how merged rows combine; anything not listed is summed
_MAX = ("frequency_cap",)
_WEIGHTED = ("marginal_roi",)
_RATIO = {"avg_frequency": ("impressions", "reach")}


@dataclass(frozen=True)
class Suppression:
    """Which segments a report may show individually.

    Attributes
    ----------
    hidden : frozenset of str
        Segments below the minimum size or flagged suppressed.
    min_size : int
    """

    hidden: frozenset[str]
    min_size: int

    @classmethod
    def decide(cls, sizes: dict[str, float], min_size: int,
               flagged: Iterable[str] = ()) -> Suppression:
        """Hide segments with fewer than `min_size` users and those in `flagged`."""
        hidden = {s for s, n in sizes.items() if not n >= min_size} | set(flagged)
        return cls(frozenset(str(s) for s in hidden), int(min_size))

    def label(self, segment: object) -> str:
        """The name to show for `segment`."""
        return OTHER if str(segment) in self.hidden else str(segment)


def suppress_frame(df: pd.DataFrame, sup: Suppression, column: str = "segment") -> pd.DataFrame:
    """Rename hidden segments to `OTHER` and merge their rows.

    Rows are merged per value of the other text columns (e.g. campaign x
    placement x ad); counts and money are summed, ``frequency_cap`` takes the
    maximum, ``avg_frequency`` is recomputed and ``marginal_roi`` is the
    spend-weighted mean.
    """
    if column not in df or not df[column].astype(str).isin(sup.hidden).any():
        return df.copy()
    out = df.copy()
    out[column] = out[column].astype(str).map(sup.label)
    keys = [c for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]
    numeric = [c for c in out.columns if c not in keys]
    rows = []
    for key, part in out.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        for c in numeric:
            row[c] = _combine(part, c)
        rows.append(row)
    merged = pd.DataFrame(rows, columns=out.columns)
    for c, (num, den) in _RATIO.items():
        if c in merged and num in merged and den in merged:
            merged[c] = np.divide(merged[num], merged[den], out=np.zeros(len(merged)),
                                  where=merged[den].to_numpy() > 0)
    return merged


def _combine(part: pd.DataFrame, column: str) -> float:
    values = part[column].astype(float)
    if column in _MAX:
        return float(values.max())
    if column in _WEIGHTED:
        weight = part["spend"].astype(float) if "spend" in part else None
        if weight is not None and weight.sum() > 0:
            return float((values * weight).sum() / weight.sum())
        return float(values.mean())
    return float(values.sum())


def suppress_segments(segments: pd.DataFrame, sup: Suppression) -> pd.DataFrame:
    """The segments table without hidden rows, plus one `OTHER` row (size = their total).

    Only the size (and the count, in ``merged``) of the hidden segments is kept:
    their descriptions and behaviour figures are dropped.
    """
    hidden = segments["segment"].astype(str).isin(sup.hidden)
    shown = segments.loc[~hidden].copy()
    shown["merged"] = 1
    if hidden.any():
        other = {"segment": OTHER, "merged": int(hidden.sum())}
        if "size" in segments:
            other["size"] = float(segments.loc[hidden, "size"].sum())
        other["description"] = f"{int(hidden.sum())} segment(s) below {sup.min_size} users " \
                               f"or marked suppressed, shown together"
        shown = pd.concat([shown, pd.DataFrame([other])], ignore_index=True)
    return shown


def redact(text: str, sup: Suppression) -> str:
    """Replace hidden segment names inside a constraint label or note with `OTHER`.

    Labels look like ``min_spend[segment=s2]``, ``reachable[s2@p0]`` or
    ``pin[c1/s2/p0]``: a name counts only between the separators ``[ = / ] @``.
    """
    if not sup.hidden or not text:
        return text
    names = "|".join(re.escape(h) for h in sorted(sup.hidden, key=len, reverse=True))
    text = re.sub(rf"(?<=[\[=/])(?:{names})(?=[\]/@])", OTHER, text)
    return OTHER if text in sup.hidden else text


def redact_plan(plan: dict, sup: Suppression) -> dict:
    """plan.json with hidden segment names redacted in constraints, duals, notes and spec."""
    if not sup.hidden:
        return plan
    out = dict(plan)
    out["constraints"] = [{**row, "name": redact(str(row.get("name", "")), sup)}
                          for row in plan.get("constraints", [])]
    out["duals"] = {redact(str(k), sup): v for k, v in (plan.get("duals") or {}).items()}
    out["binding_constraints"] = [redact(str(n), sup)
                                  for n in plan.get("binding_constraints", [])]
    out["notes"] = [redact(str(n), sup) for n in plan.get("notes", [])]
    inputs = dict(plan.get("inputs") or {})
    spec = dict(inputs.get("spec") or {})
    if spec.get("constraints"):
        spec["constraints"] = [_redact_constraint(c, sup) for c in spec["constraints"]]
        inputs["spec"] = spec
        out["inputs"] = inputs
    return out


def _redact_constraint(con: object, sup: Suppression) -> object:
    if not isinstance(con, dict):
        return con
    con = dict(con)
    if str(con.get("segment")) in sup.hidden:
        con["segment"] = OTHER
    if con.get("level") == "segment" and str(con.get("key")) in sup.hidden:
        con["key"] = OTHER
    return con
