-- stg_placements: one row per placement, the placements input table cleaned.
-- Parameters: none.

with

placements as (
    select * from placements
),

final as (
    select
        placements.placement_id,
        placements.cpm,
        coalesce(placements.name, placements.placement_id) as placement_name,
        placements.daily_inventory,
        nullif(lower(trim(placements.format)), '') as format,
    from placements
)

select * from final
