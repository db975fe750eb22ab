"""Fixtures for the SQL model tests: in-memory warehouses with given rows.

Fixtures: `warehouse(tables)` creates the input-contract tables (adopt.schema)
in an in-memory DuckDB and inserts the given rows; `hand_world` is a world small
enough to work out every mart value by hand; `random_world(seed)` makes a small
seeded world with every feature the models use; `random_marts` is such a world
with its marts built (shared by a module's generic data tests).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.schema import TABLES
from adopt.warehouse import create_input_tables


def load_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, object]) -> None:
    """Create the contract tables and insert the rows given per table."""
    create_input_tables(con)
    for name, rows in tables.items():
        frame = pd.DataFrame(rows)
        if frame.empty:
            continue
        spec = TABLES[name]
        for column in frame.columns:
            if spec.column(column) is not None and spec.column(column).sql_type == "TIMESTAMP":
                frame[column] = pd.to_datetime(frame[column])
        con.register("given_rows", frame)
        con.execute(f"insert into {name} by name select * from given_rows")
        con.unregister("given_rows")


@pytest.fixture
def warehouse() -> Callable[[dict[str, object]], duckdb.DuckDBPyConnection]:
    """Return a function: given rows per table -> an in-memory warehouse holding them."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def make(tables: dict[str, object]) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        opened.append(con)
        load_tables(con, tables)
        return con

    yield make
    for con in opened:
        con.close()


def make_random_world(
    seed: int, users: int = 60, ads: int = 12, placements: int = 3, events: int = 3000
) -> dict[str, pd.DataFrame]:
    """A small random world: impressions with clicks and conversions, behaviours."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-01")
    categories = ["books", "shoes", "toys", "garden", "phones"]
    user_ids = [f"u{i}" for i in range(users)]
    ad_ids = [f"a{i}" for i in range(ads)]
    placement_ids = [f"p{i}" for i in range(placements)]
    users_df = pd.DataFrame(
        {
            "user_id": user_ids,
            "age_band": rng.choice(["18-24", "25-34", "35-54"], users),
            "gender": rng.choice(["f", "m"], users),
            "city_tier": rng.choice(["1", "2", "3"], users),
        }
    )
    ads_df = pd.DataFrame(
        {
            "ad_id": ad_ids,
            "campaign_id": [f"c{i % 4}" for i in range(ads)],
            "title": [f"ad title {i}" for i in range(ads)],
            "category": rng.choice(categories, ads),
            "brand": rng.choice(["acme", "zen"], ads),
            "price": rng.uniform(5, 100, ads).round(2),
        }
    )
    placements_df = pd.DataFrame(
        {"placement_id": placement_ids, "cpm": [2.0, 5.0, 8.0][:placements], "format": "banner"}
    )
    # Whole seconds, so that same-time events (ties) happen.
    seconds = np.sort(rng.integers(0, 20 * 86400, events))
    imps = pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(seconds, unit="s"),
            "user_id": rng.choice(user_ids, events),
            "ad_id": rng.choice(ad_ids, events),
            "placement_id": rng.choice(placement_ids, events),
            "event": "impression",
            "impression_id": [f"i{i}" for i in range(events)],
        }
    )
    clicked = imps[rng.random(events) < 0.15]
    clicks = clicked.assign(
        event="click", ts=clicked.ts + pd.to_timedelta(rng.integers(0, 600, len(clicked)), "s")
    )
    converted = clicks[rng.random(len(clicks)) < 0.3]
    convs = converted.assign(
        event="conversion",
        ts=converted.ts + pd.to_timedelta(rng.integers(1, 7200, len(converted)), "s"),
        revenue=rng.uniform(10, 80, len(converted)).round(2),
    )
    # Half the responses carry no impression_id: attributed by time.
    events_df = pd.concat([imps, clicks, convs], ignore_index=True)
    responses = events_df.event != "impression"
    drop_id = responses & (rng.random(len(events_df)) < 0.5)
    events_df.loc[drop_id, "impression_id"] = None
    n_beh = events // 2
    actions = rng.choice(["view", "cart", "favorite", "purchase", "search"], n_beh)
    behaviors_df = pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(rng.integers(0, 20 * 86400, n_beh), unit="s"),
            "user_id": rng.choice(user_ids[: users * 3 // 4], n_beh),
            "action": actions,
            "item_id": [f"item{i}" for i in rng.integers(0, 200, n_beh)],
            "category": rng.choice(categories, n_beh),
            "text": [f"item title {i}" for i in rng.integers(0, 200, n_beh)],
            "amount": np.where(actions == "purchase", rng.uniform(5, 200, n_beh).round(2), None),
        }
    )
    return {
        "users": users_df,
        "ads": ads_df,
        "placements": placements_df,
        "events": events_df.sort_values("ts", kind="stable").reset_index(drop=True),
        "behaviors": behaviors_df,
        "campaigns": pd.DataFrame({"campaign_id": ["c0", "c1"], "budget": [1000.0, 500.0]}),
    }


# A hand-built world small enough to work out every mart value by hand (see
# the expected values in test_user_profiles / test_ad_history /
# test_training_examples). Placement p1 prices an impression at 10 / 1000.
_HAND_WORLD: dict[str, list[dict]] = {
    "users": [
        {"user_id": "u1", "age_band": "25-34", "gender": "f", "city_tier": "1"},
        {"user_id": "u2", "age_band": "35-54", "gender": "m", "city_tier": "2"},
        {"user_id": "u3", "age_band": " ", "gender": None, "city_tier": "3"},
    ],
    "ads": [
        {"ad_id": "a1", "campaign_id": "c1", "title": "Books sale", "category": "Books"},
        {"ad_id": "a2", "campaign_id": "c1", "title": "Toy fair", "category": "toys"},
    ],
    "placements": [{"placement_id": "p1", "cpm": 10.0, "format": "Banner"}],
    "events": [
        # i1: clicked (by id) a minute later.
        {
            "ts": "2024-01-01 10:00",
            "user_id": "u1",
            "ad_id": "a1",
            "placement_id": "p1",
            "event": "impression",
            "impression_id": "i1",
        },
        {
            "ts": "2024-01-01 10:01",
            "user_id": "u1",
            "ad_id": "a1",
            "placement_id": "p1",
            "event": "click",
            "impression_id": "i1",
        },
        # i2: explicit cost; converted an hour later, attributed by time.
        {
            "ts": "2024-01-02 10:00",
            "user_id": "u1",
            "ad_id": "a2",
            "placement_id": "p1",
            "event": "impression",
            "impression_id": "i2",
            "cost": 0.05,
        },
        {
            "ts": "2024-01-02 11:00",
            "user_id": "u1",
            "ad_id": "a2",
            "placement_id": "p1",
            "event": "conversion",
            "revenue": 30.0,
        },
        # i3: a click 7 days later is outside the 24 h click window.
        {
            "ts": "2024-01-03 10:00",
            "user_id": "u2",
            "ad_id": "a1",
            "placement_id": "p1",
            "event": "impression",
            "impression_id": "i3",
        },
        {
            "ts": "2024-01-10 10:00",
            "user_id": "u2",
            "ad_id": "a1",
            "placement_id": "p1",
            "event": "click",
        },
    ],
    "behaviors": [
        {
            "ts": "2024-01-05 00:00",
            "user_id": "u1",
            "action": "purchase",
            "category": "books",
            "text": "python book",
            "amount": 20.0,
        },
        {
            "ts": "2024-01-06 00:00",
            "user_id": "u1",
            "action": "search",
            "category": "toys",
            "text": "lego set",
        },
    ],
    "campaigns": [],
}


@pytest.fixture
def hand_world() -> dict[str, list[dict]]:
    """The hand-built world (a fresh copy: tests may add rows)."""
    return copy.deepcopy(_HAND_WORLD)


@pytest.fixture
def random_world() -> Callable[..., dict[str, pd.DataFrame]]:
    """Return `make_random_world(seed, users=, ads=, placements=, events=)`."""
    return make_random_world


@pytest.fixture(scope="module", params=[0, 7], ids=["seed0", "seed7"])
def random_marts(request) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with a random world (seed = param) and its marts built."""
    from adopt.profiles import run_profile_models

    con = duckdb.connect()
    load_tables(con, make_random_world(request.param, events=4000))
    run_profile_models(con)
    yield con
    con.close()
