"""user_profiles: given the hand-built world, expect values worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from adopt.profiles import ProfileParams, run_profile_models


@pytest.fixture
def profiles(warehouse, hand_world) -> pd.DataFrame:
    con = warehouse(hand_world)
    run_profile_models(con, ProfileParams(prior_strength=1.0))
    return con.execute("select * from user_profiles order by user_id").df().set_index("user_id")


def test_counts_money_and_smoothed_rates(profiles: pd.DataFrame) -> None:
    # Population: 3 impressions, 2 clicks, 1 conversion: ctr 2/3, cvr 1/2.
    expect = pd.DataFrame(
        {
            "impressions": [2, 1, 0],
            "clicks": [1, 1, 0],
            "conversions": [1, 0, 0],
            "spend": [0.01 + 0.05, 0.01, 0.0],
            "revenue": [30.0, 0.0, 0.0],
            "ctr_smoothed": [(1 + 2 / 3) / 3, (1 + 2 / 3) / 2, 2 / 3],
            "cvr_smoothed": [(1 + 0.5) / 2, 0.5 / 2, 0.5],
            "frequency": [2, 0, 0],
            "monetary": [50.0, 0.0, 0.0],
            "active_days": [4, 2, 0],
        },
        index=pd.Index(["u1", "u2", "u3"], name="user_id"),
    )
    pd.testing.assert_frame_equal(profiles[expect.columns], expect, check_dtype=False)


def test_rfm_and_activity(profiles: pd.DataFrame) -> None:
    # as_of = the last event, 2024-01-10 10:00; u1 last purchased 2024-01-05 00:00.
    assert profiles.loc["u1", "recency_days"] == pytest.approx(5 + 10 / 24)
    assert profiles.loc["u2", "recency_days"] == pytest.approx(0.0)
    assert pd.isna(profiles.loc["u3", "recency_days"])
    assert profiles["r_score"].tolist() == [1, 5, 1]
    assert profiles["f_score"].tolist() == [1, 1, 1]
    assert profiles["rfm_segment"].tolist() == ["hibernating", "new", "inactive"]
    assert profiles["activity_level"].tolist() == ["low", "low", "inactive"]


def test_attributes_are_cleaned(profiles: pd.DataFrame) -> None:
    assert profiles.loc["u1", "age_band"] == "25-34"
    assert pd.isna(profiles.loc["u3", "age_band"])


def test_category_affinity_and_interest_text(profiles: pd.DataFrame) -> None:
    half_life = 30.0
    # a1 click on 01-01 10:01 (weight 2), purchase on 01-05 (5), search on 01-06 (1).
    books = 2 * 0.5 ** ((9 * 1440 - 1) / 1440 / half_life) + 5 * 0.5 ** ((5 + 10 / 24) / half_life)
    toys = 1 * 0.5 ** ((4 + 10 / 24) / half_life)
    u1 = profiles.loc["u1"]
    assert list(u1["top_categories"]) == ["books", "toys"]
    shares = {item["category"]: item["share"] for item in u1["category_affinity"]}
    assert shares == pytest.approx({"books": books / (books + toys), "toys": toys / (books + toys)})
    assert u1["interest_text"] == "interests: books, toys. recent: lego set; python book"
    # u2 only clicked: an affinity, but no behaviour and so no interest text.
    assert list(profiles.loc["u2", "top_categories"]) == ["books"]
    assert profiles.loc["u2", "interest_text"] == ""
    assert list(profiles.loc["u3", "top_categories"]) == []


def test_interest_text_is_cut_to_the_word_limit(warehouse, hand_world) -> None:
    con = warehouse(hand_world)
    run_profile_models(con, ProfileParams(interest_text_words=4))
    text = con.execute("select interest_text from user_profiles where user_id = 'u1'").fetchone()
    assert text[0] == "interests: books, toys. recent:"


def test_as_of_cuts_later_activity(warehouse, hand_world) -> None:
    con = warehouse(hand_world)
    run_profile_models(con, ProfileParams(prior_strength=1.0), as_of="2024-01-01 12:00")
    rows = con.execute(
        "select user_id, impressions, clicks, recency_days from user_profiles order by user_id"
    ).fetchall()
    assert rows == [
        ("u1", 1, 1, pytest.approx((12 * 60 - 10 * 60 - 1) / 1440)),
        ("u2", 0, 0, None),
        ("u3", 0, 0, None),
    ]
