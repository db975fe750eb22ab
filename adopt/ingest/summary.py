"""What an ingest did, per table: rows read, loaded, replaced and dropped (and why).

Returned by `adopt.ingest.ingest`, printed by `adopt ingest`, and stored as JSON
in the warehouse's `ingest_log`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TableSummary:
    """One table's ingest.

    `rows_loaded` counts rows written (for dimension tables, new and replaced
    ids); `rows_replaced` counts ids that were already in the warehouse and
    whose row was replaced; `dropped` maps a reason to a count of rows not written;
    `skipped_files` names the hidden files (dot-files) of a table folder that were not read.
    """

    table: str
    source: str
    rows_read: int
    rows_loaded: int
    rows_replaced: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    skipped_files: tuple[str, ...] = ()

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())


@dataclass(frozen=True)
class IngestSummary:
    """The result of one ingest; `str()` is a short table.

    `mode` is "append" or "replace"; `removed` maps each input table the
    warehouse held before a replace to the rows it held (empty on append).
    """

    source: Path
    warehouse: Path
    tables: tuple[TableSummary, ...]
    pseudonymized: bool
    seconds: float
    mode: str = "append"
    removed: dict[str, int] = field(default_factory=dict)
    # adopt.partitions.PartitionSummary when the ingest also wrote partitions.
    partitions: object = None

    def __getitem__(self, table: str) -> TableSummary:
        for t in self.tables:
            if t.table == table:
                return t
        raise KeyError(
            f"no table '{table}' in this ingest; tables: {[t.table for t in self.tables]}"
        )

    def to_json(self) -> str:
        """The per-table counts as JSON (stored in `ingest_log.tables`)."""
        return json.dumps({t.table: asdict(t) for t in self.tables})

    def __str__(self) -> str:
        ids = ", user ids pseudonymised" if self.pseudonymized else ""
        replace = self.mode == "replace"
        verb = "replaced the warehouse's input tables with" if replace else "ingested"
        lines = [f"{verb} {self.source} into {self.warehouse} in {self.seconds:.1f}s{ids}"]
        header = ("table", "source", "read", "loaded", "replaced", "dropped")
        rows = [header] + [
            (
                t.table,
                t.source,
                f"{t.rows_read:,}",
                f"{t.rows_loaded:,}",
                f"{t.rows_replaced:,}",
                f"{t.rows_dropped:,}",
            )
            for t in self.tables
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
            cells += [v.rjust(w) for v, w in zip(r[2:], widths[2:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        for t in self.tables:
            if t.skipped_files:
                n = len(t.skipped_files)
                names = ", ".join(t.skipped_files[:3]) + (", ..." if n > 3 else "")
                lines.append(
                    f"{t.table}: {n:,} hidden file{'s' if n > 1 else ''} skipped ({names})"
                )
            for why, n in t.dropped.items():
                if n:
                    lines.append(f"{t.table}: {n:,} {why} dropped")
        if self.removed:
            gone = ", ".join(f"{t} {n:,}" for t, n in self.removed.items())
            lines.append(f"removed the rows the warehouse held before: {gone}")
        if self.partitions is not None:
            lines.append(str(self.partitions))
        return "\n".join(lines)
