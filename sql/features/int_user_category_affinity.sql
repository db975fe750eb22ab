-- int_user_category_affinity: one row per user x category the user showed
-- interest in, with its recency-weighted affinity as of $as_of.
-- Parameters: $as_of, $affinity_half_life_days.
-- Affinity: the weights of the user's interest signals in the category
-- (int_user_interest_signals), each halved every $affinity_half_life_days of age.
-- share is the category's part of the user's total; affinity_rank 1 is the
-- strongest (ties broken by category name).

with

interest as (
    select * from int_user_interest_signals
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
