-- int_user_category_affinity: one row per user x category the user showed
-- interest in, with its recency-weighted affinity as of $as_of.
-- Parameters: $as_of, $affinity_half_life_days.
-- Affinity: the weights of the user's interest signals in the category
-- (int_user_interest_signals), each halved every $affinity_half_life_days of age.
-- share is the category's part of the user's total; affinity_rank 1 is the
-- strongest (ties broken by category name). Sums add their terms in sorted
-- order (list_sum of a sorted list), so a rebuild gives the same bits and the
-- same rank order whatever order DuckDB's threads see the rows in.

with

interest as (
    select * from int_user_interest_signals
),

terms as (
    select
        interest.user_id,
        interest.category,
        interest.weight * pow(
            0.5,
            (epoch($as_of::timestamp) - epoch(interest.ts))
                / (86400.0 * $affinity_half_life_days)
        ) as term,
    from interest
),

decayed as (
    select
        terms.user_id,
        terms.category,
        list_sum(list(terms.term order by terms.term)) as affinity,
    from terms
    group by terms.user_id, terms.category
),

totals as (
    select
        decayed.user_id,
        list_sum(list(decayed.affinity order by decayed.affinity, decayed.category)) as total,
    from decayed
    group by decayed.user_id
),

final as (
    select
        decayed.user_id,
        decayed.category,
        decayed.affinity,
        decayed.affinity / totals.total as share,
        row_number() over (
            partition by decayed.user_id
            order by decayed.affinity desc, decayed.category
        ) as affinity_rank,
    from decayed
    inner join totals on totals.user_id = decayed.user_id
)

select * from final
