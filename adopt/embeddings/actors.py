"""Ray actors of the embeddings pipeline: how many, on what, and what each does.

`actor_config` turns ``ray.cluster_resources()`` into the ``map_batches``
settings of ``adopt.embeddings.pipeline``: GPU actors (one GPU each, or a share
when asked for more actors than GPUs) where the cluster has GPUs, CPU actors
otherwise, and never more actors than the cluster can place, so the pipeline
cannot wait for a device that is not there. `EncodeBatch` is the callable class
each actor runs: it loads the model once, then embeds batch after batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from adopt.embeddings.encoder import CPU_BATCH_SIZE, GPU_BATCH_SIZE
from adopt.exceptions import InputError

log = logging.getLogger("adopt")

# Texts per Ray batch, in forward batches: enough to amortise the hop to the actor.
RAY_BATCH_FACTOR = 8
# Default threads per CPU actor: fewer, fatter actors load the model fewer times.
CPU_THREADS_PER_ACTOR = 4


@dataclass(frozen=True)
class ActorConfig:
    """How the pipeline runs its encoder actors.

    Attributes
    ----------
    device : str
        ``"cuda"`` or ``"cpu"``.
    actors : int
        Size of the actor pool (``ActorPoolStrategy(size=actors)``).
    num_gpus : float
        GPUs each actor reserves (0 on CPU).
    num_cpus : float
        CPUs each actor reserves.
    threads : int
        CPU threads per actor, run as that many encoder streams (0 on GPU:
        one stream).
    batch_size : int
        Texts per forward pass.
    ray_batch_size : int
        Texts per Ray batch handed to an actor.
    """

    device: str
    actors: int
    num_gpus: float
    num_cpus: float
    threads: int
    batch_size: int
    ray_batch_size: int


def actor_config(
    resources: Mapping[str, float], *, actors: int | None = None, batch_size: int | None = None
) -> ActorConfig:
    """Choose the encoder actors for a cluster with `resources`.

    Parameters
    ----------
    resources : mapping
        ``ray.cluster_resources()``: ``"CPU"``, ``"GPU"``, ... totals.
    actors : int or None
        Actor pool size; None for one per GPU, or one per 4 CPUs without GPUs.
        More actors than GPUs share them; more than CPUs is capped at the CPUs.
    batch_size : int or None
        Texts per forward pass; None for 256 on GPU, 32 on CPU.

    Returns
    -------
    ActorConfig
    """
    for name, value in (("actors", actors), ("batch_size", batch_size)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InputError(
                "embeddings", None,
                f"The '{name}' parameter of embed_workspace must be a positive int or None. "
                f"Got {value!r} instead.",
            )
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus >= 1:
        n = actors or gpus
        size = batch_size or GPU_BATCH_SIZE
        return ActorConfig(
            device="cuda", actors=n, num_gpus=min(1.0, gpus / n), num_cpus=1, threads=0,
            batch_size=size, ray_batch_size=size * RAY_BATCH_FACTOR,
        )
    n = actors or max(1, cpus // CPU_THREADS_PER_ACTOR)
    if n > cpus:
        log.warning("embed: %d CPU actors asked for, the cluster has %d CPUs; using %d",
                    n, cpus, cpus)
        n = cpus
    threads = max(1, cpus // n)
    # Leave a CPU free for Ray Data's own tasks when there is one to spare.
    reserve = max(1, min(threads, (cpus - 1) // n))
    size = batch_size or CPU_BATCH_SIZE
    return ActorConfig(
        device="cpu", actors=n, num_gpus=0, num_cpus=reserve, threads=threads,
        batch_size=size, ray_batch_size=size * RAY_BATCH_FACTOR,
    )


class EncodeBatch:
    """The Ray Data callable class: one encoder per actor, loaded once.

    Parameters
    ----------
    model_path : str
        Model folder (the driver resolved it; every node must see the same path).
    device : str
        ``"cuda"`` or ``"cpu"``.
    batch_size : int
        Texts per forward pass.
    threads : int
        CPU threads (encoder streams, see ``Encoder``); 0 keeps torch's default.
    precision : str
        ``Encoder``'s precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    """

    def __init__(
        self, model_path: str, device: str, batch_size: int, threads: int,
        precision: str = "auto",
    ) -> None:
        import torch

        from adopt.embeddings.encoder import Encoder

        # Ray sets OMP_NUM_THREADS to the actor's num_cpus (often 1); the actor's
        # share of the node is `threads`, run as that many encoder streams.
        if threads:
            torch.set_num_threads(threads)
        self.encoder = Encoder(model_path, device=device, threads=threads or None,
                               precision=precision)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Embed ``batch["text"]``; return ``text_hash`` and ``vector`` columns."""
        vectors = self.encoder.encode(
            batch["text"].tolist(), batch_size=self.batch_size, show_progress_bar=False
        )
        return {"text_hash": batch["text_hash"], "vector": vectors}
