"""Each creative predicted by a model that never saw it: the response model refitted by creative.

Data flow: a fitted `LightGBMResponse` + the train and valid rows it learnt
from -> `fit_creative_folds`: the logged creatives dealt into `FOLDS` folds,
the model refitted once per fold on the rows of the other folds' creatives
(`LightGBMResponse.refit`: the same features, rounds, parameters and
calibrators) -> saved beside the model (``creative_folds/``) -> `held_out`:
a predictor that answers each row with the refit that never saw its
creative -> the expectation the curve stage weighs each creative's logged
outcomes against (`adopt.curves.creatives`); the curves read the model itself,
moved by those effects.

Why: the trees fit every logged creative in sample, through what tells it
apart from the others (its price, the components of its text), and with it
the luck of its few hundred clicks and few conversions. The creative effects
(`adopt.curves.creatives`) then measured what was left of a creative on the
model's own rows, where the trees had already absorbed most of it, and shrank
every creative by the spread of that remainder: a creative launched late,
which the trees had fitted little, was shrunk as hard as one they had fitted
for weeks, and the plan bought the creatives whose luck the trees had
learnt. Predicted by a model that never saw it, a creative is what its
price, text, brand and category say; its own logs then enter once, as an
effect shrunk by the spread the logs show between such predictions and the
outcomes (a few pseudo-clicks instead of hundreds; docs/curves.md, session 13).

A creative that no fold holds (not in the rows the model learnt from) is
answered by the model itself. Refits cost one booster per target and fold at
the model's own rounds: no early stop, no validation.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from adopt.workspace import atomic_path

if TYPE_CHECKING:  # loaded where a model is: the curve stage imports this without LightGBM
    from adopt.response.lgbm import LightGBMResponse

log = logging.getLogger("adopt")

FOLDS = 5  # refits; each learns from four fifths of the creatives
FOLDER = "creative_folds"  # beside the model's files in its run folder


@dataclass
class CreativeFolds:
    """The model's refits and which of them never saw each creative.

    Attributes
    ----------
    fold_of : dict
        ad_id -> the fold holding that creative (its rows are left out of that refit).
    models : list of LightGBMResponse
        One refit per fold.
    """

    fold_of: dict[str, int]
    models: list[LightGBMResponse]

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write each refit's boosters and linear bases, and the folds, under
        ``folder/creative_folds`` (the rest of a refit is the model's)."""
        from adopt.response.lgbm import save_boosters

        root = Path(folder) / FOLDER
        for i, model in enumerate(self.models):
            save_boosters(model.boosters_, root / f"fold_{i}")
        bases = [{t: b.to_dict() for t, b in m.bases_.items()} for m in self.models]
        # keys as they come: a base's categories are in the order of its coefficients
        with atomic_path(root / "folds.json") as tmp:
            tmp.write_text(json.dumps({"folds": len(self.models), "fold_of": self.fold_of,
                                       "linear_bases": bases}, indent=1))
        return root

    @classmethod
    def load(cls, folder: str | os.PathLike[str], model: LightGBMResponse | None = None
             ) -> CreativeFolds | None:
        """The folds saved in a run folder, or None where it has none; ``model``: the run's
        model, whose refits they are (default: loaded from ``folder``)."""
        root = Path(folder) / FOLDER
        if not (root / "folds.json").exists():
            return None
        from adopt.response.lgbm import LightGBMResponse, load_boosters
        from adopt.response.linear import LinearLogit

        model = model if model is not None else LightGBMResponse.load(folder)
        state = json.loads((root / "folds.json").read_text())
        models = [model.with_boosters(
            load_boosters(root / f"fold_{i}", model.boosters_),
            {t: LinearLogit.from_dict(b) for t, b in bases.items()})
            for i, bases in enumerate(state["linear_bases"])]
        return cls({str(k): int(v) for k, v in state["fold_of"].items()}, models)

    def record(self) -> dict[str, int]:
        """What a model card and curves.json say: folds and creatives."""
        return {"folds": len(self.models), "creatives": len(self.fold_of)}


def deal_creatives(ad_ids: pd.Series, folds: int, seed: int) -> dict[str, int]:
    """Each distinct creative's fold: the sorted ids permuted by ``seed``, dealt in turn."""
    ads = np.sort(pd.unique(ad_ids.astype(str)))
    order = np.random.default_rng(seed).permutation(len(ads))
    return {str(ads[i]): int(rank % folds) for rank, i in enumerate(order)}


def fit_creative_folds(model: LightGBMResponse, train: pd.DataFrame, valid: pd.DataFrame,
                       folds: int = FOLDS) -> CreativeFolds | None:
    """Refit ``model`` once per fold of creatives, each time without that fold's rows.

    Returns None (and logs why) when there are fewer than two creatives per fold.
    """
    ad_ids = pd.concat([train["ad_id"], valid["ad_id"]]).astype(str)
    creatives = ad_ids.nunique()
    if creatives < 2 * folds:
        log.info("lightgbm: %d creatives, too few for %d folds by creative; the curves read "
                 "the model in sample", creatives, folds)
        return None
    fold_of = deal_creatives(ad_ids, folds, model.seed)
    train_fold = train["ad_id"].astype(str).map(fold_of).to_numpy()
    valid_fold = valid["ad_id"].astype(str).map(fold_of).to_numpy()
    models = []
    for f in range(folds):
        log.info("lightgbm: refit %d of %d, without %d creatives", f + 1, folds,
                 sum(v == f for v in fold_of.values()))
        models.append(model.refit(train.loc[train_fold != f], valid.loc[valid_fold != f]))
    return CreativeFolds(fold_of, models)


class HeldOut:
    """A response model whose every logged creative is predicted by the refit that never saw it.

    ``predict`` returns what the model's ``predict`` does, row for row; rows of
    a creative no fold holds come from the model itself.
    """

    def __init__(self, model: LightGBMResponse, folds: CreativeFolds) -> None:
        self.model = model
        self.folds = folds
        self.features_ = model.features_

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        fold = rows["ad_id"].astype(str).map(self.folds.fold_of).fillna(-1).astype(int)
        fold = fold.to_numpy()
        parts = []
        for f in np.unique(fold):
            at = np.flatnonzero(fold == f)
            model = self.model if f < 0 else self.folds.models[f]
            parts.append(model.predict(rows.iloc[at]).set_axis(at, axis=0))
        out = pd.concat(parts).sort_index() if parts else self.model.predict(rows)
        return out.set_axis(rows.index, axis=0)


def held_out(model: Any) -> Any:
    """``model`` as `HeldOut` where it carries creative folds (``creative_folds_``), else itself."""
    folds = getattr(model, "creative_folds_", None)
    return HeldOut(model, folds) if folds is not None else model
