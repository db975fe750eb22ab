"""Ingest: validate the input contract and load the input files into the DuckDB warehouse.

The first stage of adopt. `ingest(data_dir, workspace)` reads one file (or
folder of files) per table, checks it against `adopt.schema`, and upserts or
appends it into `<workspace>/warehouse.duckdb` in one transaction; with
``mode="replace"`` it replaces the warehouse's input tables instead, and by
default it refuses data loaded again with changes (`adopt.ingest.reload`).
"""

from __future__ import annotations

from adopt.ingest.load import ingest
from adopt.ingest.summary import IngestSummary, TableSummary

__all__ = ["IngestSummary", "TableSummary", "ingest"]
