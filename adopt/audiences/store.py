"""The segment stage's warehouse tables, written in one transaction and read back.

- ``audiences`` (user_id, segment): who is in each segment that is not
  suppressed (a user may sit in several rule segments);
- ``segments``: one row per segment with its portrait (see `SEGMENT_COLUMNS`);
- ``segment_centroids`` (segment, feature, value): each k-means cluster's mean
  raw feature row, read by the next k-means run to keep segment ids stable.
  A rules run leaves it alone.

`write_tables` replaces them together: a failed run leaves the previous ones.
`read_audiences` and `read_segments` read them back for the API; the curve
stage (`adopt.curves.build.load_audiences`) and the report
(`adopt.report.data`) read the tables themselves.
"""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pandas as pd

from adopt.audiences.describe import MEMBERS
from adopt.workspace import SEGMENT_HINT, Workspace, has_table

SEGMENT_COLUMNS = {
    "segment": "varchar not null primary key",
    "size": "bigint not null",
    "share": "double",
    "description": "varchar not null",
    "top_categories": "varchar[]",
    "top_category_share": "double",
    "recency_days": "double",
    "active_share": "double",
    "active_7d_share": "double",
    "frequency": "double",
    "monetary": "double",
    "impressions": "bigint",
    "clicks": "bigint",
    "conversions": "bigint",
    "ctr": "double",
    "cvr": "double",
    "suppressed": "boolean not null",
    "merged_into": "varchar",
    "method": "varchar not null",
    "rule": "varchar",
    "params": "varchar",
    "created_at": "timestamp not null",
}


def write_tables(con: duckdb.DuckDBPyConnection, segments: pd.DataFrame,
                 centroids: pd.DataFrame | None) -> None:
    """Replace ``audiences``, ``segments`` (and ``segment_centroids``) in one transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Writable warehouse connection holding the temp table
        ``_adopt_segment_members`` (segment, user_id).
    segments : pandas.DataFrame
        One row per segment with the columns of `SEGMENT_COLUMNS`; members of
        suppressed segments are left out of ``audiences``.
    centroids : pandas.DataFrame or None
        (segment, feature, value) rows; None keeps the stored centroids.
    """
    ddl = ", ".join(f'"{name}" {kind}' for name, kind in SEGMENT_COLUMNS.items())
    names = ", ".join(f'"{name}"' for name in SEGMENT_COLUMNS)
    con.register("_adopt_new_segments", segments[list(SEGMENT_COLUMNS)])
    if centroids is not None:
        con.register("_adopt_new_centroids", centroids)
    con.execute("begin transaction")
    try:
        con.execute("create or replace table audiences "
                    "(user_id varchar not null, segment varchar not null)")
        con.execute(f"""
            insert into audiences
            select m.user_id, m.segment,
            from {MEMBERS} as m
            join _adopt_new_segments as s on s.segment = m.segment
            where not s.suppressed
            order by m.segment, m.user_id
        """)
        con.execute(f"create or replace table segments ({ddl})")
        con.execute(f"insert into segments select {names} from _adopt_new_segments "
                    "order by segment")
        if centroids is not None:
            con.execute("create or replace table segment_centroids (segment varchar not null, "
                        "feature varchar not null, value double not null, "
                        "primary key (segment, feature))")
            con.execute("insert into segment_centroids select segment, feature, value "
                        "from _adopt_new_centroids")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_adopt_new_segments")
        if centroids is not None:
            con.unregister("_adopt_new_centroids")


def centroid_frame(ids: list[str], names: list[str], values: np.ndarray) -> pd.DataFrame:
    """Long (segment, feature, value) rows of a ``(len(ids), len(names))`` centroid matrix."""
    return pd.DataFrame({
        "segment": np.repeat(np.asarray(ids, dtype=object), len(names)),
        "feature": np.tile(np.asarray(names, dtype=object), len(ids)),
        "value": np.asarray(values, dtype=np.float64).reshape(-1),
    })


def read_centroids(con: duckdb.DuckDBPyConnection
                   ) -> tuple[list[str], list[str], np.ndarray] | None:
    """The stored k-means centroids as (ids, feature names, matrix), or None if there are none."""
    if not has_table(con, "segment_centroids"):
        return None
    frame = con.sql("select segment, feature, value from segment_centroids").df()
    if frame.empty:
        return None
    wide = frame.pivot(index="segment", columns="feature", values="value").sort_index()
    if wide.isna().any().any():
        return None
    return list(wide.index), list(wide.columns), wide.to_numpy(dtype=np.float64)



def read_segments(workspace: str | os.PathLike[str]) -> pd.DataFrame:
    """Every segment of the last `segment_workspace` run, suppressed ones included.

    Returns
    -------
    pandas.DataFrame
        The ``segments`` table (columns of `SEGMENT_COLUMNS`), by segment id.
        Filter on ``~suppressed`` before showing segments to anyone.

    Raises
    ------
    WorkspaceError
        When the workspace has no segments yet.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("segments", SEGMENT_HINT, con)
        return con.sql("select * from segments order by segment").df()


def read_audiences(workspace: str | os.PathLike[str]) -> pd.DataFrame:
    """(user_id, segment) of every segment that is not suppressed.

    Raises
    ------
    WorkspaceError
        When the workspace has no segments yet.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require(("audiences", "segments"), SEGMENT_HINT, con)
        return con.sql("""
            select a.user_id, a.segment,
            from audiences as a
            join segments as s on s.segment = a.segment
            where not s.suppressed
            order by a.segment, a.user_id
        """).df()

