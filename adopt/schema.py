"""The input contract: the tables adopt reads, their columns and their rules.

This module only *describes* the contract; `adopt.ingest` enforces it. Every
id is stored as text (VARCHAR) so that integer ids, string ids and
pseudonymised ids all join the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EVENT_TYPES = ("impression", "click", "conversion")
BEHAVIOR_ACTIONS = ("view", "cart", "favorite", "purchase", "search")
OBJECTIVES = ("clicks", "conversions", "revenue", "reach")

# Timestamps outside [EARLIEST_TS, now + LATEST_TS_YEARS_AHEAD years] are refused:
# one event in year 9999 would move every profile's reference time, and one
# past year 294247 breaks the marts.
EARLIEST_TS = "1990-01-01"
LATEST_TS_YEARS_AHEAD = 2
# A cpm (cost per 1,000 impressions) above this is a unit or typing error.
MAX_CPM = 10_000.0


@dataclass(frozen=True)
class Column:
    """One column of an input table.

    `sql_type` is the DuckDB type the column is stored as. `min_value` rejects
    values below it (e.g. a negative cost), `max_value` values above it;
    `allowed` lists the only values a text column may hold.
    """

    name: str
    sql_type: str
    required: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """An input table: its columns, primary key and references."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)  # column -> table
    optional_table: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _id(name: str, required: bool = True) -> Column:
    return Column(name, "VARCHAR", required=required, nullable=not required)


USERS = TableSpec(
    "users",
    (
        _id("user_id"),
        Column("age_band", "VARCHAR"),
        Column("gender", "VARCHAR"),
        Column("city_tier", "VARCHAR"),
        Column("signup_ts", "TIMESTAMP"),
    ),
    key=("user_id",),
)

ADS = TableSpec(
    "ads",
    (
        _id("ad_id"),
        _id("campaign_id"),
        Column("title", "VARCHAR", required=True, nullable=False),
        Column("description", "VARCHAR"),
        Column("category", "VARCHAR"),
        Column("brand", "VARCHAR"),
        Column("price", "DOUBLE", min_value=0),
        Column("advertiser", "VARCHAR"),
    ),
    key=("ad_id",),
)

PLACEMENTS = TableSpec(
    "placements",
    (
        _id("placement_id"),
        Column("cpm", "DOUBLE", required=True, min_value=0, max_value=MAX_CPM, nullable=False),
        Column("name", "VARCHAR"),
        Column("daily_inventory", "BIGINT", min_value=0),
        Column("format", "VARCHAR"),
    ),
    key=("placement_id",),
)

EVENTS = TableSpec(
    "events",
    (
        Column("ts", "TIMESTAMP", required=True, nullable=False),
        _id("user_id"),
        _id("ad_id"),
        _id("placement_id"),
        Column("event", "VARCHAR", required=True, allowed=EVENT_TYPES, nullable=False),
        Column("cost", "DOUBLE", min_value=0),
        Column("revenue", "DOUBLE", min_value=0),
        Column("impression_id", "VARCHAR"),
    ),
    references={"user_id": "users", "ad_id": "ads", "placement_id": "placements"},
)

BEHAVIORS = TableSpec(
    "behaviors",
    (
        Column("ts", "TIMESTAMP", required=True, nullable=False),
        _id("user_id"),
        Column("action", "VARCHAR", required=True, allowed=BEHAVIOR_ACTIONS, nullable=False),
        Column("item_id", "VARCHAR"),
        Column("category", "VARCHAR"),
        Column("text", "VARCHAR"),
        Column("amount", "DOUBLE", min_value=0),
    ),
    references={"user_id": "users"},
    optional_table=True,
)

CAMPAIGNS = TableSpec(
    "campaigns",
    (
        _id("campaign_id"),
        Column("advertiser", "VARCHAR"),
        Column("budget", "DOUBLE", min_value=0),
        Column("start", "TIMESTAMP"),
        Column("end", "TIMESTAMP"),
        Column("objective", "VARCHAR", allowed=OBJECTIVES),
        Column("target_cpa", "DOUBLE", min_value=0),
        Column("target_roas", "DOUBLE", min_value=0),
    ),
    key=("campaign_id",),
    optional_table=True,
)

# Load order: a table's references are loaded before it.
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (USERS, PLACEMENTS, CAMPAIGNS, ADS, EVENTS, BEHAVIORS)
}
