-- stg_campaigns: one row per campaign, from the campaigns table plus any
-- campaign that only appears on ads (the campaigns table is optional).
-- Parameters: none.

with

campaigns as (
    select * from campaigns
),

ads as (
    select * from ads
),

ad_only_campaigns as (
    select distinct ads.campaign_id,
    from ads
    anti join campaigns on campaigns.campaign_id = ads.campaign_id
),

final as (
    select
        campaigns.campaign_id,
        campaigns.advertiser,
        campaigns.budget,
        campaigns."start" as start_ts,
        campaigns."end" as end_ts,
        campaigns.objective,
        campaigns.target_cpa,
        campaigns.target_roas,
    from campaigns
    union all by name
    select ad_only_campaigns.campaign_id,
    from ad_only_campaigns
)

select * from final
