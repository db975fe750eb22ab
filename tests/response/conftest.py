"""Fixtures of the response tests: a small synthetic world with a known signal, one local Ray."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

CATEGORIES = ["shoes", "books", "phones", "games", "garden"]
BRANDS = ["acme", "zeta", "nova"]
PLACEMENTS = {"home": 0.4, "search": 0.0, "feed": -0.5}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_examples(
    n: int = 20_000, users: int = 300, ads: int = 40, days: int = 5, seed: int = 0, dim: int = 8
) -> pd.DataFrame:
    """Impressions whose click odds rise when the user's interest matches the ad's category.
    """
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(len(CATEGORIES), dim))
    interest = rng.integers(len(CATEGORIES), size=users)
    ad_cat = rng.integers(len(CATEGORIES), size=ads)
    user_vec = basis[interest] + 0.3 * rng.normal(size=(users, dim))
    ad_vec = basis[ad_cat] + 0.3 * rng.normal(size=(ads, dim))
    u = rng.integers(users, size=n)
    # later ads appear only on the last day: cold-start ads in the test period
    a = rng.integers(ads, size=n)
    ts = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, days, size=n), unit="D")
    young = ts < pd.Timestamp("2026-01-01") + pd.Timedelta(days=days - 1)
    a = np.where(young & (a >= ads - 5), a - 5, a)
    place = rng.choice(list(PLACEMENTS), size=n)
    k_ad = rng.integers(1, 6, size=n)
    match = (interest[u] == ad_cat[a]).astype(float)
    user_activity = rng.gamma(2.0, 1.0, size=users)[u]
    logit = (-3.0 + 2.5 * match + np.vectorize(PLACEMENTS.get)(place) - 0.3 * (k_ad - 1)
             + 0.4 * np.log(user_activity))
    p = _sigmoid(logit)
    clicked = (rng.random(n) < p).astype(int)
    converted = clicked * (rng.random(n) < _sigmoid(-1.0 + 1.5 * match)).astype(int)
    filler = rng.choice(["today", "often", "new", "cheap"], size=n)
    return pd.DataFrame(
        {
            "ts": ts,
            "user_id": u,
            "ad_id": a,
            "campaign_id": a // 4,
            "placement_id": place,
            "category": np.array(CATEGORIES)[ad_cat[a]],
            "brand": np.array(BRANDS)[a % len(BRANDS)],
            "k_ad": k_ad,
            "k_campaign": k_ad + rng.integers(0, 3, size=n),
            "user_activity": user_activity,
            "noise": rng.normal(size=n),
            "user_text": [f"likes {CATEGORIES[i]} {w}"
                          for i, w in zip(interest[u], filler, strict=True)],
            "ad_text": [f"{CATEGORIES[c]} deal {BRANDS[i % 3]}"
                        for c, i in zip(ad_cat[a], a, strict=True)],
            "user_vec": list(user_vec[u].astype(np.float32)),
            "ad_vec": list(ad_vec[a].astype(np.float32)),
            "clicked": clicked,
            "converted": converted,
        }
    ).sort_values("ts", ignore_index=True)


@pytest.fixture(scope="session")
def examples() -> pd.DataFrame:
    """A 20k-row world over 5 days (shared, do not mutate)."""
    return make_examples()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (loopback only, no dashboard).

    Reuses a Ray another test folder already started, and leaves that one running.
    """
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _node_ip_address="127.0.0.1")
    yield ray
    if started:
        ray.shutdown()
