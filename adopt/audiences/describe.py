"""Segment portraits: size, top categories, RFM, historic CTR/CVR, and a line a planner reads.

The last step of the segment stage before it stores its tables: given a temp
table ``_adopt_segment_members`` (segment, user_id), one SQL query over
``user_profiles`` summarises each segment, and `describe` turns a summary row
into words such as "1,240 users · sports, outdoor · high spend, active in
last 7 days · CTR 3.1%, CVR 9.5%". The report and the planner API show these.
"""

from __future__ import annotations

import duckdb
import pandas as pd

MEMBERS = "_adopt_segment_members"
TOP_CATEGORIES = 3
HIGH_SPEND, LOW_SPEND = 1.5, 0.5  # segment mean monetary over the population's

_STATS_SQL = f"""
with

members as (
    select segment, user_id from {MEMBERS}
),

joined as (
    select members.segment, profiles.*,
    from members
    join user_profiles as profiles on profiles.user_id = members.user_id
),

totals as (
    select
        joined.segment,
        count(*) as size,
        sum(joined.impressions) as impressions,
        sum(joined.clicks) as clicks,
        sum(joined.conversions) as conversions,
        median(joined.recency_days) as recency_days,
        count(joined.recency_days) / count(*) as active_share,
        count(*) filter (where joined.recency_days <= 7) / count(*) as active_7d_share,
        avg(joined.frequency) as frequency,
        avg(joined.monetary) as monetary,
    from joined
    group by joined.segment
),

category_rows as (
    select joined.segment, unnest(joined.category_affinity, recursive := true),
    from joined
),

category_totals as (
    select
        category_rows.segment,
        category_rows.category,
        row_number() over (
            partition by category_rows.segment
            order by sum(category_rows.share) desc, category_rows.category
        ) as category_rank,
    from category_rows
    where category_rows.category is not null
    group by category_rows.segment, category_rows.category
),

top as (
    select
        category_totals.segment,
        list(category_totals.category order by category_totals.category_rank)
            filter (where category_totals.category_rank <= $top_n) as top_categories,
        any_value(category_totals.category) filter (where category_totals.category_rank = 1)
            as top_category,
    from category_totals
    group by category_totals.segment
),

coherence as (
    select
        joined.segment,
        avg(coalesce(joined.top_categories[1] = top.top_category, false)::double)
            as top_category_share,
    from joined
    join top on top.segment = joined.segment
    group by joined.segment
),

population as (
    select count(*) as users, avg(monetary) as monetary, from user_profiles
),

final as (
    select
        totals.segment,
        totals.size,
        totals.size / greatest(population.users, 1) as share,
        coalesce(top.top_categories, []) as top_categories,
        coherence.top_category_share,
        totals.recency_days,
        totals.active_share,
        totals.active_7d_share,
        totals.frequency,
        totals.monetary,
        totals.monetary / nullif(population.monetary, 0) as monetary_index,
        totals.impressions,
        totals.clicks,
        totals.conversions,
        totals.clicks / nullif(totals.impressions, 0) as ctr,
        -- least() skips NULL: without the case a segment with no clicks would show 100%
        case when totals.clicks > 0
            then least(totals.conversions / totals.clicks, 1.0) end as cvr,
    from totals
    cross join population
    left join top on top.segment = totals.segment
    left join coherence on coherence.segment = totals.segment
)

select * from final order by segment
"""


def segment_stats(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per segment in ``_adopt_segment_members`` with its summary figures.

    Returns
    -------
    pandas.DataFrame
        segment, size, share (of all users), top_categories (by summed
        category affinity), top_category_share (users whose own top category
        is the segment's), recency_days (median, active users), active_share,
        active_7d_share, frequency and monetary (means), monetary_index (over
        the population's mean), impressions, clicks, conversions, ctr
        (clicks / impressions), cvr (conversions / clicks, at most 1; NaN without
        clicks).
    """
    return con.execute(_STATS_SQL, {"top_n": TOP_CATEGORIES}).df()


def describe(row: pd.Series) -> str:
    """The portrait of one `segment_stats` row in words.

    Examples
    --------
    "1,240 users · sports, outdoor · high spend, active in last 7 days · CTR 3.1%, CVR 9.5%"
    """
    parts = [f"{int(row['size']):,} users"]
    categories = list(row["top_categories"]) if row["top_categories"] is not None else []
    parts.append(", ".join(categories[:2]) if categories else "no category signal")
    habits = [_spend(row["monetary"], row["monetary_index"]),
              _activity(row["recency_days"], row["active_share"])]
    parts.append(", ".join(h for h in habits if h))
    if pd.notna(row["ctr"]):
        rates = f"CTR {row['ctr']:.1%}"
        rates += f", CVR {row['cvr']:.1%}" if pd.notna(row["cvr"]) else ", CVR n/a (no clicks)"
        parts.append(rates)
    else:
        parts.append("no ad history")
    return " · ".join(p for p in parts if p)


def _spend(monetary: float, index: float) -> str:
    if pd.isna(monetary) or monetary <= 0:
        return "no spend"
    if pd.isna(index):
        return ""
    if index >= HIGH_SPEND:
        return "high spend"
    if index <= LOW_SPEND:
        return "low spend"
    return "average spend"


def _activity(recency_days: float, active_share: float) -> str:
    if pd.isna(recency_days) or active_share < 0.5:
        return "mostly inactive"
    if recency_days <= 7:
        return "active in last 7 days"
    if recency_days <= 30:
        return "active in last 30 days"
    return f"last active about {recency_days:.0f} days ago"
