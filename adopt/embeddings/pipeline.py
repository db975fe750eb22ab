"""The embeddings stage: every ad creative and user interest text to a cached vector.

Sits after the SQL profile stage and before the response models. The driver
reads ``ads`` (title + description) and ``user_profiles`` (interest_text) from
the DuckDB warehouse, keeps only texts whose (model_id, text_hash) is not cached
yet, embeds each distinct one once on a Ray Data actor pool (GPU actors where
``ray.cluster_resources()`` has GPUs, CPU otherwise) and writes the vectors back
(see ``adopt.embeddings.store``). Ray actors never open the warehouse: DuckDB
allows one writer, the driver. A rerun over unchanged data starts neither Ray
nor the model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from adopt.configs import EmbedConfig
from adopt.embeddings import store
from adopt.embeddings.actors import ActorConfig, EncodeBatch, actor_config
from adopt.embeddings.encoder import check_precision
from adopt.embeddings.models import model_id as folder_model_id
from adopt.embeddings.models import resolve_model
from adopt.exceptions import InputError
from adopt.progress import Progress
from adopt.ray_client import is_client_address, run_on_cluster
from adopt.workspace import EMBED_HINT, INGEST_HINT, PROFILES_HINT, Workspace

log = logging.getLogger("adopt")

KINDS = ("ad", "user")
# Vectors written per cache transaction: what a killed run can lose at most.
WRITE_CHUNK = 4096


@dataclass(frozen=True)
class EmbedSummary:
    """What a run of `embed_workspace` did.

    Attributes
    ----------
    model_id : str
        Model that made the vectors.
    total : int
        Ads plus users read.
    empty : int
        Of those, without text (no vector; e.g. users with no interest text yet).
    texts : int
        Ads and users with text.
    unique : int
        Distinct texts among them.
    cached : int
        Distinct texts already in the cache.
    embedded : int
        Distinct texts embedded by this run.
    seconds : float
        Wall time of the run.
    device : str
        ``"cuda"``, ``"cpu"``, or ``"none"`` when nothing needed embedding.
    startup_seconds : float
        Of `seconds`, those until the first vectors came back: reading the
        texts, Ray start, actor start, model load and the first Ray batch
        (0 when nothing needed embedding).
    """

    model_id: str
    total: int
    empty: int
    texts: int
    unique: int
    cached: int
    embedded: int
    seconds: float
    device: str
    startup_seconds: float = 0.0

    @property
    def texts_per_second(self) -> float:
        """Ads and users with text handled per second of the run."""
        return self.texts / max(self.seconds, 1e-9)

    def __str__(self) -> str:
        return (
            f"embeddings ({self.model_id}): {self.texts} texts ({self.unique} unique), "
            f"{self.cached} cached, {self.embedded} embedded on {self.device}, "
            f"{self.empty} skipped as empty, in {self.seconds:.1f}s "
            f"({self.texts_per_second:,.0f} texts/s"
            + (f"; first vectors after {self.startup_seconds:.1f}s" if self.embedded else "")
            + ")"
        )


def embed_workspace(
    workspace: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    address: str | None = None,
    batch_size: int | None = None,
    actors: int | None = None,
    precision: str = EmbedConfig.default("precision"),
    show_progress_bar: bool | None = None,
) -> EmbedSummary:
    """Embed every ad creative and user interest text of a workspace, reusing the cache.

    Parameters
    ----------
    workspace : str or path-like
        Workspace folder; its warehouse must hold ``ads`` and ``user_profiles``.
    model : str, path-like or None
        Local model folder in Hugging Face layout; None for the bundled
        all-MiniLM-L6-v2.
    address : str or None
        Ray cluster to join (``ray.init(address=...)``); None uses the Ray this
        process already runs, else ``RAY_ADDRESS``, else starts a local one. A
        ``ray://`` address runs the whole call as a task on that cluster
        (`adopt.ray_client`).
    batch_size : int or None
        Texts per forward pass; None for 256 on GPU, 32 on CPU.
    actors : int or None
        Encoder actors; None for one per GPU, or one per 4 CPUs.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Dtype of the encoder's matrix products (see ``Encoder``): ``"auto"``
        uses bf16 on GPUs and on CPUs that multiply bf16 natively, fp32
        elsewhere. The cache does not tell precisions apart: vectors already
        cached are reused whatever precision made them.
    show_progress_bar : bool or None
        None shows a bar on a terminal and log lines elsewhere (Ray jobs).

    Returns
    -------
    EmbedSummary

    Raises
    ------
    WorkspaceError
        If the warehouse or its ``ads`` / ``user_profiles`` tables are missing,
        or `model` is not a local model folder.
    InputError
        If an ad or user id appears twice.
    ParameterError
        If `precision` is not one of the four.
    """
    check_precision(precision, "embed_workspace")  # before Ray starts
    if is_client_address(address):
        # Ray Data cannot run under Ray Client: embed from a task on that cluster
        return run_on_cluster(address, embed_workspace, **{**locals(), "address": None})
    start = time.perf_counter()
    ws = Workspace.of(workspace)
    path = resolve_model(model)
    mid = folder_model_id(path)
    with ws.connect() as con:
        ws.require("ads", INGEST_HINT, con)
        ws.require("user_profiles", PROFILES_HINT, con)
        store.ensure_tables(con)
        counts = store.stage_texts(con)
        duplicate = store.duplicate_key(con)
        if duplicate is not None:
            table, column = ("ads", "ad_id") if duplicate[0] == "ad" else ("user_profiles",
                                                                           "user_id")
            raise InputError(table, column, f"id {duplicate[1]!r} appears more than once; "
                             "ids must be unique")
        todo = store.uncached_texts(con, mid)
        device, first_vectors = "none", start
        if todo.num_rows:
            device, first_vectors = _embed_on_ray(con, mid, path, todo, address, batch_size,
                                                  actors, precision, show_progress_bar)
        store.replace_key_map(con, mid)
    summary = EmbedSummary(
        model_id=mid, total=counts["total"], empty=counts["empty"], texts=counts["texts"],
        unique=counts["unique"], cached=counts["unique"] - todo.num_rows,
        embedded=todo.num_rows, seconds=time.perf_counter() - start, device=device,
        startup_seconds=first_vectors - start,
    )
    log.info("%s", summary)
    return summary


def load_embeddings(
    workspace: str | os.PathLike[str],
    kind: str,
    *,
    model: str | os.PathLike[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Read the vectors of all ads or all users, for later stages.

    Parameters
    ----------
    workspace : str or path-like
        Workspace folder, after `embed_workspace`.
    kind : {"ad", "user"}
        Which keys: ad ids or user ids.
    model : str, path-like or None
        The model the vectors were made with (None: the bundled default).

    Returns
    -------
    keys : list of str
        Ad or user ids, sorted; those without text (no vector) are absent.
    matrix : numpy.ndarray
        ``(len(keys), dim)`` float32 unit vectors, row i for ``keys[i]``.

    Raises
    ------
    WorkspaceError
        If the workspace has no embeddings yet.
    """
    if kind not in KINDS:
        raise InputError("embeddings", "kind", f"The 'kind' parameter of load_embeddings must "
                         f"be one of {list(KINDS)}. Got {kind!r} instead.")
    ws = Workspace.of(workspace)
    mid = folder_model_id(resolve_model(model))
    with ws.connect(read_only=True) as con:
        ws.require("embeddings", EMBED_HINT, con)
        return store.read_vectors(con, kind, mid)





def _embed_on_ray(
    con: duckdb.DuckDBPyConnection,
    mid: str,
    path: os.PathLike[str],
    todo: pa.Table,
    address: str | None,
    batch_size: int | None,
    actors: int | None,
    precision: str,
    show_progress_bar: bool | None,
) -> tuple[str, float]:
    """Embed `todo` (text_hash, text) on a Ray actor pool; write vectors as they come.

    Returns the device and the ``time.perf_counter()`` when the first vectors came back.
    """
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        config = actor_config(ray.cluster_resources(), actors=actors, batch_size=batch_size)
        log.info("embed: %d new texts on %d %s actor(s)%s, batch %d", todo.num_rows,
                 config.actors, config.device,
                 f" of {config.threads} thread(s)" if config.threads else "", config.batch_size)
        first_vectors = _run_pool(con, mid, str(path), todo, config, precision,
                                  show_progress_bar)
    finally:
        if started:
            ray.shutdown()
    return config.device, first_vectors


def _run_pool(
    con: duckdb.DuckDBPyConnection,
    mid: str,
    path: str,
    todo: pa.Table,
    config: ActorConfig,
    precision: str,
    show_progress_bar: bool | None,
) -> float:
    """Stream `todo` through the encoder actors; insert each chunk in a transaction.

    Returns the ``time.perf_counter()`` when the first vectors came back.
    """
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    # One block per Ray batch, so the pool's actors share the work.
    step = config.ray_batch_size
    blocks = [todo.slice(i, step) for i in range(0, todo.num_rows, step)]
    ds = ray.data.from_arrow(blocks).map_batches(
        EncodeBatch,
        fn_constructor_kwargs={"model_path": path, "device": config.device,
                               "batch_size": config.batch_size, "threads": config.threads,
                               "precision": precision},
        batch_size=config.ray_batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=config.actors),
        num_cpus=config.num_cpus,
        num_gpus=config.num_gpus or None,
    )
    hashes: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    pending = 0
    first_vectors = None
    batches = iter(ds.iter_batches(batch_size=None, batch_format="numpy"))
    with Progress(todo.num_rows, "embed", unit="texts", show=show_progress_bar) as bar, \
            contextlib.closing(batches):
        # closing: a run that fails mid-stream gives its encoder actors back at once, not when
        # the traceback that keeps this generator alive is collected
        for batch in batches:
            if first_vectors is None:
                first_vectors = time.perf_counter()
                log.debug("embed: first vectors back")
            hashes.append(batch["text_hash"])
            vectors.append(batch["vector"])
            pending += len(batch["text_hash"])
            bar.update(len(batch["text_hash"]))
            if pending >= WRITE_CHUNK:
                store.insert_vectors(con, mid, np.concatenate(hashes), np.concatenate(vectors))
                hashes, vectors, pending = [], [], 0
        if pending:
            store.insert_vectors(con, mid, np.concatenate(hashes), np.concatenate(vectors))
    return first_vectors if first_vectors is not None else time.perf_counter()
