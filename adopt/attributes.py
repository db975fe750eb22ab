"""User attributes: the extra columns of the users input table, typed, checked and quoted.

Sits beside the input contract (:mod:`adopt.schema`) and is read by every stage
that uses attributes:

- ingest stores each extra ``users`` column as an attribute; from CSV (where
  every value arrives as text) a column whose every value is a number is stored
  as a number (`infer_type`), so numeric stays numeric;
- the profile models carry the attributes, typed, into ``user_profiles``
  (columns segment rules can read) and ``training_examples`` (response model
  features: numbers as numbers, text as categories);
- the curve stage reads them from ``stg_users`` for its counterfactual rows;
- k-means takes them as inputs when asked (``adopt segment --attributes``), or
  by default when the profiles hold no other pre-impression signal.

Attribute names are user text. They reach SQL only after `check_names`
accepted them (letters, digits and ``_``, not a name the profile or training
tables already use) and always through `quote_ident`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from adopt.exceptions import InputError
from adopt.schema import TABLES

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
NAME_RULE = ("an attribute name must be a letter or '_' followed by letters, digits or '_' "
             "(at most 63 characters)")

CONTRACT = tuple(c.name for c in TABLES["users"].columns)
# Columns of user_profiles and training_examples (and the names response models and
# audiences add beside them): an attribute of one of these names would be ambiguous.
# tests/test_attributes.py checks this list against the built tables.
RESERVED = frozenset(name.lower() for name in (
    *CONTRACT,
    # user_profiles
    "impressions", "clicks", "conversions", "spend", "revenue", "ctr_smoothed", "cvr_smoothed",
    "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment",
    "active_days", "activity_level", "top_categories", "category_affinity", "interest_text",
    # training_examples
    "impression_key", "ts", "ad_id", "campaign_id", "placement_id", "hour", "day_of_week",
    "day_index", "k_ad", "k_campaign", "user_prior_impressions", "user_prior_clicks",
    "user_prior_conversions", "user_ctr_smoothed", "user_seconds_since_last_click",
    "user_prior_views", "user_prior_carts", "user_prior_favorites", "user_prior_purchases",
    "user_prior_searches", "user_category_affinity", "ad_prior_impressions", "ad_prior_clicks",
    "ad_ctr_smoothed", "ad_placement_prior_impressions", "ad_placement_prior_clicks",
    "ad_placement_ctr_smoothed", "ad_age_days", "category", "brand", "price", "cpm", "format",
    "cost", "clicked", "converted",
    # added beside them by later stages
    "user_text", "ad_text", "user_vec", "ad_vec", "user_vec_missing", "ad_vec_missing",
    "text_match_user_ad", "topic_share_user_ad", "cosine_user_ad", "day", "segment",
    "affinity_weight",
    "impression_id", "event", "advertiser", "description", "title",
))
NUMERIC_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                           "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL"})


@dataclass(frozen=True)
class Attribute:
    """One user attribute as stored in the warehouse.

    Attributes
    ----------
    name : str
        Column name (checked by `check_names`).
    sql_type : str
        DuckDB type of the stored column.
    """

    name: str
    sql_type: str

    @property
    def numeric(self) -> bool:
        """True for numbers (model feature as a number), False for categories."""
        return self.sql_type.upper() in NUMERIC_TYPES or self.sql_type.upper().startswith(
            "DECIMAL")


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes (inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def check_names(names: list[str], table: str = "users") -> None:
    """Refuse attribute names that are not plain identifiers or that a profile column uses.

    Raises
    ------
    InputError
        One line naming the table and the column, e.g. ``table 'users', column
        'pctr decile': an attribute name must be a letter or '_' ...; rename the column``.
    """
    seen: dict[str, str] = {}
    for name in names:
        if not NAME.fullmatch(name):
            shown = name.encode("unicode_escape").decode("ascii")
            raise InputError(table, shown, f"{NAME_RULE}; rename the column")
        if name.lower() in RESERVED:
            raise InputError(table, name, "the name is taken by a column of user_profiles or "
                                          "training_examples; rename the attribute")
        if name.lower() in seen:
            raise InputError(table, name, f"the name repeats '{seen[name.lower()]}' (names are "
                                          "not case-sensitive); rename one of them")
        seen[name.lower()] = name


def infer_type(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> str:
    """The type to store a text column of `relation` under: BIGINT, DOUBLE or VARCHAR.

    A column is a number when every non-blank value casts to one and none has a
    leading zero (``007``, a code rather than a quantity): BIGINT when every
    value is written as a whole number (DuckDB would round ``0.5`` into a
    BIGINT), DOUBLE otherwise; an all-blank column stays VARCHAR. `relation` is
    a table name adopt made; `column` is quoted.
    """
    v = quote_ident(column)
    filled = f"nullif(trim({v}), '')"
    row = con.execute(
        f"""
        select
            count({filled}),
            count({filled}) filter (where try_cast({filled} as double) is null),
            count({filled}) filter (where not regexp_full_match({filled}, '[+-]?[0-9]{{1,18}}')),
            count({filled}) filter (where regexp_matches({filled}, '^[+-]?0[0-9]')),
        from {relation}
        """
    ).fetchone()
    values, not_double, not_bigint, leading_zero = row
    if values == 0 or not_double or leading_zero:
        return "VARCHAR"
    return "BIGINT" if not_bigint == 0 else "DOUBLE"


def user_attributes(con: duckdb.DuckDBPyConnection, table: str = "users") -> list[Attribute]:
    """The attributes of the warehouse's `table` (``users`` or ``stg_users``), names checked.

    Raises
    ------
    InputError
        An attribute name `check_names` refuses (a warehouse loaded before
        ingest checked them).
    """
    rows = con.execute(
        """
        select column_name, data_type from duckdb_columns()
        where database_name = current_database() and schema_name = 'main' and table_name = $t
        order by column_index
        """,
        {"t": table},
    ).fetchall()
    contract = {c.lower() for c in CONTRACT}
    attrs = [Attribute(name, sql_type) for name, sql_type in rows
             if name.lower() not in contract]
    check_names([a.name for a in attrs])
    return attrs
