"""What the warehouse logged of a plan's delivery: per user x campaign x placement x day, each
impression's place in its user's sequence, the users' segments (bound SQL parameters only)."""

from __future__ import annotations

import pandas as pd

from adopt.actuals.card import CELL, NO_SEGMENT, USER_ROW
from adopt.workspace import SEGMENT_HINT, Workspace

# Per campaign x placement x user x day, what the delivery logged in [start, end), from the
# input tables (the stg_ views stop at the profiles' as_of, before the delivery). Clicks and
# conversions count with their impression, on its day (whole days from start); one without an
# impression_id, by its own row inside the period. Sums in a fixed order (the same digits run
# to run); bound parameters only: nothing of the caller's text becomes SQL.
_DELIVERED_SQL = """
with imp as (
    select nullif(e.impression_id, '') as impression_id, e.user_id, e.ad_id, e.placement_id,
           e.ts, coalesce(e.cost, p.cpm / 1000.0) as cost
    from events e join ads a using (ad_id)
    left join placements p using (placement_id)
    where e.event = 'impression' and e.ts >= $start and e.ts < $end
      and list_contains($campaigns, a.campaign_id)
),
resp as (
    select r.event, r.revenue,
           coalesce(i.user_id, r.user_id) as user_id, coalesce(i.ad_id, r.ad_id) as ad_id,
           coalesce(i.placement_id, r.placement_id) as placement_id, coalesce(i.ts, r.ts) as ts
    from events r left join imp i on nullif(r.impression_id, '') = i.impression_id
    where r.event <> 'impression' and (i.impression_id is not null
        or (nullif(r.impression_id, '') is null and r.ts >= $start and r.ts < $end))
),
rows as (
    select 'impression' as event, user_id, ad_id, placement_id, ts, cost,
           null::double as revenue
    from imp
    union all
    select event, user_id, ad_id, placement_id, ts, 0.0, revenue from resp
)
select a.campaign_id, r.placement_id, r.user_id,
       cast(floor(epoch(r.ts - $start::timestamp) / 86400) as integer) as day,
       count(*) filter (where r.event = 'impression') as impressions,
       coalesce(sum(r.cost order by r.cost), 0) as spend,
       count(*) filter (where r.event = 'click') as clicks,
       count(*) filter (where r.event = 'conversion') as conversions,
       coalesce(sum(r.revenue order by r.revenue) filter (where r.event = 'conversion'), 0)
           as revenue
from rows r join ads a using (ad_id)
where list_contains($campaigns, a.campaign_id)
group by all
order by all
"""


# Each impression's place in its user's sequence of the campaign over all placements, in time
# order from the plan's start ($origin; k = 1, 2, ...), counted per campaign x placement x user
# x day x k for the impressions in [start, end), with the clicks and conversions that name the
# impression (an unlinked one has no place) and the time of the last impression
_POSITIONS_SQL = """
with numbered as (
    select nullif(e.impression_id, '') as impression_id, e.user_id, a.campaign_id,
           e.placement_id, e.ts,
           row_number() over (partition by a.campaign_id, e.user_id
                              order by e.ts, e.impression_id, e.placement_id) as k
    from events e join ads a using (ad_id)
    where e.event = 'impression' and e.ts >= $origin and e.ts < $end
      and list_contains($campaigns, a.campaign_id)
),
imp as (select * from numbered where ts >= $start),
rows as (
    select campaign_id, placement_id, user_id, ts, k, 'impression' as event,
           null::double as revenue
    from imp
    union all
    select i.campaign_id, i.placement_id, i.user_id, i.ts, i.k, r.event, r.revenue
    from events r join imp i on nullif(r.impression_id, '') = i.impression_id
    where r.event <> 'impression'
)
select campaign_id, placement_id, user_id,
       cast(floor(epoch(ts - $start::timestamp) / 86400) as integer) as day, k,
       count(*) filter (where event = 'impression') as impressions,
       count(*) filter (where event = 'click') as clicks,
       count(*) filter (where event = 'conversion') as conversions,
       coalesce(sum(revenue order by revenue) filter (where event = 'conversion'), 0) as revenue,
       max(ts) as last_ts
from rows
group by all
order by all
"""


# the segments of the users with an event in the period
_MEMBERS_SQL = """
select au.user_id, au.segment::varchar as segment
from audiences au
where au.user_id in (select user_id from events where ts >= $start and ts < $end)
order by all
"""


_SIZES_SQL = "select segment::varchar, count(distinct user_id) from audiences group by all"


def delivered(workspace: Workspace, campaigns: list[str], start: pd.Timestamp,
              end: pd.Timestamp, origin: pd.Timestamp) -> tuple[
                  pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float], pd.Timestamp]:
    """Per campaign x placement x user x day what the delivery logged; the impressions'
    places in their users' sequences counted from `origin`; the users' segments; every
    segment's size; the time of the last impression."""
    with workspace.connect(read_only=True) as con:
        workspace.require(["events", "ads", "placements"], "run `adopt ingest` with the "
                          "delivery's events first", con)
        workspace.require("audiences", SEGMENT_HINT, con)
        period = {"start": start.to_pydatetime(), "end": end.to_pydatetime()}
        rows = con.execute(_DELIVERED_SQL, period | {"campaigns": campaigns}).df()
        positions = con.execute(_POSITIONS_SQL, period | {
            "campaigns": campaigns, "origin": min(origin, start).to_pydatetime()}).df()
        members = con.execute(_MEMBERS_SQL, period).df()
        sizes = dict(con.execute(_SIZES_SQL).fetchall())
    ids = {"campaign_id": str, "placement_id": str, "user_id": str}
    latest = pd.Timestamp(positions.pop("last_ts").max())
    return rows.astype(ids), positions.astype(ids), members, \
        {str(k): float(v) for k, v in sizes.items()}, latest


def one_segment(rows: pd.DataFrame, members: pd.DataFrame,
                bought: pd.MultiIndex) -> pd.DataFrame:
    """`rows` with each user's segment at each campaign x placement (the package docstring:
    the first of their segments the plan buys there, else the first of theirs)."""
    key = USER_ROW
    options = rows[key].merge(members.astype(str), on="user_id")
    options["bought"] = pd.MultiIndex.from_frame(options[CELL]).isin(bought)
    options = options.sort_values([*key, "bought", "segment"],
                                  ascending=[True, True, True, False, True], kind="stable")
    picked = options.drop_duplicates(key)
    out = rows.merge(picked[[*key, "segment"]], on=key, how="left")
    out["segment"] = out["segment"].fillna(NO_SEGMENT)
    return out
