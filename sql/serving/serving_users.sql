-- serving_users: one row per user of the users table, with the user's
-- features as training_examples would give them to an impression at
-- $serving_as_of.
-- Parameters: $serving_as_of, $prior_strength.
-- History is the last int_user_stream row strictly before $serving_as_of (the
-- training ASOF join's `stream.ts < impression.ts`); the CTR shrinks toward
-- serving_population. affinity_weight is the denominator of
-- serving_user_categories' shares. User attributes come last, as in
-- training_examples.

with

users as (
    select * from stg_users
),

user_stream as (
    select * from int_user_stream
),

population as (
    select * from serving_population
),

last_state as (
    select * from user_stream
    where user_stream.ts < $serving_as_of::timestamp
    qualify row_number() over (partition by user_stream.user_id order by user_stream.ts desc) = 1
),

history as (
    select
        users.user_id,
        coalesce(last_state.impressions, 0) as user_prior_impressions,
        coalesce(last_state.clicks, 0) as user_prior_clicks,
        coalesce(last_state.conversions, 0) as user_prior_conversions,
        epoch($serving_as_of::timestamp) - epoch(last_state.last_click_ts)
            as user_seconds_since_last_click,
        coalesce(last_state.views, 0) as user_prior_views,
        coalesce(last_state.carts, 0) as user_prior_carts,
        coalesce(last_state.favorites, 0) as user_prior_favorites,
        coalesce(last_state.purchases, 0) as user_prior_purchases,
        coalesce(last_state.searches, 0) as user_prior_searches,
        coalesce(last_state.affinity_weight, 0.0) as affinity_weight,
    from users
    left join last_state on last_state.user_id = users.user_id
),

final as (
    select
        history.user_id,
        users.age_band,
        users.gender,
        users.city_tier,
        history.user_prior_impressions,
        history.user_prior_clicks,
        history.user_prior_conversions,
        smoothed_rate(
            history.user_prior_clicks,
            history.user_prior_impressions,
            population.prior_ctr,
            $prior_strength
        ) as user_ctr_smoothed,
        history.user_seconds_since_last_click,
        history.user_prior_views,
        history.user_prior_carts,
        history.user_prior_favorites,
        history.user_prior_purchases,
        history.user_prior_searches,
        history.affinity_weight,
        users.* exclude (user_id, age_band, gender, city_tier, signup_ts),
    from history
    inner join users on users.user_id = history.user_id
    cross join population
)

select * from final
