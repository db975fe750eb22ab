-- int_ad_placement_daily: one row per ad x placement x day with an
-- impression or click there, holding that day's counts.
-- Parameters: none (stg_events is already cut at as_of).
-- The daily snapshot streams (int_ad_stream, int_ad_placement_stream,
-- int_population_stream) add these rows up, so the events are read once for
-- all three. first_impression_ts is the first impression of the day (null
-- on a day with clicks only).

with

events as (
    select * from stg_events
),

final as (
    select
        events.ad_id,
        events.placement_id,
        date_trunc('day', events.ts) as day_start,
        count(*) filter (where events.event = 'impression') as impressions,
        count(*) filter (where events.event = 'click') as clicks,
        min(events.ts) filter (where events.event = 'impression') as first_impression_ts,
    from events
    where events.event in ('impression', 'click')
    group by events.ad_id, events.placement_id, day_start
)

select * from final
