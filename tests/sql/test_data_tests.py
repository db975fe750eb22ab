"""Generic data tests on the marts: failing-row queries that must return nothing.

Unique keys, not-null columns, relationships to the input tables and accepted
ranges, checked on seeded random worlds (dbt-style: each query selects the
rows that break the rule).
"""

from __future__ import annotations

import duckdb
import pytest

UNIQUE = {
    "user_profiles": "user_id",
    "ad_history": "ad_id, placement_id",
    "training_examples": "impression_key",
}

NOT_NULL = {
    "user_profiles": [
        "user_id",
        "impressions",
        "clicks",
        "conversions",
        "spend",
        "revenue",
        "ctr_smoothed",
        "cvr_smoothed",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "active_days",
        "activity_level",
        "top_categories",
        "category_affinity",
        "interest_text",
    ],
    "ad_history": [
        "ad_id",
        "placement_id",
        "campaign_id",
        "impressions",
        "clicks",
        "conversions",
        "spend",
        "revenue",
        "ctr_smoothed",
        "cvr_smoothed",
        "first_seen",
        "last_seen",
    ],
    "training_examples": [
        "impression_key",
        "ts",
        "user_id",
        "ad_id",
        "campaign_id",
        "placement_id",
        "hour",
        "day_of_week",
        "day_index",
        "k_ad",
        "k_campaign",
        "user_prior_impressions",
        "user_prior_clicks",
        "user_ctr_smoothed",
        "user_category_affinity",
        "ad_prior_impressions",
        "ad_ctr_smoothed",
        "ad_placement_ctr_smoothed",
        "ad_age_days",
        "cpm",
        "cost",
        "clicked",
        "converted",
    ],
}

FAILING_ROWS = {
    # relationships
    "profiles of unknown users": "from user_profiles anti join users using (user_id)",
    "users without a profile": "from users anti join user_profiles using (user_id)",
    "history of unknown ads": "from ad_history anti join ads using (ad_id)",
    "history of unknown placements": "from ad_history anti join placements using (placement_id)",
    "examples of unknown users": "from training_examples anti join users using (user_id)",
    "examples of unknown ads": "from training_examples anti join ads using (ad_id)",
    "impressions without an example": """
        select count(*) as n from events where event = 'impression'
        having n <> (select count(*) from training_examples)""",
    # accepted ranges
    "rates outside [0, 1]": """
        from user_profiles where not (ctr_smoothed between 0 and 1 and cvr_smoothed between 0 and 1)
        """,
    "history rates outside [0, 1]": """
        from ad_history where not (ctr_smoothed between 0 and 1 and cvr_smoothed between 0 and 1)
        """,
    "example rates outside [0, 1]": """
        from training_examples where not (user_ctr_smoothed between 0 and 1
            and ad_ctr_smoothed between 0 and 1 and ad_placement_ctr_smoothed between 0 and 1
            and user_category_affinity between 0 and 1)""",
    "scores outside 1..5": """
        from user_profiles where not (r_score between 1 and 5 and f_score between 1 and 5
            and m_score between 1 and 5)""",
    "negative counts or money": """
        from user_profiles where least(impressions, clicks, conversions, spend, revenue,
            frequency, monetary, active_days) < 0 or recency_days < 0""",
    "affinity shares not summing to 1": """
        from user_profiles where len(category_affinity) > 0
            and abs(list_sum([x.share for x in category_affinity]) - 1) > 1e-9""",
    "more than 3 top categories": "from user_profiles where len(top_categories) > 3",
    "interest text over 40 words": """
        from user_profiles where len(string_split(interest_text, ' ')) > 40""",
    "history seen before first seen": "from ad_history where last_seen < first_seen",
    "impossible sequence or clock values": """
        from training_examples where k_ad < 1 or k_campaign < k_ad
            or hour not between 0 and 23 or day_of_week not between 1 and 7""",
    "prior totals above the final totals": """
        from training_examples as t join user_profiles as u using (user_id)
        where t.user_prior_impressions >= u.impressions""",
}


def _cases() -> list[tuple[str, str]]:
    cases = [
        (f"{table} unique {key}", f"select {key} from {table} group by all having count(*) > 1")
        for table, key in UNIQUE.items()
    ]
    cases += [
        (f"{table}.{column} not null", f"from {table} where {column} is null")
        for table, columns in NOT_NULL.items()
        for column in columns
    ]
    cases += list(FAILING_ROWS.items())
    return cases


@pytest.mark.parametrize(("rule", "query"), _cases(), ids=[name for name, _ in _cases()])
def test_no_failing_rows(random_marts: duckdb.DuckDBPyConnection, rule: str, query: str) -> None:
    rows = random_marts.execute(query).fetchall()
    assert rows == [], f"{rule}: {len(rows)} failing rows, e.g. {rows[:3]}"


def test_the_queries_catch_bad_rows(random_marts: duckdb.DuckDBPyConnection) -> None:
    # Break a copy of the marts in a transaction: the matching rules must fire.
    con = random_marts
    con.execute("begin transaction")
    try:
        con.execute("insert into user_profiles select * from user_profiles limit 1")
        con.execute(
            "update ad_history set ctr_smoothed = 1.5 "
            "where ad_id = (select min(ad_id) from ad_history)"
        )
        fired = {name for name, query in _cases() if con.execute(query).fetchall()}
    finally:
        con.execute("rollback")
    assert fired == {"user_profiles unique user_id", "history rates outside [0, 1]"}
