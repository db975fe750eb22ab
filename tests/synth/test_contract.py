"""Every table of a generated world satisfies the input contract (adopt.schema)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from adopt.schema import TABLES


def _source(world: Path, table: str) -> str:
    folder = world / table
    return str(folder / "*.parquet") if folder.is_dir() else str(world / f"{table}.parquet")


@pytest.fixture(scope="module")
def con(demo_world: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in TABLES:
        con.read_parquet(_source(demo_world, name)).create_view(name)
    return con


@pytest.mark.parametrize("table", list(TABLES))
def test_columns_types_and_values(con: duckdb.DuckDBPyConnection, table: str) -> None:
    spec = TABLES[table]
    types = dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_name = $t",
        {"t": table}).fetchall())
    assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0
    for col in spec.columns:
        assert col.name in types, f"{table}.{col.name} missing"
        assert types[col.name] == col.sql_type, f"{table}.{col.name} is {types[col.name]}"
        q = f'"{col.name}"'
        if not col.nullable:
            assert con.execute(f"select count(*) from {table} where {q} is null").fetchone() == (0,)
        if col.min_value is not None:
            bad = con.execute(f"select count(*) from {table} where {q} < $m",
                              {"m": col.min_value}).fetchone()
            assert bad == (0,), f"{table}.{col.name} below {col.min_value}"
        if col.allowed is not None:
            values = {v for (v,) in con.execute(f"select distinct {q} from {table}").fetchall()}
            assert values <= set(col.allowed) | {None}
    if spec.key:
        keys = ", ".join(spec.key)
        dup = con.execute(f"select count(*) - count(distinct ({keys})) from {table}").fetchone()
        assert dup == (0,)
    for column, parent in spec.references.items():
        parent_key = TABLES[parent].key[0]
        orphans = con.execute(
            f"select count(*) from {table} as t anti join {parent} as p "
            f"on t.{column} = p.{parent_key}").fetchone()
        assert orphans == (0,), f"{table}.{column} has ids missing from {parent}"


def test_ads_reference_campaigns(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute(
        "select count(*) from ads anti join campaigns using (campaign_id)").fetchone() == (0,)


def test_clicks_and_conversions_follow_their_impression(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        select e.event, count(*) as n,
            count(i.impression_id) as matched,
            count(*) filter (where e.ts > i.ts and e.user_id = i.user_id
                and e.ad_id = i.ad_id and e.placement_id = i.placement_id) as consistent
        from events as e
        left join (select * from events where event = 'impression') as i using (impression_id)
        where e.event <> 'impression'
        group by e.event
        """).fetchall()
    assert {r[0] for r in rows} == {"click", "conversion"}
    for event, n, matched, consistent in rows:
        assert n == matched == consistent, event
    unique = con.execute(
        "select count(*) = count(distinct impression_id) from events where event = 'impression'"
    ).fetchone()
    assert unique == (True,)
    conv_without_click = con.execute(
        """
        select count(*) from (select * from events where event = 'conversion') as c
        anti join (select * from events where event = 'click') as k using (impression_id)
        """).fetchone()
    assert conv_without_click == (0,)


def test_cost_and_revenue(con: duckdb.DuckDBPyConnection) -> None:
    off_cpm = con.execute(
        """
        select count(*) from events as e join placements as p using (placement_id)
        where e.event = 'impression' and abs(e.cost - p.cpm / 1000) > 1e-12
        """).fetchone()
    assert off_cpm == (0,)
    assert con.execute("select max(cost) from events where event <> 'impression'").fetchone() \
        == (0.0,)
    rev = con.execute(
        """
        select count(*) filter (where event = 'conversion' and not revenue > 0),
               count(*) filter (where event <> 'conversion' and revenue is not null)
        from events
        """).fetchone()
    assert rev == (0, 0)


def test_daily_inventory_covers_logged_traffic(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        with daily as (
            select placement_id, count(*) / count(distinct date_trunc('day', ts)) as per_day
            from events where event = 'impression' group by placement_id
        )
        select p.placement_id, p.daily_inventory, d.per_day
        from placements as p join daily as d using (placement_id)
        """).fetchall()
    assert len(rows) == 8
    for placement, inventory, per_day in rows:
        assert per_day < inventory < 2 * per_day, placement


def test_behaviors_purchases_have_amounts(con: duckdb.DuckDBPyConnection) -> None:
    rows = dict(con.execute(
        """
        select action, count(*) filter (where amount > 0) / count(*) from behaviors
        group by action
        """).fetchall())
    assert set(rows) == {"view", "cart", "favorite", "purchase", "search"}
    assert rows.pop("purchase") == 1.0
    assert set(rows.values()) == {0.0}
    search_items = con.execute(
        "select count(item_id), count(text) > 0 from behaviors where action = 'search'"
    ).fetchone()
    assert search_items == (0, True)


def test_campaigns_group_two_to_six_ads_of_one_advertiser(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        with per_campaign as (
            select campaign_id, count(*) as n, count(distinct advertiser) as advertisers
            from ads group by campaign_id
        ),
        per_category as (
            select campaign_id, category, count(*) as n_cat from ads group by all
        ),
        main as (
            select campaign_id, max(n_cat) as n_main from per_category group by campaign_id
        )
        select p.n, p.advertisers, m.n_main / p.n as main_share
        from per_campaign as p join main as m using (campaign_id)
        """).fetchall()
    assert all(2 <= n <= 6 for n, _, _ in rows)
    assert all(adv == 1 for _, adv, _ in rows)
    assert np.mean([share for _, _, share in rows]) > 0.8
    objectives = con.execute(
        """
        select objective, count(*), count(target_cpa), count(target_roas)
        from campaigns group by objective
        """).fetchall()
    for objective, n, cpa, roas in objectives:
        assert cpa == (n if objective == "conversions" else 0)
        assert roas == (n if objective == "revenue" else 0)
    bad_flights = con.execute(
        'select count(*) from campaigns where "end" <= start or budget <= 0').fetchone()
    assert bad_flights == (0,)
