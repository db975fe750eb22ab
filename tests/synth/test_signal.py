"""The demo world carries the signals later stages must find, and its truth explains its logs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.synth import load_truth
from adopt.synth.vocab import CATEGORIES, SUBCATEGORIES, noun_to_subcategory


def _subcategory_of(text: str, nouns: dict[str, str]) -> str | None:
    found = {sub for noun, sub in nouns.items() if noun in text.lower()}
    return found.pop() if len(found) == 1 else None


def test_fatigue_visible(impressions: pd.DataFrame) -> None:
    first = impressions.loc[impressions.k == 1, "clicked"].mean()
    later = impressions.loc[impressions.k >= 4, "clicked"].mean()
    fifth = impressions.loc[impressions.k == 5, "clicked"].mean()
    assert first > 1.3 * later
    assert 1.4 < first / fifth < 3.0


def test_interest_match_visible(demo_world: Path, impressions: pd.DataFrame) -> None:
    truth = load_truth(demo_world)
    interest = truth.users.loc[impressions.user_id, [f"interest_{s}" for s in SUBCATEGORIES]]
    top3 = np.argsort(-interest.to_numpy(), axis=1)[:, :3]
    ad_sub = pd.Index(SUBCATEGORIES).get_indexer(truth.ads.loc[impressions.ad_id, "subcategory"])
    matched = (top3 == ad_sub[:, None]).any(axis=1)
    assert 0.1 < matched.mean() < 0.6  # the logging policy targets, noisily
    ctr_match = impressions.clicked[matched].mean()
    ctr_other = impressions.clicked[~matched].mean()
    assert ctr_match > 2 * ctr_other


def test_rates_are_realistic(demo_world: Path) -> None:
    events = pd.read_parquet(demo_world / "events")
    counts = events.event.value_counts()
    ctr = counts["click"] / counts["impression"]
    cvr = counts["conversion"] / counts["click"]
    assert 0.01 < ctr < 0.04
    assert 0.05 < cvr < 0.15
    roas = events.revenue.sum() / events.cost.sum()
    assert 2 < roas < 20


def test_cold_start_ads(demo_world: Path, impressions: pd.DataFrame) -> None:
    ads = pd.read_parquet(demo_world / "ads.parquet")
    days = load_truth(demo_world).info["days"]
    start = impressions.ts.min().normalize()
    first_day = (impressions.groupby("ad_id").ts.min() - start).dt.days
    late = first_day[first_day >= 0.8 * days]
    unseen = set(ads.ad_id) - set(first_day.index)
    assert 0.05 * len(ads) <= len(late) <= 0.15 * len(ads)
    assert 1 <= len(unseen) <= 0.05 * len(ads)
    launch = load_truth(demo_world).ads.launch_day
    assert (launch[list(unseen)] == days).all()


def test_ad_text_reveals_subcategory_not_in_columns(demo_world: Path) -> None:
    ads = pd.read_parquet(demo_world / "ads.parquet")
    truth = load_truth(demo_world).ads.loc[ads.ad_id]
    nouns = noun_to_subcategory()
    found = [_subcategory_of(t, nouns) for t in ads.title]
    assert found == list(truth.subcategory)
    assert set(ads.category) <= set(CATEGORIES)
    assert (ads.category.to_numpy() == truth.category.to_numpy()).all()
    # offers in the text go with higher latent quality
    has_offer = ads.description.str.contains("off|Free shipping|Buy one", regex=True).to_numpy()
    assert truth.quality[has_offer].mean() > truth.quality[~has_offer].mean() + 0.1


def test_behaviors_reveal_interests(demo_world: Path) -> None:
    behaviors = pd.read_parquet(demo_world / "behaviors", columns=["user_id", "text"])
    truth = load_truth(demo_world)
    nouns = noun_to_subcategory()
    sub_of_text = {t: _subcategory_of(t, nouns) for t in behaviors.text.unique()}
    assert None not in sub_of_text.values()
    behaviors["sub"] = behaviors.text.map(sub_of_text)
    active = behaviors.groupby("user_id").filter(lambda g: len(g) >= 10)
    top_seen = active.groupby("user_id").sub.agg(lambda s: Counter(s).most_common(1)[0][0])
    interest = truth.users.loc[top_seen.index, [f"interest_{s}" for s in SUBCATEGORIES]]
    top3 = np.array(SUBCATEGORIES)[np.argsort(-interest.to_numpy(), axis=1)[:, :3]]
    assert len(top_seen) > 500
    # chance would be 1/24 and 3/24
    assert (top_seen.to_numpy() == top3[:, 0]).mean() > 0.4
    assert (top_seen.to_numpy()[:, None] == top3).any(axis=1).mean() > 0.75


def test_demographics_correlate_with_interests(demo_world: Path) -> None:
    users = pd.read_parquet(demo_world / "users.parquet").set_index("user_id")
    truth = load_truth(demo_world).users.loc[users.index]
    beauty = truth[[f"interest_{s}" for s in CATEGORIES["beauty"]]].sum(axis=1)
    books = truth[[f"interest_{s}" for s in CATEGORIES["books"]]].sum(axis=1)
    assert beauty[users.gender == "f"].mean() > 1.5 * beauty[users.gender == "m"].mean()
    assert books[users.age_band == "55+"].mean() > 1.5 * books[users.age_band == "18-24"].mean()


def test_activity_is_heavy_tailed(impressions: pd.DataFrame) -> None:
    per_user = impressions.user_id.value_counts()
    assert per_user.max() > 10 * per_user.median()
    assert per_user.mean() > 1.3 * per_user.median()


def test_truth_explains_the_logs(demo_world: Path, impressions: pd.DataFrame) -> None:
    events = pd.read_parquet(demo_world / "events", columns=["event", "impression_id", "revenue"])
    truth = load_truth(demo_world)
    expected = truth.expected(
        impressions.user_id, impressions.ad_id, impressions.placement_id, impressions.k)
    checks = {
        "clicks": (expected.p_click, impressions.clicked.sum()),
        "conversions": (expected.p_conversion, (events.event == "conversion").sum()),
    }
    for name, (p, observed) in checks.items():
        sd = np.sqrt((p * (1 - p)).sum())
        assert abs(observed - p.sum()) < 4 * sd, name
    for placement, rows in impressions.groupby("placement_id"):
        p = expected.p_click[rows.index]
        sd = np.sqrt((p * (1 - p)).sum())
        assert abs(rows.clicked.sum() - p.sum()) < 4 * sd, placement
    # revenue = price * (1 + Poisson(extra)) on a conversion: E[V^2] = price^2 (extra + (1+extra)^2)
    price = truth.ads.price[impressions.ad_id].to_numpy()
    extra = truth.params.basket_extra
    second = expected.p_conversion * price**2 * (extra + (1 + extra) ** 2)
    sd = np.sqrt((second - expected.expected_revenue**2).sum())
    assert abs(events.revenue.sum() - expected.expected_revenue.sum()) < 4 * sd
