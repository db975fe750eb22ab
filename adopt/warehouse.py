"""The DuckDB warehouse: run the sql/ models, read the marts.

Ingest loads the input-contract tables (users, ads, placements, events,
behaviors, campaigns) into ``<workspace>/warehouse.duckdb``; this module then
builds the SQL models of ``sql/`` on top of them (staging -> features -> marts,
one model per file, the file name is the table name; ``sql/macros/`` holds
the SQL functions they share; ``sql/serving/`` the feature state of a new
impression at ``$serving_as_of``); `read_warehouse_table` reads one table back
into pandas, `query_model` runs one model at other parameter values. Every
stage opens the warehouse through one door, `adopt.workspace.Workspace.connect`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.schema import TABLES
from adopt.workspace import INGEST_HINT, PROFILES_HINT, Workspace

log = logging.getLogger("adopt")

LAYERS = ("macros", "staging", "features", "marts", "serving")
# Macros are SQL functions the models share (temporary: defined for the build,
# never stored in the warehouse), so they come first.
MACRO_LAYER = "macros"
# Staging models are views: they clean the inputs one to one, and copying a
# 10-million-row events table cost more than any feature built on it.
VIEW_LAYERS = ("staging",)
PARAMS_TABLE = "build_params"

_COMMENT = re.compile(r"--[^\n]*")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MACRO = re.compile(r"\s*create\s+or\s+replace\s+temp(?:orary)?\s+macro\s+(\w+)\s*\(", re.I)


@dataclass(frozen=True)
class Model:
    """One SQL model: a ``select`` whose result becomes the table `name`.

    In the macros layer, `sql` is instead the ``create or replace temp macro``
    statement of the macro `name`.
    """

    name: str
    layer: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class ModelStats:
    """What building one model produced: its rows and the seconds it took."""

    name: str
    layer: str
    rows: int
    seconds: float


def sql_dir() -> Path:
    """Return the folder of the SQL models.

    The repository's ``sql/`` in a source checkout; ``adopt/_sql`` when
    adopt is installed from a wheel (pyproject packages ``sql/`` there).
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_sql", here.parent / "sql"):
        if (candidate / "marts").is_dir():
            return candidate
    raise WorkspaceError(f"no SQL models found in {here / '_sql'} or {here.parent / 'sql'}")


def discover_models(root: Path | None = None) -> list[Model]:
    """Find the models under `root` and return them in build order.

    Parameters
    ----------
    root : Path, optional
        Folder with ``staging/``, ``features/`` and ``marts/``; default
        :func:`sql_dir`.

    Returns
    -------
    list of Model
        Every model after the models it reads (found by their names in its
        SQL, comments aside); among models free to go, staging before
        features before marts, then by name.
    """
    root = sql_dir() if root is None else Path(root)
    found: dict[str, tuple[str, Path, str]] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.sql")):
            if path.stem in found:
                raise WorkspaceError(f"model '{path.stem}' is defined twice: {path}")
            found[path.stem] = (layer, path, path.read_text(encoding="utf-8"))
    models = {}
    for name, (layer, path, sql) in found.items():
        code = _COMMENT.sub("", sql)
        if layer == MACRO_LAYER and _macro_name(code) != name:
            raise WorkspaceError(
                f"{path} must hold one statement `create or replace temp macro {name}(...) as ...`"
            )
        words = set(_WORD.findall(code))
        depends = tuple(sorted(other for other in found if other != name and other in words))
        params = tuple(sorted(set(_PARAMETER.findall(code))))
        models[name] = Model(name, layer, path, sql.strip().rstrip(";"), depends, params)
    return _build_order(models)


def models_for(targets: list[str], models: list[Model] | None = None) -> list[Model]:
    """Return the models needed to build `targets` (them and what they read), in build order.

    Raises
    ------
    WorkspaceError
        When a target is not a model.
    """
    models = discover_models() if models is None else models
    by_name = {m.name: m for m in models}
    unknown = [t for t in targets if t not in by_name]
    if unknown:
        raise WorkspaceError(f"no SQL model named {unknown}; models: {sorted(by_name)}")
    needed: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(by_name[name].depends_on)
    return [m for m in models if m.name in needed]


def _macro_name(code: str) -> str | None:
    """The name of the macro that `code` creates; None unless it is one such statement."""
    match = _MACRO.match(code)
    if match is None or ";" in code.strip().rstrip(";"):
        return None
    return match.group(1)


def _build_order(models: dict[str, Model]) -> list[Model]:
    order: list[Model] = []
    done: set[str] = set()
    pending = dict(models)
    while pending:
        ready = [m for m in pending.values() if set(m.depends_on) <= done]
        if not ready:
            raise WorkspaceError(f"SQL models depend on each other in a cycle: {sorted(pending)}")
        first = min(ready, key=lambda m: (LAYERS.index(m.layer), m.name))
        order.append(first)
        done.add(first.name)
        del pending[first.name]
    return order


def check_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Raise WorkspaceError unless every input-contract table and column is there."""
    rows = con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'main'"
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    for spec in TABLES.values():
        if spec.name not in present:
            raise WorkspaceError(f"the warehouse has no '{spec.name}' table: {INGEST_HINT}")
        missing = [c.name for c in spec.columns if c.name not in present[spec.name]]
        if missing:
            raise WorkspaceError(
                f"table '{spec.name}' in the warehouse lacks columns {missing}: {INGEST_HINT}"
            )


def create_input_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the empty input-contract tables (adopt.schema) that do not exist yet."""
    for spec in TABLES.values():
        cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in spec.columns)
        con.execute(f"create table if not exists {spec.name} ({cols})")


def run_models(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    models: list[Model] | None = None,
) -> list[ModelStats]:
    """Build every model, in one transaction.

    Macros are defined first (temporary, on this connection); staging models
    become views, the others tables (``create or replace``).
    The parameters are bound into the models that use them (``$name``) and
    also written to the one-row table ``build_params``, which views read.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable connection to a warehouse holding the input tables.
    params : dict
        Values of the models' ``$name`` parameters (keys are identifiers);
        each model is bound with the ones it uses.
    models : list of Model, optional
        Models in build order; default :func:`discover_models`.

    Returns
    -------
    list of ModelStats
        One per table or view, in build order. A log line per model gives the
        same (a macro's line says it is defined).

    Raises
    ------
    ParameterError
        When a model uses a parameter missing from `params`, or a name in
        `params` is not an identifier.
    WorkspaceError
        When an input table is missing, or a view or macro uses a parameter.
        On any failure nothing is changed: the tables of the previous build
        stay.
    """
    models = discover_models() if models is None else models
    for name in params:
        if not _WORD.fullmatch(name):
            raise ParameterError("The 'params' parameter of run_models must have SQL "
                                 f"identifiers as names. Got {name!r} instead.")
    for model in models:
        if model.layer == MACRO_LAYER and model.parameters:
            raise WorkspaceError(
                f"SQL macro '{model.name}' cannot take ${model.parameters[0]}: "
                "pass the value as an argument where a model calls it"
            )
        if model.layer in VIEW_LAYERS and model.parameters:
            raise WorkspaceError(
                f"SQL model '{model.name}' is a view and cannot take ${model.parameters[0]}: "
                f"read it from the one-row table {PARAMS_TABLE} instead"
            )
        missing = [p for p in model.parameters if p not in params]
        if missing:
            raise ParameterError(
                f"The 'params' parameter of run_models lacks '{missing[0]}', which SQL model "
                f"'{model.name}' needs. Got {sorted(params)} instead.")
    check_inputs(con)
    stats: list[ModelStats] = []
    existing = _relations(con)
    con.execute("begin transaction")
    try:
        # Views cannot hold bound parameters, so the build's values are also
        # kept in a one-row table (names are checked identifiers, values bound).
        columns = ", ".join(f"${p} as {p}" for p in params) or "null as no_parameters"
        con.execute(f"create or replace table {PARAMS_TABLE} as select {columns}", params)
        for model in models:
            if model.layer == MACRO_LAYER:
                con.execute(model.sql)
                log.info("sql %-9s %-28s defined", model.layer, model.name)
                continue
            started = time.perf_counter()
            kind, other = ("view", "table") if model.layer in VIEW_LAYERS else ("table", "view")
            # A model may have changed kind since the last build.
            if (model.name, other) in existing:
                con.execute(f"drop {other} {model.name}")
            bound = {p: params[p] for p in model.parameters}
            con.execute(f"create or replace {kind} {model.name} as {model.sql}", bound)
            rows = con.execute(f"select count(*) from {model.name}").fetchone()[0]
            seconds = time.perf_counter() - started
            log.info(
                "sql %-9s %-28s %12s rows %7.1fs", model.layer, model.name, f"{rows:,}", seconds
            )
            stats.append(ModelStats(model.name, model.layer, rows, seconds))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return stats


def query_model(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any],
    models: list[Model] | None = None,
) -> pd.DataFrame:
    """Run one model as a query with other parameter values; nothing is written.

    How the serving state is read at a time other than the build's ``as_of``:
    the models of `name`'s layer that it reads are computed in the same query
    (CTEs of their names, which hide the built tables); every other model is
    read as built. The macros it uses are defined on `con` (temporary, so a
    read-only connection will do).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection to a built warehouse.
    name : str
        The model to run.
    params : dict
        Values of the ``$name`` parameters (extra ones are ignored).
    models : list of Model, optional
        Default :func:`discover_models`.

    Returns
    -------
    DataFrame
        The model's rows.

    Raises
    ------
    WorkspaceError
        When `name` is not a model.
    ParameterError
        When a parameter the query needs is missing from `params`.
    """
    needed = models_for([name], models)
    target = needed[-1]  # everything else is read by it, so it comes last
    inline = [m for m in needed[:-1] if m.layer == target.layer]
    for macro in (m for m in needed if m.layer == MACRO_LAYER):
        con.execute(macro.sql)
    used = sorted({p for m in (*inline, target) for p in m.parameters})
    missing = [p for p in used if p not in params]
    if missing:
        raise ParameterError(f"The SQL model '{name}' needs the parameter '{missing[0]}'. "
                             f"Got {sorted(params)} instead.")
    ctes = ",\n".join(f"{m.name} as (\n{m.sql}\n)" for m in inline)
    sql = f"with {ctes}\nselect * from (\n{target.sql}\n)" if ctes else target.sql
    return con.execute(sql, {p: params[p] for p in used}).df()


def _relations(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(name, 'table' or 'view') of every relation in the main schema."""
    rows = con.execute(
        "select table_name, case table_type when 'VIEW' then 'view' else 'table' end "
        "from information_schema.tables where table_schema = 'main'"
    ).fetchall()
    return {(name, kind) for name, kind in rows}


def examples_order(con: duckdb.DuckDBPyConnection) -> str:
    """The ``order by`` of ``training_examples`` reads: time, then the impression key when
    there is one, so every build of the same logs (single or partitioned) reads one order."""
    names = [r[0] for r in con.execute("describe training_examples").fetchall()]
    return "ts, impression_key" if "impression_key" in names else "ts"


_VECTOR_ROWS = 2048  # DuckDB's rows per vector: fetch_df_chunk counts vectors


def fetch_batches(con: duckdb.DuckDBPyConnection, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The result of the query last executed on `con`, in DataFrames of about `batch_rows`
    rows (whole vectors), so that a pass over millions of logged rows bounds its memory."""
    while True:
        rows = con.fetch_df_chunk(max(1, batch_rows // _VECTOR_ROWS))
        if rows.empty:
            return
        yield rows


def read_warehouse_table(workspace: str | Path, name: str) -> pd.DataFrame:
    """Read one warehouse table or view (an input table or a model) into pandas.

    Raises
    ------
    WorkspaceError
        When the warehouse or the table does not exist.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require(name, INGEST_HINT if name in TABLES else PROFILES_HINT, con)
        return con.execute(f'select * from "{name}"').df()
