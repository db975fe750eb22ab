"""Benchmark of ingest: adopt's set-based DuckDB validation and load against two baselines.

On one generated input (`--events` events over 10,000 users, Parquet), each run
into a fresh workspace, side by side in this process:

1. ``plain load``: DuckDB copies every table into the warehouse with no check
   at all (the floor: what validation, dedupe and the transaction cost on top).
2. ``pandas``: the same contract checks written the usual way with pandas
   (read every table, vectorised checks, ``drop_duplicates``), then one DuckDB
   transaction that loads the frames.
3. ``adopt ingest``: `adopt.ingest.ingest`.

Prints the median seconds of `--repeats` runs and the ratios.
Run: ``.venv/bin/python bench/ingest_bench.py [--events 2000000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

from adopt.ingest import ingest
from adopt.schema import TABLES

_GENERATE = """
COPY (SELECT 'u' || i AS user_id, ['18-24', '25-34', '35-44'][1 + i % 3] AS age_band
      FROM range(10000) t(i)) TO 'users.parquet';
COPY (SELECT 'p' || i AS placement_id, 1.0 + i AS cpm FROM range(8) t(i)) TO 'placements.parquet';
COPY (SELECT 'c' || i AS campaign_id, 1000.0 AS budget, 'clicks' AS objective
      FROM range(10) t(i)) TO 'campaigns.parquet';
COPY (SELECT 'a' || i AS ad_id, 'c' || (i % 10) AS campaign_id, 'Ad number ' || i AS title
      FROM range(200) t(i)) TO 'ads.parquet';
COPY (
    SELECT TIMESTAMP '2025-01-01' + to_seconds(i) AS ts, 'u' || (hash(i) % 10000) AS user_id,
        'a' || (hash(i + 1) % 200) AS ad_id, 'p' || (hash(i + 2) % 8) AS placement_id,
        CASE WHEN i % 20 = 19 THEN 'click' ELSE 'impression' END AS event,
        CASE WHEN i % 20 = 19 THEN 0.0 ELSE 0.002 END AS cost, 0.0 AS revenue,
        'x' || CASE WHEN i % 20 = 19 THEN i - 1 ELSE i END AS impression_id
    FROM range($n) t(i)
) TO 'events.parquet';
"""


def generate(folder: Path, events: int) -> Path:
    """Write a valid input of `events` events (1 in 20 a click on the previous impression)."""
    folder.mkdir(parents=True)
    con = duckdb.connect()
    for statement in filter(str.strip, _GENERATE.split(";")):
        target = statement.split("TO '")[1].split("'")[0]
        sql = statement.replace(f"'{target}'", "$out")
        params = {"out": str(folder / target)}
        if "$n" in sql:
            params["n"] = events
        con.execute(sql, params)
    con.close()
    return folder


def plain_load(data: Path, ws: Path) -> None:
    """No checks: copy every table as is, in one transaction."""
    ws.mkdir(parents=True)
    con = duckdb.connect(str(ws / "warehouse.duckdb"))
    con.execute("BEGIN")
    for name in TABLES:
        path = data / f"{name}.parquet"
        if path.exists():
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet($p)", {"p": str(path)})
    con.execute("COMMIT")
    con.close()


def _isin(values: pd.Series, known: pd.Series) -> pd.Series:
    # A hash lookup; Series.isin on Arrow strings converts `known` value by value.
    return pd.Series(pd.Index(known.unique()).get_indexer(values) >= 0, index=values.index)


def _first_bad(mask: pd.Series) -> int | None:
    hits = mask.to_numpy().nonzero()[0]
    return int(hits[0]) + 1 if len(hits) else None


def pandas_load(data: Path, ws: Path) -> None:
    """The contract checks in pandas, then one DuckDB transaction that loads the frames."""
    frames = {
        name: pd.read_parquet(data / f"{name}.parquet")
        for name in TABLES
        if (data / f"{name}.parquet").exists()
    }
    for name, df in frames.items():
        spec = TABLES[name]
        missing = set(spec.required) - set(df.columns)
        assert not missing, (name, missing)
        for col in spec.columns:
            if col.name not in df.columns:
                continue
            values = df[col.name]
            if col.sql_type == "DOUBLE":
                values = pd.to_numeric(values, errors="coerce")
            elif col.sql_type == "TIMESTAMP":
                values = pd.to_datetime(values, errors="coerce")
            elif col.sql_type == "VARCHAR":
                values = values.astype("string")
            bad = values.isna() & df[col.name].notna()
            if not col.nullable:
                bad |= df[col.name].isna()
            if col.min_value is not None:
                bad |= values < col.min_value
            if col.allowed is not None:
                bad |= values.notna() & ~values.isin(col.allowed)
            assert _first_bad(bad) is None, (name, col.name)
            df[col.name] = values
        if spec.key:
            assert _first_bad(df[spec.key[0]].duplicated()) is None, (name, "key")
        for col, target in spec.references.items():
            known = frames[target][TABLES[target].key[0]]
            assert _first_bad(~_isin(df[col], known)) is None, (name, col)
    events = frames["events"]
    impressions = events.loc[events.event == "impression", "impression_id"]
    orphans = (events.event != "impression") & ~_isin(events.impression_id, impressions)
    assert _first_bad(orphans) is None
    frames["events"] = events.drop_duplicates()
    ws.mkdir(parents=True)
    con = duckdb.connect(str(ws / "warehouse.duckdb"))
    con.execute("BEGIN")
    for name, df in frames.items():
        con.register("frame", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        con.unregister("frame")
    con.execute("COMMIT")
    con.close()


def adopt_load(data: Path, ws: Path) -> None:
    ingest(data, ws)


def median_seconds(
    run: Callable[[Path, Path], None], data: Path, root: Path, repeats: int
) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        run(data, root / f"{run.__name__}_{i}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events (default 2,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per contender (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adopt_ingest_bench_") as tmp:
        root = Path(tmp)
        data = generate(root / "input", args.events)
        results = {
            "plain load (no checks)": median_seconds(plain_load, data, root, args.repeats),
            "pandas checks + load": median_seconds(pandas_load, data, root, args.repeats),
            "adopt ingest": median_seconds(adopt_load, data, root, args.repeats),
        }
    ours = results["adopt ingest"]
    print(f"ingest of {args.events:,} events, median of {args.repeats} runs")
    for name, seconds in results.items():
        print(f"  {name:<24} {seconds:7.2f} s   adopt / this = {ours / seconds:5.2f}")
    print(f"  speed-up over pandas: {results['pandas checks + load'] / ours:.2f}x")


if __name__ == "__main__":
    main()
