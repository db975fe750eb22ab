-- ad_history: one row per ad x placement with at least one impression.
-- Parameters: $prior_strength.
-- Clicks and conversions count the events logged on that ad x placement.
-- ctr_smoothed / cvr_smoothed shrink toward the placement's own rate with a
-- beta prior worth $prior_strength impressions / clicks; cvr is per click,
-- capped at 1. first_seen / last_seen are the first and last impressions.
-- Money is summed as DECIMAL: exact, so the result does not depend on the
-- order DuckDB's threads add rows in (rebuilds are identical).

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
        any_value(impressions.campaign_id) as campaign_id,
        count(*) as impressions,
        sum(impressions.cost::decimal(38, 12))::double as spend,
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
        )::double as revenue,
    from events
    where events.event in ('click', 'conversion')
    group by events.ad_id, events.placement_id
),

per_ad_placement as (
    select
        impression_totals.ad_id,
        impression_totals.placement_id,
        impression_totals.campaign_id,
        impression_totals.impressions,
        coalesce(response_totals.clicks, 0) as clicks,
        coalesce(response_totals.conversions, 0) as conversions,
        impression_totals.spend,
        coalesce(response_totals.revenue, 0.0) as revenue,
        impression_totals.first_seen,
        impression_totals.last_seen,
    from impression_totals
    left join response_totals
        on response_totals.ad_id = impression_totals.ad_id
        and response_totals.placement_id = impression_totals.placement_id
),

placement_rates as (
    select
        per_ad_placement.placement_id,
        sum(per_ad_placement.clicks) / sum(per_ad_placement.impressions) as placement_ctr,
        least(
            sum(per_ad_placement.conversions) / greatest(sum(per_ad_placement.clicks), 1),
            1.0
        ) as placement_cvr,
    from per_ad_placement
    group by per_ad_placement.placement_id
),

final as (
    select
        per_ad_placement.ad_id,
        per_ad_placement.placement_id,
        per_ad_placement.campaign_id,
        per_ad_placement.impressions,
        per_ad_placement.clicks,
        per_ad_placement.conversions,
        per_ad_placement.spend,
        per_ad_placement.revenue,
        smoothed_rate(
            per_ad_placement.clicks,
            per_ad_placement.impressions,
            placement_rates.placement_ctr,
            $prior_strength
        ) as ctr_smoothed,
        smoothed_rate(
            per_ad_placement.conversions,
            per_ad_placement.clicks,
            placement_rates.placement_cvr,
            $prior_strength
        ) as cvr_smoothed,
        per_ad_placement.first_seen,
        per_ad_placement.last_seen,
    from per_ad_placement
    inner join placement_rates
        on placement_rates.placement_id = per_ad_placement.placement_id
)

select * from final
