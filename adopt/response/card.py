"""Model cards: what a trained response model was fitted on, how, and how well it does.

Every run under ``WS/models/<run_id>/`` carries ``card.json`` (for code: the
report and later stages read it) and ``card.md`` (for people): the data
fingerprint and split, the features, the hyperparameters and any tuning
trials, the library versions, the metrics table (model beside the base-rate
predictor, overall / per placement / cold-start), the reliability table and
the feature importance.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adopt.workspace import atomic_path

LIBRARIES = ("adopt", "lightgbm", "torch", "transformers", "ray", "numpy", "pandas", "scipy",
             "duckdb")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model (``"absent"`` when not installed)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def data_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 of the examples' columns, types and values (row order matters).

    A vector column is hashed as its distinct vectors' float32 bytes (in order
    of first appearance) and each row's position among them; everything else by
    pandas' stable per-row hash.
    """
    digest = hashlib.sha256()
    for col in df.columns:
        s = df[col]
        digest.update(f"{col}:{s.dtype}".encode())
        first = s.dropna().iloc[0] if s.notna().any() else None
        if isinstance(first, (list, tuple, np.ndarray)):
            # rows of one user or ad share one array object: read each object once
            values = s.to_numpy()
            obj, _ = pd.factorize(np.fromiter(map(id, values), np.int64, len(values)))
            _, first_rows = np.unique(obj, return_index=True)
            blobs = [np.asarray(values[i], dtype=np.float32).tobytes() for i in first_rows]
            code, distinct = pd.factorize(pd.Series(blobs, dtype=object))
            for blob in distinct:
                digest.update(blob)
            digest.update(code[obj].astype(np.int64).tobytes())
        else:
            digest.update(pd.util.hash_pandas_object(s, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class ModelCard:
    """The record of one trained response model (see the module docstring)."""

    run_id: str
    model: str
    data: dict[str, Any]
    features: list[str]
    hyperparameters: dict[str, Any]
    metrics: list[dict[str, Any]]
    reliability: list[dict[str, Any]] = field(default_factory=list)
    importance: list[dict[str, Any]] = field(default_factory=list)
    tuning: list[dict[str, Any]] = field(default_factory=list)
    library_versions: dict[str, str] = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def metrics_frame(self) -> pd.DataFrame:
        """The metrics table as a DataFrame."""
        return pd.DataFrame(self.metrics)

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``card.json`` and ``card.md`` under ``folder`` atomically; return the JSON path."""
        folder = Path(folder)
        with atomic_path(folder / "card.json") as tmp:
            tmp.write_text(json.dumps(_clean(asdict(self)), indent=1))
        with atomic_path(folder / "card.md") as tmp:
            tmp.write_text(self.to_markdown())
        return folder / "card.json"

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> ModelCard:
        """Read the ``card.json`` under ``folder``."""
        return cls(**json.loads((Path(folder) / "card.json").read_text()))

    def to_markdown(self) -> str:
        """A short human summary: data, headline metrics, top features, tuning."""
        m = self.metrics_frame()
        lines = [f"# Model card: {self.run_id}", "",
                 f"- model: {self.model}", f"- created: {self.created}",
                 f"- data fingerprint: `{self.data.get('fingerprint', '?')}`"]
        emb = self.data.get("embeddings")
        if emb:
            lines.append(f"- embedding features: from `{emb.get('model_id')}`" if emb["used"]
                         else f"- embedding features: none ({emb.get('why')})")
        for part, info in self.data.get("split", {}).items():
            lines.append(
                f"- {part}: {info['rows']} rows, {info['first_day']} to {info['last_day']}"
            )
        for target, how in (self.hyperparameters.get("targets") or {}).items():
            lines.append(f"- {target} model: {_rounds_line(how)}")
        if self.hyperparameters.get("placement_factors"):
            lines.append(f"- {self.hyperparameters['placement_factors']}")
        lines += ["", f"Features ({len(self.features)}): " + ", ".join(self.features[:20])
                  + (" ..." if len(self.features) > 20 else ""), "", "## Metrics (test)", ""]
        if not m.empty:
            cols = ["target", "slice", "group", "predictor", "n", "auc", "ne",
                    "calibration_ratio", "ece"]
            shown = m[[c for c in cols if c in m.columns]]
            lines += _table(shown)
        if self.importance:
            lines += ["", "## Top features (LightGBM gain)", ""]
            lines += _table(pd.DataFrame(self.importance).head(10))
        if self.tuning:
            lines += ["", f"## Tuning ({len(self.tuning)} trials on valid)", ""]
            lines += _table(pd.DataFrame(self.tuning))
        lines += ["", "Libraries: " + ", ".join(f"{k} {v}" for k, v in
                                               self.library_versions.items())]
        return "\n".join(lines) + "\n"


def _rounds_line(how: dict[str, Any]) -> str:
    """How a LightGBM target's rounds were chosen and where it trained, in words."""
    method, rounds = how.get("method"), how.get("rounds")
    if method == "time_window":
        text = (f"{rounds} rounds, early-stopped on the latest {how.get('window_days')} day(s) "
                f"from {how.get('window_first_day')} ({how.get('valid_positives')} positives), "
                "then refitted on all train and valid rows")
    elif method == "valid":
        text = f"{rounds} rounds, early-stopped on the valid days"
    elif isinstance(method, str) and method.startswith("cv"):
        text = (f"{rounds} rounds by {method[2:]}-fold cross-validation "
                f"({how.get('positives')} positives: too few for a time window)")
    else:
        text = str(method)
    if how.get("downsample_rate") is not None:
        text += (f"; fitted on every positive and {how['downsample_rate']:.1%} of the "
                 "negatives (predictions corrected back)")
    engine = how.get("engine")
    if engine == "ray":
        text += f"; trained on Ray Train, {how.get('workers')} workers"
    elif engine:
        text += f"; trained {engine}ly"
    return text


def _table(df: pd.DataFrame) -> list[str]:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    out = ["| " + " | ".join(map(str, df.columns)) + " |",
           "|" + "---|" * len(df.columns)]
    out += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return out

