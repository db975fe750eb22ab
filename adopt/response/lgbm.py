"""LightGBM response models: p(click) per impression and p(conversion | click).

Reads the examples of ``training_examples`` (tabular history features,
native categoricals, optional user/ad embedding vectors and their cosine, see
`Features`). Each target gets a booster trained on the train split with early
stopping on the valid split, an optional negative downsampling whose bias is
corrected exactly, and a calibrator fitted on the valid split. Curves and
plans read the calibrated ``p_click`` and ``p_conversion``.

A valid split with few positives (under ``min_valid_positives``, typically the
conversions of a day or two) makes both the early stop and the calibrator
noise: on the demo world one valid day holds ~25 conversions, the conversion
booster stopped after a handful of rounds and barely told a cheap product
from a dear one. Such a target's rounds are then chosen in one of two ways
(the model card's ``hyperparameters.targets.<target>.method`` says which):

- ``"time_window"``: the validation window grows back in time, a whole day at a
  time, over the latest train days until it holds ``min_valid_positives``
  positives. A booster fitted on the earlier days stops early on the window
  and its window predictions fit the calibrator; the final booster learns
  from all train and valid rows with the rounds found. This is one early-stopped
  fit and one refit where 5-fold cross-validation made five and a refit
  (bench/train_bench.py), and it validates as the model is used: on days it
  has not seen. Taken when the target has `SMALL_DATA_POSITIVES` positives or
  more over train and valid, the window stays under `MAX_WINDOW_SHARE` of the
  rows and the earlier days keep ``min_valid_positives`` positives too.
- ``"cv5"``, the fallback for thin data (or ``validation="cv"``): stratified folds
  over the train and valid rows choose the number of rounds, the folds'
  out-of-fold predictions fit the calibrator (each predicted by a booster that
  never saw it), and the final booster learns from all those rows.

Where a booster is trained is the ``engine``'s choice: ``"local"`` in this
process, ``"ray"`` on Ray Train's ``LightGBMTrainer`` (data-parallel workers,
`adopt.response.ray_lgbm`), ``"auto"`` the latter from `RAY_MIN_ROWS` rows
on or when the driver has joined a cluster of several nodes. On one machine
Ray's workers share the cores LightGBM's own threads already use, and starting
them costs seconds, so small data stays local; `RAY_MIN_ROWS` is a provisional
threshold (bench/train_bench.py measures the engines side by side; the
crossover on a cluster is not measured yet). Cross-validation of a thin target
always runs locally.

Every target starts its booster from a logistic regression over the same
features (`adopt.response.linear`): smooth trends such as price survive a thin
target's shallow trees, and a trend carries on past the users the logging
policy showed a campaign, where trees alone stay flat at the edge of what was
logged and a plan buys exactly there (a line under the click trees: plan /
oracle 0.860 -> 0.868 and forecasts outside 0.85-1.15 of delivery 2 -> 1 on
fourteen generated worlds, docs/curves.md session 11).

The impression's position in the user's sequence (`POSITIONS`: ``k_ad``,
``k_campaign``) and where it was shown (`PLACEMENT_COLUMNS`) are read by the click
target alone (`CLICK_ONLY`). Each placement's conversions per click come from its own
logged clicks' outcomes as a shrunk factor (`adopt.response.placement_factors`): read as
features by a target with some 70 conversions a placement, the placement columns gave
every curve of a placement the noise of its conversions. As for the position, a user
tires of seeing an ad, and that shows in whether they click; conversions per click are
modelled as not falling with k, so conversions fall with the clicks. The conversion
target fits on a few hundred to a few thousand clicked rows, where its trees
read a run of luck at one k as an effect: on a generated world with 18% more
conversions than expected among the logged first impressions the model carried
+17% at k = 1 into every curve (docs/curves.md session 12). The click base reads
each position up to `POSITION_STEPS` as a step of its own (`position_steps`), so
that the fall with k has no fixed form in the line either.

A target with many positives (`SMALL_DATA_POSITIVES` or more: clicks,
typically) fits on every positive and at most `NEGATIVES_PER_POSITIVE`
negatives per positive, drawn at random with the seed: past a few thousand
positives the extra negatives cost fitting time and add little, since the
positives limit what a leaf can learn. Only fitting rows are thinned; the
valid days or the time window keep every row, the early stop scores them on
the true scale and the calibrator sees the exactly corrected predictions
(`adopt.response.sampling`). On the demo world this cut the click target's
boosting work (rows times rounds) about sixfold at the same test AUC
(docs/response.md).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

from adopt.configs import TrainConfig
from adopt.exceptions import InputError, NotFittedError
from adopt.response.calibration import calibrator_from_dict, fit_calibrator
from adopt.response.features import Features
from adopt.response.linear import LinearLogit
from adopt.response.placement_factors import PlacementFactors, fit_placement_factors
from adopt.response.sampling import correct_downsampled, downsample_mask
from adopt.workspace import atomic_path

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "verbose": -1,
}
# A target with fewer training positives (conversions, typically) gets shallow, strongly
# regularised trees: on the demo world's ~450 conversions, 3-leaf trees tracked the true
# p(conversion | click) per ad better than 31-leaf ones (logit correlation 0.60 against 0.46).
SMALL_DATA_POSITIVES = 2000
SMALL_DATA_PARAMS: dict[str, Any] = {
    "num_leaves": 3,
    "min_child_samples": 200,
    "lambda_l2": 10.0,
    "feature_fraction": 0.7,
}
# A target with this many training positives or more fits on all its positives and on
# at most this many negatives per positive, drawn at random (module docstring).
NEGATIVES_PER_POSITIVE = TrainConfig.default("negatives_per_positive")
TARGETS = ("click", "conversion")
# Fewer valid positives than this: a time window, else cross-validation (module docstring).
MIN_VALID_POSITIVES = 200
# Where the impression falls in the user's sequence of the ad and of its campaign.
POSITIONS = ("k_ad", "k_campaign")
# Where the impression was shown: the placement and what training_examples carries of it.
PLACEMENT_COLUMNS = ("placement_id", "format", "cpm")
# Read by the click target only (module docstring); conversions per click get each
# placement's shrunk factor instead (`adopt.response.placement_factors`).
CLICK_ONLY = POSITIONS + PLACEMENT_COLUMNS
# The click base reads each position up to this one as a step of its own (`position_steps`).
POSITION_STEPS = 10
CV_FOLDS = 5
# The time window may take at most this share of the train + valid rows.
MAX_WINDOW_SHARE = 0.3
VALIDATIONS = ("time", "cv")
ENGINES = ("auto", "local", "ray")
# engine="auto" trains on Ray from this many fitting rows on (provisional: module docstring).
RAY_MIN_ROWS = 2_000_000


log = logging.getLogger("adopt")


def _has_conversions(train: pd.DataFrame, valid: pd.DataFrame) -> bool:
    """Whether both splits' clicks carry both conversion outcomes (click-only logs do not)."""
    for part in (train, valid):
        if "converted" not in part.columns:
            return False
        y = part.loc[part["clicked"].astype(bool), "converted"].fillna(False).astype(int)
        if y.size == 0 or y.min() == y.max():
            log.info("lightgbm: no conversion outcomes to learn from; click model only")
            return False
    return True


def _rows_for(target: str, df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows and labels a target learns from: every impression for click, clicks for conversion."""
    label = "clicked" if target == "click" else "converted"
    if label not in df.columns:
        raise InputError("training_examples", label, f"the {target} model needs this label column")
    if target == "conversion":
        df = df.loc[df["clicked"].to_numpy() == 1]
    return df, df[label].to_numpy(dtype=float)


class LightGBMResponse:
    """Calibrated gradient-boosted models of p(click) and p(conversion | click).

    Parameters
    ----------
    features : which columns to read; None infers them from the train split.
    params : LightGBM parameters, merged over `DEFAULT_PARAMS`.
    num_boost_round : the most boosting rounds.
    early_stopping_rounds : stop when valid log loss has not improved this long.
    downsample_rate : keep this fraction of every target's negatives in its fitting
        rows; None leaves it to ``negatives_per_positive``. Predictions are corrected
        back to the true scale before calibration.
    negatives_per_positive : a target with `SMALL_DATA_POSITIVES` training positives
        or more, and more negatives than this per positive, keeps this many per
        positive (the rate is on the card); 0 keeps them all.
    calibration : ``"auto"``, ``"platt"``, ``"isotonic"`` or ``"none"``; fitted on valid.
    conversion : also fit p(conversion | click); None fits it when the clicks of both
        splits carry both conversion outcomes (click-only logs get the click model alone).
    min_valid_positives : a target whose valid split has fewer positives chooses
        its rounds on a time window or by cross-validation (module docstring);
        0 never does.
    validation : ``"time"`` (valid split, else a time window, else 5-fold
        cross-validation) or ``"cv"`` (valid split, else cross-validation).
    engine : ``"local"``, ``"ray"`` (Ray Train's LightGBMTrainer) or ``"auto"``
        (Ray from `RAY_MIN_ROWS` fitting rows on, when ``num_workers`` is set or
        when this process has joined a Ray cluster of several nodes).
    num_workers : Ray Train workers; None: one per CPU of the cluster, at most 8.
    storage_path : where Ray Train keeps its runs (a temporary folder if None).
    linear_base : start each booster from a `LinearLogit` (module docstring).
    seed : seed of LightGBM, of the downsampling and of the folds.

    Attributes
    ----------
    best_iteration_ : dict
        Boosting rounds kept per target.
    stopping_ : dict
        Per target, how the rounds and the calibrator were chosen (``method``:
        ``"valid"``, ``"time_window"`` or ``"cv5"``, 5-fold cross-validation), the
        positives behind that choice, the share of negatives its fitting rows kept
        (``downsample_rate``, None for all), the LightGBM ``params`` it trained
        with and the ``engine`` (``"local"`` or ``"ray"`` with its ``workers``).
    downsample_ : dict
        Per target, that share of negatives (None: all); predictions are corrected by it.
    skipped_ : dict
        Per target, the feature columns it does not read (`CLICK_ONLY` for conversions).
    """

    def __init__(
        self,
        features: Features | None = None,
        params: dict[str, Any] | None = None,
        num_boost_round: int = 1000,
        early_stopping_rounds: int = 50,
        downsample_rate: float | None = None,
        negatives_per_positive: float = NEGATIVES_PER_POSITIVE,
        calibration: str = "auto",
        conversion: bool | None = None,
        min_valid_positives: int = MIN_VALID_POSITIVES,
        linear_base: bool = True,
        validation: str = "time",
        engine: str = "auto",
        num_workers: int | None = None,
        storage_path: str | os.PathLike[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.features = features
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.downsample_rate = downsample_rate
        self.negatives_per_positive = negatives_per_positive
        self.calibration = calibration
        self.conversion = conversion
        self.min_valid_positives = min_valid_positives
        self.linear_base = linear_base
        self.validation = validation
        self.engine = engine
        self.num_workers = num_workers
        self.storage_path = storage_path
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (features as their column choice;
        not ``storage_path``, a place rather than a setting of the model)."""
        out = {k: v for k, v in vars(self).items() if not k.endswith("_")}
        out["params"] = dict(self.params or {})
        if self.features is not None:
            out["features"] = self.features.get_params()
        out.pop("storage_path", None)  # where Ray keeps runs: not part of the model
        return out

    def lgb_params(self, positives: int | None = None) -> dict[str, Any]:
        """The LightGBM parameters a target with `positives` training positives trains with.

        `SMALL_DATA_PARAMS` apply under `SMALL_DATA_POSITIVES`; ``params`` win over both.
        """
        small = positives is not None and positives < SMALL_DATA_POSITIVES
        return (DEFAULT_PARAMS | (SMALL_DATA_PARAMS if small else {}) | {"seed": self.seed}
                | dict(self.params or {}))

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> LightGBMResponse:
        """Fit the boosters on ``train``, stop early and calibrate on ``valid``; returns self."""
        if self.calibration not in ("auto", "platt", "isotonic", "none"):
            raise ValueError(
                "The 'calibration' parameter of LightGBMResponse must be one of 'auto', "
                f"'platt', 'isotonic', 'none'. Got {self.calibration!r} instead."
            )
        for name, allowed in (("validation", VALIDATIONS), ("engine", ENGINES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"The {name!r} parameter of LightGBMResponse must be one of "
                                 f"{allowed}. Got {getattr(self, name)!r} instead.")
        features = self.features or Features()
        self.features_ = features.clone().fit(train)
        targets = ["click"]
        if self.conversion or (self.conversion is None and _has_conversions(train, valid)):
            targets.append("conversion")
        self.boosters_: dict[str, lgb.Booster] = {}
        self.calibrators_: dict[str, Any] = {}
        self.best_iteration_: dict[str, int] = {}
        self.stopping_: dict[str, dict[str, Any]] = {}
        self.bases_: dict[str, LinearLogit] = {}
        self.downsample_: dict[str, float | None] = {}
        self.skipped_ = {"conversion": [c for c in CLICK_ONLY if c in self.features_.names_]}
        self.placement_factors_: PlacementFactors | None = None
        for target in targets:
            self._fit_target(target, train, valid)
        if "conversion" in targets and "placement_id" in train.columns:
            (tr, y_tr), (va, y_va) = (_rows_for("conversion", d) for d in (train, valid))
            clicks = pd.concat([tr, va])
            self.placement_factors_ = fit_placement_factors(
                clicks["placement_id"], np.concatenate([y_tr, y_va]),
                self.predict_conversion(clicks))
        return self

    def _fit_target(self, target: str, train: pd.DataFrame, valid: pd.DataFrame) -> None:
        tr, y_tr = _rows_for(target, train)
        va, y_va = _rows_for(target, valid)
        for part, y in (("train", y_tr), ("valid", y_va)):
            if y.size == 0 or y.min() == y.max():
                raise InputError(
                    "training_examples", "converted" if target == "conversion" else "clicked",
                    f"the {part} split needs both outcomes to fit the {target} model; "
                    f"it has {y.size} rows and {int(y.sum())} positives: give the valid split "
                    "more of the log (valid_days, valid_frac)",
                )
        rate = self.downsample_[target] = self._rate_for(np.concatenate([y_tr, y_va]))
        if rate is not None:
            log.info("lightgbm %s: fitting on every positive and %.3g of the negatives",
                     target, rate)
        if y_va.sum() < self.min_valid_positives:
            rows, y = pd.concat([tr, va]), np.concatenate([y_tr, y_va])
            thin = y.sum() < SMALL_DATA_POSITIVES  # few positives: every one counts, folds
            window = None if thin or self.validation == "cv" else self._time_window(rows, y)
            if window is not None:
                log.info("lightgbm %s: the valid split has %d positives (< %d): rounds on the "
                         "latest %d day(s), %d positives", target, int(y_va.sum()),
                         self.min_valid_positives, window[1], int(y[window[0]].sum()))
                self._fit_time_window(target, rows, y, window[0], window[1], rate)
                return
            log.info("lightgbm %s: the valid split has %d positives (< %d): cross-validating",
                     target, int(y_va.sum()), self.min_valid_positives)
            self._fit_cross_validated(target, rows, y, rate)
            return
        if rate is not None:
            keep = downsample_mask(y_tr, rate, self.seed)
            tr, y_tr = tr.loc[keep], y_tr[keep]
        x_tr, x_va = self._frame(target, tr), self._frame(target, va)
        base_tr = base_va = None
        if self.linear_base:
            base, base_tr = self._fit_base(x_tr, y_tr)
            self.bases_[target] = base
            base_va = self._base_logit(base, x_va)
        params = self.lgb_params(int(y_tr.sum()))
        booster, engine = self._train(params, x_tr, y_tr, base_tr, tr,
                                      valid=(x_va, y_va, _true_scale(base_va, len(y_va), rate)),
                                      name=f"{target}_valid")
        self.boosters_[target] = booster
        self.best_iteration_[target] = _rounds_of(booster)
        self.stopping_[target] = {"method": "valid", "rounds": self.best_iteration_[target],
                                  "valid_positives": int(y_va.sum()), "downsample_rate": rate,
                                  "params": params, "linear_base": target in self.bases_,
                                  **engine}
        if self.calibration != "none":
            raw = self._raw(target, x_va)
            self.calibrators_[target] = fit_calibrator(raw, y_va, self.calibration)

    def _fit_cross_validated(self, target: str, rows: pd.DataFrame, y: np.ndarray,
                             rate: float | None) -> None:
        """Rounds by stratified k-fold, calibrator on out-of-fold predictions, booster on all."""
        folds = _stratified_folds(y, CV_FOLDS, self.seed)
        if rate is not None:  # negatives are dropped from fitting rows only
            keep = downsample_mask(y, rate, self.seed)
            folds = [(fit[keep[fit]], held) for fit, held in folds]
        x = self._frame(target, rows)
        fit = np.arange(len(y)) if rate is None else np.flatnonzero(keep)
        base_oof = None
        if self.linear_base:
            # cross-fitted: a row's base logit comes from the regression of the other folds
            base_oof = np.empty(len(y))
            for fold_fit, held in folds:
                base = LinearLogit().fit(self._base_view(x.iloc[fold_fit]), y[fold_fit])
                base_oof[held] = self._base_logit(base, x.iloc[held])
        data = lgb.Dataset(x, y, init_score=base_oof,
                           categorical_feature=self._categorical(x), free_raw_data=False)
        params = self.lgb_params(int(y.sum()))
        result = lgb.cv(
            params, data, num_boost_round=self.num_boost_round, folds=folds,
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            return_cvbooster=True,
        )
        cv_booster = result["cvbooster"]
        rounds = int(cv_booster.best_iteration)
        out_of_fold = np.empty(len(y))
        for booster, (_, held) in zip(cv_booster.boosters, folds, strict=True):
            score = booster.predict(x.iloc[held], num_iteration=rounds, raw_score=True)
            out_of_fold[held] = score if base_oof is None else score + base_oof[held]
        out_of_fold = expit(out_of_fold)
        base_fit = None
        if base_oof is not None:
            self.bases_[target], base_fit = self._fit_base(x.iloc[fit], y[fit])
        final = lgb.Dataset(x.iloc[fit], y[fit], init_score=base_fit,
                            categorical_feature=self._categorical(x))
        booster = lgb.train(params, final, num_boost_round=rounds)
        self.boosters_[target] = booster
        self.best_iteration_[target] = rounds
        self.stopping_[target] = {"method": f"cv{CV_FOLDS}", "rounds": rounds,
                                  "positives": int(y.sum()), "downsample_rate": rate,
                                  "params": params, "linear_base": target in self.bases_,
                                  "engine": "local"}
        log.info("lightgbm %s: %d-fold cross-validation over %d rows (%d positives) chose %d "
                 "rounds", target, CV_FOLDS, len(y), int(y.sum()), rounds)
        if self.calibration != "none":
            if rate is not None:
                out_of_fold = correct_downsampled(out_of_fold, rate)
            self.calibrators_[target] = fit_calibrator(out_of_fold, y, self.calibration)

    def _time_window(self, rows: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, int] | None:
        """The latest whole days holding ``min_valid_positives`` positives, as a row mask
        and a day count; None when no such window leaves enough before it (module docstring)."""
        if "ts" not in rows.columns:
            return None
        days = pd.to_datetime(rows["ts"]).dt.floor("D").to_numpy()
        distinct = np.sort(pd.unique(days))[::-1]
        if len(distinct) < 2:
            return None
        positives = pd.Series(y).groupby(days).sum().reindex(distinct).to_numpy()
        enough = np.flatnonzero(np.cumsum(positives) >= self.min_valid_positives)
        if len(enough) == 0 or enough[0] + 1 >= len(distinct):
            return None
        n_days = int(enough[0]) + 1
        window = days >= distinct[n_days - 1]
        if (window.mean() > MAX_WINDOW_SHARE
                or y[~window].sum() < max(self.min_valid_positives, 1)
                or y[~window].min() == y[~window].max()):
            return None
        return window, n_days

    def _fit_time_window(self, target: str, rows: pd.DataFrame, y: np.ndarray,
                         window: np.ndarray, n_days: int, rate: float | None) -> None:
        """Rounds by early stopping on the latest days, calibrator on them, booster on all."""
        if rate is not None:  # negatives are dropped from fitting rows only, never the window's
            keep = downsample_mask(y, rate, self.seed)
            used = keep | window  # the rows read at all
            rows, y = rows.iloc[np.flatnonzero(used)], y[used]
            window, keep = window[used], keep[used]
        else:
            keep = np.ones(len(y), dtype=bool)
        fit = ~window
        x = self._frame(target, rows)
        fit_rows = np.flatnonzero(fit & keep)
        win_rows = np.flatnonzero(window)
        all_rows = np.flatnonzero(keep)
        base_fit = base_win = base_all = None
        if self.linear_base:
            early, base_fit = self._fit_base(x.iloc[fit_rows], y[fit_rows])
            base_win = self._base_logit(early, x.iloc[win_rows])
        params = self.lgb_params(int(y[all_rows].sum()))
        early_booster, engine = self._train(
            params, x.iloc[fit_rows], y[fit_rows], base_fit, rows.iloc[fit_rows],
            valid=(x.iloc[win_rows], y[win_rows], _true_scale(base_win, len(win_rows), rate)),
            name=f"{target}_window")
        rounds = _rounds_of(early_booster)
        raw = early_booster.predict(x.iloc[win_rows], num_iteration=rounds, raw_score=True)
        held = expit(raw if base_win is None else raw + base_win)
        if base_fit is not None:
            self.bases_[target], base_all = self._fit_base(x.iloc[all_rows], y[all_rows])
        booster, _ = self._train(params, x.iloc[all_rows], y[all_rows], base_all,
                                 rows.iloc[all_rows], rounds=rounds, name=f"{target}_refit")
        first_day = pd.to_datetime(rows["ts"]).iloc[win_rows].min().floor("D")
        self.boosters_[target] = booster
        self.best_iteration_[target] = rounds
        self.stopping_[target] = {
            "method": "time_window", "rounds": rounds, "window_days": n_days,
            "window_first_day": str(first_day.date()), "window_rows": int(len(win_rows)),
            "valid_positives": int(y[win_rows].sum()), "downsample_rate": rate, "params": params,
            "linear_base": target in self.bases_, **engine}
        if self.calibration != "none":
            if rate is not None:
                held = correct_downsampled(held, rate)
            self.calibrators_[target] = fit_calibrator(held, y[win_rows], self.calibration)

    def _rate_for(self, y: np.ndarray) -> float | None:
        """The share of a target's negatives its fitting rows keep (None: all of them).

        With thousands of positives the negatives add little but time: a tree's
        leaves are limited by the positives, and every positive stays (He et al.,
        "Practical lessons from predicting clicks on ads at Facebook", 2014).
        A thin target keeps every row.
        """
        if self.downsample_rate is not None:
            return self.downsample_rate
        positives, k = int(y.sum()), self.negatives_per_positive
        negatives = len(y) - positives
        if k <= 0 or positives < SMALL_DATA_POSITIVES or negatives <= k * positives:
            return None
        return k * positives / negatives

    def _engine_for(self, rows: int, cluster: bool = True) -> str:
        """Where a booster on ``rows`` fitting rows trains; ``cluster=False`` leaves out the
        rule that a driver on a cluster trains there whatever the size."""
        if self.engine != "auto":
            return self.engine
        from adopt.response.ray_lgbm import joined_cluster

        if (self.num_workers is not None or rows >= RAY_MIN_ROWS
                or (cluster and joined_cluster())):
            return "ray"
        return "local"

    def _train(self, params: dict[str, Any], x: pd.DataFrame, y: np.ndarray,
               init: np.ndarray | None, rows: pd.DataFrame,
               valid: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None = None,
               rounds: int | None = None, name: str = "lightgbm", engine: str | None = None
               ) -> tuple[lgb.Booster, dict[str, Any]]:
        """One booster: early-stopped on ``valid``, or ``rounds`` rounds; here or on Ray
        (``engine``, default the model's choice for this many rows).

        Returns the booster and the card's engine entry.
        """
        cats = self._categorical(x)
        if (engine or self._engine_for(len(y))) == "ray":
            from adopt.response.ray_lgbm import train_on_ray

            shard_key = rows["user_id"].to_numpy() if "user_id" in rows.columns else None
            booster, workers = train_on_ray(
                params, x, y, init, cats, valid=valid,
                num_boost_round=rounds or self.num_boost_round,
                early_stopping_rounds=None if rounds else self.early_stopping_rounds,
                num_workers=self.num_workers, shard_key=shard_key,
                storage_path=self.storage_path, name=name)
            return booster, {"engine": "ray", "workers": workers}
        data = lgb.Dataset(x, y, init_score=init, categorical_feature=cats)
        if rounds is not None:
            return lgb.train(params, data, num_boost_round=rounds), {"engine": "local"}
        x_va, y_va, init_va = valid
        d_va = lgb.Dataset(x_va, y_va, init_score=init_va, categorical_feature=cats,
                           reference=data)
        booster = lgb.train(
            params, data, num_boost_round=self.num_boost_round, valid_sets=[d_va],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return booster, {"engine": "local"}

    def refit(self, train: pd.DataFrame, valid: pd.DataFrame) -> LightGBMResponse:
        """A copy whose boosters (and linear bases) learn again from other rows.

        Each target refits on the rows of ``train`` and ``valid`` its final booster
        learnt from (``train`` alone after a stop on the valid split, both after a
        time window or cross-validation), with the same features, rounds, LightGBM
        parameters and share of negatives; the calibrators are kept. A target whose
        rows hold a single outcome keeps its booster. Used to predict rows by a model
        that never saw them (`adopt.response.creative_folds`).
        """
        self._require_fitted()
        boosters, bases = dict(self.boosters_), dict(self.bases_)
        for target in self.boosters_:
            stopping = self.stopping_.get(target, {})
            rows = train if stopping.get("method") == "valid" else pd.concat([train, valid])
            rows, y = _rows_for(target, rows)
            rate = self.downsample_.get(target)
            if rate is not None:
                keep = downsample_mask(y, rate, self.seed)
                rows, y = rows.iloc[np.flatnonzero(keep)], y[keep]
            if y.size == 0 or y.min() == y.max():
                log.info("lightgbm %s: a refit's rows hold one outcome; the booster is kept",
                         target)
                continue
            x = self._frame(target, rows)
            init = None
            if target in self.bases_:
                bases[target], init = self._fit_base(x, y)
            params = stopping.get("params") or self.lgb_params(int(y.sum()))
            # a small refit stays here even on a cluster: Ray Train's start costs more
            # than the fit
            boosters[target], _ = self._train(
                params, x, y, init, rows, rounds=self.best_iteration_[target],
                name=f"{target}_refit", engine=self._engine_for(len(y), cluster=False))
        return self.with_boosters(boosters, bases)

    def with_boosters(self, boosters: dict[str, lgb.Booster],
                      bases: dict[str, LinearLogit]) -> LightGBMResponse:
        """A copy with other boosters and linear bases (features, rounds and calibrators
        shared): a refit, or one loaded (`adopt.response.creative_folds`)."""
        out = copy.copy(self)
        out.boosters_, out.bases_ = dict(boosters), dict(bases)
        return out

    def _frame(self, target: str, df: pd.DataFrame) -> pd.DataFrame:
        """Model input of ``target``: the features' frame without the columns it skips."""
        x = self.features_.frame(df)
        skipped = self.skipped_.get(target)
        return x.drop(columns=skipped) if skipped else x

    def _categorical(self, x: pd.DataFrame) -> list[str]:
        """The categorical columns of model input ``x`` (a target may skip some)."""
        return [c for c in self.features_.categorical_ if c in x.columns]

    def _base_view(self, x: pd.DataFrame) -> pd.DataFrame:
        """The columns a linear base reads: all but the embeddings' projected components,
        with which a line fits each ad's few conversions (demo: per-ad rank correlation
        with the truth 0.85 with them, 0.89 without)."""
        components = tuple(f"{v}_pc" for v in self.features_.vectors)
        view = x[[c for c in x.columns if not c.startswith(components)]]
        steps = {f"{c}_step": position_steps(view[c]) for c in POSITIONS if c in view.columns}
        return view.assign(**steps) if steps else view

    def _base_logit(self, base: LinearLogit, x: pd.DataFrame) -> np.ndarray:
        """A linear base's logit of the rows of model input ``x``."""
        return base.decision(self._base_view(x))

    def _fit_base(self, x: pd.DataFrame, y: np.ndarray) -> tuple[LinearLogit, np.ndarray]:
        """A linear base fitted on the rows of model input ``x``, and its logit of them."""
        view = self._base_view(x)
        base = LinearLogit().fit(view, y)
        return base, base.decision(view)

    def _raw(self, target: str, x: pd.DataFrame) -> np.ndarray:
        booster, rounds = self.boosters_[target], self.best_iteration_[target]
        if target in self.bases_:
            q = expit(booster.predict(x, num_iteration=rounds, raw_score=True)
                      + self._base_logit(self.bases_[target], x))
        else:
            q = booster.predict(x, num_iteration=rounds)
        rate = self.downsample_.get(target)
        if rate is not None:
            q = correct_downsampled(q, rate)
        return np.asarray(q, dtype=float)

    def _require_fitted(self, target: str = "click") -> None:
        if not hasattr(self, "boosters_"):
            raise NotFittedError(
                "This LightGBMResponse is not fitted yet; call fit(train, valid) before predict."
            )
        if target not in self.boosters_:
            raise NotFittedError(
                f"This LightGBMResponse has no {target} model; fit it with conversion=True "
                "and a 'converted' column."
            )

    def predict_target(self, df: pd.DataFrame, target: str, calibrated: bool = True) -> np.ndarray:
        """Probabilities of ``target`` (``"click"`` or ``"conversion"`` given a click)."""
        self._require_fitted(target)
        p = self._raw(target, self._frame(target, df))
        if calibrated and target in self.calibrators_:
            p = self.calibrators_[target].predict(p)
        if calibrated and target == "conversion" and self.placement_factors_ is not None:
            p = self.placement_factors_.apply(p, df["placement_id"])
        return p

    def predict_click(self, df: pd.DataFrame) -> np.ndarray:
        """Calibrated p(click) for each impression row."""
        return self.predict_target(df, "click")

    def predict_conversion(self, df: pd.DataFrame) -> np.ndarray:
        """Calibrated p(conversion | click) for each impression row."""
        return self.predict_target(df, "conversion")

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """``p_click``, and where fitted ``p_conversion_given_click`` and ``p_conversion``."""
        out = pd.DataFrame({"p_click": self.predict_click(df)}, index=df.index)
        if "conversion" in getattr(self, "boosters_", {}):
            out["p_conversion_given_click"] = self.predict_conversion(df)
            out["p_conversion"] = out["p_click"] * out["p_conversion_given_click"]
        return out

    def feature_importance(self, kind: str = "gain") -> pd.DataFrame:
        """Total ``gain`` (or ``split`` count) per feature, one column per target, sorted."""
        self._require_fitted()
        table = pd.DataFrame(
            {t: pd.Series(b.feature_importance(kind, iteration=self.best_iteration_[t]),
                          index=b.feature_name())
             for t, b in self.boosters_.items()},
        ).reindex(self.boosters_["click"].feature_name()).fillna(0.0)  # a skipped column: 0
        table.index.name = "feature"
        return table.sort_values("click", ascending=False)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write boosters, features, calibrators and hyperparameters under ``folder``."""
        self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_boosters(self.boosters_, folder)
        state = {
            "params": self.get_params(),
            "features": self.features_.to_dict(),
            "best_iteration": self.best_iteration_,
            "stopping": self.stopping_,
            "linear_bases": {t: b.to_dict() for t, b in self.bases_.items()},
            "downsample": self.downsample_,
            "skipped": self.skipped_,
            "calibrators": {t: c.to_dict() for t, c in self.calibrators_.items()},
            "placement_factors": None if self.placement_factors_ is None
            else self.placement_factors_.to_dict(),
        }
        with atomic_path(folder / "lgbm.json") as tmp:
            tmp.write_text(json.dumps(state, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> LightGBMResponse:
        """Load a model written by `save`."""
        folder = Path(folder)
        state = json.loads((folder / "lgbm.json").read_text())
        params = state["params"]
        if params["features"] is not None:
            params["features"] = Features(**params["features"])
        model = cls(**params)
        model.features_ = Features.from_dict(state["features"])
        model.best_iteration_ = state["best_iteration"]
        model.stopping_ = state.get("stopping", {})
        # saved before per-target rates: the one rate applied to every target
        model.downsample_ = state.get("downsample", dict.fromkeys(
            state["best_iteration"], params.get("downsample_rate")))
        model.skipped_ = state.get("skipped", {})  # saved before CLICK_ONLY: every column
        model.bases_ = {t: LinearLogit.from_dict(b)
                        for t, b in state.get("linear_bases", {}).items()}
        model.boosters_ = load_boosters(folder, state["best_iteration"])
        model.calibrators_ = {t: calibrator_from_dict(c) for t, c in state["calibrators"].items()}
        factors = state.get("placement_factors")  # saved before them: the model read placements
        model.placement_factors_ = None if factors is None else PlacementFactors.from_dict(factors)
        return model


def save_boosters(boosters: dict[str, lgb.Booster], folder: Path) -> None:
    """Write each target's booster as ``folder/lgbm_<target>.txt``."""
    for target, booster in boosters.items():
        with atomic_path(folder / f"lgbm_{target}.txt") as tmp:
            booster.save_model(str(tmp))


def load_boosters(folder: Path, targets: Iterable[str]) -> dict[str, lgb.Booster]:
    """The boosters `save_boosters` wrote for ``targets``."""
    return {t: lgb.Booster(model_file=str(folder / f"lgbm_{t}.txt")) for t in targets}


def position_steps(k: pd.Series) -> pd.Categorical:
    """The position in a sequence as steps 1, 2, ..., POSITION_STEPS ("10+": that one and on).

    The click base reads them beside the position's value and log so that the fall with k
    has no fixed form there: a line in k and log k bent the geometric fall of a generated
    world (p x 0.72^(k - 1)) to fit its long runs, whose users the serving policy chose for
    their interest, and put the first impression's clicks 10% above the logged ones in
    sample (docs/curves.md, session 16). With a step each, the line's first-order
    conditions hold each position's logged clicks. A missing position reads as no step.
    """
    values = pd.to_numeric(k, errors="coerce").to_numpy(dtype=float)
    codes = np.where(np.isnan(values) | (values < 1), 0, np.minimum(values, POSITION_STEPS))
    labels = [str(i) for i in range(1, POSITION_STEPS)] + [f"{POSITION_STEPS}+"]
    return pd.Categorical.from_codes(codes.astype(int) - 1, categories=labels)


def _true_scale(init: np.ndarray | None, n: int, rate: float | None) -> np.ndarray | None:
    """A valid set's start scores, shifted so that a booster fitted on negatives kept at
    ``rate`` is scored on the true scale (logit p = logit q + log rate; `correct_downsampled`):
    its early stop then weighs the log loss the calibrated model will have."""
    if rate is None:
        return init
    return (np.zeros(n) if init is None else init) + np.log(rate)


def _rounds_of(booster: lgb.Booster) -> int:
    """The rounds a booster keeps: its best iteration when early stopping set one (> 0)."""
    best = int(booster.best_iteration or 0)
    return best if best > 0 else int(booster.current_iteration())


def _stratified_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`k` (fit, held-out) index pairs; each class spread evenly over the held-out folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == label))
        fold[idx] = np.arange(len(idx)) % k
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]
