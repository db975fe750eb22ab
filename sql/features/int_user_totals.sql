-- int_user_totals: one row per user of the users table (zeros where no
-- activity): the user's totals, RFM inputs and interests as of $as_of.
-- Parameters: $as_of.
-- recency_days is days from the last purchase, conversion or click to
-- $as_of (null if none); frequency = purchases + conversions; monetary =
-- purchase amounts + conversion revenue. user_profiles adds the smoothed
-- rates and the RFM scores, which need the whole population
-- (int_population_totals, int_rfm_cuts). Money is summed as DECIMAL: exact,
-- so the result does not depend on the order DuckDB's threads add rows in.

with

users as (
    select * from stg_users
),

events as (
    select * from stg_events
),

impressions as (
    select * from int_impressions
),

behaviors as (
    select * from stg_behaviors
),

affinity as (
    select * from int_user_category_affinity
),

interest_texts as (
    select * from int_user_interest_text
),

impression_totals as (
    select
        impressions.user_id,
        count(*) as impressions,
        sum(impressions.cost::decimal(38, 12))::double as spend,
    from impressions
    group by impressions.user_id
),

response_totals as (
    select
        events.user_id,
        count(*) filter (where events.event = 'click') as clicks,
        count(*) filter (where events.event = 'conversion') as conversions,
        coalesce(
            sum(events.revenue::decimal(38, 12)) filter (where events.event = 'conversion'), 0
        )::double as revenue,
        max(events.ts) as last_response_ts,
    from events
    where events.event in ('click', 'conversion')
    group by events.user_id
),

purchase_totals as (
    select
        behaviors.user_id,
        count(*) as purchases,
        sum(behaviors.amount::decimal(38, 12))::double as purchase_amount,
        max(behaviors.ts) as last_purchase_ts,
    from behaviors
    where behaviors.action = 'purchase'
    group by behaviors.user_id
),

activity as (
    select
        all_activity.user_id,
        count(*) as activity_events,
        count(distinct all_activity.ts::date) as active_days,
    from (
        select events.user_id, events.ts, from events
        union all
        select behaviors.user_id, behaviors.ts, from behaviors
    ) as all_activity
    group by all_activity.user_id
),

categories as (
    select
        affinity.user_id,
        list(affinity.category order by affinity.affinity_rank)
            filter (where affinity.affinity_rank <= 3) as top_categories,
        list(
            struct_pack(category := affinity.category, share := affinity.share)
            order by affinity.affinity_rank
        ) as category_affinity,
    from affinity
    group by affinity.user_id
),

per_user as (
    select
        users.user_id,
        users.age_band,
        users.gender,
        users.city_tier,
        users.signup_ts,
        coalesce(impression_totals.impressions, 0) as impressions,
        coalesce(response_totals.clicks, 0) as clicks,
        coalesce(response_totals.conversions, 0) as conversions,
        coalesce(impression_totals.spend, 0.0) as spend,
        coalesce(response_totals.revenue, 0.0) as revenue,
        greatest(response_totals.last_response_ts, purchase_totals.last_purchase_ts)
            as last_active_ts,
        coalesce(purchase_totals.purchases, 0) + coalesce(response_totals.conversions, 0)
            as frequency,
        coalesce(purchase_totals.purchase_amount, 0.0) + coalesce(response_totals.revenue, 0.0)
            as monetary,
        coalesce(activity.active_days, 0) as active_days,
        coalesce(activity.activity_events, 0) as activity_events,
        coalesce(categories.top_categories, []) as top_categories,
        coalesce(categories.category_affinity, []) as category_affinity,
        coalesce(interest_texts.interest_text, '') as interest_text,
    from users
    left join impression_totals on impression_totals.user_id = users.user_id
    left join response_totals on response_totals.user_id = users.user_id
    left join purchase_totals on purchase_totals.user_id = users.user_id
    left join activity on activity.user_id = users.user_id
    left join categories on categories.user_id = users.user_id
    left join interest_texts on interest_texts.user_id = users.user_id
),

final as (
    select
        per_user.*,
        (epoch($as_of::timestamp) - epoch(per_user.last_active_ts)) / 86400.0 as recency_days,
    from per_user
)

select * from final
