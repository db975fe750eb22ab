"""Predicted response of any user x ad x placement x frequency position.

Data flow: a trained response model (``WS/models/<run_id>/``) + the
end-of-log feature state (`adopt.curves.state.PairState`) -> counterfactual
rows shaped like ``training_examples`` -> ``model.predict`` in large batches
-> p_click, p_conversion_given_click, p_conversion and expected_revenue per
row. The curve stage averages these over segments; `adopt.curves.recommend`
ranks a user's ads with them.

Revenue: p_conversion x the ad's value per conversion = its price x the
basket factor observed in the logs (logged conversion revenue over the price
of the converted ads), see `adopt.curves.state`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from adopt.curves.state import PairState
from adopt.exceptions import InputError, WorkspaceError
from adopt.progress import Progress
from adopt.workspace import Workspace

BATCH_ROWS = 200_000
OUTPUTS = ("p_click", "p_conversion_given_click", "p_conversion", "expected_revenue")


def load_response_model(workspace: str | os.PathLike[str], model: Any = None) -> tuple[Any, str]:
    """A fitted response model and its name from a model, a run id or None (the latest run)."""
    if model is not None and not isinstance(model, str | os.PathLike):
        return model, type(model).__name__
    from adopt.response.run import latest_run, load_response

    run_id = str(model) if model is not None else latest_run(workspace)
    folder = Workspace.of(workspace).models / run_id
    if not folder.exists():
        raise WorkspaceError(f"No model run {run_id!r} under {folder.parent}; "
                             "run `adopt train` first or pass a known run id.")
    return load_response(folder), run_id


def text_feature_hook(workspace: str | os.PathLike[str], model: Any
                      ) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
    """The function that adds the embedding columns the model reads, or None if it reads none.

    Uses ``adopt.response.text_features.attach_text_features`` with the
    embedding model the response model was trained with.

    Raises
    ------
    InputError
        When the model reads embedding vectors but the text-feature stage is
        not available.
    """
    features = getattr(model, "features_", None)
    vectors = list(getattr(features, "vectors_", []) or [])
    try:
        module = importlib.import_module("adopt.response.text_features")
    except ImportError as exc:
        if not vectors:
            return None
        raise InputError("training_examples", vectors[0],
                         "the model reads embedding vectors, but adopt.response.text_features "
                         "is not available to attach them to new rows") from exc
    added = set(getattr(module, "ADDED_COLUMNS", ()))
    if not vectors and not added & set(required_columns(model)):
        return None
    model_id = getattr(features, "embedding_model_id", None)
    return lambda df: module.attach_text_features(workspace, df, model_id=model_id)


def required_columns(model: Any) -> list[str]:
    """Input columns the model's fitted `Features` reads."""
    features = getattr(model, "features_", None)
    if features is None or not hasattr(features, "numeric_"):
        return []
    return [*features.numeric_, *features.categorical_, *getattr(features, "vectors_", [])]


def predict_rows(state: PairState, model: Any, u: np.ndarray, a: np.ndarray, p: np.ndarray,
                 k: np.ndarray, *, attach: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                 batch_rows: int = BATCH_ROWS, progress: Progress | None = None
                 ) -> dict[str, np.ndarray]:
    """Predictions for index arrays of users, ads, placements and positions (see `PairState`).

    Returns a dict of float arrays named as `OUTPUTS`, each of the inputs' length.
    Predicts in batches of `batch_rows` so memory stays bounded; `progress`
    (optional) counts the rows.

    Raises
    ------
    InputError
        When the model reads a feature the counterfactual rows do not have.
    """
    n = len(u)
    out = {name: np.zeros(n) for name in OUTPUTS}
    needed = required_columns(model)
    value = state.ads["value_per_conversion"].to_numpy(dtype=float)
    for lo in range(0, n, batch_rows):
        hi = min(lo + batch_rows, n)
        rows = state.rows(u[lo:hi], a[lo:hi], p[lo:hi], k[lo:hi])
        if attach is not None:
            rows = attach(rows)
        missing = [c for c in needed if c not in rows.columns]
        if missing:
            raise InputError("training_examples", missing[0],
                             f"the model reads {missing} but counterfactual rows cannot be "
                             "built with them")
        pred = model.predict(rows)
        click = pred["p_click"].to_numpy(dtype=float)
        out["p_click"][lo:hi] = click
        if "p_conversion_given_click" in pred:
            pcc = pred["p_conversion_given_click"].to_numpy(dtype=float)
            out["p_conversion_given_click"][lo:hi] = pcc
            out["p_conversion"][lo:hi] = click * pcc
        if progress is not None:
            progress.update(hi - lo)
    out["expected_revenue"] = out["p_conversion"] * value[a]
    return out


def predict_pairs(
    workspace: str | os.PathLike[str],
    model: Any,
    user_ids: object,
    ad_ids: object,
    placement_ids: object,
    k: object = 1,
    *,
    as_of: str | datetime | None = None,
    state: PairState | None = None,
) -> pd.DataFrame:
    """Predicted response of each (user, ad, placement, k): the counterfactual impression.

    Parameters
    ----------
    workspace : path
        Workspace with a built warehouse (profiles).
    model : fitted response model, run id or None
        A model object with ``predict``, a run id under ``WS/models``, or None
        for the latest run.
    user_ids, ad_ids, placement_ids : str or array-like of str
        Broadcast together (a scalar repeats).
    k : int or array-like of int
        Position of the impression in the user x campaign sequence (1 = first).
    as_of : str or datetime, optional
        Reference time of the features (default: the first midnight after the
        end of the log, see `PairState.load`).
    state : PairState, optional
        A loaded state to reuse across calls (skips reading the warehouse).

    Returns
    -------
    DataFrame
        user_id, ad_id, campaign_id, placement_id, k, p_click,
        p_conversion_given_click, p_conversion, expected_revenue.

    Raises
    ------
    InputError
        An unknown id, k < 1, or a feature of the model that cannot be built.
    """
    fitted, _ = load_response_model(workspace, model)
    state = state or PairState.load(workspace, as_of)
    users, ads, pls, ks = np.broadcast_arrays(
        np.asarray(user_ids, dtype=object), np.asarray(ad_ids, dtype=object),
        np.asarray(placement_ids, dtype=object), np.asarray(k))
    users, ads, pls = (np.atleast_1d(x) for x in (users, ads, pls))
    ks = np.atleast_1d(ks).astype(np.int64)
    if (ks < 1).any():
        raise InputError("pairs", "k", "frequency positions start at 1",
                         int(np.flatnonzero(ks < 1)[0]) + 1)
    u, a, p = state.user_index(users), state.ad_index(ads), state.placement_index(pls)
    pred = predict_rows(state, fitted, u, a, p, ks, attach=text_feature_hook(workspace, fitted))
    frame = pd.DataFrame({
        "user_id": users.astype(str), "ad_id": ads.astype(str),
        "campaign_id": state.ads["campaign_id"].to_numpy()[a], "placement_id": pls.astype(str),
        "k": ks,
    })
    for name in OUTPUTS:
        frame[name] = pred[name]
    return frame
