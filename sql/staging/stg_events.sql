-- stg_events: one row per ad event (impression, click, conversion) at or
-- before as_of, the events input table cleaned.
-- Parameters: as_of (timestamp; later events are ignored everywhere), read
-- from build_params: staging models are views, which cannot bind $parameters.
-- revenue defaults to 0; an impression without a cost is priced by its
-- placement in int_impressions, not here.

with

events as (
    select * from events
),

final as (
    select
        events.ts,
        events.user_id,
        events.ad_id,
        events.placement_id,
        events.event,
        events.cost,
        coalesce(events.revenue, 0) as revenue,
        nullif(events.impression_id, '') as impression_id,
    from events
    where events.ts <= (select build_params.as_of::timestamp from build_params)
)

select * from final
