-- int_responses: one row per click or conversion event at or before $as_of,
-- with the impression it is attributed to (impression_key, null if none).
-- Parameters: $click_window_hours, $conversion_window_hours.
-- Attribution: by impression_id when the event carries one; otherwise to the
-- last impression of the same user x ad x placement at or before the event,
-- if that impression is at most the window old (clicks: $click_window_hours,
-- conversions: $conversion_window_hours). Older responses stay unattributed.

with

events as (
    select * from stg_events
),

impressions as (
    select * from int_impressions
),

responses as (
    select *
    from events
    where events.event in ('click', 'conversion')
),

by_id as (
    select
        responses.*,
        impressions.impression_key,
    from responses
    left join impressions on impressions.impression_key = responses.impression_id
    where responses.impression_id is not null
),

last_impression as (
    select
        responses.*,
        impressions.impression_key,
        epoch(responses.ts) - epoch(impressions.ts) as seconds_after_impression,
    from responses
    asof left join impressions
        on impressions.user_id = responses.user_id
        and impressions.ad_id = responses.ad_id
        and impressions.placement_id = responses.placement_id
        and responses.ts >= impressions.ts
    where responses.impression_id is null
),

by_time as (
    select
        last_impression.* exclude (impression_key, seconds_after_impression),
        case
            when last_impression.seconds_after_impression <= 3600.0 * (
                case last_impression.event
                    when 'click' then $click_window_hours
                    else $conversion_window_hours
                end
            ) then last_impression.impression_key
        end as impression_key,
    from last_impression
),

final as (
    select * from by_id
    union all by name
    select * from by_time
)

select * from final
