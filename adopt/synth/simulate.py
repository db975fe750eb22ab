"""Draw the logs of the synthetic world, one day at a time.

Second step of `adopt.synth.generate_world`: given the hidden state from
`adopt.synth.entities`, each day draws impression slots from the users'
activity, lets the logging policy pick the ads, numbers every impression in
its user x campaign frequency sequence (k), and draws clicks and conversions
from the true response function (`adopt.synth.response`). Browsing history is
drawn the same way from the users' interests. Each day has its own random
stream (seed, kind, day), so the logs do not depend on how days are grouped
into part files, and only one day is held in memory at a time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adopt.synth import vocab
from adopt.synth.entities import (
    BEHAVIORS_PER_USER_DAY,
    HISTORY_DAYS,
    IMPRESSIONS_PER_USER_DAY,
    ITEMS_PER_SUBCATEGORY,
    START,
    World,
)
from adopt.synth.response import p_click, p_conversion

DAY_US = 86_400_000_000
EVENT_SCHEMA = pa.schema([
    ("ts", pa.timestamp("us")), ("user_id", pa.string()), ("ad_id", pa.string()),
    ("placement_id", pa.string()), ("event", pa.string()), ("cost", pa.float64()),
    ("revenue", pa.float64()), ("impression_id", pa.string()),
])
BEHAVIOR_SCHEMA = pa.schema([
    ("ts", pa.timestamp("us")), ("user_id", pa.string()), ("action", pa.string()),
    ("item_id", pa.string()), ("category", pa.string()), ("text", pa.string()),
    ("amount", pa.float64()),
])
ACTIONS = ("view", "search", "favorite", "cart", "purchase")
ACTION_SHARES = (0.55, 0.2, 0.08, 0.1, 0.07)
BROWSE_NOISE = 0.1  # share of behaviours outside the user's interests


def _day_factor(day: int) -> float:
    return 1.15 if (day % 7) >= 5 else 1.0  # START is a Monday: busier weekends


def _draw_rows(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """One draw per row of a row-wise cumulative probability matrix."""
    r = rng.random(len(cum)) * cum[:, -1]
    return np.minimum((cum < r[:, None]).sum(axis=1), cum.shape[1] - 1)


def _draw_weighted(rng: np.random.Generator, items: np.ndarray, weights: np.ndarray,
                   n: int) -> np.ndarray:
    cum = np.cumsum(weights)
    return items[np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"),
                            len(items) - 1)]


class EventSimulator:
    """Draws each day's events; holds the user x campaign frequency counts between days."""

    def __init__(self, world: World) -> None:
        self.world = world
        n_camp = len(world.campaign_ids)
        # uint16 keeps a 1M-user x 1000-campaign world in 2 GB; no pair nears 65k impressions
        self.counts = np.zeros((len(world.user_ids), n_camp), dtype=np.uint16)
        self.next_impression = 0
        self._user_ids = pa.array(world.user_ids)
        self._ad_ids = pa.array(world.ad_ids)
        self._placement_ids = pa.array(world.placement_ids)

    def _active(self, day: int) -> np.ndarray:
        """Campaigns in flight on `day` with at least one launched ad."""
        w = self.world
        launched = w.ad_launch <= day
        has_ads = np.bincount(w.ad_campaign[launched], minlength=len(w.campaign_ids)) > 0
        return np.flatnonzero((w.campaign_start <= day) & (w.campaign_end > day) & has_ads)

    def _pick_campaigns(self, rng: np.random.Generator, users: np.ndarray, day: int,
                        active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.world
        launched = w.ad_launch <= day
        n = len(users)
        camp = np.empty(n, dtype=np.int64)
        explore = rng.random(n) < w.policy.explore
        camp[explore] = _draw_weighted(rng, active, w.campaign_weight[active], explore.sum())
        cat_weight = np.bincount(w.campaign_category[active], w.campaign_weight[active],
                                 minlength=len(vocab.TOP_CATEGORIES))
        exploit = np.flatnonzero(~explore)
        probs = w.policy_probs[users[exploit]] * (cat_weight > 0)
        cats = _draw_rows(rng, np.cumsum(probs, axis=1))
        for c in np.flatnonzero(cat_weight > 0):
            rows = exploit[cats == c]
            in_cat = active[w.campaign_category[active] == c]
            camp[rows] = _draw_weighted(rng, in_cat, w.campaign_weight[in_cat], len(rows))
        # the ad: uniform among the campaign's launched ads
        ads = np.flatnonzero(launched)  # sorted by campaign: ads are numbered campaign by campaign
        n_launched = np.bincount(w.ad_campaign[ads], minlength=len(w.campaign_ids))
        offset = np.concatenate([[0], np.cumsum(n_launched)[:-1]])
        pick = (rng.random(n) * n_launched[camp]).astype(np.int64)
        return camp, ads[offset[camp] + pick]

    def _frequency(self, users: np.ndarray, camp: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """k of each impression in its user x campaign sequence; updates the counts."""
        key = users.astype(np.int64) * self.counts.shape[1] + camp
        order = np.lexsort((ts, key))
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        sizes = np.diff(np.r_[starts, len(key)])
        rank = np.arange(len(key)) - np.repeat(starts, sizes)
        k = np.empty(len(key), dtype=np.int64)
        flat = self.counts.reshape(-1)
        k[order] = flat[sorted_key].astype(np.int64) + rank + 1
        flat[sorted_key[starts]] += sizes.astype(np.uint16)
        return k

    def day(self, day: int) -> pa.Table:
        """All events of one day (impressions, clicks, conversions), sorted by time."""
        w = self.world
        rng = np.random.default_rng(np.random.SeedSequence([w.seed, 1, day]))
        active = self._active(day)
        if len(active) == 0:  # nothing in flight: no ad slots are sold
            return EVENT_SCHEMA.empty_table()
        per_user = rng.poisson(w.activity * _day_factor(day))
        users = np.repeat(np.arange(len(w.user_ids)), per_user)
        n = len(users)
        placement = rng.choice(len(w.placement_share), n, p=w.placement_share)
        camp, ad = self._pick_campaigns(rng, users, day, active)
        ts = START.astype(np.int64) + day * DAY_US + rng.integers(0, DAY_US, n)
        k = self._frequency(users, camp, ts)
        sub = w.ad_subcategory[ad]
        interest = w.interest[users, sub].astype(np.float64)
        quality = w.quality(ad, users)
        pc_ = p_click(interest, quality, w.demo[users], w.placement_effect[placement],
                      k, w.params)
        clicked = np.flatnonzero(rng.random(n) < pc_)
        pv = p_conversion(interest[clicked], quality[clicked],
                          w.ad_price[ad[clicked]], w.params,
                          w.placement_effect[placement[clicked]])
        converted = clicked[rng.random(len(clicked)) < pv]
        click_ts = ts[clicked] + 1_000_000 + rng.exponential(40e6, len(clicked)).astype(np.int64)
        conv_delay = 10_000_000 + rng.exponential(1_800e6, len(converted)).astype(np.int64)
        conv_ts = click_ts[np.searchsorted(clicked, converted)] + conv_delay
        units = 1 + rng.poisson(w.params.basket_extra, len(converted))
        revenue = np.round(w.ad_price[ad[converted]] * units, 2)

        imp_ids = np.empty(n, dtype=np.int64)  # numbered in time order
        imp_ids[np.argsort(ts, kind="stable")] = np.arange(self.next_impression,
                                                            self.next_impression + n)
        self.next_impression += n
        rows = np.concatenate([np.arange(n), clicked, converted])
        kind = np.repeat([0, 1, 2], [n, len(clicked), len(converted)])
        all_ts = np.concatenate([ts, click_ts, conv_ts])
        cost = np.where(kind == 0, w.cpm[placement[rows]] / 1000.0, 0.0)
        rev = np.full(len(rows), np.nan)
        rev[kind == 2] = revenue
        order = np.argsort(all_ts, kind="stable")
        rows, kind = rows[order], kind[order]
        take = pa.array(rows)
        table = pa.table({
            "ts": pa.array(all_ts[order], pa.timestamp("us")),
            "user_id": self._user_ids.take(pa.array(users[rows])),
            "ad_id": self._ad_ids.take(pa.array(ad[rows])),
            "placement_id": self._placement_ids.take(pa.array(placement[rows])),
            "event": pa.array(np.array(["impression", "click", "conversion"])[kind]),
            "cost": pa.array(cost[order]),
            "revenue": pa.array(rev[order], from_pandas=True),
            "impression_id": pc.binary_join_element_wise(
                "i", pc.cast(pa.array(imp_ids).take(take), pa.string()), ""),
        })
        return table.cast(EVENT_SCHEMA)

    def days(self) -> range:
        return range(self.world.days)


def _query_bank() -> list[list[str]]:
    """Search queries per subcategory (fixed, no randomness)."""
    bank = []
    for sub in vocab.SUBCATEGORIES:
        nouns, adjs, _, _ = vocab.VOCAB[sub]
        cat = vocab.TOP_CATEGORIES[vocab.subcategory_parent()[vocab.SUBCATEGORIES.index(sub)]]
        brands = vocab.BRANDS[cat]
        bank.append([t.format(noun=noun, adj=adjs[i % len(adjs)], brand=brands[i % len(brands)])
                     for i, noun in enumerate(nouns) for t in vocab.QUERY_TEMPLATES])
    return bank


class BehaviorSimulator:
    """Draws each day's browsing, search and purchase history from the users' interests."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cum_share = np.cumsum(world.share, axis=1, dtype=np.float64)
        bank = _query_bank()
        self.queries_per_sub = len(bank[0])
        self.queries = pa.array([q for qs in bank for q in qs])
        self.item_ids = pa.array(world.item_ids)
        self.item_titles = pa.array(world.item_title)
        self._user_ids = pa.array(world.user_ids)
        parent = vocab.subcategory_parent()
        self.categories = pa.array(np.array(vocab.TOP_CATEGORIES)[parent])

    def days(self) -> range:
        return range(-HISTORY_DAYS, self.world.days)

    def day(self, day: int) -> pa.Table:
        """All behaviours of one day (day < 0: the history before the ad logs), by time."""
        w = self.world
        rng = np.random.default_rng(np.random.SeedSequence([w.seed, 2, day + HISTORY_DAYS]))
        rate = w.activity * (BEHAVIORS_PER_USER_DAY / IMPRESSIONS_PER_USER_DAY)
        users = np.repeat(np.arange(len(w.user_ids)), rng.poisson(rate * _day_factor(day)))
        n = len(users)
        sub = _draw_rows(rng, self.cum_share[users])
        noise = rng.random(n) < BROWSE_NOISE
        sub[noise] = rng.integers(len(vocab.SUBCATEGORIES), size=noise.sum())
        action = rng.choice(len(ACTIONS), n, p=ACTION_SHARES)
        item = sub * ITEMS_PER_SUBCATEGORY + rng.integers(ITEMS_PER_SUBCATEGORY, size=n)
        query = sub * self.queries_per_sub + rng.integers(self.queries_per_sub, size=n)
        ts = START.astype(np.int64) + day * DAY_US + rng.integers(0, DAY_US, n)
        order = np.argsort(ts, kind="stable")
        users, sub, action, item, query = (x[order] for x in (users, sub, action, item, query))
        is_search = pa.array(action == ACTIONS.index("search"))
        amount = np.where(action == ACTIONS.index("purchase"), w.item_price[item], np.nan)
        table = pa.table({
            "ts": pa.array(ts[order], pa.timestamp("us")),
            "user_id": self._user_ids.take(pa.array(users)),
            "action": pa.array(np.array(ACTIONS)[action]),
            "item_id": pc.if_else(is_search, pa.scalar(None, pa.string()),
                                  self.item_ids.take(pa.array(item))),
            "category": self.categories.take(pa.array(sub)),
            "text": pc.if_else(is_search, self.queries.take(pa.array(query)),
                               self.item_titles.take(pa.array(item))),
            "amount": pa.array(amount, from_pandas=True),
        })
        return table.cast(BEHAVIOR_SCHEMA)
