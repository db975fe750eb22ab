-- int_ad_placement_stream: one row per ad x placement x day with an
-- impression or click there, holding the totals from before that day.
-- Parameters: none.
-- Daily snapshots at midnight, read like int_ad_stream's.

with

daily as (
    select * from int_ad_placement_daily
),

final as (
    select
        daily.ad_id,
        daily.placement_id,
        daily.day_start,
        (coalesce(sum(daily.impressions) over before, 0))::bigint as impressions,
        (coalesce(sum(daily.clicks) over before, 0))::bigint as clicks,
    from daily
    window before as (
        partition by daily.ad_id, daily.placement_id
        order by daily.day_start
        rows between unbounded preceding and 1 preceding
    )
)

select * from final
