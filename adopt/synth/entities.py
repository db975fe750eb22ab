"""The entities of the synthetic world and their hidden state.

First step of `adopt.synth.generate_world`: draws users (demographics, latent
subcategory interests, heavy-tailed activity, the logging policy's noisy view
of them), placements, campaigns, ads (creative text, latent quality, launch
day) and the item catalog behind browsing history. `adopt.synth.simulate`
then draws the logs from this state, and `adopt.synth.truth` saves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adopt.synth import vocab
from adopt.synth.response import ResponseParams, demo_effect

START = np.datetime64("2026-01-05T00:00:00", "us")  # a Monday
HISTORY_DAYS = 14  # behaviours start this many days before the ad logs
FUTURE_DAYS = 14  # running campaigns' flights end this many days after the logs
IMPRESSIONS_PER_USER_DAY = 1.2
# Browsing outnumbers ad impressions on a shop: in the Taobao display-ad sample
# (shared/datasets, DMR layout) 99% of impressions carry a full 50-step
# behaviour history. 2.5 a day gives the median demo user 110 behaviours by
# the end of 8 weeks of logs (0.5, the earlier rate, gave 14 in 4 weeks).
BEHAVIORS_PER_USER_DAY = 2.5
ITEMS_PER_SUBCATEGORY = 30
# sd of the part of a creative's click-logit quality that no feature shows (its text shows
# the offer bonus); adopt.synth.posterior's prior
QUALITY_SD = 0.3

# placement_id, name, cpm, click-logit effect, traffic share, format, position
PLACEMENTS = (
    ("home_banner", "Home page banner", 15.0, -0.30, 0.22, "banner", 1),
    ("search_top", "Top of search results", 45.0, 0.60, 0.10, "text", 1),
    ("search_sidebar", "Search results sidebar", 20.0, -0.10, 0.08, "banner", 3),
    ("product_detail", "Product page recommendations", 30.0, 0.30, 0.16, "native", 2),
    ("feed_native", "Discovery feed", 18.0, 0.00, 0.24, "native", 4),
    ("video_preroll", "Video pre-roll", 60.0, -0.20, 0.08, "video", 1),
    ("checkout_reco", "Checkout recommendations", 40.0, 0.45, 0.05, "native", 2),
    ("category_page", "Category page banner", 25.0, 0.15, 0.07, "banner", 2),
)


@dataclass
class PolicyParams:
    """The logging policy: how the historical ads were chosen (saved in truth)."""

    explore: float = 0.2
    view_noise: float = 1.0
    sharpness: float = 1.5

    def describe(self) -> str:
        """One paragraph for truth/params.json."""
        return (
            "Each impression slot (user, day, placement drawn by traffic share) picks a "
            f"campaign: with probability {self.explore} it explores, drawing an active campaign "
            "in proportion to its daily budget; otherwise it draws a top-level category from "
            "softmax(sharpness * (log(category interest share + 0.02) + N(0, view_noise))) "
            "(the user's noisy view, fixed per user, saved as policy_<category> in "
            "truth/users.parquet, restricted to categories with an active campaign), then an "
            "active campaign of that main category in proportion to its daily budget. The ad is "
            "drawn uniformly among the campaign's launched ads. No frequency cap, no placement "
            "targeting, no subcategory or quality awareness: sensible but suboptimal."
        )


@dataclass
class World:
    """Hidden state of a synthetic world (arrays indexed by entity position)."""

    seed: int
    days: int
    params: ResponseParams
    policy: PolicyParams
    # users
    user_ids: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    tier: np.ndarray
    signup_ts: np.ndarray
    activity: np.ndarray  # expected impressions a day
    share: np.ndarray  # users x subcategories, rows sum to 1
    interest: np.ndarray  # share / row max, in [0, 1]
    demo: np.ndarray  # click-logit demographic effect
    policy_probs: np.ndarray  # users x top categories
    # placements
    placement_effect: np.ndarray
    placement_share: np.ndarray
    cpm: np.ndarray
    daily_inventory: np.ndarray
    # campaigns
    campaign_ids: np.ndarray
    campaign_category: np.ndarray
    campaign_advertiser: np.ndarray
    campaign_weight: np.ndarray  # daily budget share
    campaign_start: np.ndarray  # first active day
    campaign_end: np.ndarray  # first inactive day (may exceed `days`)
    campaign_objective: np.ndarray
    campaign_budget: np.ndarray
    campaign_target_cpa: np.ndarray
    campaign_target_roas: np.ndarray
    # ads
    ad_ids: np.ndarray
    ad_campaign: np.ndarray
    ad_subcategory: np.ndarray
    ad_quality: np.ndarray
    ad_price: np.ndarray
    ad_launch: np.ndarray
    ad_title: np.ndarray
    ad_description: np.ndarray
    ad_appeal: np.ndarray  # ads x age bands: quality the creative gains with each age band
    # behaviour item catalog
    item_ids: np.ndarray
    item_subcategory: np.ndarray
    item_title: np.ndarray
    item_brand: np.ndarray
    item_price: np.ndarray

    @property
    def placement_ids(self) -> np.ndarray:
        return np.array([p[0] for p in PLACEMENTS])

    @property
    def ad_category(self) -> np.ndarray:
        return vocab.subcategory_parent()[self.ad_subcategory]

    def quality(self, ads: np.ndarray, users: np.ndarray) -> np.ndarray:
        """Each impression's creative quality: the creative's own plus its appeal to the
        user's age band (`ResponseParams.creative_audience`; 0 by default)."""
        return self.ad_quality[ads] + self.ad_appeal[ads, self.age[users]]


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(len(str(n)), 4)
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)])


def _draw_users(rng: np.random.Generator, n: int, params: ResponseParams,
                policy: PolicyParams) -> dict[str, np.ndarray]:
    age = rng.choice(len(vocab.AGE_BANDS), n, p=vocab.AGE_SHARES)
    gender = rng.choice(len(vocab.GENDERS), n, p=vocab.GENDER_SHARES)
    tier = rng.choice(len(vocab.CITY_TIERS), n, p=vocab.CITY_TIER_SHARES)
    parent = vocab.subcategory_parent()
    cat_aff = vocab.AGE_AFFINITY[age] + vocab.GENDER_AFFINITY[gender] + vocab.TIER_AFFINITY[tier]
    # small Gamma shapes make each user care about a few subcategories
    alpha = 0.3 * np.exp(1.5 * cat_aff[:, parent])
    raw = rng.gamma(alpha) + 1e-9
    share = raw / raw.sum(axis=1, keepdims=True)
    interest = share / share.max(axis=1, keepdims=True)
    cat_share = np.zeros((n, len(vocab.TOP_CATEGORIES)))
    np.add.at(cat_share.T, parent, share.T)
    view = np.log(cat_share + 0.02) + rng.normal(0.0, policy.view_noise, cat_share.shape)
    z = np.exp(policy.sharpness * (view - view.max(axis=1, keepdims=True)))
    activity = rng.lognormal(0.0, 1.0, n)
    activity *= IMPRESSIONS_PER_USER_DAY / activity.mean()
    signup_days = rng.uniform(HISTORY_DAYS, HISTORY_DAYS + 3 * 365, n)
    signup = START - (signup_days * 86_400e6).astype("timedelta64[us]")
    return {
        "user_ids": _ids("u", n), "age": age, "gender": gender, "tier": tier,
        "signup_ts": signup, "activity": activity, "share": share.astype(np.float32),
        "interest": interest.astype(np.float32), "demo": demo_effect(age, gender, tier, params),
        "policy_probs": z / z.sum(axis=1, keepdims=True),
    }


def _ad_text(rng: np.random.Generator, sub: str, brand: str) -> tuple[str, str, float]:
    nouns, adjs, benefits, _ = vocab.VOCAB[sub]
    noun = nouns[rng.integers(len(nouns))]
    pool = adjs if rng.random() < 0.7 else vocab.GENERIC_ADJECTIVES
    title = f"{brand} {pool[rng.integers(len(pool))]} {noun}"
    desc = f"{benefits[rng.integers(len(benefits))].capitalize()}. " \
        f"{adjs[rng.integers(len(adjs))].capitalize()} {noun} by {brand}."
    bonus = 0.0
    if rng.random() < 0.5:
        offer, bonus = vocab.OFFERS[rng.integers(len(vocab.OFFERS))]
        desc += f" {offer}"
    return title, desc, bonus


def _draw_campaigns_and_ads(rng: np.random.Generator, n_ads: int, days: int
                            ) -> dict[str, np.ndarray]:
    sizes: list[int] = []
    while sum(sizes) < n_ads:
        sizes.append(int(rng.integers(2, 7)))
    sizes[-1] -= sum(sizes) - n_ads
    if sizes[-1] < 2 and len(sizes) > 1:  # a 1-ad remainder: keep every size in 2..6
        if sizes[-2] > 2:
            sizes[-2] -= 1
            sizes[-1] += 1
        else:
            remainder = sizes.pop()
            sizes[-1] += remainder
    n_camp = len(sizes)
    n_cat = len(vocab.TOP_CATEGORIES)
    category = np.concatenate([rng.permutation(n_cat) for _ in range(n_camp // n_cat + 1)])
    category = category[:n_camp]
    brand_idx = rng.integers(4, size=n_camp)
    advertiser = np.array([vocab.BRANDS[vocab.TOP_CATEGORIES[c]][b]
                           for c, b in zip(category, brand_idx, strict=True)])
    start = np.zeros(n_camp, dtype=np.int64)
    end = np.full(n_camp, days + FUTURE_DAYS, dtype=np.int64)
    u = rng.random(n_camp)
    late = u < 0.15
    start[late] = (rng.uniform(0.2, 0.6, late.sum()) * days).astype(np.int64)
    early = u > 0.85
    end[early] = (rng.uniform(0.5, 0.9, early.sum()) * days).astype(np.int64) + 1
    weight = rng.lognormal(0.0, 0.6, n_camp)
    weight /= weight.sum()

    subs_of = [vocab.CATEGORIES[c] for c in vocab.TOP_CATEGORIES]
    parent_index = {s: i for i, s in enumerate(vocab.SUBCATEGORIES)}
    ad_campaign = np.repeat(np.arange(n_camp), sizes)
    ad_sub = np.empty(n_ads, dtype=np.int64)
    title, desc = np.empty(n_ads, dtype=object), np.empty(n_ads, dtype=object)
    bonus = np.zeros(n_ads)
    focus = rng.integers(3, size=n_camp)  # each campaign leans on one subcategory
    for a, c in enumerate(ad_campaign):
        cat = category[c] if rng.random() < 0.9 else rng.integers(n_cat)
        sub_local = focus[c] if rng.random() < 0.6 else rng.integers(3)
        sub = subs_of[cat][sub_local]
        ad_sub[a] = parent_index[sub]
        title[a], desc[a], bonus[a] = _ad_text(rng, sub, advertiser[c])
    quality = rng.normal(0.0, QUALITY_SD, n_ads) + bonus
    ratio = rng.lognormal(0.0, 0.4, n_ads)
    median = np.array([vocab.VOCAB[s][3] for s in vocab.SUBCATEGORIES])
    price = np.round(median[ad_sub] * ratio, 2)

    # cold start: ~10% launch in the last 20% of days, a few never appear in the logs
    launch = np.zeros(n_ads, dtype=np.int64)
    running = np.flatnonzero(end[ad_campaign] > days)
    n_new = round(0.1 * n_ads)
    n_unseen = max(1, round(0.03 * n_ads)) if n_ads >= 20 else 0
    new = rng.choice(running, size=min(n_new + n_unseen, len(running)), replace=False)
    launch[new[:n_unseen]] = days
    first = min(int(np.ceil(0.8 * days)), days - 1)
    launch[new[n_unseen:]] = rng.integers(first, days, len(new[n_unseen:]))
    return {
        "campaign_ids": _ids("c", n_camp), "campaign_category": category,
        "campaign_advertiser": advertiser, "campaign_weight": weight,
        "campaign_start": start, "campaign_end": end,
        "ad_ids": _ids("a", n_ads), "ad_campaign": ad_campaign, "ad_subcategory": ad_sub,
        "ad_quality": quality, "ad_price": price,
        "ad_launch": launch, "ad_title": title.astype(str), "ad_description": desc.astype(str),
    }


def _campaign_goals(rng: np.random.Generator, w: dict[str, np.ndarray], daily_spend: float
                    ) -> dict[str, np.ndarray]:
    n = len(w["campaign_ids"])
    objective = rng.choice(np.array(["clicks", "conversions", "revenue", "reach"]), n,
                           p=[0.3, 0.35, 0.25, 0.1])
    flight = w["campaign_end"] - w["campaign_start"]
    budget = np.round(w["campaign_weight"] * daily_spend * flight * rng.uniform(1.0, 1.3, n), -1)
    mean_price = np.bincount(w["ad_campaign"], w["ad_price"]) / np.bincount(w["ad_campaign"])
    cpa = np.where(objective == "conversions", np.round(mean_price * rng.uniform(0.1, 0.3, n), 2),
                   np.nan)
    roas = np.where(objective == "revenue", np.round(rng.uniform(3.0, 8.0, n), 1), np.nan)
    return {"campaign_objective": objective, "campaign_budget": np.maximum(budget, 10.0),
            "campaign_target_cpa": cpa, "campaign_target_roas": roas}


def _draw_items(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_sub = len(vocab.SUBCATEGORIES)
    sub = np.repeat(np.arange(n_sub), ITEMS_PER_SUBCATEGORY)
    titles, brands, prices = [], [], []
    for s in sub:
        name = vocab.SUBCATEGORIES[s]
        nouns, adjs, _, median = vocab.VOCAB[name]
        cat = vocab.TOP_CATEGORIES[vocab.subcategory_parent()[s]]
        brand = vocab.BRANDS[cat][rng.integers(4)]
        titles.append(f"{brand} {adjs[rng.integers(len(adjs))]} {nouns[rng.integers(len(nouns))]}")
        brands.append(brand)
        prices.append(round(median * float(rng.lognormal(0.0, 0.4)), 2))
    return {"item_ids": _ids("it", len(sub)), "item_subcategory": sub,
            "item_title": np.array(titles), "item_brand": np.array(brands),
            "item_price": np.array(prices)}


def draw_world(users: int, ads: int, days: int, seed: int,
               params: ResponseParams | None = None,
               policy: PolicyParams | None = None) -> World:
    """Draw every entity and its hidden state.

    Parameters
    ----------
    users, ads, days : int
        World size: number of users, of ads, and of days of ad logs.
    seed : int
        Random seed; the same seed gives the same world.
    params, policy : optional
        Response coefficients and logging policy (defaults when None).
    """
    params = params or ResponseParams()
    policy = policy or PolicyParams()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    u = _draw_users(rng, users, params, policy)
    w = _draw_campaigns_and_ads(rng, ads, days)
    if params.campaign_quality > 0:  # its own stream: a world without it is drawn as before
        shared = np.random.default_rng(np.random.SeedSequence([seed, 1])).normal(
            0.0, params.campaign_quality, len(w["campaign_ids"]))
        w["ad_quality"] = w["ad_quality"] + shared[w["ad_campaign"]]
    appeal = np.zeros((len(w["ad_ids"]), len(vocab.AGE_BANDS)))
    if params.creative_audience > 0:  # its own stream too
        appeal = np.random.default_rng(np.random.SeedSequence([seed, 2])).normal(
            0.0, params.creative_audience, appeal.shape)
    share = np.array([p[4] for p in PLACEMENTS])
    cpm = np.array([p[2] for p in PLACEMENTS])
    daily_imps = users * IMPRESSIONS_PER_USER_DAY
    goals = _campaign_goals(rng, w, daily_imps * float(share @ cpm) / 1000.0)
    items = _draw_items(rng)
    return World(
        seed=seed, days=days, params=params, policy=policy, **u, **w, **goals, **items,
        ad_appeal=appeal,
        placement_effect=np.array([p[3] for p in PLACEMENTS]), placement_share=share, cpm=cpm,
        # capacity above the logged traffic so a plan can buy more than history did
        daily_inventory=np.round(daily_imps * share * 1.25).astype(np.int64),
    )
