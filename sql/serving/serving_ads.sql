-- serving_ads: one row per ad of the ads table, with the ad's features as
-- training_examples would give them to an impression at $serving_as_of.
-- Parameters: $serving_as_of, $prior_strength.
-- History is int_ad_stream's daily snapshot at the midnight before
-- $serving_as_of's day, summed from the same daily counts (an ad without
-- activity that day has no stream row); ad_age_days counts from the ad's
-- first impression before that day (0 without one); the CTR shrinks toward
-- serving_population.

with

ads as (
    select * from stg_ads
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
        sum(daily.impressions)::bigint as impressions,
        sum(daily.clicks)::bigint as clicks,
        min(daily.first_impression_ts) as first_impression_ts,
    from daily
    where daily.day_start < date_trunc('day', $serving_as_of::timestamp)
    group by daily.ad_id
),

features as (
    select
        ads.ad_id,
        ads.campaign_id,
        ads.category,
        ads.brand,
        ads.price,
        coalesce(history.impressions, 0) as ad_prior_impressions,
        coalesce(history.clicks, 0) as ad_prior_clicks,
        coalesce(
            (epoch($serving_as_of::timestamp) - epoch(history.first_impression_ts)) / 86400.0, 0.0
        ) as ad_age_days,
    from ads
    left join history on history.ad_id = ads.ad_id
),

final as (
    select
        features.*,
        smoothed_rate(
            features.ad_prior_clicks,
            features.ad_prior_impressions,
            population.prior_ctr,
            $prior_strength
        ) as ad_ctr_smoothed,
    from features
    cross join population
)

select * from final
