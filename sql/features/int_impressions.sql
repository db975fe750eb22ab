-- int_impressions: one row per impression event at or before $as_of, with
-- its key, campaign, ad category and cost.
-- Parameters: none (stg_events is already cut at $as_of).
-- impression_key is the impression_id when the logs carry one; otherwise it
-- is built from user, ad, placement, time and a counter for exact repeats
-- (so responses that name an impression_id join on impression_key).
-- cost defaults to the placement's price of one impression (cpm / 1000).

with

events as (
    select * from stg_events
),

ads as (
    select * from stg_ads
),

placements as (
    select * from stg_placements
),

impressions as (
    select
        events.*,
        events.impression_id as impression_key,
    from events
    where events.event = 'impression' and events.impression_id is not null
    union all
    -- Only impressions without an id pay for the window that numbers repeats.
    select
        events.*,
        concat_ws(
            '|',
            events.user_id,
            events.ad_id,
            events.placement_id,
            strftime(events.ts, '%Y-%m-%dT%H:%M:%S.%f'),
            row_number() over (
                partition by events.user_id, events.ad_id, events.placement_id, events.ts
                order by events.cost, events.revenue
            )
        ) as impression_key,
    from events
    where events.event = 'impression' and events.impression_id is null
),

final as (
    select
        impressions.impression_key,
        impressions.ts,
        impressions.user_id,
        impressions.ad_id,
        ads.campaign_id,
        ads.category,
        impressions.placement_id,
        coalesce(impressions.cost, placements.cpm / 1000.0) as cost,
    from impressions
    inner join ads on ads.ad_id = impressions.ad_id
    inner join placements on placements.placement_id = impressions.placement_id
)

select * from final
