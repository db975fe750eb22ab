-- serving_user_categories: one row per user x category with interest
-- before $serving_as_of: user_category_affinity as training_examples would
-- give it to an impression of an ad of that category at $serving_as_of.
-- Parameters: $serving_as_of.
-- The running weight of the last int_user_category_stream row strictly
-- before $serving_as_of over the user's affinity_weight (serving_users); a
-- user x category without a row here has affinity 0.

with

user_category_stream as (
    select * from int_user_category_stream
),

users as (
    select * from serving_users
),

weights as (
    select
        user_category_stream.user_id,
        user_category_stream.category,
        arg_max(user_category_stream.weight, user_category_stream.ts) as weight,
    from user_category_stream
    where user_category_stream.ts < $serving_as_of::timestamp
    group by user_category_stream.user_id, user_category_stream.category
),

final as (
    select
        weights.user_id,
        weights.category,
        coalesce(weights.weight / nullif(users.affinity_weight, 0), 0.0)
            as user_category_affinity,
    from weights
    inner join users on users.user_id = weights.user_id
)

select * from final
