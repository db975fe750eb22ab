-- stg_users: one row per user, the users input table cleaned.
-- Parameters: none.
-- Demographic text attributes are trimmed; blanks become null so that
-- downstream group-bys treat "" and missing alike.

with

users as (
    select * from users
),

final as (
    select
        users.user_id,
        nullif(trim(users.age_band), '') as age_band,
        nullif(trim(users.gender), '') as gender,
        nullif(trim(users.city_tier), '') as city_tier,
        users.signup_ts,
    from users
)

select * from final
