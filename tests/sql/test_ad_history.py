"""ad_history: given the hand-built world, expect values worked out by hand."""

from __future__ import annotations

import pandas as pd

from adopt.profiles import ProfileParams, run_profile_models


def test_hand_world(warehouse, hand_world) -> None:
    con = warehouse(hand_world)
    run_profile_models(con, ProfileParams(prior_strength=1.0))
    got = con.execute("select * from ad_history order by ad_id").df()
    # Placement p1: 3 impressions, 2 clicks, 1 conversion: ctr 2/3, cvr 1/2.
    expect = pd.DataFrame(
        {
            "ad_id": ["a1", "a2"],
            "placement_id": ["p1", "p1"],
            "campaign_id": ["c1", "c1"],
            "impressions": [2, 1],
            "clicks": [2, 0],
            "conversions": [0, 1],
            "spend": [0.02, 0.05],
            "revenue": [0.0, 30.0],
            "ctr_smoothed": [(2 + 2 / 3) / 3, (2 / 3) / 2],
            # a2 has a conversion but no click: (1 + 1/2) / 1, capped at 1.
            "cvr_smoothed": [0.5 / 3, 1.0],
            "first_seen": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00"]),
            "last_seen": pd.to_datetime(["2024-01-03 10:00", "2024-01-02 10:00"]),
        }
    )
    pd.testing.assert_frame_equal(got[expect.columns], expect, check_dtype=False)


def test_ad_placements_without_impressions_have_no_row(warehouse, hand_world) -> None:
    hand_world["placements"].append({"placement_id": "p2", "cpm": 3.0})
    hand_world["events"].append(
        {
            "ts": "2024-01-04 10:00",
            "user_id": "u1",
            "ad_id": "a1",
            "placement_id": "p2",
            "event": "click",
        }
    )
    con = warehouse(hand_world)
    run_profile_models(con)
    pairs = con.execute("select ad_id, placement_id from ad_history order by all").fetchall()
    assert pairs == [("a1", "p1"), ("a2", "p1")]
