-- serving_ad_placements: one row per ad x placement of the ads and
-- placements tables, with the pair's features as training_examples would
-- give them to an impression at $serving_as_of.
-- Parameters: $serving_as_of, $prior_strength.
-- History is int_ad_placement_stream's daily snapshot at the midnight before
-- $serving_as_of's day, summed from the same daily counts; every pair has a
-- row (a plan may buy an ad where it never ran: zero history, the prior's CTR).

with

ads as (
    select * from stg_ads
),

placements as (
    select * from stg_placements
),

daily as (
    select * from int_ad_placement_daily
),

population as (
    select * from serving_population
),

history as (
    select
        daily.ad_id,
        daily.placement_id,
        sum(daily.impressions)::bigint as impressions,
        sum(daily.clicks)::bigint as clicks,
    from daily
    where daily.day_start < date_trunc('day', $serving_as_of::timestamp)
    group by daily.ad_id, daily.placement_id
),

features as (
    select
        ads.ad_id,
        placements.placement_id,
        coalesce(history.impressions, 0) as ad_placement_prior_impressions,
        coalesce(history.clicks, 0) as ad_placement_prior_clicks,
    from ads
    cross join placements
    left join history
        on history.ad_id = ads.ad_id
        and history.placement_id = placements.placement_id
),

final as (
    select
        features.*,
        smoothed_rate(
            features.ad_placement_prior_clicks,
            features.ad_placement_prior_impressions,
            population.prior_ctr,
            $prior_strength
        ) as ad_placement_ctr_smoothed,
    from features
    cross join population
)

select * from final
