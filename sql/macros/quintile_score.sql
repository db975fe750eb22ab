-- quintile_score(value, active): a 1-5 score of `value` among the rows where
-- `active` holds, by tie-aware quintile (1 + floor(5 * percent_rank)); rows
-- that are not active score 1. A window expression: it ranks over the rows
-- of the select that calls it (user_profiles' RFM scores).

create or replace temp macro quintile_score(value, active) as
    case
        when active then least(5, 1 + floor(5 * percent_rank() over (
            partition by active order by value
        )))
        else 1
    end
