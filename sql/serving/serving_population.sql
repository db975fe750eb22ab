-- serving_population: one row, the population's totals before the day of
-- $serving_as_of and the CTR that smoothed rates shrink toward.
-- Parameters: $serving_as_of.
-- The serving state (sql/serving/) is what training_examples would give an
-- impression at $serving_as_of: the build sets it to the first midnight after
-- $as_of (adopt.profiles.serving_time), so the state holds every logged day.
-- This row is int_population_stream's snapshot at the midnight before
-- $serving_as_of's day, summed from the same daily counts (a stream row exists
-- only on days with activity, that day may have none).

with

daily as (
    select * from int_ad_placement_daily
),

totals as (
    select
        coalesce(sum(daily.impressions), 0)::bigint as impressions,
        coalesce(sum(daily.clicks), 0)::bigint as clicks,
    from daily
    where daily.day_start < date_trunc('day', $serving_as_of::timestamp)
),

final as (
    select
        totals.impressions,
        totals.clicks,
        coalesce(totals.clicks / nullif(totals.impressions, 0), 0.0) as prior_ctr,
    from totals
)

select * from final
