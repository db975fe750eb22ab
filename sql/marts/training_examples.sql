-- training_examples: one row per impression event at or before $as_of, with
-- its labels and its features as of the impression time.
-- Parameters: $prior_strength.
-- Labels: clicked / converted when a click / conversion is attributed to the
-- impression (int_responses: by impression_id, else the last impression of
-- the same user x ad x placement within the attribution window).
-- No leakage: neither this impression's own response nor anything at or
-- after its time counts. User history is to the second: running-total
-- streams joined with ASOF on a strict `stream.ts < impression.ts`. Ad, ad x
-- placement and population history are daily snapshots taken at midnight
-- before the impression's day (int_ad_stream), joined on the day. CTRs
-- shrink toward the population CTR of the snapshot, with a beta prior worth
-- $prior_strength impressions. k_ad / k_campaign number the user's
-- impressions of the ad / campaign (1 = first; same-time ties by key).
-- User attributes (the users table's extra columns, typed) come last: known
-- before the impression, they are model features like age_band.

with

impressions as (
    select * from int_impressions
),

responses as (
    select * from int_responses
),

user_stream as (
    select * from int_user_stream
),

user_category_stream as (
    select * from int_user_category_stream
),

ad_stream as (
    select * from int_ad_stream
),

ad_placement_stream as (
    select * from int_ad_placement_stream
),

population_stream as (
    select * from int_population_stream
),

daily as (
    select * from int_ad_placement_daily
),

users as (
    select * from stg_users
),

ads as (
    select * from stg_ads
),

placements as (
    select * from stg_placements
),

labels as (
    select
        responses.impression_key,
        bool_or(responses.event = 'click') as clicked,
        bool_or(responses.event = 'conversion') as converted,
    from responses
    where responses.impression_key is not null
    group by responses.impression_key
),

first_day as (
    -- The day of the first impression, from the daily counts: a partitioned
    -- build (adopt.partitioned) merges them over all partitions.
    select min(daily.first_impression_ts)::date as day,
    from daily
),

sequenced as (
    select
        impressions.*,
        date_trunc('day', impressions.ts) as day_start,
        row_number() over (
            partition by impressions.user_id, impressions.ad_id
            order by impressions.ts, impressions.impression_key
        ) as k_ad,
        row_number() over (
            partition by impressions.user_id, impressions.campaign_id
            order by impressions.ts, impressions.impression_key
        ) as k_campaign,
    from impressions
),

history as (
    select
        sequenced.*,
        coalesce(population_stream.clicks / nullif(population_stream.impressions, 0), 0.0)
            as prior_ctr,
        coalesce(user_stream.impressions, 0) as user_prior_impressions,
        coalesce(user_stream.clicks, 0) as user_prior_clicks,
        coalesce(user_stream.conversions, 0) as user_prior_conversions,
        epoch(sequenced.ts) - epoch(user_stream.last_click_ts)
            as user_seconds_since_last_click,
        coalesce(user_stream.views, 0) as user_prior_views,
        coalesce(user_stream.carts, 0) as user_prior_carts,
        coalesce(user_stream.favorites, 0) as user_prior_favorites,
        coalesce(user_stream.purchases, 0) as user_prior_purchases,
        coalesce(user_stream.searches, 0) as user_prior_searches,
        coalesce(
            user_category_stream.weight / nullif(user_stream.affinity_weight, 0), 0.0
        ) as user_category_affinity,
        coalesce(ad_stream.impressions, 0) as ad_prior_impressions,
        coalesce(ad_stream.clicks, 0) as ad_prior_clicks,
        coalesce(
            (epoch(sequenced.ts) - epoch(ad_stream.first_impression_ts)) / 86400.0, 0.0
        ) as ad_age_days,
        coalesce(ad_placement_stream.impressions, 0) as ad_placement_prior_impressions,
        coalesce(ad_placement_stream.clicks, 0) as ad_placement_prior_clicks,
    from sequenced
    left join population_stream
        on population_stream.day_start = sequenced.day_start
    asof left join user_stream
        on user_stream.user_id = sequenced.user_id
        and sequenced.ts > user_stream.ts
    asof left join user_category_stream
        on user_category_stream.user_id = sequenced.user_id
        and user_category_stream.category = sequenced.category
        and sequenced.ts > user_category_stream.ts
    left join ad_stream
        on ad_stream.ad_id = sequenced.ad_id
        and ad_stream.day_start = sequenced.day_start
    left join ad_placement_stream
        on ad_placement_stream.ad_id = sequenced.ad_id
        and ad_placement_stream.placement_id = sequenced.placement_id
        and ad_placement_stream.day_start = sequenced.day_start
),

final as (
    select
        history.impression_key,
        history.ts,
        history.user_id,
        history.ad_id,
        history.campaign_id,
        history.placement_id,
        hour(history.ts) as hour,
        isodow(history.ts) as day_of_week,
        date_diff('day', first_day.day, history.ts::date) as day_index,
        history.k_ad,
        history.k_campaign,
        history.user_prior_impressions,
        history.user_prior_clicks,
        history.user_prior_conversions,
        smoothed_rate(
            history.user_prior_clicks,
            history.user_prior_impressions,
            history.prior_ctr,
            $prior_strength
        ) as user_ctr_smoothed,
        history.user_seconds_since_last_click,
        history.user_prior_views,
        history.user_prior_carts,
        history.user_prior_favorites,
        history.user_prior_purchases,
        history.user_prior_searches,
        history.user_category_affinity,
        history.ad_prior_impressions,
        history.ad_prior_clicks,
        smoothed_rate(
            history.ad_prior_clicks,
            history.ad_prior_impressions,
            history.prior_ctr,
            $prior_strength
        ) as ad_ctr_smoothed,
        history.ad_placement_prior_impressions,
        history.ad_placement_prior_clicks,
        smoothed_rate(
            history.ad_placement_prior_clicks,
            history.ad_placement_prior_impressions,
            history.prior_ctr,
            $prior_strength
        ) as ad_placement_ctr_smoothed,
        history.ad_age_days,
        users.age_band,
        users.gender,
        users.city_tier,
        history.category,
        ads.brand,
        ads.price,
        placements.cpm,
        placements.format,
        history.cost,
        coalesce(labels.clicked, false) as clicked,
        coalesce(labels.converted, false) as converted,
        users.* exclude (user_id, age_band, gender, city_tier, signup_ts),
    from history
    cross join first_day
    inner join users on users.user_id = history.user_id
    inner join ads on ads.ad_id = history.ad_id
    inner join placements on placements.placement_id = history.placement_id
    left join labels on labels.impression_key = history.impression_key
)

select * from final
