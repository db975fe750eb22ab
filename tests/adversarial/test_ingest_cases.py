"""The adversarial corpus: each case is a small mutation of the valid input folder.

Every case must be refused by `adopt ingest` with exit code 2, exactly one
stderr line naming the table, the column (for a column's fault) and the row
(for a row's fault), no traceback, and a warehouse that already held a good
load left unchanged (its fingerprint).
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd
import pytest

Mutation = Callable[[Path], None]


def read_rows(path: Path) -> list[list[str]]:
    """A CSV file's rows, header first."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def set_value(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set one value: `row` is the 1-based data row."""
    path = folder / f"{table}.csv"
    rows = read_rows(path)
    rows[row][rows[0].index(column)] = value
    write_rows(path, rows)


class Case(NamedTuple):
    mutate: Mutation
    table: str
    column: str | None
    row: str | None  # e.g. "row 3 of events.csv"


def value(table: str, row: int, column: str, new: str) -> Mutation:
    return lambda folder: set_value(folder, table, row, column, new)


def rename_column(table: str, old: str, new: str) -> Mutation:
    def mutate(folder: Path) -> None:
        path = folder / f"{table}.csv"
        rows = read_rows(path)
        rows[0][rows[0].index(old)] = new
        write_rows(path, rows)

    return mutate


def drop_column(table: str, column: str) -> Mutation:
    def mutate(folder: Path) -> None:
        path = folder / f"{table}.csv"
        rows = read_rows(path)
        i = rows[0].index(column)
        write_rows(path, [r[:i] + r[i + 1 :] for r in rows])

    return mutate


def add_columns(table: str, names: list[str]) -> Mutation:
    def mutate(folder: Path) -> None:
        path = folder / f"{table}.csv"
        rows = read_rows(path)
        write_rows(path, [rows[0] + names] + [r + ["x"] * len(names) for r in rows[1:]])

    return mutate


def header_only(table: str) -> Mutation:
    def mutate(folder: Path) -> None:
        path = folder / f"{table}.csv"
        write_rows(path, read_rows(path)[:1])

    return mutate


def remove(name: str) -> Mutation:
    return lambda folder: (folder / name).unlink()


def raw_replace(table: str, old: bytes, new: bytes) -> Mutation:
    def mutate(folder: Path) -> None:
        path = folder / f"{table}.csv"
        data = path.read_bytes()
        assert old in data, (old, table)
        path.write_bytes(data.replace(old, new, 1))

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(folder: Path) -> None:
        for m in mutations:
            m(folder)

    return mutate


def given_twice(folder: Path) -> None:
    (folder / "users").mkdir()
    shutil.copy(folder / "users.csv", folder / "users" / "part-0.csv")


def only_hidden_files(folder: Path) -> None:
    (folder / "events").mkdir()
    (folder / "events.csv").rename(folder / "events" / "._part-1.csv")


def parquet_events(mutate_df: Callable[[pd.DataFrame], None]) -> Mutation:
    def mutate(folder: Path) -> None:
        df = pd.read_csv(folder / "events.csv", dtype=str)
        mutate_df(df)
        df.to_parquet(folder / "events.parquet", index=False)
        (folder / "events.csv").unlink()

    return mutate


def _cost_text(df: pd.DataFrame) -> None:
    df.loc[2, "cost"] = "free"


def _far_future_parquet(df: pd.DataFrame) -> None:
    df["ts"] = pd.to_datetime(df["ts"])
    df.loc[3, "ts"] = pd.Timestamp("2200-01-01")


E = "events.csv"
CASES: dict[str, Case] = {
    # the folder and the tables' shape
    "missing required table": Case(remove("events.csv"), "events", None, None),
    "table given twice": Case(given_twice, "users", None, None),
    "table folder with only hidden files": Case(only_hidden_files, "events", None, None),
    "empty ads": Case(header_only("ads"), "ads", None, None),
    "empty events": Case(header_only("events"), "events", None, None),
    "empty campaigns": Case(header_only("campaigns"), "campaigns", None, None),
    "missing user_id": Case(rename_column("users", "user_id", "uid"), "users", "user_id", None),
    "missing title": Case(drop_column("ads", "title"), "ads", "title", None),
    "missing campaign_id of ads": Case(
        drop_column("ads", "campaign_id"), "ads", "campaign_id", None
    ),
    "missing cpm": Case(drop_column("placements", "cpm"), "placements", "cpm", None),
    "missing ts": Case(drop_column("events", "ts"), "events", "ts", None),
    "missing event": Case(drop_column("events", "event"), "events", "event", None),
    "missing behaviour action": Case(
        drop_column("behaviors", "action"), "behaviors", "action", None
    ),
    "reserved column name": Case(add_columns("users", ["_adopt_row"]), "users", "_adopt_row", None),
    "control character in a column name": Case(
        add_columns("ads", ["bad\x07name"]), "ads", "bad\\x07name", None
    ),
    "too many extra columns": Case(
        add_columns("users", [f"x{i}" for i in range(201)]), "users", "x200", None
    ),
    "ten thousand extra columns": Case(
        add_columns("events", [f"x{i}" for i in range(10_000)]), "events", "x200", None
    ),
    # values of the wrong type
    "cpm not a number": Case(
        value("placements", 2, "cpm", "cheap"), "placements", "cpm", "row 2 of placements.csv"
    ),
    "daily_inventory not a number": Case(
        value("placements", 1, "daily_inventory", "lots"),
        "placements",
        "daily_inventory",
        "row 1 of",
    ),
    "daily_inventory a fraction": Case(
        value("placements", 2, "daily_inventory", "1.5"),
        "placements",
        "daily_inventory",
        "row 2 of",
    ),
    "price not a number": Case(
        value("ads", 3, "price", "cheap"), "ads", "price", "row 3 of ads.csv"
    ),
    "cost not a number": Case(value("events", 4, "cost", "x"), "events", "cost", f"row 4 of {E}"),
    "budget not a number": Case(
        value("campaigns", 1, "budget", "lots"), "campaigns", "budget", "row 1 of"
    ),
    "unparseable ts": Case(value("events", 5, "ts", "yesterday"), "events", "ts", f"row 5 of {E}"),
    "unparseable signup_ts": Case(
        value("users", 2, "signup_ts", "2024-13-45"), "users", "signup_ts", "row 2 of users.csv"
    ),
    "unparseable campaign start": Case(
        value("campaigns", 2, "start", "soon"), "campaigns", "start", "row 2 of campaigns.csv"
    ),
    "unparseable behaviour ts": Case(
        value("behaviors", 1, "ts", "n/a"), "behaviors", "ts", "row 1 of behaviors.csv"
    ),
    "Parquet text in cost": Case(
        parquet_events(_cost_text), "events", "cost", "row 3 of events.parquet"
    ),
    # values out of range
    "negative cost": Case(value("events", 1, "cost", "-0.5"), "events", "cost", f"row 1 of {E}"),
    "negative revenue": Case(
        value("events", 3, "revenue", "-30"), "events", "revenue", f"row 3 of {E}"
    ),
    "negative cpm": Case(value("placements", 1, "cpm", "-1"), "placements", "cpm", "row 1 of"),
    "negative price": Case(value("ads", 1, "price", "-5"), "ads", "price", "row 1 of ads.csv"),
    "negative budget": Case(
        value("campaigns", 2, "budget", "-1"), "campaigns", "budget", "row 2 of"
    ),
    "negative daily_inventory": Case(
        value("placements", 1, "daily_inventory", "-10"),
        "placements",
        "daily_inventory",
        "row 1 of",
    ),
    "cpm inf": Case(value("placements", 1, "cpm", "inf"), "placements", "cpm", "row 1 of"),
    "cpm nan": Case(value("placements", 2, "cpm", "nan"), "placements", "cpm", "row 2 of"),
    "cpm 1e300": Case(value("placements", 1, "cpm", "1e300"), "placements", "cpm", "row 1 of"),
    "cpm over 10,000": Case(
        value("placements", 2, "cpm", "25000"), "placements", "cpm", "row 2 of"
    ),
    "cost inf": Case(value("events", 1, "cost", "inf"), "events", "cost", f"row 1 of {E}"),
    "ts in year 9999": Case(
        value("events", 7, "ts", "9999-12-31 10:00:00"), "events", "ts", f"row 7 of {E}"
    ),
    "ts in year 0001": Case(
        value("events", 4, "ts", "0001-01-01 00:00:00"), "events", "ts", f"row 4 of {E}"
    ),
    "ts in year 294247": Case(
        value("events", 5, "ts", "294247-01-01"), "events", "ts", f"row 5 of {E}"
    ),
    "Parquet ts in year 2200": Case(
        parquet_events(_far_future_parquet), "events", "ts", "row 4 of events.parquet"
    ),
    "signup_ts in 1900": Case(
        value("users", 3, "signup_ts", "1900-01-01"), "users", "signup_ts", "row 3 of"
    ),
    "campaign end in 2999": Case(
        value("campaigns", 1, "end", "2999-01-01"), "campaigns", "end", "row 1 of"
    ),
    # text outside its list
    "unknown event type": Case(
        value("events", 2, "event", "view"), "events", "event", f"row 2 of {E}"
    ),
    "unknown objective": Case(
        value("campaigns", 2, "objective", "likes"), "campaigns", "objective", "row 2 of"
    ),
    "unknown behaviour action": Case(
        value("behaviors", 2, "action", "dance"), "behaviors", "action", "row 2 of"
    ),
    # empty values
    "empty user_id": Case(
        value("users", 2, "user_id", ""), "users", "user_id", "row 2 of users.csv"
    ),
    "empty event user_id": Case(
        value("events", 3, "user_id", ""), "events", "user_id", f"row 3 of {E}"
    ),
    "blank title": Case(value("ads", 2, "title", "   "), "ads", "title", "row 2 of ads.csv"),
    "empty cpm": Case(value("placements", 1, "cpm", ""), "placements", "cpm", "row 1 of"),
    "empty event": Case(value("events", 6, "event", ""), "events", "event", f"row 6 of {E}"),
    # duplicate ids
    "duplicate user id": Case(
        value("users", 3, "user_id", "u1"), "users", "user_id", "row 3 of users.csv"
    ),
    "duplicate ad id": Case(value("ads", 2, "ad_id", "a1"), "ads", "ad_id", "row 2 of ads.csv"),
    "duplicate placement id": Case(
        value("placements", 2, "placement_id", "p1"), "placements", "placement_id", "row 2 of"
    ),
    "duplicate campaign id": Case(
        value("campaigns", 2, "campaign_id", "c1"), "campaigns", "campaign_id", "row 2 of"
    ),
    "duplicate impression id": Case(
        value("events", 4, "impression_id", "i1"), "events", "impression_id", f"row 4 of {E}"
    ),
    "impression id already in the warehouse for another impression": Case(
        both(value("events", 7, "ts", "2024-05-05 12:00:00")),
        "events",
        "impression_id",
        f"row 7 of {E}",
    ),
    # unknown references
    "event of an unknown user": Case(
        value("events", 4, "user_id", "u99"), "events", "user_id", f"row 4 of {E}"
    ),
    "event of an unknown ad": Case(
        value("events", 5, "ad_id", "a99"), "events", "ad_id", f"row 5 of {E}"
    ),
    "event on an unknown placement": Case(
        value("events", 7, "placement_id", "p99"), "events", "placement_id", f"row 7 of {E}"
    ),
    "behaviour of an unknown user": Case(
        value("behaviors", 1, "user_id", "u99"), "behaviors", "user_id", "row 1 of"
    ),
    "ad of an unknown campaign": Case(
        value("ads", 3, "campaign_id", "c9"), "ads", "campaign_id", "row 3 of ads.csv"
    ),
    "ad of a campaign unknown to the warehouse's campaigns": Case(
        both(remove("campaigns.csv"), value("ads", 2, "campaign_id", "c9")),
        "ads",
        "campaign_id",
        "row 2 of ads.csv",
    ),
    # event logic
    "click without its impression": Case(
        value("events", 6, "impression_id", "i99"), "events", "impression_id", f"row 6 of {E}"
    ),
    "conversion before its click": Case(
        value("events", 3, "ts", "2024-05-02 10:00:10"), "events", "ts", f"row 3 of {E}"
    ),
    "click before its impression": Case(
        value("events", 6, "ts", "2024-05-03 08:59:00"), "events", "ts", f"row 6 of {E}"
    ),
    "click on another user's impression": Case(
        value("events", 2, "user_id", "u2"), "events", "user_id", f"row 2 of {E}"
    ),
    "click on another ad's impression": Case(
        value("events", 6, "ad_id", "a1"), "events", "ad_id", f"row 6 of {E}"
    ),
    "conversion on another placement": Case(
        value("events", 3, "placement_id", "p2"), "events", "placement_id", f"row 3 of {E}"
    ),
    "revenue on an impression": Case(
        value("events", 4, "revenue", "12.5"), "events", "revenue", f"row 4 of {E}"
    ),
    "click before its impression once offsets are applied": Case(
        both(
            value("events", 5, "ts", "2024-05-03T09:00:00+00:00"),
            value("events", 6, "ts", "2024-05-03T20:00:00+13:00"),
        ),
        "events",
        "ts",
        f"row 6 of {E}",
    ),
    # campaigns and users
    "campaign ends before it starts": Case(
        value("campaigns", 2, "end", "2024-04-01"), "campaigns", "end", "row 2 of campaigns.csv"
    ),
    "sign-up after the user's last event": Case(
        value("users", 4, "signup_ts", "2024-06-01 00:00:00"),
        "users",
        "signup_ts",
        "row 4 of users.csv",
    ),
    # text and CSV structure
    "NUL byte in a title": Case(
        raw_replace("ads", b"Teapot", b"Tea\x00pot"), "ads", "title", "row 3 of ads.csv"
    ),
    "NUL byte in an extra column": Case(
        both(
            add_columns("users", ["note"]), raw_replace("users", b"10:00:00,x", b"10:00:00,x\x00y")
        ),
        "users",
        "note",
        "row 3 of users.csv",
    ),
    "title not UTF-8": Case(
        raw_replace("ads", b"Green tea", b"Green t\xe9a"), "ads", "title", "line 3 of ads.csv"
    ),
    "unterminated quote in an id": Case(
        raw_replace("users", b"u3,", b'"n0003,'), "users", None, "row 3 of users.csv"
    ),
    "unterminated quote in a title": Case(
        raw_replace("ads", b"Green tea", b'"Green tea'), "ads", None, "row 2 of ads.csv"
    ),
    "line with too many fields": Case(
        raw_replace("placements", b"p2,4.0,search,500", b"p2,4.0,search,500,extra"),
        "placements",
        None,
        "line 3 of placements.csv",
    ),
    "line with too few fields": Case(
        raw_replace("ads", b"a2,c2,Green tea,7.0", b"a2,c2"), "ads", None, "line 3 of ads.csv"
    ),
}


def _refused(harness, case: Case, folder: Path, ws: Path, before: str | None) -> str:
    run_cli, fingerprint = harness
    code, out, err = run_cli(["ingest", str(folder), "--workspace", str(ws)])
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("adopt: error: "), line
    assert f"table '{case.table}'" in line, line
    if case.column is not None:
        assert f"column '{case.column}'" in line, line
    if case.row is not None:
        assert case.row in line, line
    assert fingerprint(ws) == before
    return line


@pytest.fixture
def harness(run_cli, fingerprint):
    return run_cli, fingerprint


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_refused(name, harness, valid_input, loaded_ws, good_fingerprint):
    case = CASES[name]
    case.mutate(valid_input)
    _refused(harness, case, valid_input, loaded_ws, good_fingerprint)


def test_ten_thousand_columns_are_refused_fast(harness, valid_input, loaded_ws, good_fingerprint):
    add_columns("events", [f"x{i}" for i in range(10_000)])(valid_input)
    started = time.perf_counter()
    _refused(harness, CASES["ten thousand extra columns"], valid_input, loaded_ws, good_fingerprint)
    assert time.perf_counter() - started < 20


def test_a_refused_first_ingest_leaves_no_warehouse(harness, valid_input, tmp_path):
    value("events", 2, "event", "view")(valid_input)
    _refused(harness, CASES["unknown event type"], valid_input, tmp_path / "new_ws", None)


def test_hidden_files_are_skipped_and_counted(run_cli, valid_input, tmp_path):
    (valid_input / "events").mkdir()
    (valid_input / "events.csv").rename(valid_input / "events" / "part-0.csv")
    (valid_input / "events" / "._part-1.csv").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (valid_input / "events" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    code, out, err = run_cli(["ingest", str(valid_input), "--workspace", str(tmp_path / "ws")])
    assert code == 0, err
    assert "events: 2 hidden files skipped (.DS_Store, ._part-1.csv)" in out


def _events(ws: Path) -> list[tuple]:
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT impression_id, event, ts FROM events ORDER BY impression_id, ts"
        ).fetchall()
    finally:
        con.close()


def test_offsets_in_text_are_converted_to_utc(run_cli, valid_input, tmp_path):
    # The click comes 13 h after its impression in local (UTC+13) time: 1 h after it in UTC.
    set_value(valid_input, "events", 5, "ts", "2024-05-03T08:00:00Z")
    set_value(valid_input, "events", 6, "ts", "2024-05-03T22:00:00+13:00")
    code, _, err = run_cli(["ingest", str(valid_input), "--workspace", str(tmp_path / "ws")])
    assert code == 0, err
    rows = [r for r in _events(tmp_path / "ws") if r[0] == "i3"]
    assert rows == [
        ("i3", "impression", pd.Timestamp("2024-05-03 08:00:00").to_pydatetime()),
        ("i3", "click", pd.Timestamp("2024-05-03 09:00:00").to_pydatetime()),
    ]


def test_tz_aware_parquet_is_converted_to_utc_like_text(run_cli, valid_input, tmp_path):
    df = pd.read_csv(valid_input / "events.csv")
    df["ts"] = pd.to_datetime(df["ts"]).dt.tz_localize("Pacific/Auckland")  # UTC+12 in May
    df.to_parquet(valid_input / "events.parquet", index=False)
    (valid_input / "events.csv").unlink()
    code, _, err = run_cli(["ingest", str(valid_input), "--workspace", str(tmp_path / "ws")])
    assert code == 0, err
    first = _events(tmp_path / "ws")[0]
    assert first == ("i1", "impression", pd.Timestamp("2024-05-01 22:00:00").to_pydatetime())
