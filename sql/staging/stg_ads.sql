-- stg_ads: one row per ad, the ads input table cleaned.
-- Parameters: none.
-- Categories are lower-cased and trimmed: they join to behaviour categories.

with

ads as (
    select * from ads
),

final as (
    select
        ads.ad_id,
        ads.campaign_id,
        ads.title,
        coalesce(ads.description, '') as description,
        nullif(lower(trim(ads.category)), '') as category,
        nullif(trim(ads.brand), '') as brand,
        ads.price,
        nullif(trim(ads.advertiser), '') as advertiser,
    from ads
)

select * from final
