-- int_population_stream: one row per day with an impression or click,
-- holding the population's totals from before that day.
-- Parameters: none.
-- The population CTR before an impression's day is the prior that the
-- training features shrink toward (daily snapshots at midnight, read like
-- int_ad_stream's): a global rate over all time would let later clicks
-- leak into earlier rows.

with

events as (
    select * from stg_events
),

steps as (
    select
        date_trunc('day', events.ts) as day_start,
        count(*) filter (where events.event = 'impression') as impressions,
        count(*) filter (where events.event = 'click') as clicks,
    from events
    where events.event in ('impression', 'click')
    group by day_start
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
