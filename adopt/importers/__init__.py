"""Importers: public ad data sets, as their publishers distribute them, to the input contract.

They sit before ingest: ``import_dataset("taobao", src, out)`` writes a folder
that ``adopt.ingest.ingest(out, workspace)`` loads. One module per format
(`taobao`, `mind`, `criteo` for Criteo and Avazu); `stream` is the streaming
import engine they share (reader, scratch database, Parquet writer), `common`
the summary, the row checks and the file helpers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from adopt.exceptions import InputError, ParameterError
from adopt.importers.common import DEFAULT_CPM, PART_ROWS, ImportSummary
from adopt.importers.criteo import import_avazu, import_criteo
from adopt.importers.mind import import_mind
from adopt.importers.stream import Scratch, scratch
from adopt.importers.taobao import import_taobao

_IMPORTERS: dict[str, Callable[[Scratch, Path, ImportSummary, float], None]] = {
    "avazu": import_avazu,
    "criteo": import_criteo,
    "mind": import_mind,
    "taobao": import_taobao,
}
FORMATS = tuple(sorted(_IMPORTERS))

__all__ = ["DEFAULT_CPM", "FORMATS", "ImportSummary", "import_dataset"]


def import_dataset(
    fmt: str,
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    cpm: float | None = None,
    memory_limit: str = "2GB",
    part_rows: int = PART_ROWS,
) -> ImportSummary:
    """Convert a public data set into a folder in adopt's input contract.

    Parameters
    ----------
    fmt : {'avazu', 'criteo', 'mind', 'taobao'}
        The publisher's layout (see ``docs/importers.md`` for the mapping).
    src : path
        The data set as distributed: a folder (taobao: raw_sample.csv,
        ad_feature.csv, [user_profile.csv], [behavior_log.csv], or FuxiCTR
        CSVs; mind: behaviors.tsv, news.tsv) or one file (criteo train.txt,
        avazu train.csv, a FuxiCTR CSV).
    out : path
        Output folder: one sub-folder of Parquet part files per table. It is
        replaced as a whole, only once the import has succeeded.
    cpm : float, optional
        Cost per 1000 impressions given to every placement (none of these
        sets has costs). Default `DEFAULT_CPM`.
    memory_limit : str
        DuckDB memory limit; larger work spills to a scratch folder beside `out`.
    part_rows : int
        Rows per Parquet part file (at least this many, rounded up to a batch).

    Returns
    -------
    ImportSummary
        Rows written per table, rows dropped and why, assumptions, and which
        later stages the data supports.

    Raises
    ------
    ParameterError
        Unknown format, a bad `cpm`, `memory_limit` or `part_rows`.
    InputError
        A missing file or column, or a row that is not what the format
        expects (naming the file, column and row).
    """
    if fmt not in _IMPORTERS:
        raise ParameterError(f"The 'fmt' parameter of import_dataset must be one of "
                             f"{', '.join(FORMATS)}. Got {fmt!r} instead.")
    if cpm is None:
        cpm = DEFAULT_CPM
    elif not isinstance(cpm, int | float) or not (cpm >= 0 and math.isfinite(cpm)):
        raise ParameterError(f"The 'cpm' parameter of import_dataset must be a number >= 0. "
                             f"Got {cpm!r} instead.")
    src_path = Path(src).expanduser().resolve()
    if not src_path.exists():
        raise InputError(str(src), None, f"the {fmt} source does not exist")
    summary = ImportSummary(fmt, str(src_path), str(Path(out).expanduser().resolve()))
    if not isinstance(part_rows, int) or part_rows < 1:
        raise ParameterError(f"The 'part_rows' parameter of import_dataset must be an integer "
                             f">= 1. Got {part_rows!r} instead.")
    with scratch(out, memory_limit, part_rows) as s:
        _IMPORTERS[fmt](s, src_path, summary, float(cpm))
        for table in ("users", "ads", "placements", "events"):
            if not summary.rows.get(table):
                raise InputError(table, None, f"the {fmt} source at {src} gave no {table} rows")
    return summary
