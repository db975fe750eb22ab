"""Shared pieces of the importers: the summary, row checks, and publisher-file helpers.

The importers sit before ingest in the data flow: they turn a public data set,
as its publisher distributes it, into a folder in adopt's input contract
(``adopt/schema.py``), which ``adopt ingest`` then loads. This module holds
what every format module uses besides the streaming engine (`stream`):
`ImportSummary`, `Check` (a rule on one source column), the `guard` filter
built from checks, and helpers to find files and read their headers.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adopt.exceptions import InputError

DEFAULT_CPM = 2.0
"""CPM (cost per 1000 impressions) used when a data set has no costs and none is given."""

PART_ROWS = 1_000_000
"""Rows per Parquet part file."""


@dataclass(frozen=True)
class Check:
    """A rule on one source column: `bad` is a SQL predicate on the text value.

    `bad` refers to the column by its (publisher's) name and is true for a row
    that breaks the rule; `allowed` says in words what the column may hold.
    """

    column: str
    bad: str
    allowed: str


@dataclass
class ImportSummary:
    """What an import wrote, dropped and assumed.

    Attributes
    ----------
    fmt, src, out : str
        The format, the source and the output folder.
    rows : dict
        Rows written per contract table.
    dropped : list of (int, str)
        Rows dropped, each with the reason.
    assumptions : list of str
        What the importer had to assume or make up (costs, texts, ids, times).
    can_run, cannot_run : list of str
        Which later stages the converted data supports, and which not and why.
    """

    fmt: str
    src: str
    out: str
    rows: dict[str, int] = field(default_factory=dict)
    dropped: list[tuple[int, str]] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    can_run: list[str] = field(default_factory=list)
    cannot_run: list[str] = field(default_factory=list)

    def drop(self, count: int, reason: str) -> None:
        """Record `count` dropped rows (nothing when zero)."""
        if count:
            self.dropped.append((int(count), reason))

    def __str__(self) -> str:
        lines = [f"import {self.fmt}: {self.src} -> {self.out}"]
        lines += [f"  {table:<12}{n:>14,} rows" for table, n in self.rows.items()]
        lines.append("dropped:" if self.dropped else "dropped: nothing")
        lines += [f"  {n:,} {reason}" for n, reason in self.dropped]
        sections = (
            ("assumptions", self.assumptions),
            ("stages that can run", self.can_run),
            ("stages that cannot run", self.cannot_run),
        )
        for title, items in sections:
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        return "\n".join(lines)


def find_file(src: Path, *names: str) -> Path | None:
    """The first of `names` (also with a ``.gz`` suffix) that exists in folder `src`."""
    for name in names:
        for candidate in (src / name, src / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_header(path: Path, delim: str = ",") -> list[str]:
    """The column names on the first line of `path`, stripped of spaces.

    Raises
    ------
    InputError
        The file is empty or its first line cannot be decoded.
    """
    try:
        with _open_text(path) as fh:
            first = next(csv.reader(fh, delimiter=delim), None)
    except UnicodeDecodeError as exc:
        raise InputError(
            path.name, None, f"cannot decode the header (line 1) as UTF-8 ({exc})"
        ) from None
    if not first:
        raise InputError(path.name, None, "the file is empty: expected a header line")
    return [name.strip().lstrip("\ufeff") for name in first]


def require_columns(path: Path, found: Sequence[str], required: Sequence[str]) -> None:
    """Raise an `InputError` naming the first column of `required` missing from `found`."""
    missing = [c for c in required if c not in found]
    if missing:
        raise InputError(
            path.name,
            missing[0],
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(found)}; "
            f"expected at least {', '.join(required)}",
        )


def guard(checks: Sequence[Check]) -> str:
    """A filter that is true for good rows and raises a DuckDB error on the first bad one.

    A filter, unlike an unused column, cannot be pruned away by the optimizer.
    """
    bad = " or ".join(f"coalesce({c.bad}, false)" for c in checks)
    return f"(case when {bad} then error('row breaks an import check') else true end)"


TS_FROM_EPOCH = "make_timestamp(cast({col} as bigint) * 1000000)"
"""SQL turning unix seconds (text) into a naive UTC TIMESTAMP."""


def not_null(column: str, what: str) -> Check:
    """A check that `column` is not empty."""
    return Check(column, f"{column} is null", f"{what} must not be empty")
