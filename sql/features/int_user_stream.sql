-- int_user_stream: one row per user x timestamp with any ad event or
-- behaviour, holding the user's running totals up to and including it.
-- Parameters: none.
-- training_examples joins it with a strict `<` (ASOF), so a row counts only
-- what happened before an impression. affinity_weight is the running total
-- of the user's interest signals in all categories (int_user_interest_signals),
-- the denominator of the user's category affinity.

with

events as (
    select * from stg_events
),

behaviors as (
    select * from stg_behaviors
),

interest as (
    select * from int_user_interest_signals
),

activity as (
    select
        events.user_id,
        events.ts,
        events.event as kind,
        0.0 as weight,
    from events
    union all
    select
        behaviors.user_id,
        behaviors.ts,
        behaviors.action as kind,
        0.0 as weight,
    from behaviors
    union all
    select
        interest.user_id,
        interest.ts,
        'interest' as kind,
        interest.weight,
    from interest
),

-- One aggregate over all sources: cheaper than aggregating each and joining.
-- Every interest signal is a behaviour or click at the same time, so its
-- rows add no (user_id, ts) of their own.
steps as (
    select
        activity.user_id,
        activity.ts,
        count(*) filter (where activity.kind = 'impression') as impressions,
        count(*) filter (where activity.kind = 'click') as clicks,
        count(*) filter (where activity.kind = 'conversion') as conversions,
        count(*) filter (where activity.kind = 'view') as views,
        count(*) filter (where activity.kind = 'cart') as carts,
        count(*) filter (where activity.kind = 'favorite') as favorites,
        count(*) filter (where activity.kind = 'purchase') as purchases,
        count(*) filter (where activity.kind = 'search') as searches,
        sum(activity.weight) as affinity_weight,
    from activity
    group by activity.user_id, activity.ts
),

final as (
    select
        steps.user_id,
        steps.ts,
        (sum(steps.impressions) over running)::bigint as impressions,
        (sum(steps.clicks) over running)::bigint as clicks,
        (sum(steps.conversions) over running)::bigint as conversions,
        (sum(steps.views) over running)::bigint as views,
        (sum(steps.carts) over running)::bigint as carts,
        (sum(steps.favorites) over running)::bigint as favorites,
        (sum(steps.purchases) over running)::bigint as purchases,
        (sum(steps.searches) over running)::bigint as searches,
        sum(steps.affinity_weight) over running as affinity_weight,
        max(case when steps.clicks > 0 then steps.ts end) over running as last_click_ts,
    from steps
    window running as (
        partition by steps.user_id
        order by steps.ts
        rows between unbounded preceding and current row
    )
)

select * from final
