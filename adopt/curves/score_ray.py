"""Counterfactual rows scored on Ray Data: parallel batches, memory bounded by the batch.

Sits under the curve stage (`adopt.curves.grid`, via `adopt.curves.pairs.predict_rows`
with ``engine="ray"``): the rows to score arrive as four index arrays (user,
ad, placement, k into `PairState`). They travel as blocks of
``batch_rows`` indices (32 bytes a row); each block is expanded into model
rows (the features of ``training_examples``, the embedding vectors: several
KB a row) and scored inside a ``map_batches`` actor that holds the state and
the model once, and only the four outputs come back. So a process holds at
most one batch of model rows at a time, whatever the number of cells: the
driver keeps the indices and the outputs (64 bytes a row), each actor one
batch. The actors spread over the cluster's CPUs (``concurrency``).

The result is the same, row for row, as `predict_rows` in one process: each
row's prediction depends on that row alone, and the outputs are written back
at the rows' positions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from adopt.curves.state import PairState
from adopt.progress import Progress

log = logging.getLogger("adopt")

BATCH_ROWS = 20_000
MAX_ACTORS = 16
SCORED = ("p_click", "p_conversion_given_click", "p_conversion")


class _Scorer:
    """A ``map_batches`` actor: the state and model once, then one block of indices a call."""

    def __init__(self, refs: list[Any], attach: Callable[[pd.DataFrame], pd.DataFrame] | None
                 ) -> None:
        import ray

        self.state, self.model = ray.get(refs)
        self.attach = attach

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from adopt.curves.pairs import predict_rows

        pred = predict_rows(self.state, self.model, batch["u"], batch["a"], batch["p"],
                            batch["k"], attach=self.attach, batch_rows=len(batch["u"]) or 1)
        return {"i": batch["i"]} | {name: pred[name] for name in SCORED}


def default_actors() -> int:
    """One scoring actor per CPU of the Ray cluster, at most `MAX_ACTORS`."""
    import ray

    return max(1, min(MAX_ACTORS, int(ray.cluster_resources().get("CPU", 1))))


def predict_rows_on_ray(state: PairState, model: Any, u: np.ndarray, a: np.ndarray,
                        p: np.ndarray, k: np.ndarray, *,
                        attach: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                        batch_rows: int = BATCH_ROWS, actors: int | None = None,
                        progress: Progress | None = None) -> dict[str, np.ndarray]:
    """`adopt.curves.pairs.predict_rows` on Ray Data actors (see the module docstring).

    Parameters
    ----------
    state, model, u, a, p, k, attach : as `predict_rows`.
    batch_rows : model rows per block, and so per actor call.
    actors : scoring actors; None: `default_actors`.
    progress : counts the rows as their blocks come back.

    Returns
    -------
    dict of ndarray
        ``p_click``, ``p_conversion_given_click``, ``p_conversion`` and
        ``expected_revenue``, each of the inputs' length, in their order.
    """
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    n = len(u)
    out = {name: np.zeros(n) for name in SCORED}
    if n:
        actors = int(actors or default_actors())
        blocks = [pd.DataFrame({"i": np.arange(lo, min(lo + batch_rows, n)),
                                "u": u[lo:lo + batch_rows], "a": a[lo:lo + batch_rows],
                                "p": p[lo:lo + batch_rows], "k": k[lo:lo + batch_rows]})
                  for lo in range(0, n, batch_rows)]
        refs = [ray.put(state), ray.put(model)]
        scored = ray.data.from_pandas(blocks).map_batches(
            _Scorer, fn_constructor_kwargs={"refs": refs, "attach": attach},
            batch_size=batch_rows, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(blocks))), num_cpus=1)
        for batch in scored.iter_batches(batch_format="numpy", batch_size=None):
            idx = batch["i"]
            for name in SCORED:
                out[name][idx] = batch[name]
            if progress is not None:
                progress.update(len(idx))
        del refs
    value = state.ads["value_per_conversion"].to_numpy(dtype=float)
    out["expected_revenue"] = out["p_conversion"] * value[a]
    return out
