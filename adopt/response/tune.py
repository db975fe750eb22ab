"""Small hyperparameter searches for the response models, on Ray Tune, scored on valid.

A handful of trials, each fitted on the train split and scored on the valid
split (click log loss for LightGBM, best valid AUC for BERT). The best trial's
settings are what the final model trains with, and every trial is recorded in
the model card. Trials run as Ray Tune tasks, so a cluster spreads them; the
BERT trials each start their own ``TorchTrainer`` (one trial at a time).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import log_loss, roc_auc

LGBM_SPACE: dict[str, Any] = {
    "num_leaves": tune.choice([7, 15, 31, 63]),
    "learning_rate": tune.loguniform(0.02, 0.2),
    "min_child_samples": tune.choice([10, 50, 200]),
}
BERT_SPACE: dict[str, Any] = {
    "lr": tune.choice([2e-5, 5e-5, 1e-4]),
    "dropout": tune.choice([0.0, 0.1, 0.2]),
}


@dataclass(frozen=True)
class TuneResult:
    """The best settings found and one row per trial (settings + valid metrics)."""

    best: dict[str, Any]
    trials: pd.DataFrame

    def records(self) -> list[dict[str, Any]]:
        """Trials as plain dicts, for the model card."""
        return self.trials.to_dict(orient="records")


def _lgbm_trial(config: dict[str, Any], train: pd.DataFrame, valid: pd.DataFrame,
                fixed: dict[str, Any], features: Features | None) -> None:
    model = LightGBMResponse(features=features, params=fixed | config, calibration="none",
                             conversion=False)
    model.fit(train, valid)
    p = model.predict_click(valid)
    y = valid["clicked"].to_numpy()
    tune.report({"valid_logloss": log_loss(y, p), "valid_auc": roc_auc(y, p),
                 "best_iteration": model.best_iteration_["click"]})


def _run(trainable: Any, space: dict[str, Any], metric: str, mode: str, num_samples: int,
         seed: int, storage_path: str | Path | None, name: str, concurrent: int | None
         ) -> TuneResult:
    if not ray.is_initialized():
        ray.init()
    storage = Path(storage_path) if storage_path else Path(tempfile.mkdtemp(prefix="adopt_tune_"))
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=metric, mode=mode, num_samples=num_samples,
            search_alg=BasicVariantGenerator(random_state=seed),
            max_concurrent_trials=concurrent,
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(storage.resolve()), verbose=0),
    )
    grid = tuner.fit()
    rows = []
    for result in grid:
        if result.error is not None:
            raise result.error
        rows.append({**result.config, metric: result.metrics[metric]}
                    | {k: v for k, v in result.metrics.items() if k.startswith("valid_")
                       or k == "best_iteration"})
    trials = pd.DataFrame(rows).sort_values(metric, ascending=(mode == "min"), ignore_index=True)
    best = grid.get_best_result().config
    return TuneResult(best=dict(best), trials=trials)


def tune_lightgbm(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    num_samples: int = 6,
    space: dict[str, Any] | None = None,
    fixed_params: dict[str, Any] | None = None,
    seed: int = 0,
    storage_path: str | Path | None = None,
    name: str = "tune_lightgbm",
    features: Features | None = None,
) -> TuneResult:
    """Search LightGBM click-model parameters; each trial scores valid log loss.

    Parameters
    ----------
    train, valid : the time split's first two parts.
    num_samples : trials to run.
    space : Ray Tune search space; default `LGBM_SPACE` (num_leaves, learning_rate,
        min_child_samples).
    fixed_params : LightGBM parameters every trial shares (e.g. ``num_threads``).
    seed : seed of the random search.
    storage_path : where Ray Tune keeps its results (a temporary folder if None).
    name : the Tune experiment name.
    features : the feature choice every trial uses (None: inferred from train).

    Returns
    -------
    TuneResult
        ``best`` holds the winning parameters, ready for ``LightGBMResponse(params=...)``.
    """
    trainable = tune.with_resources(
        tune.with_parameters(_lgbm_trial, train=train, valid=valid,
                             fixed={"num_threads": 1} | dict(fixed_params or {}),
                             features=features),
        {"cpu": 1},
    )
    return _run(trainable, space or LGBM_SPACE, "valid_logloss", "min", num_samples, seed,
                storage_path, name, None)


def _bert_trial(config: dict[str, Any], train: pd.DataFrame, valid: pd.DataFrame,
                base: dict[str, Any], storage: str) -> None:
    from adopt.response.train_bert import BertTrainConfig, train_bert

    settings = BertTrainConfig(**(base | config))
    run_name = "trial_" + "_".join(f"{k}{v}" for k, v in sorted(config.items()))
    result = train_bert(train, valid, settings, storage_path=storage, run_name=run_name)
    tune.report({"valid_auc": result.best_valid_auc, "best_epoch": result.best_epoch})


def tune_bert(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    base: dict[str, Any],
    num_samples: int = 3,
    space: dict[str, Any] | None = None,
    seed: int = 0,
    storage_path: str | Path | None = None,
    name: str = "tune_bert",
) -> TuneResult:
    """Search BERT fine-tuning settings (default: ``lr``, ``dropout``) by best valid AUC.

    Parameters
    ----------
    train, valid : the time split's first two parts.
    base : the other `BertTrainConfig` fields (``model_dir``, ``epochs``, ...).
    num_samples : trials to run, one at a time (each runs its own TorchTrainer).
    space : Ray Tune search space; default `BERT_SPACE`.
    seed : seed of the random search.
    storage_path : where the trials' Ray Train and Tune results go.
    name : the Tune experiment name.
    """
    storage = Path(storage_path) if storage_path else Path(tempfile.mkdtemp(prefix="adopt_tune_"))
    # the trial only waits on its trainer, whose workers hold the CPUs / GPUs: a sliver of CPU
    trainable = tune.with_resources(
        tune.with_parameters(_bert_trial, train=train, valid=valid, base=dict(base),
                             storage=str(storage.resolve() / f"{name}_trials")),
        {"cpu": 0.1},
    )
    return _run(trainable, space or BERT_SPACE, "valid_auc", "max", num_samples, seed,
                storage, name, 1)
