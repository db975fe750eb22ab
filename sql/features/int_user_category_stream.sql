-- int_user_category_stream: one row per user x category x timestamp with
-- interest in that category, holding the running interest weight.
-- Parameters: none.
-- Weight: the running total of the user's interest signals in the category
-- (int_user_interest_signals). Divided by int_user_stream.affinity_weight it
-- is the user's share of interest in the category as of that time.

with

interest as (
    select * from int_user_interest_signals
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
