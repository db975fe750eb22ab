"""Fine-tuning the BERT cross-encoder on Ray Train, with checkpoints, fault tolerance and resume.

`train_bert` tokenises the train and valid splits on the driver, puts them in
the object store and runs `train_loop` on ``TorchTrainer`` workers:
``prepare_model`` wraps the model for DDP, ``prepare_data_loader`` shards the
batches. Every epoch each worker scores the whole valid split; rank 0 writes a
checkpoint holding the weights, the optimizer, the epoch counter and the best
valid AUC so far. Ray keeps the best checkpoints by valid AUC (and the latest),
restarts killed workers from the latest (``FailureConfig``), and a rerun with
the same ``run_name`` and storage folder continues where the last one stopped.
The driver then loads the best checkpoint and fits the calibrators on valid.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import ray.train
import torch
from pydantic import BaseModel, ConfigDict, Field
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer, get_device, prepare_data_loader, prepare_model
from torch.utils.data import DataLoader, TensorDataset
from transformers import AutoTokenizer

from adopt.exceptions import InputError
from adopt.response.bert import (
    BertResponse,
    CrossEncoder,
    encode_examples,
    predict_logits,
    response_loss,
)
from adopt.response.calibration import fit_calibrator
from adopt.response.features import Features
from adopt.response.metrics import log_loss, roc_auc

TENSORS = ("input_ids", "attention_mask", "token_type_ids", "tabular", "clicked", "converted")
# Fault injection for tests: "<epoch>:<marker file>" makes the worker process exit once,
# when it starts that epoch and the marker file does not exist yet (it creates it first).
EXIT_ONCE_ENV = "ADOPT_TEST_WORKER_EXIT_ONCE"


class BertTrainConfig(BaseModel):
    """Settings of one BERT fine-tuning run."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_dir: str = Field(description="BERT-family model folder (Hugging Face layout)")
    epochs: int = Field(3, ge=1, description="total epochs, counting those already done")
    batch_size: int = Field(32, ge=1, description="examples per worker per step")
    lr: float = Field(5e-5, gt=0, description="AdamW learning rate of the encoder")
    head_lr: float = Field(1e-3, gt=0, description="AdamW learning rate of fusion and heads")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the heads")
    pooling: str = Field("cls", pattern="^(cls|mean)$", description="cls or mean pooling")
    max_length: int = Field(64, ge=8, description="tokens per (user, ad) pair")
    seed: int = Field(0, description="seed of weights init and batch order")
    num_workers: int | None = Field(None, ge=1, description="workers; None: from the cluster")
    use_gpu: bool | None = Field(None, description="None: use GPUs when the cluster has some")
    max_failures: int = Field(2, ge=0, description="worker failures survived per run")
    calibration: str = Field("auto", pattern="^(auto|platt|isotonic|none)$",
                             description="calibrator fitted on valid")
    freeze_layers: int = Field(0, ge=0, description="lowest encoder layers (and the "
                               "embeddings, when > 0) kept frozen: faster on CPU")


def scaling_for_cluster(
    num_workers: int | None = None, use_gpu: bool | None = None
) -> ScalingConfig:
    """A ScalingConfig from ``ray.cluster_resources()``: one worker per GPU, else one CPU worker.

    The CPU worker asks for all CPUs but one (left to the driver or a Tune trial),
    since Ray caps a worker's torch threads at the CPUs it holds.

    Parameters
    ----------
    num_workers : override the worker count.
    use_gpu : None uses GPUs exactly when the cluster has them; True without
        GPUs is refused rather than left waiting forever.
    """
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if use_gpu and gpus == 0:
        raise ValueError("The 'use_gpu' parameter is True but the Ray cluster has no GPU; "
                         "pass use_gpu=None or False.")
    if use_gpu is None:
        use_gpu = gpus > 0
    if use_gpu:
        return ScalingConfig(num_workers=num_workers or gpus, use_gpu=True)
    # on CPU one multi-threaded worker beats DDP across CPU workers on one machine
    per_worker = max(1, int(resources.get("CPU", 1)) - 1) if num_workers is None else 1
    return ScalingConfig(num_workers=num_workers or 1, use_gpu=False,
                         resources_per_worker={"CPU": per_worker})


def _loader(data: dict[str, np.ndarray], batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    # the object store hands out read-only arrays; torch wants its own copy
    tensors = [torch.tensor(data[k]) for k in TENSORS]
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=shuffle,
                      generator=gen)


def _restore(model: torch.nn.Module) -> dict[str, Any]:
    """Load the latest checkpoint into ``model``; return its training state (fresh if none)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return {"optimizer": None, "epoch": 0, "best_valid_auc": float("-inf"), "history": []}
    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / "state.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state.pop("model"))
    return state


def _maybe_exit(exit_once: str | None, epoch: int) -> None:
    """Kill this worker process once at the given epoch (see `EXIT_ONCE_ENV`)."""
    if not exit_once:
        return
    at, marker = exit_once.split(":", 1)
    if epoch == int(at) and not Path(marker).exists():
        Path(marker).write_text(f"worker exited at epoch {epoch}\n")
        # the controller registers the last reported checkpoint asynchronously: a real
        # failure comes later than the instant after a report, so give it that time
        time.sleep(10)
        os._exit(1)


def train_loop(config: dict[str, Any]) -> None:
    """Per-worker training loop run by ``TorchTrainer`` (see the module docstring)."""
    torch.manual_seed(config["seed"])
    train_data = ray.get(config["train_ref"])
    valid_data = ray.get(config["valid_ref"])
    model = CrossEncoder(config["model_dir"], config["n_tabular"], config["pooling"],
                         config["dropout"])
    model.init_prior(config["click_rate"], config["conversion_rate"])
    model.freeze(config["freeze_layers"])
    state = _restore(model)
    start_epoch, best_auc, history = state["epoch"], state["best_valid_auc"], state["history"]
    model = prepare_model(model)
    bare = getattr(model, "module", model)
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in bare.encoder.parameters() if p.requires_grad],
          "lr": config["lr"]},
         {"params": bare.head_parameters(), "lr": config["head_lr"]}],
        weight_decay=config["weight_decay"],
    )
    if state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    loader = prepare_data_loader(_loader(train_data, config["batch_size"], True, config["seed"]))
    context = ray.train.get_context()
    for epoch in range(start_epoch, config["epochs"]):
        _maybe_exit(config.get("exit_once"), epoch)
        if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)  # a different shuffle per epoch under DDP
        model.train()
        losses = []
        for batch in loader:
            ids, mask, types, tab, clicked, converted = batch
            loss = response_loss(model(ids, mask, types, tab), clicked, converted)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        logits = predict_logits(bare, valid_data, device=get_device())
        p_click = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        y = valid_data["clicked"]
        auc = roc_auc(y, p_click)
        best_auc = max(best_auc, auc)
        metrics = {"epoch": epoch + 1, "start_epoch": start_epoch, "valid_auc": auc,
                   "valid_logloss": log_loss(y, p_click), "best_valid_auc": best_auc,
                   "train_loss": float(np.mean(losses)) if losses else float("nan")}
        history.append(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if context.get_world_rank() == 0:
                torch.save({"model": bare.state_dict(), "optimizer": optimizer.state_dict(),
                            "epoch": epoch + 1, "best_valid_auc": best_auc, "history": history},
                           Path(tmp) / "state.pt")
                (Path(tmp) / "history.json").write_text(json.dumps(history))
                checkpoint = Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)


@dataclass(frozen=True)
class BertTrainResult:
    """What a fine-tuning run produced: the calibrated model and its history.

    ``start_epoch`` is the number of epochs already done when the last training
    session began (0 for a fresh run, k after resuming from epoch k's checkpoint).
    """

    model: BertResponse
    best_valid_auc: float
    best_epoch: int
    epochs_done: int
    start_epoch: int
    checkpoint_path: str
    history: pd.DataFrame  # one row per epoch, across resumed sessions


def train_bert(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    config: BertTrainConfig,
    storage_path: str | Path,
    run_name: str,
    features: Features | None = None,
) -> BertTrainResult:
    """Fine-tune the cross-encoder on Ray Train and calibrate it on ``valid``.

    Parameters
    ----------
    train, valid : examples with ``user_text``, ``ad_text``, ``clicked``, ``converted``
        and tabular features.
    config : the run's settings.
    storage_path : where Ray keeps runs (``WS/models/ray_results``).
    run_name : the run's name; rerunning with the same name resumes it.
    features : tabular columns to fuse; None infers them from ``train``.

    Returns
    -------
    BertTrainResult
    """
    if not ray.is_initialized():
        ray.init()
    features = features or Features()
    feats = features.clone().fit(train)
    tokenizer = AutoTokenizer.from_pretrained(config.model_dir)
    train_data = encode_examples(train, tokenizer, feats, config.max_length)
    valid_data = encode_examples(valid, tokenizer, feats, config.max_length)
    if valid_data["clicked"].min() == valid_data["clicked"].max():
        raise InputError("training_examples", "clicked",
                         "the valid split needs both outcomes to select a checkpoint by AUC")
    loop_config = config.model_dump(include={"model_dir", "epochs", "batch_size", "lr", "head_lr",
                                             "weight_decay", "dropout", "pooling", "seed",
                                             "freeze_layers"})
    loop_config["exit_once"] = os.environ.get(EXIT_ONCE_ENV)
    clicked = train_data["clicked"] == 1
    conversion_rate = float(train_data["converted"][clicked].mean()) if clicked.any() else 0.5
    loop_config |= {"n_tabular": int(train_data["tabular"].shape[1]),
                    "click_rate": float(train_data["clicked"].mean()),
                    "conversion_rate": conversion_rate,
                    "train_ref": ray.put(train_data), "valid_ref": ray.put(valid_data)}
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=loop_config,
        scaling_config=scaling_for_cluster(config.num_workers, config.use_gpu),
        run_config=RunConfig(
            name=run_name,
            storage_path=str(Path(storage_path).resolve()),
            checkpoint_config=CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute="valid_auc",
                checkpoint_score_order="max",
            ),
            failure_config=FailureConfig(max_failures=config.max_failures),
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise InputError("training_examples", None,
                         f"the run {run_name!r} produced no checkpoint; check its logs")
    history = _history(result.checkpoint)
    # a rerun of a finished run trains nothing and reports nothing: fall back to the latest
    kept = result.best_checkpoints or [(result.checkpoint, history.iloc[-1].to_dict())]
    best_ckpt, best_metrics = max(kept, key=lambda cm: cm[1]["valid_auc"])
    settings = {"n_tabular": loop_config["n_tabular"], "pooling": config.pooling,
                "dropout": config.dropout, "max_length": config.max_length}
    model = CrossEncoder(config.model_dir, settings["n_tabular"], config.pooling,
                         config.dropout, pretrained=False)
    with best_ckpt.as_directory() as folder:
        state = torch.load(Path(folder) / "state.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    response = BertResponse(model, tokenizer, feats, settings)
    response.calibrators = _calibrate(response, valid, valid_data, config.calibration)
    return BertTrainResult(
        model=response,
        best_valid_auc=float(best_metrics["valid_auc"]),
        best_epoch=int(best_metrics["epoch"]),
        epochs_done=int(history["epoch"].iloc[-1]),
        start_epoch=int(result.metrics.get("start_epoch", history["epoch"].iloc[-1])),
        checkpoint_path=best_ckpt.path,
        history=history,
    )


def _history(checkpoint: Checkpoint) -> pd.DataFrame:
    """Per-epoch metrics of every session, as kept in the latest checkpoint."""
    with checkpoint.as_directory() as folder:
        return pd.DataFrame(json.loads((Path(folder) / "history.json").read_text()))


def _calibrate(
    response: BertResponse, valid: pd.DataFrame, valid_data: dict[str, np.ndarray], method: str
) -> dict[str, Any]:
    """Calibrators of both heads fitted on valid (conversion on clicked rows, if both outcomes)."""
    if method == "none":
        return {}
    raw = response.raw(valid)
    clicked = valid_data["clicked"]
    out = {"click": fit_calibrator(raw[:, 0], clicked, method)}
    conv = valid_data["converted"][clicked == 1]
    if conv.size and 0 < conv.sum() < conv.size:
        out["conversion"] = fit_calibrator(raw[clicked == 1, 1], conv, method)
    return out
