"""Post-hoc calibration of predicted probabilities, fitted on the validation split.

Curves and plans trust predicted probabilities as rates, so every response
model maps its raw scores through a calibrator fitted on validation rows only
(never on training rows, where the model is over-confident). Platt scaling
(a logistic on the logit) needs few rows; isotonic regression (pool adjacent
violators) is free-form and used where validation is large enough.
Calibrators follow the estimator contract and save to / load from JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from adopt.exceptions import InputError, NotFittedError
from adopt.workspace import atomic_path

_CLIP = 1e-7


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _CLIP, 1 - _CLIP)
    return np.log(p) - np.log1p(-p)


def _check_fit_data(p: np.ndarray, y: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if p.shape != y.shape or p.size == 0:
        raise InputError(
            "validation", "y", f"{who}.fit needs equal, non-empty p and y; got {p.size}, {y.size}"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError("validation", "y", f"{who}.fit needs 0/1 labels")
    if y.min() == y.max():
        raise InputError("validation", "y", f"{who}.fit needs both classes; got only {y[0]:g}")
    return p, y


class _Calibrator:
    """Shared contract: `predict` refuses to run before `fit`; JSON round trip."""

    kind = ""

    def _require_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(p, y) before predict."
            )

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__``."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    @property
    def fitted_(self) -> bool:
        return any(k.endswith("_") for k in vars(self))

    def to_dict(self) -> dict[str, Any]:
        """Kind, hyperparameters and learned state as JSON-ready values."""
        self._require_fitted()
        state = {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
                 for k, v in vars(self).items()}
        return {"kind": self.kind, "state": state}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted calibrator to ``path`` as JSON (atomically)."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict()))


class PlattCalibrator(_Calibrator):
    """Logistic regression on the logit of the raw probability: ``sigmoid(a * logit(p) + b)``.

    Parameters
    ----------
    l2 : ridge penalty on ``a - 1`` and ``b``, which keeps tiny validation sets
        near the identity.
    """

    kind = "platt"

    def __init__(self, l2: float = 1e-3) -> None:
        self.l2 = l2

    def fit(self, p: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        """Fit ``a`` and ``b`` by penalised maximum likelihood; returns self."""
        if not self.l2 >= 0:
            raise ValueError(f"The 'l2' parameter of PlattCalibrator must be >= 0. Got {self.l2}.")
        p, y = _check_fit_data(p, y, "PlattCalibrator")
        z = _logit(p)
        n = y.size

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            s = theta[0] * z + theta[1]
            # log(1 + e^s) - y s, computed stably
            nll = np.logaddexp(0.0, s) - y * s
            r = 1.0 / (1.0 + np.exp(-s)) - y
            pen = np.array([theta[0] - 1.0, theta[1]])
            value = nll.sum() / n + self.l2 * (pen @ pen)
            grad = np.array([r @ z, r.sum()]) / n + 2 * self.l2 * pen
            return float(value), grad

        res = minimize(loss, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        self.a_, self.b_ = float(res.x[0]), float(res.x[1])
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw probabilities ``p``."""
        self._require_fitted()
        return 1.0 / (1.0 + np.exp(-(self.a_ * _logit(p) + self.b_)))


def pool_adjacent_violators(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares non-decreasing fit of ``y`` (already in x order).

    Returns
    -------
    (values, sizes)
        The value of each pooled block and how many inputs it holds.
    """
    values: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y, w, strict=True):
        values.append(float(yi))
        weights.append(float(wi))
        sizes.append(1)
        # merge backwards while the last two blocks violate monotonicity
        while len(values) > 1 and values[-2] >= values[-1]:
            w2 = weights[-2] + weights[-1]
            values[-2] = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w2
            weights[-2] = w2
            sizes[-2] += sizes[-1]
            del values[-1], weights[-1], sizes[-1]
    return np.array(values), np.array(sizes)


class IsotonicCalibrator(_Calibrator):
    """Monotone step map from raw to calibrated probability (pool adjacent violators).

    Parameters
    ----------
    clip : calibrated values are kept in ``[clip, 1 - clip]`` so log loss stays finite.
    """

    kind = "isotonic"

    def __init__(self, clip: float = 1e-4) -> None:
        self.clip = clip

    def fit(self, p: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        """Fit the monotone map on validation predictions ``p`` and labels ``y``; returns self."""
        if not 0 <= self.clip < 0.5:
            raise ValueError(
                f"The 'clip' parameter of IsotonicCalibrator must lie in [0, 0.5). Got {self.clip}."
            )
        p, y = _check_fit_data(p, y, "IsotonicCalibrator")
        # equal raw scores must map to one value: pool them first
        xs, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
        ys = np.bincount(inverse, weights=y) / counts
        values, sizes = pool_adjacent_violators(ys, counts.astype(float))
        ends = np.cumsum(sizes)
        # each block is anchored at the weighted mean raw score of its members
        block_x = np.add.reduceat(xs * counts, ends - sizes) / np.add.reduceat(counts, ends - sizes)
        self.x_ = block_x
        self.y_ = np.clip(values, self.clip, 1 - self.clip)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: linear between block anchors, flat beyond the ends."""
        self._require_fitted()
        return np.interp(np.asarray(p, dtype=float), self.x_, self.y_)


_KINDS: dict[str, type[_Calibrator]] = {"platt": PlattCalibrator, "isotonic": IsotonicCalibrator}


def choose_method(n_valid: int, n_positive: int, min_isotonic_positives: int = 1000) -> str:
    """``"isotonic"`` when validation has enough positives to shape a free curve, else ``"platt"``.

    Isotonic regression is unbiased but noisy per block; with fewer than about a
    thousand positives its steps track noise, which Platt's two parameters do not.
    """
    n_negative = n_valid - n_positive
    enough = min(n_positive, n_negative) >= min_isotonic_positives
    return "isotonic" if enough else "platt"


def fit_calibrator(
    p: np.ndarray, y: np.ndarray, method: str = "auto", min_isotonic_positives: int = 1000
) -> PlattCalibrator | IsotonicCalibrator:
    """Fit a calibrator on validation predictions.

    Parameters
    ----------
    p, y : validation predictions and 0/1 labels.
    method : ``"platt"``, ``"isotonic"`` or ``"auto"`` (see `choose_method`).
    min_isotonic_positives : for ``"auto"``, the fewest positives (and negatives)
        that make isotonic the choice.

    Returns
    -------
    PlattCalibrator or IsotonicCalibrator, fitted.
    """
    if method == "auto":
        y_arr = np.asarray(y)
        method = choose_method(y_arr.size, int(y_arr.sum()), min_isotonic_positives)
    if method not in _KINDS:
        raise ValueError(
            f"The 'method' parameter of fit_calibrator must be one of 'auto', 'platt', "
            f"'isotonic'. Got {method!r} instead."
        )
    return _KINDS[method]().fit(p, y)


def calibrator_from_dict(data: dict[str, Any]) -> PlattCalibrator | IsotonicCalibrator:
    """Rebuild a fitted calibrator from `_Calibrator.to_dict` output."""
    cls = _KINDS[data["kind"]]
    obj = cls.__new__(cls)
    for key, value in data["state"].items():
        setattr(obj, key, np.asarray(value) if isinstance(value, list) else value)
    return obj


def load_calibrator(path: str | os.PathLike[str]) -> PlattCalibrator | IsotonicCalibrator:
    """Load a calibrator written by `save`."""
    return calibrator_from_dict(json.loads(Path(path).read_text()))
