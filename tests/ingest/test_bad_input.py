"""Bad input: each contract break raises InputError naming the table, the column and
the row, and leaves the warehouse exactly as it was (a checksum of every table)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adopt.exceptions import InputError, WorkspaceError
from adopt.ingest import ingest
from adopt.workspace import Workspace

Frames = dict[str, pd.DataFrame]
Mutation = Callable[[Frames], dict | None]


def _set(table: str, column: str, row: int, value: object) -> Mutation:
    def mutate(frames: Frames) -> None:
        df = frames[table]
        if not isinstance(value, type(df[column].iloc[0])):
            df[column] = df[column].astype(object)
        df.loc[row, column] = value

    return mutate


def _drop_column(table: str, column: str) -> Mutation:
    def mutate(frames: Frames) -> None:
        frames[table] = frames[table].drop(columns=column)

    return mutate


def _empty(table: str) -> Mutation:
    def mutate(frames: Frames) -> None:
        frames[table] = frames[table].iloc[:0]

    return mutate


def _orphan_click(frames: Frames) -> dict:
    events = frames["events"]
    row = int(np.flatnonzero(events["event"] == "click")[0])
    events.loc[row, "impression_id"] = "i_missing"
    return {"row": row + 1}


# id -> (change to the good world, message pattern; {row} is filled from the change)
CSV_CASES: dict[str, tuple[Mutation, str]] = {
    "missing required column": (
        _drop_column("ads", "title"),
        r"^table 'ads', column 'title': required column is missing \(columns found: ad_id, ",
    ),
    "wrong type": (
        _set("placements", "cpm", 1, "cheap"),
        r"^table 'placements', column 'cpm', row 2 of placements\.csv \(placement_id 'p1'\): "
        r"'cheap' is not a number$",
    ),
    "wrong integer type": (
        _set("placements", "daily_inventory", 0, "lots"),
        r"column 'daily_inventory', row 1 of placements\.csv .*'lots' is not a whole number",
    ),
    "negative cost": (
        _set("events", "cost", 4, -0.5),
        r"^table 'events', column 'cost', row 5 of events\.csv: -0\.5 is below the minimum 0 ",
    ),
    "negative cpm": (
        _set("placements", "cpm", 2, -1.5),
        r"^table 'placements', column 'cpm', row 3 of placements\.csv \(placement_id 'p2'\): "
        r"-1\.5 is below the minimum 0",
    ),
    "not a finite number": (
        _set("ads", "price", 3, "inf"),
        r"^table 'ads', column 'price', row 4 of ads\.csv \(ad_id 'a3'\): 'inf' is not a finite",
    ),
    "event type outside the list": (
        _set("events", "event", 7, "view"),
        r"^table 'events', column 'event', row 8 of events\.csv: 'view' is not allowed; "
        r"use one of: impression, click, conversion$",
    ),
    "behaviour action outside the list": (
        _set("behaviors", "action", 2, "like"),
        r"^table 'behaviors', column 'action', row 3 of behaviors\.csv: 'like' is not allowed",
    ),
    "campaign objective outside the list": (
        _set("campaigns", "objective", 1, "fame"),
        r"^table 'campaigns', column 'objective', row 2 of campaigns\.csv \(campaign_id 'c1'\): "
        r"'fame' is not allowed",
    ),
    "duplicate user id": (
        _set("users", "user_id", 5, "u2"),
        r"^table 'users', column 'user_id', row 6 of users\.csv \(user_id 'u2'\): "
        r"duplicate id: row 3 of users\.csv has the same user_id",
    ),
    "duplicate ad id": (
        _set("ads", "ad_id", 4, "a0"),
        r"^table 'ads', column 'ad_id', row 5 of ads\.csv \(ad_id 'a0'\): duplicate id",
    ),
    "duplicate placement id": (
        _set("placements", "placement_id", 2, "p1"),
        r"^table 'placements', column 'placement_id', row 3 of placements\.csv .*duplicate id",
    ),
    "duplicate campaign id": (
        _set("campaigns", "campaign_id", 1, "c0"),
        r"^table 'campaigns', column 'campaign_id', row 2 of campaigns\.csv .*duplicate id",
    ),
    "event of an unknown user": (
        _set("events", "user_id", 9, "ghost"),
        r"^table 'events', column 'user_id', row 10 of events\.csv: user_id 'ghost' is unknown: "
        r"not in users \(neither in this input nor in the warehouse\)$",
    ),
    "event of an unknown ad": (
        _set("events", "ad_id", 0, "a99"),
        r"^table 'events', column 'ad_id', row 1 of events\.csv: ad_id 'a99' is unknown",
    ),
    "event on an unknown placement": (
        _set("events", "placement_id", 1, "p9"),
        r"^table 'events', column 'placement_id', row 2 of events\.csv: "
        r"placement_id 'p9' is unknown",
    ),
    "behaviour of an unknown user": (
        _set("behaviors", "user_id", 11, "ghost"),
        r"^table 'behaviors', column 'user_id', row 12 of behaviors\.csv: "
        r"user_id 'ghost' is unknown",
    ),
    "ad of an unknown campaign": (
        _set("ads", "campaign_id", 4, "c9"),
        r"^table 'ads', column 'campaign_id', row 5 of ads\.csv \(ad_id 'a4'\): "
        r"campaign_id 'c9' is unknown: not in campaigns",
    ),
    "click without its impression": (
        _orphan_click,
        r"^table 'events', column 'impression_id', row {row} of events\.csv: click with "
        r"impression_id 'i_missing' has no impression event with that impression_id",
    ),
    "empty table": (_empty("ads"), r"^table 'ads': table is empty \(ads\.csv has no rows\)$"),
    "unparseable timestamp": (
        _set("events", "ts", 6, "yesterday"),
        r"^table 'events', column 'ts', row 7 of events\.csv: 'yesterday' cannot be parsed as a "
        r"timestamp \(use ISO 8601",
    ),
    "unparseable optional timestamp": (
        _set("users", "signup_ts", 0, "2024-13-45"),
        r"^table 'users', column 'signup_ts', row 1 of users\.csv \(user_id 'u0'\): '2024-13-45' "
        r"cannot be parsed",
    ),
    "null in a required column": (
        _set("events", "event", 3, None),
        r"^table 'events', column 'event', row 4 of events\.csv: event is empty; every row needs",
    ),
    "null id": (
        _set("users", "user_id", 0, None),
        r"^table 'users', column 'user_id', row 1 of users\.csv: user_id is empty",
    ),
    "blank title": (
        _set("ads", "title", 2, "  "),
        r"^table 'ads', column 'title', row 3 of ads\.csv \(ad_id 'a2'\): title is empty",
    ),
}


@pytest.fixture
def refused(loaded_ws, base_checksum, wh_checksum) -> Callable[[Path, str], None]:
    """Assert that ingesting a folder into `loaded_ws` raises a one-line InputError
    matching `pattern` and leaves every warehouse table as it was."""

    def check(data: Path, pattern: str) -> None:
        warehouse = Workspace(loaded_ws).warehouse
        with pytest.raises(InputError, match=pattern) as info:
            ingest(data, loaded_ws)
        assert "\n" not in str(info.value)
        assert wh_checksum(warehouse) == base_checksum

    return check


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_bad_csv_is_refused_and_loads_nothing(case, world, write, refused):
    mutate, pattern = CSV_CASES[case]
    fill = mutate(world) or {}
    refused(write(world), pattern.format(**fill))


def test_missing_required_table(world, write, refused):
    del world["placements"]
    pattern = r"^table 'placements': required table is missing: expected placements\.parquet, "
    refused(write(world), pattern)


def test_table_given_twice(world, write, refused):
    data = write(world)
    world["users"].to_parquet(data / "users.parquet")
    refused(data, r"^table 'users': given more than once")


def test_non_utf8_csv_text(world, write, refused):
    data = write(world)
    lines = (data / "ads.csv").read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Green tea", b"Gr\xfcne tea")  # Latin-1, not UTF-8
    (data / "ads.csv").write_bytes(b"\n".join(lines))
    pattern = r"^table 'ads', column 'title', row at line 4 of ads\.csv: text is not valid UTF-8"
    refused(data, pattern)


def test_csv_line_with_too_many_fields(world, write, refused):
    data = write(world)
    with open(data / "placements.csv", "a") as f:
        f.write("p3,1.0,extra,100,oops\n")
    pattern = r"^table 'placements', row at line 5 of placements\.csv: the line has more fields"
    refused(data, pattern)


def test_bad_row_in_a_later_file_of_a_folder(world, write, refused):
    events = world.pop("events")
    events = events.astype({"event": object})
    events.loc[45, "event"] = "hover"
    data = write(world)
    (data / "events").mkdir()
    events.iloc[:40].to_parquet(data / "events" / "a.parquet")
    events.iloc[40:].to_parquet(data / "events" / "b.parquet")
    pattern = r"^table 'events', column 'event', row 6 of b\.parquet: 'hover' is not allowed"
    refused(data, pattern)


def test_non_utf8_parquet_text(world, write, refused):
    data = write(world, "parquet")
    titles = [t.encode() for t in world["ads"]["title"]]
    titles[2] = b"Gr\xfcne tea"
    binary = pa.array(titles, type=pa.binary())
    table = pq.read_table(data / "ads.parquet")
    bad = pa.Array.from_buffers(pa.string(), len(binary), binary.buffers())
    table = table.set_column(table.schema.get_field_index("title"), "title", bad)
    pq.write_table(table, data / "ads.parquet")
    pattern = r"^table 'ads', column 'title', row 3 of ads\.parquet: text is not valid UTF-8"
    refused(data, pattern)


def test_parquet_text_in_a_number_column(world, write, refused):
    world["events"]["cost"] = world["events"]["cost"].astype(str)
    world["events"].loc[12, "cost"] = "free"
    pattern = r"^table 'events', column 'cost', row 13 of events\.parquet: 'free' is not a number"
    refused(write(world, "parquet"), pattern)


def test_parquet_list_in_a_number_column(world, write, refused):
    world["placements"]["cpm"] = [[1.0], [2.0], [3.0]]
    pattern = r"^table 'placements', column 'cpm', row 1 of placements\.parquet .*'\[1\.0\]' is not"
    refused(write(world, "parquet"), pattern)


def test_reference_to_a_row_only_in_the_warehouse_is_accepted(world, write, loaded_ws):
    # u19 is known from the earlier ingest, not from this input's users. The
    # impression (row 2, no click) gets a new id: impression i1 is already in
    # the warehouse with its own user.
    world["users"] = world["users"][world["users"].user_id != "u19"]
    world["events"].loc[1, ["user_id", "impression_id"]] = ["u19", "i_new"]
    ingest(write(world), loaded_ws)


def test_failed_first_ingest_leaves_no_warehouse(world, write, tmp_path):
    world["events"].loc[0, "event"] = "view"
    with pytest.raises(InputError, match="column 'event', row 1 of events.csv"):
        ingest(write(world), tmp_path / "new_ws")
    assert not Workspace(tmp_path / "new_ws").warehouse.exists()


def test_the_first_failing_row_is_reported(world, write, refused):
    world["events"].loc[9, "cost"] = -1.0
    world["events"].loc[2, "event"] = "view"
    refused(write(world), r"^table 'events', column 'event', row 3 of events\.csv: 'view'")


def test_missing_data_folder(tmp_path, refused):
    refused(tmp_path / "nowhere", r"^table 'users': .*the data folder .*nowhere does not exist$")


def test_warehouse_held_by_another_process(world, write, loaded_ws, base_checksum, wh_checksum):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(Workspace(loaded_ws).warehouse)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkspaceError, match=r"^cannot open the warehouse .*warehouse\.duckdb"):
            ingest(write(world), loaded_ws)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert wh_checksum(Workspace(loaded_ws).warehouse) == base_checksum


HOLD_LOCK = (
    "import sys, time, duckdb; con = duckdb.connect(sys.argv[1]); "
    "print('locked', flush=True); time.sleep(60)"
)
