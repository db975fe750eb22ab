-- int_population_totals: one row, the population's impressions, clicks and
-- conversions as of as_of (the prior of user_profiles' smoothed rates).
-- Parameters: none (stg_events is already cut at as_of).
-- Counts only, so the totals of user-hash partitions add up to these.

with

events as (
    select * from stg_events
),

impressions as (
    select * from int_impressions
),

impression_count as (
    select count(*) as impressions,
    from impressions
),

response_counts as (
    select
        count(*) filter (where events.event = 'click') as clicks,
        count(*) filter (where events.event = 'conversion') as conversions,
    from events
),

final as (
    select
        impression_count.impressions,
        response_counts.clicks,
        response_counts.conversions,
    from impression_count
    cross join response_counts
)

select * from final
