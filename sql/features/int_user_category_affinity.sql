-- int_user_category_affinity: one row per user x category the user showed
-- interest in, with its recency-weighted affinity as of $as_of.
-- Parameters: $as_of, $affinity_half_life_days.
-- Affinity: behaviour action weights (stg_behaviors) plus 2 per ad click on
-- an ad of the category, each halved every $affinity_half_life_days of age.
-- share is the category's part of the user's total; affinity_rank 1 is the
-- strongest (ties broken by category name).

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

decayed as (
    select
        interest.user_id,
        interest.category,
        sum(
            interest.weight * pow(
                0.5,
                (epoch($as_of::timestamp) - epoch(interest.ts))
                    / (86400.0 * $affinity_half_life_days)
            )
        ) as affinity,
    from interest
    group by interest.user_id, interest.category
),

final as (
    select
        decayed.user_id,
        decayed.category,
        decayed.affinity,
        decayed.affinity / sum(decayed.affinity) over (partition by decayed.user_id) as share,
        row_number() over (
            partition by decayed.user_id
            order by decayed.affinity desc, decayed.category
        ) as affinity_rank,
    from decayed
)

select * from final
