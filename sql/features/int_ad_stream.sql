-- int_ad_stream: one row per ad x day with an impression or click of the
-- ad, holding the ad's totals from before that day (a snapshot at midnight).
-- Parameters: none.
-- Daily snapshots, as an ad server would refresh them: every counted event
-- is strictly before any impression of the day, and training_examples finds
-- its snapshot with a hash join on (ad_id, day_start), no sort of 10 million
-- impressions. first_impression_ts is the ad's first impression before the
-- day (its age origin; null on its first day).

with

daily as (
    select * from int_ad_placement_daily
),

steps as (
    select
        daily.ad_id,
        daily.day_start,
        sum(daily.impressions) as impressions,
        sum(daily.clicks) as clicks,
        min(daily.first_impression_ts) as first_impression_ts,
    from daily
    group by daily.ad_id, daily.day_start
),

final as (
    select
        steps.ad_id,
        steps.day_start,
        (coalesce(sum(steps.impressions) over before, 0))::bigint as impressions,
        (coalesce(sum(steps.clicks) over before, 0))::bigint as clicks,
        min(steps.first_impression_ts) over before as first_impression_ts,
    from steps
    window before as (
        partition by steps.ad_id
        order by steps.day_start
        rows between unbounded preceding and 1 preceding
    )
)

select * from final
