"""LightGBM boosters trained on Ray Train's ``LightGBMTrainer`` (data-parallel workers).

Sits inside `adopt.response.lgbm.LightGBMResponse` (``engine="ray"``): the
driver turns the examples into model input (`Features.frame`), and
`train_on_ray` hands it to Ray Train, whose workers each hold one shard of the
fitting rows and run ``lightgbm.train`` together (``tree_learner="data"``,
LightGBM's own network, set up by Ray's LightGBM backend). The driver gets the
booster back from the run's checkpoint; calibration and the card stay the
driver's, as on the local path.

Determinism: a row's shard is fixed by its user (a stable hash of ``user_id``
modulo the workers), each shard keeps the rows' order, every worker reads the
whole validation set (so all of them see the same metric and stop at the same
round) and LightGBM runs with ``deterministic=True``; the same seed and worker
count give the same booster.

Rows reach the workers as Ray Datasets, one per shard, not split again by Ray
(``DataConfig(datasets_to_split=[])``); categoricals travel as their codes
and are rebuilt with the learned categories on the worker, so LightGBM sees
exactly what the local path gives it.
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

log = logging.getLogger("adopt")

MAX_WORKERS = 8
LABEL, INIT, SHARD = "__label", "__init_score", "__shard"
MODEL_FILE = "model.txt"  # the name RayTrainReportCallback.get_model reads
# The LightGBM parameters that decide the histogram bins.
BIN_PARAMS = ("max_bin", "max_bin_by_feature", "min_data_in_bin", "bin_construct_sample_cnt",
              "data_random_seed", "seed", "use_missing", "zero_as_missing",
              "feature_pre_filter", "min_data_in_leaf", "min_child_samples",
              "max_cat_to_onehot", "max_cat_threshold", "min_data_per_group")
_RUNS = itertools.count()


def shard_of(key: np.ndarray | None, n_rows: int, workers: int) -> np.ndarray:
    """Each row's worker: a stable hash of its key (the user) modulo `workers`.

    Without a key, rows are dealt round-robin. The hash is pandas' fixed-key
    SipHash, the same in every process and run.
    """
    if key is None:
        return np.arange(n_rows) % workers
    hashed = pd.util.hash_array(np.asarray(key, dtype=object).astype(str))
    return (hashed % np.uint64(workers)).astype(np.int64)


def joined_cluster() -> bool:
    """Whether this process is connected to a Ray of more than one live node, or will
    join one: Ray not started yet and ``RAY_ADDRESS`` set (a submitted Ray job).

    The ``"auto"`` engines (LightGBM here, curve scoring) use Ray there whatever the
    data size: a nightly job on a cluster should not load its driver alone.
    """
    import sys

    if "ray" not in sys.modules or not sys.modules["ray"].is_initialized():
        return bool(os.environ.get("RAY_ADDRESS"))
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive")) > 1


def default_workers() -> int:
    """One worker per CPU of the Ray cluster, at most `MAX_WORKERS`, at least 1."""
    import ray

    return max(1, min(MAX_WORKERS, int(ray.cluster_resources().get("CPU", 1))))


def bin_rows(n_rows: int, params: dict[str, Any]) -> np.ndarray:
    """The rows LightGBM's bins come from: all of them up to ``bin_construct_sample_cnt``
    (default 200,000, as one process bins), else a seeded sample of that many."""
    cap = int(params.get("bin_construct_sample_cnt", 200_000))
    if n_rows <= cap:
        return np.arange(n_rows)
    rng = np.random.default_rng(int(params.get("data_random_seed", params.get("seed", 0))))
    return np.sort(rng.choice(n_rows, size=cap, replace=False))


def _encode(x: pd.DataFrame, y: np.ndarray | None, init: np.ndarray | None) -> pd.DataFrame:
    """Model input with categoricals as float codes (missing: NaN), the label and init score."""
    out = {}
    for col in x.columns:
        s = x[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[col] = codes
        else:
            out[col] = s.to_numpy(dtype=np.float64)
    frame = pd.DataFrame(out)
    if y is not None:
        frame[LABEL] = np.asarray(y, dtype=np.float64)
    if init is not None:
        frame[INIT] = np.asarray(init, dtype=np.float64)
    return frame


def _decode(frame: pd.DataFrame, columns: list[str], categories: dict[str, list[str]]
            ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Inverse of `_encode` on a worker: the model frame, the labels, the init scores."""
    from ray.train.lightgbm import normalize_pandas_for_lightgbm

    frame = normalize_pandas_for_lightgbm(frame)
    x = {}
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64,
                                                                      na_value=np.nan)
        if col in categories:
            codes = np.where(np.isnan(values), -1, values).astype(np.int64)
            x[col] = pd.Categorical.from_codes(codes, categories=categories[col])
        else:
            x[col] = values
    y = frame[LABEL].to_numpy(dtype=np.float64)
    init = frame[INIT].to_numpy(dtype=np.float64) if INIT in frame.columns else None
    return pd.DataFrame(x, columns=columns), y, init


def _shard_frame(name: str) -> pd.DataFrame:
    import ray.train

    batches = list(ray.train.get_dataset_shard(name).iter_batches(batch_format="pandas",
                                                                  batch_size=None))
    return pd.concat(batches, ignore_index=True) if batches else pd.DataFrame()


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard, the whole valid set, `lightgbm.train` over the network."""
    import ray.train
    from ray.train import Checkpoint
    from ray.train.lightgbm import get_network_params

    rank = ray.train.get_context().get_world_rank()
    columns, categories = config["columns"], config["categories"]
    cats = list(categories)
    x, y, init = _decode(_shard_frame(f"train_{rank}"), columns, categories)
    # The histogram bins from the rows one process would bin (`bin_rows`), built here
    # without the network: data-parallel LightGBM would otherwise bin each feature
    # from one worker's shard, and the workers' model would drift from the local one.
    x_bins, _, _ = _decode(_shard_frame("bins"), columns, categories)
    binning = {k: v for k, v in config["params"].items() if k in BIN_PARAMS}
    reference = lgb.Dataset(x_bins, categorical_feature=cats,
                            params=binning | {"verbose": -1}).construct()
    data = lgb.Dataset(x, y, init_score=init, categorical_feature=cats, reference=reference,
                       free_raw_data=False)
    params = dict(config["params"]) | get_network_params() | {
        "tree_learner": "data", "pre_partition": True, "deterministic": True,
        "num_threads": config["threads"],
    }
    valid_sets, callbacks = [], []
    if config["early_stopping_rounds"]:
        x_va, y_va, init_va = _decode(_shard_frame("valid"), columns, categories)
        valid_sets = [lgb.Dataset(x_va, y_va, init_score=init_va, categorical_feature=cats,
                                  reference=data)]
        callbacks = [lgb.early_stopping(config["early_stopping_rounds"], verbose=False)]
    booster = lgb.train(params, data, num_boost_round=config["num_boost_round"],
                        valid_sets=valid_sets, callbacks=callbacks)
    best = int(booster.best_iteration or booster.current_iteration())
    metrics = {"best_iteration": best, "rows": len(y)}
    if rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            booster.save_model(str(Path(tmp) / MODEL_FILE), num_iteration=best)
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp))
    else:
        ray.train.report(metrics)


def train_on_ray(
    params: dict[str, Any],
    x: pd.DataFrame,
    y: np.ndarray,
    init_score: np.ndarray | None,
    categorical: list[str],
    *,
    valid: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None = None,
    num_boost_round: int = 1000,
    early_stopping_rounds: int | None = 50,
    num_workers: int | None = None,
    shard_key: np.ndarray | None = None,
    storage_path: str | os.PathLike[str] | None = None,
    name: str = "lightgbm",
) -> tuple[lgb.Booster, int]:
    """Train one booster with Ray Train's ``LightGBMTrainer``; returns it and the worker count.

    Parameters
    ----------
    params : LightGBM parameters (the network ones are added on the workers).
    x : model input (`Features.frame` output); y : labels; init_score : start scores or None.
    categorical : the categorical columns of ``x`` (pandas categoricals).
    valid : (x, y, init_score) to stop early on; None with ``early_stopping_rounds=None``
        trains exactly ``num_boost_round`` rounds.
    num_boost_round : the most rounds.
    early_stopping_rounds : stop when the valid loss has not improved this long.
    num_workers : Ray Train workers; None: `default_workers`. Never more than the rows allow.
    shard_key : per row, the key that fixes its worker (the user id); None: round-robin.
    storage_path : where Ray Train keeps the run (a temporary folder if None).
    name : the run's name.
    """
    import ray
    from ray.train import DataConfig, RunConfig, ScalingConfig
    from ray.train.lightgbm import LightGBMTrainer

    if early_stopping_rounds and valid is None:
        raise ValueError("train_on_ray needs a valid set to stop early on.")
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    workers = int(num_workers or default_workers())
    workers = max(1, min(workers, len(y) // 1000 or 1))
    shards = shard_of(shard_key, len(y), workers)
    encoded = _encode(x, y, init_score)
    datasets = {f"train_{r}": ray.data.from_pandas(encoded.loc[shards == r].reset_index(
        drop=True)) for r in range(workers)}
    datasets["bins"] = ray.data.from_pandas(encoded.iloc[bin_rows(len(y), params)])
    if valid is not None and early_stopping_rounds:
        datasets["valid"] = ray.data.from_pandas(_encode(*valid))
    categories = {c: [str(v) for v in x[c].cat.categories] for c in categorical}
    cpus = ray.cluster_resources().get("CPU", 1)
    threads = max(1, int(cpus // workers)) if workers > 1 else max(1, int(cpus))
    storage = Path(storage_path) if storage_path else Path(tempfile.mkdtemp(prefix="adopt_lgbm_"))
    trainer = LightGBMTrainer(
        train_loop,
        train_loop_config={"params": params, "columns": list(x.columns),
                           "categories": categories, "num_boost_round": num_boost_round,
                           "early_stopping_rounds": early_stopping_rounds, "threads": threads},
        scaling_config=ScalingConfig(num_workers=workers,
                                     resources_per_worker={"CPU": min(threads, cpus / workers)}),
        # a fresh name per run: Ray Train would otherwise resume an earlier run of the name
        run_config=RunConfig(name=f"{name}_{time.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}"
                             f"_{next(_RUNS)}", storage_path=str(storage.resolve())),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=[]),
    )
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        booster = lgb.Booster(model_file=str(Path(folder) / MODEL_FILE))
    # saved at its best round: a loaded booster's best_iteration is -1, so say it
    booster.best_iteration = booster.current_iteration()
    log.info("lightgbm on Ray Train: %d workers, %d rows, %d rounds", workers, len(y),
             booster.current_iteration())
    return booster, workers
