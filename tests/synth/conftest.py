"""Worlds shared by the synth tests: the demo world and a tiny one, generated once."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from adopt.synth import generate_world


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo world (seed 0)."""
    out = tmp_path_factory.mktemp("demo")
    generate_world(out, seed=0, show_progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate_world(out, users=400, ads=20, days=6, seed=3, show_progress=False)
    return out


@pytest.fixture(scope="session")
def impressions(demo_world: Path):
    """Logged impressions of the demo world with k (recounted from the logs) and clicked."""
    con = duckdb.connect()
    return con.execute(
        """
        with ev as (select * from read_parquet($events)),
        ads as (select * from read_parquet($ads)),
        clicks as (select distinct impression_id from ev where event = 'click'),
        imps as (
            select e.*, a.campaign_id, c.impression_id is not null as clicked
            from ev as e
            join ads as a using (ad_id)
            left join clicks as c using (impression_id)
            where e.event = 'impression'
        )
        select *,
            row_number() over (partition by user_id, campaign_id order by ts) as k
        from imps
        """,
        {"events": str(demo_world / "events" / "*.parquet"),
         "ads": str(demo_world / "ads.parquet")},
    ).df()
