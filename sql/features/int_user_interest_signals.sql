-- int_user_interest_signals: one row per sign of a user's interest in a
-- category at or before as_of: each behaviour with a category, and each ad
-- click on an ad with a category.
-- Parameters: none (stg_events and stg_behaviors are already cut at as_of).
-- weight: the behaviour's action weight (stg_behaviors), 2 per ad click.
-- int_user_category_affinity decays these weights; int_user_category_stream
-- and int_user_stream keep running totals of them.

with

events as (
    select * from stg_events
),

ads as (
    select * from stg_ads
),

behaviors as (
    select * from stg_behaviors
),

final as (
    select
        behaviors.user_id,
        behaviors.category,
        behaviors.ts,
        behaviors.action_weight as weight,
    from behaviors
    where behaviors.category is not null
    union all
    select
        events.user_id,
        ads.category,
        events.ts,
        2.0 as weight,
    from events
    inner join ads on ads.ad_id = events.ad_id
    where events.event = 'click' and ads.category is not null
)

select * from final
