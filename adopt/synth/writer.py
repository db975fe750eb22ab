"""Parquet output of the synthetic world: small tables as one file, big ones as parts.

`PartWriter` buffers the daily tables of `adopt.synth.simulate` and flushes a
part file (`part-00000.parquet`, ...) whenever `part_rows` rows are waiting.
The write runs on a background thread (Parquet encoding releases the GIL) while
the next days are drawn; at most one write is pending, so memory holds at most
two parts plus one day. `ShardedWriter` does the same per user shard
(``adopt generate --shards N``), so each file holds one shard's users.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class PartWriter:
    """Write a big table as a folder of part files of about `part_rows` rows each.

    Parameters
    ----------
    folder : Path
        Folder to create; part files are named `part-00000.parquet`, ...
    schema : pyarrow.Schema
        Schema of every part (an empty table gets one empty part with it).
    part_rows : int
        A part is written as soon as this many rows are buffered.
    prefix : str
        Put before each file name (``shard-00003-part-00000.parquet``).
    """

    def __init__(self, folder: Path, schema: pa.Schema, part_rows: int, prefix: str = "") -> None:
        self.folder = Path(folder)
        self.prefix = prefix
        self.folder.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.part_rows = part_rows
        self.parts = 0
        self.rows = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[None] | None = None

    def add(self, table: pa.Table) -> None:
        """Buffer `table`; flush a part when the buffer reaches `part_rows`."""
        self._buffer.append(table)
        self._buffered += table.num_rows
        self.rows += table.num_rows
        if self._buffered >= self.part_rows:
            self._flush()

    def _flush(self) -> None:
        table = pa.concat_tables(self._buffer) if self._buffer else self.schema.empty_table()
        self._wait()
        self._pending = self._pool.submit(
            pq.write_table, table, self.folder / f"{self.prefix}part-{self.parts:05d}.parquet")
        self.parts += 1
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        """Write what is left (or one empty part if nothing was ever written)."""
        try:
            if self._buffer or self.parts == 0:
                self._flush()
            self._wait()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # let a running write finish before the caller removes the folder
            self._pool.shutdown(wait=True)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()  # re-raises a failed write
            self._pending = None


class ShardedWriter:
    """Write a big table as part files that each hold the users of one shard only.

    User ``u<i>`` belongs to shard ``(i - 1) % shards``; shard s's parts are
    ``shard-<s>-part-<n>.parquet``. Each shard's writer flushes at
    ``part_rows / shards`` rows, so memory holds about two parts in all, as
    with one `PartWriter`.
    """

    def __init__(self, folder: Path, schema: pa.Schema, part_rows: int, shards: int) -> None:
        rows = max(part_rows // shards, 1)
        self.shards = shards
        self.writers = [PartWriter(folder, schema, rows, prefix=f"shard-{s:05d}-")
                        for s in range(shards)]

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.writers)

    def add(self, table: pa.Table) -> None:
        """Split `table` by its users' shards and buffer each piece in its shard's writer."""
        number = pc.cast(pc.utf8_slice_codeunits(table["user_id"], 1), pa.int64()).to_numpy()
        shard = (number - 1) % self.shards
        order = np.argsort(shard, kind="stable")
        counts = np.bincount(shard, minlength=self.shards)
        ordered = table.take(pa.array(order))
        start = 0
        for writer, count in zip(self.writers, counts, strict=True):
            if count:
                writer.add(ordered.slice(start, int(count)))
            start += int(count)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            for writer in self.writers:
                writer.__exit__(exc_type, *exc)


def write_table(table: pa.Table, path: Path) -> None:
    """Write one small table as a single Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def publish(staging: Path, out: Path) -> None:
    """Move every entry of `staging` into `out`, replacing what had the same name.

    Other files already in `out` are left alone; `staging` is removed.
    """
    out.mkdir(parents=True, exist_ok=True)
    for entry in sorted(staging.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(entry, target)
    staging.rmdir()
