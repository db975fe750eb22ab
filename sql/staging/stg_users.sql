-- stg_users: one row per user, the users input table cleaned.
-- Parameters: none.
-- Demographic text attributes are trimmed; blanks become null so that
-- downstream group-bys treat "" and missing alike. Every other column of the
-- users table is a user attribute (adopt/attributes.py: names checked at
-- ingest) and passes through with its stored type.

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
        users.* exclude (user_id, age_band, gender, city_tier, signup_ts),
    from users
)

select * from final
