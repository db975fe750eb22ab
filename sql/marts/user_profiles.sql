-- user_profiles: one row per user of the users table (zeros where no activity).
-- Parameters: $as_of, $prior_strength.
-- ctr_smoothed = (clicks + m * population ctr) / (impressions + m) and
-- cvr_smoothed = (conversions + m * population cvr) / (clicks + m), m =
-- $prior_strength (a beta prior worth m impressions / clicks); cvr is per click,
-- capped at 1 (view-through conversions can outnumber clicks).
-- RFM: recency_days is days from the last purchase, conversion or click to
-- $as_of (null if none); frequency = purchases + conversions; monetary =
-- purchase amounts + conversion revenue. Scores 1-5 are tie-aware quintiles
-- (1 + floor(5 * percent_rank)) among users with that activity; users without
-- it score 1. activity_level by events + behaviours per active day:
-- inactive (none), low (< 2), medium (< 5), high (< 15), power.
-- User attributes (the users table's extra columns, typed) follow the
-- profile columns, so segment rules can read them.
-- Money is summed as DECIMAL: exact, so the result does not depend on the
-- order DuckDB's threads add rows in (rebuilds are identical).

with

users as (
    select * from stg_users
),

attributes as (
    select * exclude (age_band, gender, city_tier, signup_ts) from stg_users
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

population as (
    select
        coalesce(sum(response_totals.clicks), 0)
            / greatest((select count(*) from impressions), 1) as pop_ctr,
        least(
            coalesce(sum(response_totals.conversions), 0)
                / greatest(coalesce(sum(response_totals.clicks), 0), 1),
            1.0
        ) as pop_cvr,
    from response_totals
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

rated as (
    select
        per_user.*,
        smoothed_rate(
            per_user.clicks, per_user.impressions, population.pop_ctr, $prior_strength
        ) as ctr_smoothed,
        smoothed_rate(
            per_user.conversions, per_user.clicks, population.pop_cvr, $prior_strength
        ) as cvr_smoothed,
        (epoch($as_of::timestamp) - epoch(per_user.last_active_ts)) / 86400.0 as recency_days,
    from per_user
    cross join population
),

scored as (
    select
        rated.*,
        -- The more recent, the higher the score: rank by minus the age.
        quintile_score(-rated.recency_days, rated.recency_days is not null) as r_score,
        quintile_score(rated.frequency, rated.frequency <> 0) as f_score,
        quintile_score(rated.monetary, rated.monetary <> 0) as m_score,
    from rated
),

final as (
    select
        scored.user_id,
        scored.age_band,
        scored.gender,
        scored.city_tier,
        scored.signup_ts,
        scored.impressions,
        scored.clicks,
        scored.conversions,
        scored.spend,
        scored.revenue,
        scored.ctr_smoothed,
        scored.cvr_smoothed,
        scored.recency_days,
        scored.frequency,
        scored.monetary,
        scored.r_score::integer as r_score,
        scored.f_score::integer as f_score,
        scored.m_score::integer as m_score,
        case
            when scored.last_active_ts is null then 'inactive'
            when scored.r_score >= 4 and scored.f_score >= 4 then 'champions'
            when scored.f_score >= 4 then 'loyal'
            when scored.r_score >= 4 and scored.f_score <= 2 then 'new'
            when scored.r_score <= 2 and scored.f_score >= 3 then 'at_risk'
            when scored.r_score <= 2 then 'hibernating'
            else 'promising'
        end as rfm_segment,
        scored.active_days,
        case
            when scored.active_days = 0 then 'inactive'
            when scored.activity_events / scored.active_days < 2 then 'low'
            when scored.activity_events / scored.active_days < 5 then 'medium'
            when scored.activity_events / scored.active_days < 15 then 'high'
            else 'power'
        end as activity_level,
        scored.top_categories,
        scored.category_affinity,
        scored.interest_text,
        attributes.* exclude (user_id),
    from scored
    inner join attributes on attributes.user_id = scored.user_id
)

select * from final
