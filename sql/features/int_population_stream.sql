-- int_population_stream: one row per day with an impression or click,
-- holding the population's totals from before that day.
-- Parameters: none.
-- The population CTR before an impression's day is the prior that the
-- training features shrink toward (daily snapshots at midnight, read like
-- int_ad_stream's): a global rate over all time would let later clicks
-- leak into earlier rows.

with

daily as (
    select * from int_ad_placement_daily
),

steps as (
    select
        daily.day_start,
        sum(daily.impressions) as impressions,
        sum(daily.clicks) as clicks,
    from daily
    group by daily.day_start
),

final as (
    select
        steps.day_start,
        (coalesce(sum(steps.impressions) over before, 0))::bigint as impressions,
        (coalesce(sum(steps.clicks) over before, 0))::bigint as clicks,
    from steps
    window before as (
        order by steps.day_start
        rows between unbounded preceding and 1 preceding
    )
)

select * from final
