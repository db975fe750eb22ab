"""The serving feature state: what the response model would see for a new impression.

Data flow: the warehouse's serving models (``sql/serving/``: ``serving_users``,
``serving_user_categories``, ``serving_ads``, ``serving_ad_placements``), the
events and the dimension tables -> `PairState` -> `PairState.rows`,
counterfactual rows shaped like ``training_examples`` for any user x ad x
placement x k. The curve stage and `predict_pairs` feed these rows to the
response model.

Every feature is defined once, in SQL: the serving models give the value
``training_examples`` would give an impression at ``$serving_as_of``, from the
same streams and macros (``tests/curves/test_state.py`` checks them row by
row). The build takes the state at the start of the plan period, the first
midnight after its ``as_of`` (:func:`adopt.profiles.serving_time`), and writes
it as tables; another time runs the same models as a query
(:func:`adopt.warehouse.query_model`). The rows add what is counterfactual:
``k_ad = k_campaign = k``; an hour and day of week drawn for each user from
the logged impressions' slots, so a sample of users spreads over the week as a
plan's impressions do (one fixed slot read whatever the model learnt of that
hour and day, -11% of conversions on a Sunday at 23:00 on one world,
docs/curves.md session 11); ``cost`` = the placement's cpm / 1000.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from adopt.attributes import user_attributes
from adopt.exceptions import InputError
from adopt.profile_params import serving_time
from adopt.warehouse import query_model
from adopt.workspace import PROFILES_HINT, Workspace

# The serving models PairState reads, and the order of their rows.
SERVING = {"serving_users": "user_id", "serving_user_categories": "user_id, category",
           "serving_ads": "ad_id", "serving_ad_placements": "ad_id, placement_id"}

# What a conversion of each ad is worth (not a model feature): conversions logged by then.
_VALUES_SQL = """
select
    events.ad_id,
    count(*) filter (where events.event = 'conversion')::double as conversions,
    coalesce(sum(events.revenue) filter (where events.event = 'conversion'), 0) as revenue,
from stg_events as events
where events.ts <= $as_of
group by events.ad_id
"""

_SLOTS_SQL = """
select hour, day_of_week, count(*)::double as impressions
from training_examples group by all order by hour, day_of_week
"""
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0  # user i's slot quantile is frac(i x _GOLDEN): even spread


def _codes(values: pd.Series | np.ndarray, index: pd.Index, table: str, column: str
           ) -> np.ndarray:
    idx = index.get_indexer(pd.Index(np.asarray(values, dtype=object).astype(str)))
    if (idx < 0).any():
        row = int(np.flatnonzero(idx < 0)[0])
        raise InputError(table, column, f"unknown id {np.asarray(values)[row]!r}", row + 1)
    return idx


@dataclass
class PairState:
    """The feature state of users, ads and placements at ``as_of`` (see the module docstring).

    Attributes
    ----------
    as_of : datetime
        Time of the counterfactual impression: every feature is as of then.
    profiles_as_of : datetime
        The profiles' reference time (``build_params.as_of``, by default the
        last event): later events are never seen; the plan period counts from it.
    users : DataFrame
        One row per user (index user_id): demographics and history totals.
    affinity : ndarray, shape (n_users, n_categories)
        Share of each user's interest weight in each ad category.
    categories : Index
        Ad categories, the columns of `affinity`.
    ads : DataFrame
        One row per ad (index ad_id): campaign_id, category, brand, price,
        history totals, age, smoothed CTR and ``value_per_conversion``.
    placements : DataFrame
        One row per placement (index placement_id): cpm, format, daily_inventory.
    ad_placement : dict of ndarray, shape (n_ads, n_placements)
        impressions, clicks and ctr_smoothed of each ad at each placement.
    slots : DataFrame
        hour, day_of_week and share of the logged impressions in each slot;
        user i's counterfactual impressions take the slot at quantile
        frac(i x golden ratio) of the shares (`slot_of`).
    attributes : tuple of str
        The user attributes (columns of `users`, see :mod:`adopt.attributes`).
    """

    as_of: datetime
    profiles_as_of: datetime
    users: pd.DataFrame
    affinity: np.ndarray
    categories: pd.Index
    ads: pd.DataFrame
    placements: pd.DataFrame
    ad_placement: dict[str, np.ndarray]
    slots: pd.DataFrame
    attributes: tuple[str, ...] = ()

    @classmethod
    def load(cls, workspace: str | os.PathLike[str], as_of: str | datetime | None = None
             ) -> PairState:
        """Read the state from a workspace's warehouse.

        Parameters
        ----------
        workspace : path
            A workspace whose profiles are built (``adopt profiles``).
        as_of : str or datetime, optional
            Time of the counterfactual impression; default the build's
            ``build_params.serving_as_of``, the first midnight after the
            profiles' ``as_of`` (the built tables; another time runs the
            serving models as a query). Events after the profiles' ``as_of``
            are never seen.

        Raises
        ------
        WorkspaceError
            When the warehouse, the profile tables or the serving tables
            are missing (run ``adopt profiles``).
        """
        ws = Workspace.of(workspace)
        with ws.connect(read_only=True) as con:
            ws.require(("build_params", "training_examples", *SERVING), PROFILES_HINT, con)
            cursor = con.execute("select * from build_params")
            params = dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))
            profiles_as_of = pd.Timestamp(params["as_of"]).to_pydatetime()
            when = (serving_time(profiles_as_of) if as_of is None
                    else pd.Timestamp(as_of).to_pydatetime())
            built = when == params.get("serving_as_of")
            params["serving_as_of"] = when
            tables = {name: (con.execute(f"select * from {name} order by {order}").df()
                             if built else
                             query_model(con, name, params).sort_values(order.split(", ")))
                      for name, order in SERVING.items()}
            values = con.execute(_VALUES_SQL, {"as_of": when}).df()
            placements = con.execute("select * from stg_placements").df()
            slots = con.execute(_SLOTS_SQL).df()
            attributes = tuple(a.name for a in user_attributes(con, "stg_users"))
        users = tables["serving_users"].set_index("user_id")
        ads = tables["serving_ads"].set_index("ad_id")
        ads = ads.join(values.set_index("ad_id")).fillna({"conversions": 0.0, "revenue": 0.0})
        ads["value_per_conversion"] = _value_per_conversion(ads)
        placements = placements.set_index("placement_id")
        categories = pd.Index(sorted(ads["category"].dropna().astype(str).unique()))
        aff = tables["serving_user_categories"]
        aff = aff.loc[aff["category"].isin(categories)]
        affinity = np.zeros((len(users), len(categories)))
        u = users.index.get_indexer(aff["user_id"])
        ok = u >= 0
        affinity[u[ok], categories.get_indexer(aff["category"])[ok]] = (
            aff["user_category_affinity"].to_numpy()[ok])
        pairs = tables["serving_ad_placements"]
        a = ads.index.get_indexer(pairs["ad_id"])
        p = placements.index.get_indexer(pairs["placement_id"])
        grid = {}
        for key, col in (("impressions", "ad_placement_prior_impressions"),
                         ("clicks", "ad_placement_prior_clicks"),
                         ("ctr_smoothed", "ad_placement_ctr_smoothed")):
            grid[key] = np.zeros((len(ads), len(placements)))
            grid[key][a, p] = pairs[col].to_numpy()
        return cls(as_of=when, profiles_as_of=profiles_as_of, users=users, affinity=affinity,
                   categories=categories, ads=ads, placements=placements, ad_placement=grid,
                   slots=_shares(slots), attributes=attributes)

    def slot_of(self, u: np.ndarray) -> np.ndarray:
        """Row of `slots` each user's counterfactual impressions take (same for every ad and k)."""
        quantile = np.modf((np.asarray(u, dtype=np.float64) + 1.0) * _GOLDEN)[0]
        edges = np.cumsum(self.slots["share"].to_numpy(dtype=float))
        return np.minimum(np.searchsorted(edges, quantile, side="right"), len(edges) - 1)

    def user_index(self, user_ids: object) -> np.ndarray:
        """Row numbers of `user_ids` in `users` (InputError naming an unknown id)."""
        return _codes(user_ids, self.users.index, "users", "user_id")

    def ad_index(self, ad_ids: object) -> np.ndarray:
        """Row numbers of `ad_ids` in `ads`."""
        return _codes(ad_ids, self.ads.index, "ads", "ad_id")

    def placement_index(self, placement_ids: object) -> np.ndarray:
        """Row numbers of `placement_ids` in `placements`."""
        return _codes(placement_ids, self.placements.index, "placements", "placement_id")

    def rows(self, u: np.ndarray, a: np.ndarray, p: np.ndarray, k: np.ndarray) -> pd.DataFrame:
        """Counterfactual impressions shaped like ``training_examples`` (no labels).

        Parameters
        ----------
        u, a, p : ndarray of int
            Row numbers of the user, ad and placement (see `user_index`, ...).
        k : ndarray of int
            Position of the impression in the user x campaign sequence (1 = first).
        """
        users, ads, pls = self.users, self.ads, self.placements
        n = len(u)
        slot = self.slot_of(u)
        affinity = np.zeros(n)
        if len(self.categories):  # no ad has a category: every affinity is 0
            cat = self.categories.get_indexer(ads["category"].astype(str).to_numpy()[a])
            known = cat >= 0
            affinity[known] = self.affinity[u[known], cat[known]]
        out = {
            "user_id": users.index.to_numpy()[u],
            "ad_id": ads.index.to_numpy()[a],
            "campaign_id": ads["campaign_id"].to_numpy()[a],
            "placement_id": pls.index.to_numpy()[p],
            "hour": self.slots["hour"].to_numpy(dtype=float)[slot],
            "day_of_week": self.slots["day_of_week"].to_numpy(dtype=float)[slot],
            "k_ad": k,
            "k_campaign": k,
        }
        for col in ("user_prior_impressions", "user_prior_clicks", "user_prior_conversions",
                    "user_ctr_smoothed", "user_seconds_since_last_click", "user_prior_views",
                    "user_prior_carts", "user_prior_favorites", "user_prior_purchases",
                    "user_prior_searches"):
            out[col] = users[col].to_numpy()[u]
        out["user_category_affinity"] = affinity
        for col in ("ad_prior_impressions", "ad_prior_clicks", "ad_ctr_smoothed"):
            out[col] = ads[col].to_numpy()[a]
        out["ad_placement_prior_impressions"] = self.ad_placement["impressions"][a, p]
        out["ad_placement_prior_clicks"] = self.ad_placement["clicks"][a, p]
        out["ad_placement_ctr_smoothed"] = self.ad_placement["ctr_smoothed"][a, p]
        out["ad_age_days"] = ads["ad_age_days"].to_numpy()[a]
        for col in ("age_band", "gender", "city_tier", *self.attributes):
            out[col] = users[col].to_numpy()[u]
        for col in ("category", "brand", "price"):
            out[col] = ads[col].to_numpy()[a]
        cpm = pls["cpm"].to_numpy(dtype=float)[p]
        out["cpm"] = cpm
        if "format" in pls.columns:
            out["format"] = pls["format"].to_numpy()[p]
        out["cost"] = cpm / 1000.0
        return pd.DataFrame(out)


def _shares(slots: pd.DataFrame) -> pd.DataFrame:
    """hour, day_of_week and share of impressions; one midday Monday slot when nothing is logged."""
    total = float(slots["impressions"].sum()) if len(slots) else 0.0
    if total <= 0:
        return pd.DataFrame({"hour": [12.0], "day_of_week": [1.0], "share": [1.0]})
    return pd.DataFrame({"hour": slots["hour"].astype(float).to_numpy(),
                         "day_of_week": slots["day_of_week"].astype(float).to_numpy(),
                         "share": slots["impressions"].to_numpy(dtype=float) / total})


def _value_per_conversion(ads: pd.DataFrame) -> np.ndarray:
    """Expected revenue of one conversion of each ad.

    The ad's price times the basket factor observed over all ads (logged
    conversion revenue / price of the converted ads: buyers often take more
    than one unit). Ads without a price get the average revenue per conversion.
    """
    price = pd.to_numeric(ads["price"], errors="coerce").to_numpy(dtype=float)
    conv = ads["conversions"].to_numpy(dtype=float)
    revenue = ads["revenue"].to_numpy(dtype=float)
    priced = np.isfinite(price) & (conv > 0)
    factor = revenue[priced].sum() / (price[priced] * conv[priced]).sum() if priced.any() else 1.0
    mean_value = revenue.sum() / conv.sum() if conv.sum() > 0 else 0.0
    return np.where(np.isfinite(price), price * factor, mean_value)
