-- ad_history: one row per ad x placement with at least one impression.
-- Parameters: $prior_strength.
-- Clicks and conversions count the events logged on that ad x placement.
-- ctr_smoothed / cvr_smoothed shrink toward the placement's own rate with a
-- beta prior worth $prior_strength impressions / clicks; cvr is per click,
-- capped at 1. first_seen / last_seen are the first and last impressions.
-- The totals come from int_ad_placement_totals (sums, mins and maxes, so a
-- partitioned build merges them from its partitions' totals). Money is summed
-- as DECIMAL there: exact, so the result does not depend on the order
-- DuckDB's threads add rows in (rebuilds are identical).

with

totals as (
    select * from int_ad_placement_totals
),

per_ad_placement as (
    select
        totals.ad_id,
        totals.placement_id,
        totals.campaign_id,
        totals.impressions,
        totals.clicks,
        totals.conversions,
        totals.spend::double as spend,
        totals.revenue::double as revenue,
        totals.first_seen,
        totals.last_seen,
    from totals
    where totals.impressions > 0
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
