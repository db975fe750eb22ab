-- int_user_interest_text: one row per user with at least one behaviour,
-- holding a short text of the user's interests for the BERT encoder.
-- Parameters: $interest_text_words (the most words kept).
-- Text: "interests: <top 3 categories>. recent: <last 5 distinct item titles
-- or queries, newest first>", cut to $interest_text_words words. Users with
-- behaviours but no categories or texts get an empty string.

with

behaviors as (
    select * from stg_behaviors
),

affinity as (
    select * from int_user_category_affinity
),

behavior_users as (
    select distinct behaviors.user_id,
    from behaviors
),

recent_texts as (
    select
        behaviors.user_id,
        behaviors.text,
        max(behaviors.ts) as last_ts,
    from behaviors
    where behaviors.text is not null
    group by behaviors.user_id, behaviors.text
),

ranked_texts as (
    select
        recent_texts.*,
        row_number() over (
            partition by recent_texts.user_id
            order by recent_texts.last_ts desc, recent_texts.text
        ) as recency_rank,
    from recent_texts
),

texts as (
    select
        ranked_texts.user_id,
        string_agg(ranked_texts.text, '; ' order by ranked_texts.recency_rank) as recent,
    from ranked_texts
    where ranked_texts.recency_rank <= 5
    group by ranked_texts.user_id
),

categories as (
    select
        affinity.user_id,
        string_agg(affinity.category, ', ' order by affinity.affinity_rank) as top,
    from affinity
    where affinity.affinity_rank <= 3
    group by affinity.user_id
),

joined as (
    select
        behavior_users.user_id,
        concat_ws(
            '. ',
            'interests: ' || categories.top,
            'recent: ' || texts.recent
        ) as full_text,
    from behavior_users
    left join categories on categories.user_id = behavior_users.user_id
    left join texts on texts.user_id = behavior_users.user_id
),

final as (
    select
        joined.user_id,
        array_to_string(
            list_slice(
                list_filter(string_split(joined.full_text, ' '), lambda w: w <> ''),
                1,
                $interest_text_words
            ),
            ' '
        ) as interest_text,
    from joined
)

select * from final
