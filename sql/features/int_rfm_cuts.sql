-- int_rfm_cuts: one row per RFM measure x score (1-5) given to some value,
-- holding the smallest value with that score.
-- Parameters: none.
-- The score of a value is its tie-aware quintile among the active users,
-- 1 + floor(5 * percent_rank) capped at 5, where percent_rank = (users with
-- a smaller value) / (active users - 1), 0 for a single user: exactly
-- DuckDB's percent_rank() over the users (int_rfm_values counts them per
-- value). Scores never fall as the value grows, so user_profiles finds a
-- user's score as the last cut at or below the user's value.

with

counted as (
    select * from int_rfm_values
),

ranked as (
    select
        counted.measure,
        counted.value,
        coalesce(sum(counted.users) over (
            partition by counted.measure
            order by counted.value
            rows between unbounded preceding and 1 preceding
        ), 0) as below,
        sum(counted.users) over (partition by counted.measure) as active,
    from counted
),

scored as (
    select
        ranked.measure,
        ranked.value,
        least(5, 1 + floor(5 * (
            case
                when ranked.active > 1 then ranked.below::double / (ranked.active - 1)::double
                else 0.0
            end
        )))::integer as score,
    from ranked
),

final as (
    select
        scored.measure,
        scored.score,
        min(scored.value) as min_value,
    from scored
    group by scored.measure, scored.score
)

select * from final
