-- int_ad_placement_stream: one row per ad x placement x day with an
-- impression or click there, holding the totals from before that day.
-- Parameters: none.
-- Daily snapshots at midnight, read like int_ad_stream's.

with

events as (
    select * from stg_events
),

steps as (
    select
        events.ad_id,
        events.placement_id,
        date_trunc('day', events.ts) as day_start,
        count(*) filter (where events.event = 'impression') as impressions,
        count(*) filter (where events.event = 'click') as clicks,
    from events
    where events.event in ('impression', 'click')
    group by events.ad_id, events.placement_id, day_start
),

final as (
    select
        steps.ad_id,
        steps.placement_id,
        steps.day_start,
        (coalesce(sum(steps.impressions) over before, 0))::bigint as impressions,
        (coalesce(sum(steps.clicks) over before, 0))::bigint as clicks,
    from steps
    window before as (
        partition by steps.ad_id, steps.placement_id
        order by steps.day_start
        rows between unbounded preceding and 1 preceding
    )
)

select * from final
