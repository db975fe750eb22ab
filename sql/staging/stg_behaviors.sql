-- stg_behaviors: one row per behaviour (view, cart, favorite, purchase,
-- search) at or before as_of, the behaviors input table cleaned.
-- Parameters: as_of (timestamp), read from build_params (see stg_events).
-- action_weight is how much an action says about a user's interest in its
-- category: purchase 5, cart 3, favorite 2, view 1, search 1.

with

behaviors as (
    select * from behaviors
),

final as (
    select
        behaviors.ts,
        behaviors.user_id,
        behaviors.action,
        behaviors.item_id,
        nullif(lower(trim(behaviors.category)), '') as category,
        nullif(trim(behaviors.text), '') as text,
        coalesce(behaviors.amount, 0) as amount,
        case behaviors.action
            when 'purchase' then 5.0
            when 'cart' then 3.0
            when 'favorite' then 2.0
            else 1.0
        end as action_weight,
    from behaviors
    where behaviors.ts <= (select build_params.as_of::timestamp from build_params)
)

select * from final
