"""Each creative's own logged clicks by audience, beyond its effect over all users.

Data flow: `fit_creative_effects`' one pass over ``training_examples`` also sums, per
creative x audience group, the logged clicks and the curves' model's log-odds in bins, for
each candidate grouping of the users (`audience_groupings`: the plan's segments and each
demographic column of the users table) -> `fit_audience_effects`, after the creatives' own
effects, keeps the grouping whose cells spread the most beyond chance -> `AudienceEffects`,
which `CreativeEffects.shifts` reads for a row whose user has a group.

Why: the response model does not read which creative it scores (no ad id among its
features), so what a creative does to one audience and not another, beyond what its text,
price and the user's features say, only its own outcomes show: an ad that young users take
to and older ones pass over. A creative's effect (`adopt.curves.creatives`) takes its
outcomes over all its users; here the clicks of each of its groups are weighed against the
curves' model moved by that effect, and shrunk by the spread the cells support: a
Gamma(t, t) factor with t the moment estimate over every creative x group cell
(`adopt.shrinkage`). Where no grouping's cells spread more than their counts' chance (the
default generated worlds, where creatives appeal to every audience alike), nothing moves:
the curves are the creative effects' to the bit. Of the groupings that do spread, the one
with the largest spread (1 / t) is kept; one grouping, so that groupings that overlap (a
segment of mostly young users) do not count the same appeal twice. A cell's factor applies
as a shift of the click log-odds on its logged rows, like the creative's; its conversions
per click follow the click factor by the slope the creatives' link fitted (their
conversions are too few by group to speak for themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.special import expit, logit

from adopt.curves.logit_shifts import LOGIT_BIN, logit_shifts
from adopt.shrinkage import prior_strength, shrunk_factors, strength_text
from adopt.workspace import has_table

KEY = ["ad_id", "group"]
# the users table's demographic columns (the input contract's), each a candidate grouping
DEMOGRAPHICS = ("age_band", "gender", "city_tier")
_SEP = "\x1f"  # joins ad id and group into one key for `logit_shifts`


@dataclass(frozen=True)
class AudienceEffects:
    """Per creative x audience group, the factor on its clicks beyond the creative's effect.

    Attributes
    ----------
    grouping : str
        Which grouping of the users: ``segment`` or a users-table column.
    table : pandas.DataFrame
        Index (ad_id, group); columns clicks, expected_clicks (the curves' model moved by
        the creative's effect, on the cell's logged rows), factor, click_shift and
        conversion_shift (the log-odds shifts that replace the creative's for the cell).
    strength : float
        The Gamma prior's strength in pseudo-clicks.
    group_of : pandas.Series
        Each user's group (index user_id).
    """

    grouping: str
    table: pd.DataFrame
    strength: float
    group_of: pd.Series

    def override(self, ad_ids: np.ndarray, user_ids: np.ndarray, click: np.ndarray,
                 per_click: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``click`` and ``per_click`` shifts with each row's creative x group shifts in
        place of its creative's, where the cell has them."""
        group = self.group_of.reindex(pd.Index(user_ids).astype(str)).to_numpy()
        index = self.table.index.get_indexer(
            pd.MultiIndex.from_arrays([pd.Index(ad_ids).astype(str), group]))
        known = index >= 0
        click, per_click = click.copy(), per_click.copy()
        click[known] = self.table["click_shift"].to_numpy()[index[known]]
        per_click[known] = self.table["conversion_shift"].to_numpy()[index[known]]
        return click, per_click

    def record(self) -> dict[str, Any]:
        """What curves.json keeps of them."""
        f = self.table["factor"]
        return {"grouping": self.grouping, "cells": len(self.table),
                "click_strength": float(self.strength),
                "factor": {"min": float(f.min()), "median": float(f.median()),
                           "max": float(f.max())}}

    def __str__(self) -> str:
        f = self.table["factor"]
        return (f"each creative's clicks by {self.grouping} against its effect, shrunk by "
                f"{strength_text(self.strength)} pseudo-clicks ({len(self.table)} creative x "
                f"{self.grouping} cells): x{f.min():.2f}-{f.max():.2f}")


def audience_groupings(con: duckdb.DuckDBPyConnection, audiences: pd.DataFrame
                       ) -> dict[str, pd.Series]:
    """Candidate groupings of the users (each: user_id -> group): the plan's segments (users
    in exactly one) and each demographic column of the users table with two values or more."""
    out = {"segment": _single(audiences["user_id"], audiences["segment"])}
    if not has_table(con, "stg_users"):
        return out
    present = set(con.execute("select column_name from (describe stg_users)").df()
                  ["column_name"])
    for column in (c for c in DEMOGRAPHICS if c in present):  # names from the contract
        users = con.execute(f'select user_id, "{column}" as g from stg_users '
                            "where g is not null").df()
        if users["g"].nunique() > 1:
            out[column] = _single(users["user_id"], users["g"])
    return out


def _single(users: pd.Series, groups: pd.Series) -> pd.Series:
    """Each user's group, for the users with exactly one (index user_id, as str)."""
    pairs = pd.DataFrame({"user_id": users.astype(str), "g": groups.astype(str)}
                         ).drop_duplicates()
    once = pairs.loc[~pairs["user_id"].duplicated(keep=False)]
    return pd.Series(once["g"].to_numpy(), index=pd.Index(once["user_id"], name="user_id"))


def binned(ad_ids: np.ndarray, groups: np.ndarray, p: np.ndarray, clicked: np.ndarray
           ) -> pd.DataFrame:
    """Rows and clicks summed per creative x group x log-odds bin of ``p`` (rows whose user
    has a group)."""
    has = pd.notna(groups)
    x = logit(np.clip(p[has], 1e-9, 1 - 1e-9))
    return pd.DataFrame({"ad_id": ad_ids[has], "group": groups[has].astype(str),
                         "bin": np.rint(x / LOGIT_BIN).astype(np.int64),
                         "weight": 1.0, "clicks": clicked[has]}
                        ).groupby([*KEY, "bin"]).sum()


def fit_audience_effects(parts: dict[str, list[pd.DataFrame]], creatives: pd.DataFrame,
                         link_slope: float, groupings: dict[str, pd.Series]
                         ) -> AudienceEffects | None:
    """The grouping whose creative x group cells spread the most beyond chance, fitted.

    Parameters
    ----------
    parts : per grouping, `binned` frames of the logged rows' curves'-model predictions.
    creatives : the creatives' effects table (click_shift, conversion_shift; index ad_id).
    link_slope : b of the creatives' conversions-per-click link, exp(a + b log click).
    groupings : the users' groups per grouping (`audience_groupings`).

    Returns
    -------
    AudienceEffects or None
        None when no grouping's cells spread more than chance.
    """
    best = None
    for name in sorted(parts):
        fitted = _fit_grouping(name, parts[name], creatives, link_slope, groupings[name])
        if fitted is not None and (best is None or fitted.strength < best.strength):
            best = fitted
    return best


def _fit_grouping(name: str, parts: list[pd.DataFrame], creatives: pd.DataFrame,
                  link_slope: float, group_of: pd.Series) -> AudienceEffects | None:
    if not parts:
        return None
    bins = pd.concat(parts).groupby(level=[0, 1, 2]).sum().reset_index()
    bins = bins.loc[bins["ad_id"].isin(creatives.index)]
    if bins.empty:
        return None
    x = bins["bin"].to_numpy(float) * LOGIT_BIN
    base = creatives["click_shift"].reindex(bins["ad_id"]).to_numpy(float)
    bins["expected"] = bins["weight"] * expit(x + base)
    cells = bins.groupby(KEY)[["clicks", "expected"]].sum()
    strength = prior_strength(cells["clicks"], cells["expected"])
    if not np.isfinite(strength):
        return None
    factor = shrunk_factors(cells["clicks"], cells["expected"], strength)
    keys = cells.index.get_level_values(0) + _SEP + cells.index.get_level_values(1)
    targets = pd.Series(factor * cells["expected"].to_numpy(float), index=keys)
    cell_bins = pd.DataFrame({"ad_id": bins["ad_id"] + _SEP + bins["group"], "logit": x,
                              "weight": bins["weight"]})
    click_shift = logit_shifts(cell_bins, targets).to_numpy()
    ads = cells.index.get_level_values(0)
    fallback = creatives["click_shift"].reindex(ads).to_numpy(float) + np.log(factor)
    table = cells.rename(columns={"expected": "expected_clicks"}).assign(
        factor=factor, click_shift=np.where(np.isfinite(click_shift), click_shift, fallback),
        conversion_shift=creatives["conversion_shift"].reindex(ads).to_numpy(float)
        + link_slope * np.log(factor))
    return AudienceEffects(grouping=name, table=table, strength=strength, group_of=group_of)
