-- user_profiles: one row per user of the users table (zeros where no activity).
-- Parameters: $prior_strength.
-- ctr_smoothed = (clicks + m * population ctr) / (impressions + m) and
-- cvr_smoothed = (conversions + m * population cvr) / (clicks + m), m =
-- $prior_strength (a beta prior worth m impressions / clicks); cvr is per click,
-- capped at 1 (view-through conversions can outnumber clicks).
-- RFM (int_user_totals): recency_days, frequency, monetary. Scores 1-5 are
-- tie-aware quintiles (1 + floor(5 * percent_rank)) among users with that
-- activity, read from int_rfm_cuts (the smallest value of each score); users
-- without it score 1. activity_level by events + behaviours per active day:
-- inactive (none), low (< 2), medium (< 5), high (< 15), power.
-- User attributes (the users table's extra columns, typed) follow the
-- profile columns, so segment rules can read them.
-- Each user's row needs only the user's own events and the population's
-- totals and cuts, so a partitioned build (adopt.partitioned) runs it on each
-- user-hash partition with the merged totals and cuts.

with

totals as (
    select * from int_user_totals
),

attributes as (
    select * exclude (age_band, gender, city_tier, signup_ts) from stg_users
),

population_totals as (
    select * from int_population_totals
),

cuts as (
    select * from int_rfm_cuts
),

population as (
    select
        population_totals.clicks / greatest(population_totals.impressions, 1) as pop_ctr,
        least(
            population_totals.conversions / greatest(population_totals.clicks, 1),
            1.0
        ) as pop_cvr,
    from population_totals
),

rated as (
    select
        totals.*,
        smoothed_rate(
            totals.clicks, totals.impressions, population.pop_ctr, $prior_strength
        ) as ctr_smoothed,
        smoothed_rate(
            totals.conversions, totals.clicks, population.pop_cvr, $prior_strength
        ) as cvr_smoothed,
        -- The more recent, the higher the score: rank by minus the age.
        -totals.recency_days as recency_value,
        totals.frequency::double as frequency_value,
        totals.monetary as monetary_value,
    from totals
    cross join population
),

recency_cuts as (
    select cuts.score, cuts.min_value,
    from cuts
    where cuts.measure = 'recency'
),

frequency_cuts as (
    select cuts.score, cuts.min_value,
    from cuts
    where cuts.measure = 'frequency'
),

monetary_cuts as (
    select cuts.score, cuts.min_value,
    from cuts
    where cuts.measure = 'monetary'
),

scored as (
    select
        rated.*,
        case when rated.recency_days is not null then recency_cuts.score else 1 end as r_score,
        case when rated.frequency <> 0 then frequency_cuts.score else 1 end as f_score,
        case when rated.monetary <> 0 then monetary_cuts.score else 1 end as m_score,
    from rated
    asof left join recency_cuts on rated.recency_value >= recency_cuts.min_value
    asof left join frequency_cuts on rated.frequency_value >= frequency_cuts.min_value
    asof left join monetary_cuts on rated.monetary_value >= monetary_cuts.min_value
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
