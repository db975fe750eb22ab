"""The SQL stage over user-hash partitions: each partition's DuckDB in its own Ray task.

The scale-out path of ``adopt profiles`` (the single-file path,
:func:`adopt.profiles.build_profiles`, stays the default for small data). Its
input is the partitioned warehouse of :mod:`adopt.partitions`; its output is
every model of ``sql/`` as Parquet under ``partitions/models/``, plus views of
the same names in ``warehouse.duckdb``, so the stages after it read the
marts as they would after a single-file build, with identical rows.

Three steps, the same ``sql/`` models throughout:

1. **Per partition** (one Ray task each, DuckDB memory-limited and spilling
   to disk, in memory): every model that needs only a user's own rows: staging,
   impressions, responses, the user streams, ``int_user_totals`` ... and the
   partial aggregates :data:`PARTIALS` (daily ad x placement counts, ad x
   placement totals, population totals, RFM value counts).
2. **On the driver**: the partials are merged (sums, mins, maxes) and the
   population-grain models :data:`DRIVER_MODELS` run on them: the daily ad,
   ad x placement and population streams, the RFM quintile cuts, ``ad_history``,
   the serving state of ads and ad x placements.
3. **Per partition again**: the merged tables are handed back and the models
   that read them (``training_examples``, ``user_profiles``, the users' serving
   state) run; every model is written as the partition's Parquet file.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from adopt.exceptions import WorkspaceError
from adopt.partitions import (
    DIMENSION_TABLES,
    PARTITIONED_TABLES,
    check_current,
    input_path,
    write_manifest,
)
from adopt.profile_params import ProfileParams, ProfilesSummary, as_of_time, model_parameters
from adopt.warehouse import (
    MACRO_LAYER,
    PARAMS_TABLE,
    VIEW_LAYERS,
    Model,
    ModelStats,
    discover_models,
    run_models,
)
from adopt.workspace import Workspace, open_duckdb

log = logging.getLogger("adopt")

# Partial aggregates each partition builds and the driver merges: the model,
# its key columns and how each other column combines over partitions.
PARTIALS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "int_ad_placement_daily": (
        ("ad_id", "placement_id", "day_start"),
        {"impressions": "sum", "clicks": "sum", "first_impression_ts": "min"},
    ),
    "int_ad_placement_totals": (
        ("ad_id", "placement_id"),
        {"campaign_id": "min", "impressions": "sum", "spend": "sum", "first_seen": "min",
         "last_seen": "max", "clicks": "sum", "conversions": "sum", "revenue": "sum"},
    ),
    "int_population_totals": ((), {"impressions": "sum", "clicks": "sum", "conversions": "sum"}),
    "int_rfm_values": (("measure", "value"), {"users": "sum"}),
}
# Population-grain models built once on the driver from the merged partials.
DRIVER_MODELS = (
    "int_ad_stream", "int_ad_placement_stream", "int_population_stream", "int_rfm_cuts",
    "ad_history", "serving_population", "serving_ads", "serving_ad_placements",
)
# Models the driver may read besides partials and its own: the dimension tables'.
_DIMENSION_MODELS = ("stg_ads", "stg_placements", "stg_campaigns")
DEFAULT_TASK_MEMORY = "1GB"
# A task's Ray memory request: DuckDB's limit plus the Python worker around it.
_WORKER_OVERHEAD = 512 * 2**20


def plan_steps(models: list[Model] | None = None) -> dict[str, list[Model]]:
    """Split the models into the three steps: ``partition``, ``driver``, ``final``.

    Macros and staging views go with every step (they are cheap to define).

    Raises
    ------
    WorkspaceError
        When a driver model reads a per-partition model that is not a merged
        partial (it would see one partition only), or a named partial or
        driver model does not exist.
    """
    models = discover_models() if models is None else models
    by_name = {m.name: m for m in models}
    missing = [n for n in (*PARTIALS, *DRIVER_MODELS) if n not in by_name]
    if missing:
        raise WorkspaceError(f"the partitioned build needs SQL models {missing}; "
                             f"models: {sorted(by_name)}")
    shared = [m for m in models if m.layer == MACRO_LAYER or m.layer in VIEW_LAYERS]
    shared_names = {m.name for m in shared}
    driver_ok = set(PARTIALS) | set(DRIVER_MODELS) | shared_names
    for name in DRIVER_MODELS:
        for dep in by_name[name].depends_on:
            if dep not in driver_ok or (dep in shared_names and by_name[dep].layer in VIEW_LAYERS
                                        and dep not in _DIMENSION_MODELS):
                raise WorkspaceError(
                    f"SQL model '{name}' runs on the merged partitions but reads '{dep}', which "
                    "holds one partition's rows: read a merged partial instead "
                    f"({sorted(PARTIALS)})")
    after: set[str] = set()
    changed = True
    while changed:  # everything that reads a driver model, directly or not
        changed = False
        for m in models:
            if m.name not in after and m.name not in DRIVER_MODELS and (
                    set(m.depends_on) & (after | set(DRIVER_MODELS))):
                after.add(m.name)
                changed = True
    tables = [m for m in models if m.name not in shared_names]
    return {
        "partition": shared + [m for m in tables
                               if m.name not in after and m.name not in DRIVER_MODELS],
        "driver": shared + [m for m in tables if m.name in DRIVER_MODELS],
        "final": shared + [m for m in tables if m.name in after],
    }


def build_profiles_partitioned(
    workspace: str | os.PathLike[str],
    *,
    as_of: str | datetime | None = None,
    params: ProfileParams | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    address: str | None = None,
) -> ProfilesSummary:
    """Build every SQL model over the workspace's user-hash partitions, one Ray task each.

    The marts equal the single-file build's row for row (the test suite
    compares them). Joins the Ray cluster at `address` (else ``RAY_ADDRESS``,
    else starts a local Ray) unless this process already runs Ray.

    Parameters
    ----------
    workspace : path
        A workspace ingested with ``--partitions N`` (on a shared file system
        when the cluster has several machines: tasks read and write there).
    as_of, params : optional
        As in :func:`adopt.profiles.build_profiles`.
    memory_limit : str, optional
        DuckDB memory limit of each partition task and of the driver's merge
        (default 1GB); past it DuckDB spills to disk. A task asks Ray for this
        much memory plus 512 MiB for its Python worker.
    threads : int, optional
        CPUs (and DuckDB threads) of each partition task; default 1.
    address : str, optional
        Ray address such as ``ray://head:10001`` or ``127.0.0.1:6379``.

    Returns
    -------
    ProfilesSummary
        Rows per model (summed over partitions), seconds, and per step the
        wall time and the peak memory of each process.

    Raises
    ------
    WorkspaceError
        No partitions, partitions older than the last ingest, or missing tables.
    ParameterError
        Bad `as_of`, `memory_limit` or `threads`.
    """
    started = time.perf_counter()
    params = ProfileParams() if params is None else params
    memory_limit = DEFAULT_TASK_MEMORY if memory_limit is None else memory_limit
    threads = 1 if threads is None else threads
    steps = plan_steps()
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True, memory_limit=memory_limit, threads=threads) as con:
        manifest = check_current(ws, con)  # also checks the settings
        when = as_of_time(con, as_of)
    n = int(manifest["partitions"])
    values = model_parameters(when, params)
    root = ws.partitions
    build = root / f".build-{os.getpid()}"
    out = root / f".models-{os.getpid()}"
    for folder in (build, out):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    log.info("profiles: %d partitions as of %s, %s a task", n, when, memory_limit)
    timings: dict[str, float] = {}
    try:
        import ray

        started_ray = _join_ray(address)
        try:
            _check_fits(threads, _task_memory(memory_limit, threads))
            remote = ray.remote(_partition_task).options(
                num_cpus=threads, memory=_task_memory(memory_limit, threads))
            common = {"workspace": str(ws.root), "build": str(build), "out": str(out),
                      "values": values, "memory_limit": memory_limit, "threads": threads}
            tick = time.perf_counter()
            first = ray.get([remote.remote(k, "partition", steps["partition"], None,
                                           earlier=[], **common) for k in range(n)])
            timings["partition"] = time.perf_counter() - tick
            tick = time.perf_counter()
            merged, driver_stats, driver_peak = _merge_on_driver(
                ws.root, n, steps["driver"], [r["partials"] for r in first], values,
                memory_limit, threads, out)
            timings["merge"] = time.perf_counter() - tick
            tick = time.perf_counter()
            handed = ray.put(merged)
            earlier = [m.name for m in steps["partition"] if m.layer != MACRO_LAYER
                       and m.layer not in VIEW_LAYERS and m.name not in PARTIALS]
            second = ray.get([remote.remote(k, "final", steps["final"], handed,
                                            earlier=earlier, **common) for k in range(n)])
            timings["final"] = time.perf_counter() - tick
        finally:
            if started_ray:
                ray.shutdown()
        tick = time.perf_counter()
        layout = _layout(steps, n)
        _publish(ws, out, manifest, layout)
        _link_warehouse(ws, steps, layout, values)
        timings["publish"] = time.perf_counter() - tick
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    per_partition = [[s for s in r["stats"] if s.name not in PARTIALS] for r in first + second]
    stats = _combine(per_partition + [driver_stats])
    peaks = {"partition": [r["peak_rss"] for r in first], "final": [r["peak_rss"] for r in second],
             "driver": [driver_peak]}
    tasks = {"partition": [r["seconds"] for r in first], "final": [r["seconds"] for r in second],
             "partition_cpu": [r["cpu_seconds"] for r in first],
             "final_cpu": [r["cpu_seconds"] for r in second]}
    return ProfilesSummary(workspace=ws.root, as_of=when, models=stats,
                           seconds=time.perf_counter() - started, partitions=n,
                           step_seconds=timings, peak_rss=peaks, task_seconds=tasks)


def _join_ray(address: str | None) -> bool:
    """Start or join Ray unless it runs already; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    return True


def _check_fits(cpus: int, memory: int) -> None:
    """Raise WorkspaceError when no node of the cluster can ever run a partition task."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("memory", 0) >= memory for r in nodes):
        return
    most = max(((r.get("CPU", 0), r.get("memory", 0)) for r in nodes), default=(0, 0))
    raise WorkspaceError(
        f"no Ray node can run a partition task: it needs {cpus} CPU and "
        f"{memory / 2**30:.1f} GiB of memory (the DuckDB limit plus 512 MiB), the largest "
        f"node has {most[0]:g} CPU and {most[1] / 2**30:.1f} GiB; lower --memory-limit or "
        "--threads")


def _task_memory(memory_limit: str, threads: int) -> int:
    """Bytes of memory a partition task asks Ray for."""
    with open_duckdb(config={"memory_limit": memory_limit, "threads": threads}) as con:
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    number, unit = limit.split()
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "bytes": 1}
    return int(float(number) * scale.get(unit, 1)) + _WORKER_OVERHEAD


def _open(path: str | None, memory_limit: str, threads: int, temp: Path
          ) -> duckdb.DuckDBPyConnection:
    """A DuckDB with the build's settings (a file, or in memory), spilling under `temp`."""
    return open_duckdb(path, config={
        "memory_limit": memory_limit, "threads": threads, "temp_directory": str(temp),
        "preserve_insertion_order": False})


def _input_views(con: duckdb.DuckDBPyConnection, workspace: str, partitions: list[int] | range,
                 load: bool = False) -> None:
    """The input tables: the given partitions of the big ones, the dimensions whole.

    Views over the Parquet files, or tables loaded from them when `load`.
    """
    for table in (*PARTITIONED_TABLES, *DIMENSION_TABLES):
        if table in PARTITIONED_TABLES:
            files = [str(input_path(workspace, table, k)) for k in partitions]
        else:
            files = [str(input_path(workspace, table))]
        relation = con.read_parquet(files)
        if load:
            relation.create(table)
        else:
            relation.create_view(table)


def _partition_task(partition: int, step: str, models: list[Model],
                    merged: dict[str, pa.Table] | None, *, workspace: str, build: str, out: str,
                    values: dict[str, Any], memory_limit: str, threads: int,
                    earlier: list[str]) -> dict[str, Any]:
    """One partition's step ("partition" or "final") in an in-memory DuckDB.

    DuckDB spills to ``build/tmp-<partition>`` past `memory_limit`. Every
    table it builds goes to ``out/<model>/part-<partition>.parquet``, except
    the partials, which it returns; the final step reads the first step's
    tables (`earlier`) back from those files.
    """
    started, cpu = time.perf_counter(), time.process_time()
    temp = Path(build) / f"tmp-{partition:05d}"
    temp.mkdir(parents=True, exist_ok=True)
    part = f"part-{partition:05d}.parquet"
    with _open(None, memory_limit, threads, temp) as con:
        # The inputs are decoded once into DuckDB's own storage: several models
        # scan the events and behaviours, and a Parquet scan decodes each time.
        _input_views(con, workspace, [partition], load=step == "partition")
        for name in earlier:
            con.read_parquet(str(Path(out) / name / part)).create_view(name)
        for name, table in (merged or {}).items():
            con.register("_merged", table)
            con.execute(f"create or replace table {name} as select * from _merged")
            con.unregister("_merged")
        stats = run_models(con, values, models)
        partials: dict[str, pa.Table] = {}
        for model in models:
            if model.layer == MACRO_LAYER or model.layer in VIEW_LAYERS:
                continue
            if model.name in PARTIALS:
                partials[model.name] = con.sql(f"select * from {model.name}").to_arrow_table()
                continue
            _copy_table(con, model.name, Path(out) / model.name / part)
    shutil.rmtree(temp, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"partials": partials, "stats": stats, "peak_rss": peak,
            "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def _copy_table(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """Write one table (a model name, not user text) to a Parquet file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = str(path).replace("'", "''")
    con.execute(f"copy {name} to '{target}' (format parquet)")


def merge_partials(con: duckdb.DuckDBPyConnection, name: str, parts: list[pa.Table]) -> None:
    """Create table `name` on `con` from the partitions' partial tables of that model.

    Keys group; each other column is combined as :data:`PARTIALS` says and
    cast back to its type (a sum of BIGINT stays BIGINT; DECIMAL stays exact).
    """
    keys, how = PARTIALS[name]
    con.register("_parts", pa.concat_tables(parts, promote_options="default"))
    try:
        types = dict(con.execute("select column_name, column_type from "
                                 "(describe select * from _parts)").fetchall())
        unknown = [c for c in types if c not in keys and c not in how]
        if unknown:
            raise WorkspaceError(f"partial model '{name}' has columns {unknown} that "
                                 "adopt.partitioned.PARTIALS does not say how to merge")
        columns = [c if c in keys else f"{how[c]}({c})::{types[c]} as {c}" for c in types]
        group = f" group by {', '.join(keys)}" if keys else ""
        con.execute(f"create or replace table {name} as "
                    f"select {', '.join(columns)} from _parts{group}")
    finally:
        con.unregister("_parts")


def _merge_on_driver(workspace: Path, n: int, models: list[Model],
                     partials: list[dict[str, pa.Table]], values: dict[str, Any],
                     memory_limit: str, threads: int, out: Path
                     ) -> tuple[dict[str, pa.Table], list[ModelStats], int]:
    """Merge the partials, build the driver models; return every table to hand back."""
    temp = out.parent / f".merge-tmp-{os.getpid()}"
    temp.mkdir(parents=True, exist_ok=True)
    try:
        with _open(None, memory_limit, threads, temp) as con:
            # The driver's models read only the merged partials and the dimensions;
            # the event views are there for the staging views, never scanned.
            _input_views(con, str(workspace), range(n))
            for name in PARTIALS:
                merge_partials(con, name, [p[name] for p in partials])
            stats = run_models(con, values, models)
            handed: dict[str, pa.Table] = {}
            for name in (*PARTIALS, *DRIVER_MODELS):
                _copy_table(con, name, out / f"{name}.parquet")
                handed[name] = con.sql(f"select * from {name}").to_arrow_table()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    merged_stats = [ModelStats(n, "features", handed[n].num_rows, 0.0) for n in PARTIALS]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return handed, merged_stats + stats, peak


def _combine(runs: list[list[ModelStats]]) -> list[ModelStats]:
    """One ModelStats per model: rows and seconds summed over partitions."""
    rows: dict[str, list[Any]] = {}
    for stats in runs:
        for s in stats:
            entry = rows.setdefault(s.name, [s.layer, 0, 0.0])
            entry[1] += s.rows
            entry[2] += s.seconds
    return [ModelStats(name, layer, n, secs) for name, (layer, n, secs) in rows.items()]


def _layout(steps: dict[str, list[Model]], n: int) -> dict[str, int | str]:
    """Each table model: 'global' (one file) or its number of partition files."""
    layout: dict[str, int | str] = {}
    for step, models in steps.items():
        for m in models:
            if m.layer == MACRO_LAYER or m.layer in VIEW_LAYERS:
                continue
            layout[m.name] = "global" if step == "driver" or m.name in PARTIALS else n
    return layout


def _publish(ws: Workspace, out: Path, manifest: dict, layout: dict[str, int | str]) -> None:
    """Move the new models into ``partitions/models`` and record them in the manifest."""
    root = ws.partitions
    target = root / "models"
    old = root / f".models-old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(out, target)
    shutil.rmtree(old, ignore_errors=True)
    write_manifest(ws, manifest | {"models": layout})


def _link_warehouse(ws: Workspace, steps: dict[str, list[Model]],
                    layout: dict[str, int | str], values: dict[str, Any]) -> None:
    """In one transaction: the build's parameters, the staging views, a view per model's files."""
    models = ws.partitions / "models"
    staging = [m for m in steps["partition"] if m.layer in VIEW_LAYERS]
    with ws.connect() as con:
        existing = dict(con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'main'").fetchall())
        con.execute("begin transaction")
        try:
            columns = ", ".join(f"${p} as {p}" for p in values)
            con.execute(f"create or replace table {PARAMS_TABLE} as select {columns}", values)
            for m in staging:
                if existing.get(m.name) == "BASE TABLE":
                    con.execute(f"drop table {m.name}")
                con.execute(f"create or replace view {m.name} as {m.sql}")
            for name, kind in layout.items():
                files = (models / f"{name}.parquet") if kind == "global" else (models / name /
                                                                              "*.parquet")
                if existing.get(name) == "BASE TABLE":
                    con.execute(f"drop table {name}")
                # Views cannot bind parameters: the path is ours (workspace + model name), quoted.
                target = str(files).replace("'", "''")
                con.execute(f"create or replace view {name} as "
                            f"select * from read_parquet('{target}')")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    log.info("profiles: %d models linked into %s", len(layout), ws.warehouse)

