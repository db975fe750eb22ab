-- int_ad_placement_totals: one row per ad x placement with an impression,
-- click or conversion, holding its totals as of as_of.
-- Parameters: none (stg_events is already cut at as_of).
-- Every column is a sum, a min or a max, so totals of disjoint parts of the
-- log (user-hash partitions, adopt.partitioned) add up to the totals of the
-- whole log. Money stays DECIMAL (exact): ad_history turns it to double.
-- campaign_id is the ad's campaign (null on a row with responses only).

with

events as (
    select * from stg_events
),

impressions as (
    select * from int_impressions
),

impression_totals as (
    select
        impressions.ad_id,
        impressions.placement_id,
        min(impressions.campaign_id) as campaign_id,
        count(*) as impressions,
        sum(impressions.cost::decimal(38, 12)) as spend,
        min(impressions.ts) as first_seen,
        max(impressions.ts) as last_seen,
    from impressions
    group by impressions.ad_id, impressions.placement_id
),

response_totals as (
    select
        events.ad_id,
        events.placement_id,
        count(*) filter (where events.event = 'click') as clicks,
        count(*) filter (where events.event = 'conversion') as conversions,
        coalesce(
            sum(events.revenue::decimal(38, 12)) filter (where events.event = 'conversion'), 0
        ) as revenue,
    from events
    where events.event in ('click', 'conversion')
    group by events.ad_id, events.placement_id
),

final as (
    select
        coalesce(impression_totals.ad_id, response_totals.ad_id) as ad_id,
        coalesce(impression_totals.placement_id, response_totals.placement_id) as placement_id,
        impression_totals.campaign_id,
        coalesce(impression_totals.impressions, 0) as impressions,
        coalesce(impression_totals.spend, 0) as spend,
        impression_totals.first_seen,
        impression_totals.last_seen,
        coalesce(response_totals.clicks, 0) as clicks,
        coalesce(response_totals.conversions, 0) as conversions,
        coalesce(response_totals.revenue, 0) as revenue,
    from impression_totals
    full outer join response_totals
        on response_totals.ad_id = impression_totals.ad_id
        and response_totals.placement_id = impression_totals.placement_id
)

select * from final
