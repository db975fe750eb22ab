"""training_examples: labels, features as of the impression time, no leakage."""

from __future__ import annotations

import pandas as pd
import pytest

from adopt.profiles import ProfileParams, run_profile_models

LABELS = ["clicked", "converted"]


def _examples(con) -> pd.DataFrame:
    return con.execute("select * from training_examples order by ts, impression_key").df()


def test_hand_world(warehouse, hand_world) -> None:
    con = warehouse(hand_world)
    run_profile_models(con, ProfileParams(prior_strength=1.0))
    got = _examples(con).set_index("impression_key")
    assert list(got.index) == ["i1", "i2", "i3"]
    # i3's click came 7 days later, past the 24 h window; i2's conversion had no
    # impression_id and is attributed by time.
    assert got["clicked"].tolist() == [True, False, False]
    assert got["converted"].tolist() == [False, True, False]
    assert got["hour"].tolist() == [10, 10, 10]
    assert got["day_of_week"].tolist() == [1, 2, 3]  # 2024-01-01 is a Monday
    assert got["day_index"].tolist() == [0, 1, 2]
    assert got["k_ad"].tolist() == [1, 1, 1]
    assert got["k_campaign"].tolist() == [1, 2, 1]
    # i1: nothing before it; the prior CTR of an empty past is 0.
    i1 = got.loc["i1"]
    assert (i1["user_prior_impressions"], i1["user_prior_clicks"], i1["ad_prior_impressions"]) == (
        0,
        0,
        0,
    )
    assert i1["user_ctr_smoothed"] == 0.0
    assert pd.isna(i1["user_seconds_since_last_click"])
    # i2 (u1, a2, toys): u1 saw i1 and clicked it; population so far 1 click / 1 impression.
    i2 = got.loc["i2"]
    assert (i2["user_prior_impressions"], i2["user_prior_clicks"]) == (1, 1)
    assert i2["user_seconds_since_last_click"] == 86400 - 60
    assert i2["user_ctr_smoothed"] == pytest.approx((1 + 1.0) / (1 + 1))
    assert i2["user_category_affinity"] == 0.0  # u1's only interest so far is books
    assert (i2["ad_prior_impressions"], i2["ad_age_days"], i2["ad_ctr_smoothed"]) == (0, 0.0, 1.0)
    # i3 (u2, a1): a1 had 1 impression and 1 click; population 1 click / 2 impressions.
    i3 = got.loc["i3"]
    assert (i3["user_prior_impressions"], i3["user_prior_clicks"]) == (0, 0)
    assert (i3["ad_prior_impressions"], i3["ad_prior_clicks"]) == (1, 1)
    assert i3["ad_ctr_smoothed"] == pytest.approx((1 + 0.5) / 2)
    assert i3["ad_placement_ctr_smoothed"] == pytest.approx((1 + 0.5) / 2)
    assert i3["user_ctr_smoothed"] == pytest.approx(0.5)
    assert i3["ad_age_days"] == pytest.approx(2.0)
    assert (i3["category"], i3["cpm"], i3["format"], i3["cost"]) == ("books", 10.0, "banner", 0.01)


def test_same_time_events_do_not_count(warehouse, hand_world) -> None:
    # A second impression and a click at exactly i1's time: not before i1.
    hand_world["events"] += [
        {
            "ts": "2024-01-01 10:00",
            "user_id": "u1",
            "ad_id": "a1",
            "placement_id": "p1",
            "event": "impression",
            "impression_id": "i0",
        },
        {
            "ts": "2024-01-01 10:00",
            "user_id": "u1",
            "ad_id": "a1",
            "placement_id": "p1",
            "event": "click",
            "impression_id": "i0",
        },
    ]
    con = warehouse(hand_world)
    run_profile_models(con)
    got = _examples(con).set_index("impression_key")
    for key in ("i0", "i1"):
        assert got.loc[key, "user_prior_impressions"] == 0
        assert got.loc[key, "user_prior_clicks"] == 0
        assert got.loc[key, "ad_prior_clicks"] == 0
    assert sorted(got.loc[["i0", "i1"], "k_ad"]) == [1, 2]


def test_impressions_without_id_get_distinct_keys(warehouse, hand_world) -> None:
    twin = {
        "ts": "2024-01-04 09:00",
        "user_id": "u2",
        "ad_id": "a2",
        "placement_id": "p1",
        "event": "impression",
    }
    hand_world["events"] += [twin, dict(twin)]
    con = warehouse(hand_world)
    run_profile_models(con)
    keys = _examples(con)["impression_key"]
    assert keys.is_unique and len(keys) == 5


@pytest.mark.parametrize("seed", [1, 2])
def test_future_events_do_not_change_past_features(warehouse, random_world, seed) -> None:
    world = random_world(seed)
    events, behaviors = world["events"], world["behaviors"]
    cut = events["ts"].quantile(0.6)
    past = dict(world, events=events[events.ts <= cut], behaviors=behaviors[behaviors.ts <= cut])
    # The future: the rest of the log plus a burst of clicks on every ad by
    # every user one second after the cut.
    burst = (
        past["events"]
        .drop_duplicates(["user_id", "ad_id", "placement_id"])
        .assign(ts=cut + pd.Timedelta(seconds=1), event="click", impression_id=None)
    )
    full = dict(world, events=pd.concat([events, burst], ignore_index=True))

    before = warehouse(past)
    run_profile_models(before)
    after = warehouse(full)
    run_profile_models(after)
    old = _examples(before).set_index("impression_key")
    new = _examples(after).set_index("impression_key")
    new = new[new.ts <= cut]
    features = [c for c in old.columns if c not in LABELS]
    assert len(old) > 1000
    pd.testing.assert_frame_equal(new.loc[old.index, features], old[features])
    # Labels may change (late clicks), and the burst does click some impressions.
    assert new["clicked"].sum() > old["clicked"].sum()


def test_category_affinity_counts_only_category_signals(warehouse, hand_world) -> None:
    # u1 clicks an ad without a category: not an interest signal, so it must
    # not dilute the share of books (numerator and denominator alike).
    hand_world["ads"].append({"ad_id": "a3", "campaign_id": "c2", "title": "Mystery box"})
    base = {"user_id": "u1", "placement_id": "p1"}
    hand_world["events"] += [
        {
            **base,
            "ts": "2024-01-06 12:00",
            "ad_id": "a3",
            "event": "impression",
            "impression_id": "i8",
        },
        {**base, "ts": "2024-01-06 12:01", "ad_id": "a3", "event": "click", "impression_id": "i8"},
        {
            **base,
            "ts": "2024-01-07 10:00",
            "ad_id": "a1",
            "event": "impression",
            "impression_id": "i9",
        },
    ]
    con = warehouse(hand_world)
    run_profile_models(con)
    got = _examples(con).set_index("impression_key")
    # Before i9, u1's books signals: the i1 click (2) and a purchase (5); toys: a search (1).
    assert got.loc["i9", "user_category_affinity"] == pytest.approx(7 / 8)
    assert got.loc["i9", "user_prior_clicks"] == 2
