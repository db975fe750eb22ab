-- int_rfm_values: one row per RFM measure x value held by at least one
-- active user, with the number of such users.
-- Parameters: none.
-- Measures (int_user_totals), each among the users with that activity:
-- 'recency' = minus recency_days (more recent ranks higher), 'frequency',
-- 'monetary'. Counts add up over user-hash partitions, so the quintile cuts
-- (int_rfm_cuts) of the whole population come from the partitions' counts.

with

totals as (
    select * from int_user_totals
),

measures as (
    select 'recency' as measure, -totals.recency_days as value,
    from totals
    where totals.recency_days is not null
    union all
    select 'frequency' as measure, totals.frequency::double as value,
    from totals
    where totals.frequency <> 0
    union all
    select 'monetary' as measure, totals.monetary as value,
    from totals
    where totals.monetary <> 0
),

final as (
    select
        measures.measure,
        measures.value,
        count(*) as users,
    from measures
    group by measures.measure, measures.value
)

select * from final
