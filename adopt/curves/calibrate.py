"""Calibration of the curves' own construction against the latest logs.

Data flow: the response model + the fall with k (`adopt.curves.frequency`) +
the feature state at the start of a recent window (`PairState` as of then) ->
`calibrate_levels` -> a `LevelCalibration`: a recalibration of each user's
predicted click rate (intercept and slope on the click logit) and a factor on
conversions per click, fitted so that the construction, replayed on the
window's logged impressions, matches their clicks and conversions ->
`recalibrate` applies it to every sampled user's values before the curves
average them; curves.json (and so the plan's assumptions) records it.

Why: a curve is built from a counterfactual row (the end-of-log state, k = 1)
carried to each k by the fall read within user x campaign pairs. Both steps
can be off even when the model is calibrated on its own test rows: in logged
data the first impressions of a campaign go to less interested users than
later ones (the serving policy repeats what works), so the model learns k = 1
lower than it is for a given user; a tree model's predictions are compressed
toward the mean, so the best cells, the ones a plan buys, are under-predicted
most; and the state at a window's start is not the state of each impression.
Replaying the construction on the window's impressions (at their own k, up to
the curves' depth, features from the state at the window's start) measures
both the level and the compression where they can be seen, on the world the
plan is for. The fit is shrunk toward no change (a few pseudo-observations),
so a thin window barely moves the curves.

Opt-in (`build_curves(calibrate=True)`): the window's impressions are the
serving policy's picks of users and ads, which a plan's random users of a
segment are not. On seven generated worlds the shift took the plan's forecast
from 0.90-1.07 of its delivered value to 1.18-1.23 on four of them, closer to
delivery on one (the demo: 1.07 to 1.01) and nowhere near on two (docs/curves.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from adopt.curves.fall_anchor import FallAnchor
from adopt.curves.frequency import FrequencyDecay
from adopt.curves.grid import CellValues, expand_k
from adopt.curves.pairs import predict_rows
from adopt.curves.state import PairState
from adopt.workspace import Workspace

log = logging.getLogger("adopt")

WINDOW_DAYS = 14.0  # the longest window replayed (the plan period when shorter)
MIN_CLICKS = 100  # below this many logged clicks in the window the curves stay as built
RIDGE = 20.0  # pseudo-observations pulling intercept and slope toward no change
PRIOR_CONVERSIONS = 20.0  # pseudo-conversions pulling the conversion factor toward 1
SLOPE_RANGE = (1.0, 1.0)  # intercept only: a slope changed plan quality (docs/curves.md)

_WINDOW_SQL = """
select user_id, ad_id, placement_id, k_campaign, clicked::int as clicked,
    coalesce(converted::int, 0) as converted,
from training_examples
where ts > $start and k_campaign <= $max_k
"""


@dataclass(frozen=True)
class LevelCalibration:
    """How the curves' construction is recalibrated, and the window it was fitted on.

    A user's click rate p becomes ``sigmoid(intercept + slope * logit(p))``;
    conversions and revenue per click are multiplied by ``conversion_factor``.
    """

    window_days: float
    impressions: int
    clicks: int
    predicted_clicks: float
    conversions: int
    predicted_conversions: float
    intercept: float
    slope: float
    conversion_factor: float

    def __str__(self) -> str:
        return (f"click logit x{self.slope:.3f} {self.intercept:+.3f}, conversions per click "
                f"x{self.conversion_factor:.3f}: the last {self.window_days:g} days' "
                f"{self.impressions:,} impressions (k within the curves) had {self.clicks:,} "
                f"clicks and {self.conversions:,} conversions where the curves' construction "
                f"predicted {self.predicted_clicks:,.1f} and {self.predicted_conversions:,.1f}")

    def click_rate(self, p: np.ndarray) -> np.ndarray:
        """Recalibrated click rates."""
        return _sigmoid(self.intercept + self.slope * _logit(p))


def _logit(p: np.ndarray) -> np.ndarray:
    safe = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(safe) - np.log1p(-safe)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_levels(workspace: str | os.PathLike[str], model: Any, attach: Any,
                     decay: FrequencyDecay | None, days: float, max_k: int,
                     min_clicks: int = MIN_CLICKS) -> LevelCalibration | None:
    """Fit the recalibration on the latest window of logged impressions (module docstring).

    Parameters
    ----------
    workspace : path
        A workspace with ``training_examples`` and the profiles' streams.
    model, attach : the response model and its text-feature hook.
    decay : FrequencyDecay or None
        The fall with k the curves use; None: the model is asked at each k.
    days : float
        The plan period; the window is at most `WINDOW_DAYS` of it.
    max_k : int
        The curves' depth: impressions beyond it are not replayed.
    min_clicks : int
        Fewer logged clicks in the window leave the curves as built.

    Returns
    -------
    LevelCalibration or None
        None when the window holds fewer than `min_clicks` clicks.
    """
    ws = Workspace.of(workspace)
    window = float(min(days, WINDOW_DAYS))
    with ws.connect(read_only=True) as con:
        end = con.execute("select max(ts) from training_examples").fetchone()[0]
        if end is None:
            return None
        start = pd.Timestamp(end) - pd.Timedelta(days=window)
        rows = con.execute(_WINDOW_SQL, {"start": start.to_pydatetime(),
                                         "max_k": int(max_k)}).df()
    if int(rows["clicked"].sum()) < min_clicks:
        log.info("curves: %d clicks in the last %g days (< %d): levels as the model gives them",
                 int(rows["clicked"].sum()), window, min_clicks)
        return None
    state = PairState.load(ws.root, start.to_pydatetime())
    u = state.user_index(rows["user_id"].to_numpy())
    a = state.ad_index(rows["ad_id"].to_numpy())
    p = state.placement_index(rows["placement_id"].to_numpy())
    k = rows["k_campaign"].to_numpy(dtype=np.int64)
    pred = predict_rows(state, model, u, a, p, k if decay is None else np.ones_like(k),
                        attach=attach)
    offset = np.zeros(len(k)) if decay is None else decay.penalty(k)
    z = _logit(pred["p_click"])
    clicked = rows["clicked"].to_numpy(dtype=float)
    intercept, slope = _fit_platt(z, offset, clicked)
    before = _sigmoid(z - offset)
    after = _sigmoid(intercept + slope * z - offset)
    per_click = np.divide(pred["p_conversion"], pred["p_click"],
                          out=np.zeros(len(k)), where=pred["p_click"] > 0)
    observed_convs = int(rows["converted"].sum())
    expected_convs = float((after * per_click).sum())
    factor = (observed_convs + PRIOR_CONVERSIONS) / (expected_convs + PRIOR_CONVERSIONS)
    out = LevelCalibration(
        window_days=window, impressions=len(rows), clicks=int(clicked.sum()),
        predicted_clicks=float(before.sum()), conversions=observed_convs,
        predicted_conversions=float((before * per_click).sum()), intercept=intercept,
        slope=slope, conversion_factor=float(factor))
    log.info("curves: %s", out)
    return out


def _fit_platt(z: np.ndarray, offset: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of clicked ~ sigmoid(a + b z - offset), ridge toward (0, 1)."""

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta
        eta = a + b * z - offset
        nll = float(np.sum(np.logaddexp(0.0, eta) - y * eta))
        r = _sigmoid(eta) - y
        penalty = RIDGE * (a**2 + (b - 1.0) ** 2)
        grad = np.array([r.sum() + 2 * RIDGE * a, (r * z).sum() + 2 * RIDGE * (b - 1.0)])
        return nll + penalty, grad

    res = minimize(loss, np.array([0.0, 1.0]), jac=True, method="L-BFGS-B",
                   bounds=[(-3.0, 3.0), SLOPE_RANGE])
    return float(res.x[0]), float(res.x[1])


def recalibrate(values: CellValues, calibration: LevelCalibration | FallAnchor | None,
                decay: FrequencyDecay | None) -> CellValues:
    """The sampled users' values with the recalibration applied (before any averaging):
    a `LevelCalibration` or the fall's `FallAnchor` (`adopt.curves.fall_anchor`)."""
    if calibration is None:
        return values

    def fix(v: np.ndarray) -> np.ndarray:
        click = v[..., 0]
        scale = np.divide(calibration.click_rate(click), click, out=np.zeros_like(click),
                          where=click > 0)
        out = v * scale[..., None]
        out[..., 1:] *= calibration.conversion_factor
        return out

    first = {key: fix(v) for key, v in values.first.items()}
    if decay is not None:  # the shape is the recalibrated k = 1 carried by the fall
        every = np.arange(1, next(iter(values.shape.values())).shape[2] + 1)
        shape = {key: expand_k(first[key], decay, every) for key in first}
    else:
        shape = {key: fix(v) for key, v in values.shape.items()}
    return replace(values, first=first, shape=shape,
                   wide={key: fix(v) for key, v in values.wide.items()})
