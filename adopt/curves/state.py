"""End-of-log feature state: what the response model would see for a new impression.

Data flow: the warehouse's point-in-time streams (``int_user_stream``,
``int_user_category_stream``), the events and the dimension tables ->
`PairState` -> `PairState.rows`, counterfactual rows shaped like
``training_examples`` for any user x ad x placement x k. The curve stage and
`predict_pairs` feed these rows to the response model.

Each feature is the value ``training_examples`` would give an impression just
after ``as_of`` (default: the profiles' reference time, the end of the log):
user totals and category affinity to ``as_of``; ad and ad x placement totals
and age to ``as_of``; smoothed CTRs with the same beta prior
(``build_params.prior_strength``) toward the population CTR; ``k_ad =
k_campaign = k``; hour and day of week at their most common logged value
(a typical slot); ``cost`` = the placement's cpm / 1000; user attributes as
stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from adopt.attributes import user_attributes
from adopt.exceptions import InputError
from adopt.workspace import PROFILES_HINT, Workspace

_USERS_SQL = """
with last_state as (
    select * from int_user_stream
    where ts <= $as_of
    qualify row_number() over (partition by user_id order by ts desc) = 1
)
select
    users.user_id,
    users.age_band,
    users.gender,
    users.city_tier,
    coalesce(s.impressions, 0)::double as user_prior_impressions,
    coalesce(s.clicks, 0)::double as user_prior_clicks,
    coalesce(s.conversions, 0)::double as user_prior_conversions,
    epoch($as_of::timestamp) - epoch(s.last_click_ts) as user_seconds_since_last_click,
    coalesce(s.views, 0)::double as user_prior_views,
    coalesce(s.carts, 0)::double as user_prior_carts,
    coalesce(s.favorites, 0)::double as user_prior_favorites,
    coalesce(s.purchases, 0)::double as user_prior_purchases,
    coalesce(s.searches, 0)::double as user_prior_searches,
    coalesce(s.affinity_weight, 0)::double as affinity_weight,
    users.* exclude (user_id, age_band, gender, city_tier, signup_ts),
from stg_users as users
left join last_state as s on s.user_id = users.user_id
order by users.user_id
"""

_AFFINITY_SQL = """
select user_id, category, arg_max(weight, ts)::double as weight,
from int_user_category_stream
where ts <= $as_of
group by user_id, category
"""

_ADS_SQL = """
with ad_events as (
    select
        events.ad_id,
        count(*) filter (where events.event = 'impression')::double as impressions,
        count(*) filter (where events.event = 'click')::double as clicks,
        count(*) filter (where events.event = 'conversion')::double as conversions,
        coalesce(sum(events.revenue) filter (where events.event = 'conversion'), 0)
            as revenue,
        min(events.ts) filter (where events.event = 'impression') as first_ts,
    from stg_events as events
    where events.ts <= $as_of
    group by events.ad_id
)
select
    ads.ad_id, ads.campaign_id, ads.category, ads.brand, ads.price,
    coalesce(e.impressions, 0) as ad_prior_impressions,
    coalesce(e.clicks, 0) as ad_prior_clicks,
    coalesce(e.conversions, 0) as conversions,
    coalesce(e.revenue, 0) as revenue,
    coalesce((epoch($as_of::timestamp) - epoch(e.first_ts)) / 86400.0, 0.0) as ad_age_days,
from stg_ads as ads
left join ad_events as e on e.ad_id = ads.ad_id
order by ads.ad_id
"""

_AD_PLACEMENT_SQL = """
select
    events.ad_id, events.placement_id,
    count(*) filter (where events.event = 'impression')::double as impressions,
    count(*) filter (where events.event = 'click')::double as clicks,
from stg_events as events
where events.ts <= $as_of and events.event in ('impression', 'click')
group by events.ad_id, events.placement_id
"""

_TYPICAL_SQL = """
select mode(hour) as hour, mode(day_of_week) as day_of_week from training_examples
"""


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
        Reference time of every feature.
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
    typical : dict
        hour and day_of_week of the counterfactual impression.
    attributes : tuple of str
        The user attributes (columns of `users`, see :mod:`adopt.attributes`).
    """

    as_of: datetime
    users: pd.DataFrame
    affinity: np.ndarray
    categories: pd.Index
    ads: pd.DataFrame
    placements: pd.DataFrame
    ad_placement: dict[str, np.ndarray]
    typical: dict[str, float]
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
            Reference time; default the profiles' ``build_params.as_of``.
            Events after the profiles' reference time are never seen.

        Raises
        ------
        WorkspaceError
            When the warehouse or the profile tables are missing.
        """
        ws = Workspace.of(workspace)
        with ws.connect(read_only=True) as con:
            ws.require(("build_params", "int_user_stream", "training_examples"), PROFILES_HINT,
                       con)
            built_as_of, prior = con.execute(
                "select as_of::timestamp, prior_strength::double from build_params").fetchone()
            when = pd.Timestamp(as_of if as_of is not None else built_as_of).to_pydatetime()
            params = {"as_of": when}
            users = con.execute(_USERS_SQL, params).df().set_index("user_id")
            aff = con.execute(_AFFINITY_SQL, params).df()
            ads = con.execute(_ADS_SQL, params).df().set_index("ad_id")
            ad_pl = con.execute(_AD_PLACEMENT_SQL, params).df()
            placements = con.execute("select * from stg_placements").df()
            typical = con.execute(_TYPICAL_SQL).df().iloc[0].to_dict()
            attributes = tuple(a.name for a in user_attributes(con, "stg_users"))
        placements = placements.set_index("placement_id")
        categories = pd.Index(sorted(ads["category"].dropna().astype(str).unique()))
        affinity = np.zeros((len(users), len(categories)))
        aff = aff.loc[aff["category"].isin(categories)]
        u = users.index.get_indexer(aff["user_id"])
        ok = u >= 0
        affinity[u[ok], categories.get_indexer(aff["category"])[ok]] = aff["weight"].to_numpy()[ok]
        denom = users["affinity_weight"].to_numpy()[:, None]
        affinity = np.divide(affinity, denom, out=np.zeros_like(affinity), where=denom > 0)
        prior_ctr = ads["ad_prior_clicks"].sum() / max(ads["ad_prior_impressions"].sum(), 1.0)
        users["user_ctr_smoothed"] = np.minimum(
            (users["user_prior_clicks"] + prior * prior_ctr)
            / (users["user_prior_impressions"] + prior), 1.0)
        ads["ad_ctr_smoothed"] = np.minimum(
            (ads["ad_prior_clicks"] + prior * prior_ctr) / (ads["ad_prior_impressions"] + prior),
            1.0)
        ads["value_per_conversion"] = _value_per_conversion(ads)
        grid = {}
        a = ads.index.get_indexer(ad_pl["ad_id"])
        p = placements.index.get_indexer(ad_pl["placement_id"])
        ok = (a >= 0) & (p >= 0)
        for col in ("impressions", "clicks"):
            grid[col] = np.zeros((len(ads), len(placements)))
            grid[col][a[ok], p[ok]] = ad_pl[col].to_numpy()[ok]
        grid["ctr_smoothed"] = np.minimum(
            (grid["clicks"] + prior * prior_ctr) / (grid["impressions"] + prior), 1.0)
        return cls(as_of=when, users=users, affinity=affinity, categories=categories, ads=ads,
                   placements=placements, ad_placement=grid,
                   typical={k: float(v) for k, v in typical.items()}, attributes=attributes)

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
            "hour": np.full(n, self.typical["hour"]),
            "day_of_week": np.full(n, self.typical["day_of_week"]),
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
