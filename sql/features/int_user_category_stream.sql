-- int_user_category_stream: one row per user x category x timestamp with
-- interest in that category, holding the running interest weight.
-- Parameters: none.
-- Weight: the behaviour's action weight (stg_behaviors), 2 per ad click on an
-- ad of the category. Divided by int_user_stream.affinity_weight it is the
-- user's share of interest in the category as of that time.

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

interest as (
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
),

steps as (
    select
        interest.user_id,
        interest.category,
        interest.ts,
        sum(interest.weight) as weight,
    from interest
    group by interest.user_id, interest.category, interest.ts
),

final as (
    select
        steps.user_id,
        steps.category,
        steps.ts,
        sum(steps.weight) over (
            partition by steps.user_id, steps.category
            order by steps.ts
            rows between unbounded preceding and current row
        ) as weight,
    from steps
)

select * from final
