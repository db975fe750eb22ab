"""Good ingests: tables, types, extras, idempotence, duplicates, upserts, formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.ingest import IngestSummary, ingest
from adopt.schema import TABLES
from adopt.workspace import Workspace


def test_good_ingest_loads_every_table_with_contract_types(world, base_ingest, wh_query):
    summary = base_ingest
    assert isinstance(summary, IngestSummary)
    wh = summary.warehouse
    for name, spec in TABLES.items():
        assert summary[name].rows_loaded == len(world[name])
        assert wh_query(wh, f"SELECT count(*) FROM {name}") == [(len(world[name]),)]
        types = dict(wh_query(wh, f"SELECT column_name, column_type FROM (DESCRIBE {name})"))
        for col in spec.columns:
            assert types[col.name] == col.sql_type, (name, col.name)
    # Extra columns are kept as attributes; an optional contract column stays NULL.
    assert wh_query(wh, "SELECT count(*) FROM users WHERE loyalty IN ('gold', 'silver')") == [(20,)]
    assert wh_query(wh, "SELECT count(gender) FROM users") == [(0,)]
    assert wh_query(wh, "SELECT max(ts) FROM events") == [(world["events"].ts.max(),)]


def test_summary_and_ingest_log(world, base_ingest, wh_query):
    summary = base_ingest
    lines = str(summary).splitlines()
    assert lines[0].startswith(f"ingested {summary.source} into {summary.warehouse} in ")
    assert lines[1].split() == ["table", "source", "read", "loaded", "replaced", "dropped"]
    assert lines[6].split() == ["events", "events.csv", "80", "80", "0", "0"]
    log = wh_query(
        summary.warehouse,
        "SELECT ingest_id, source, salt_fingerprint, rows_loaded, "
        "tables::JSON->>'$.events.rows_read' FROM ingest_log",
    )
    assert log == [(1, str(summary.source), None, sum(len(f) for f in world.values()), "80")]


def test_optional_tables_exist_empty_when_not_given(world, write, tmp_path, wh_query):
    del world["behaviors"], world["campaigns"]
    summary = ingest(write(world), tmp_path / "ws")
    wh = Workspace(tmp_path / "ws").warehouse
    assert wh_query(wh, "SELECT count(*) FROM behaviors") == [(0,)]
    assert wh_query(wh, "SELECT count(*) FROM campaigns") == [(0,)]
    assert [t.table for t in summary.tables] == ["users", "placements", "ads", "events"]


def test_same_data_twice_adds_nothing(world, write, tmp_path, wh_checksum):
    data = write(world)
    ingest(data, tmp_path / "ws")
    wh = Workspace(tmp_path / "ws").warehouse
    before = wh_checksum(wh)
    second = ingest(data, tmp_path / "ws")
    after = wh_checksum(wh)
    before.pop("ingest_log"), after.pop("ingest_log")
    assert after == before
    assert second["events"].rows_loaded == 0
    assert second["events"].dropped["exact duplicates already in the warehouse"] == 80
    assert second["users"].rows_replaced == 20
    assert "events: 80 exact duplicates already in the warehouse dropped" in str(second)


def test_exact_duplicate_events_in_input_are_dropped_and_reported(world, write, tmp_path, wh_query):
    events = world["events"]
    world["events"] = pd.concat([events, events.iloc[[3, 5, 5]]], ignore_index=True)
    summary = ingest(write(world), tmp_path / "ws")
    assert summary["events"].rows_read == 83
    assert summary["events"].rows_loaded == 80
    assert summary["events"].dropped["exact duplicates within the input"] == 3
    assert "events: 3 exact duplicates within the input dropped" in str(summary)
    wh = Workspace(tmp_path / "ws").warehouse
    assert wh_query(wh, "SELECT count(*) FROM (SELECT DISTINCT * FROM events)") == [(80,)]


def test_new_events_are_appended_and_dimensions_upserted(world, write, tmp_path, wh_query):
    ingest(write(world), tmp_path / "ws")
    # A later batch: one changed user, one new user; events that reference both
    # the new input and users known only from the warehouse.
    users = world["users"].iloc[:2].copy()
    users.loc[0, "age_band"] = "65+"
    users.loc[1, "user_id"] = "u_new"
    later = world["events"].copy()
    later["ts"] += pd.Timedelta(days=30)
    later["impression_id"] = "b2_" + later["impression_id"]  # new impressions, new ids
    later.loc[later.impression_id == "b2_i0", "user_id"] = "u_new"  # row 0 and its responses
    batch = dict(world, users=users, events=later)
    del batch["behaviors"]
    summary = ingest(write(batch), tmp_path / "ws")
    wh = Workspace(tmp_path / "ws").warehouse
    assert summary["users"].rows_replaced == 1
    assert wh_query(wh, "SELECT age_band FROM users WHERE user_id = 'u0'") == [("65+",)]
    assert wh_query(wh, "SELECT count(*) FROM users") == [(21,)]
    assert wh_query(wh, "SELECT count(*) FROM events") == [(160,)]
    assert wh_query(wh, "SELECT count(*) FROM behaviors") == [(15,)]


def test_new_extra_column_is_added_and_old_rows_get_null(world, write, tmp_path, wh_query):
    ingest(write(world), tmp_path / "ws")
    later = world["events"].copy()
    later["ts"] += pd.Timedelta(days=30)
    later["impression_id"] = "b2_" + later["impression_id"]  # new impressions, new ids
    later["device"] = "mobile"
    ingest(write(dict(world, events=later)), tmp_path / "ws")
    wh = Workspace(tmp_path / "ws").warehouse
    counts = wh_query(wh, "SELECT device, count(*) FROM events GROUP BY ALL ORDER BY ALL")
    assert counts == [("mobile", 80), (None, 80)]


def _contents(wh_query, wh) -> dict[str, list[tuple]]:
    return {name: wh_query(wh, f"SELECT * FROM {name} ORDER BY ALL") for name in TABLES}


def test_csv_and_parquet_give_the_same_warehouse(world, write, tmp_path, wh_query):
    ingest(write(world, "csv"), tmp_path / "from_csv")
    ingest(write(world, "parquet"), tmp_path / "from_parquet")
    from_csv = _contents(wh_query, Workspace(tmp_path / "from_csv").warehouse)
    from_parquet = _contents(wh_query, Workspace(tmp_path / "from_parquet").warehouse)
    assert from_csv == from_parquet
    assert len(from_csv["events"]) == 80


def test_folder_of_files_mixing_plain_and_gzipped_csv(world, write, tmp_path, wh_query):
    data = write({k: v for k, v in world.items() if k != "events"})
    folder = data / "events"
    folder.mkdir()
    events = world["events"]
    events.iloc[:50].to_csv(folder / "part-0.csv", index=False)
    # A later file may lack an optional column: its rows get NULL there.
    events.iloc[50:].drop(columns="revenue").to_csv(folder / "part-1.csv.gz", index=False)
    summary = ingest(data, tmp_path / "ws")
    assert summary["events"].source == "events/ (2 csv files)"
    wh = Workspace(tmp_path / "ws").warehouse
    assert wh_query(wh, "SELECT count(*), count(revenue) FROM events") == [(80, 50)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_integer_ids_are_stored_as_text(world, write, tmp_path, wh_query, fmt):
    world["placements"]["placement_id"] = [10, 11, 12]
    world["events"]["placement_id"] = world["events"]["placement_id"].str[1:].astype(int) + 10
    ingest(write(world, fmt), tmp_path / "ws")
    wh = Workspace(tmp_path / "ws").warehouse
    rows = wh_query(wh, "SELECT DISTINCT placement_id FROM events ORDER BY 1")
    assert rows == [("10",), ("11",), ("12",)]


def test_overlapping_batches_load_each_distinct_event_once(world, write, tmp_path, wh_query):
    rng = np.random.default_rng(7)
    events = world["events"][world["events"].event == "impression"]  # clicks need theirs
    n = len(events)
    # Two batches that overlap, each with rows repeated inside it.
    first = events.iloc[np.sort(rng.choice(n, 60, replace=True))]
    second = events.iloc[np.sort(rng.choice(n, 60, replace=True))]
    s1 = ingest(write(dict(world, events=first)), tmp_path / "ws")
    s2 = ingest(write(dict(world, events=second)), tmp_path / "ws")
    distinct_first = len(first.drop_duplicates())
    distinct_all = len(pd.concat([first, second]).drop_duplicates())
    assert s1["events"].rows_loaded == distinct_first
    assert s1["events"].dropped["exact duplicates within the input"] == 60 - distinct_first
    assert s2["events"].rows_loaded == distinct_all - distinct_first
    assert s2["events"].rows_dropped == 60 - s2["events"].rows_loaded
    wh = Workspace(tmp_path / "ws").warehouse
    assert wh_query(wh, "SELECT count(*), count(DISTINCT impression_id || event) FROM events") == [
        (distinct_all, distinct_all)
    ]
