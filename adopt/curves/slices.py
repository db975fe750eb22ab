"""Slice corrections of the curves' levels: per campaign, segment and placement.

Data flow: the window that `adopt.curves.calibrate` replays (per logged
impression its construction click logit, the fall at its k, the predicted
conversions per click, and its campaign, segment and placement) ->
`fit_slices` -> a `SliceCalibration`: an additive click-logit effect and a
multiplicative conversions-per-click effect per campaign, segment, placement
and campaign x segment -> `adopt.curves.calibrate.recalibrate` applies them
per cell.

Why: a global recalibration fixes the level, not where the model is wrong,
which campaigns, segments and placements it over- or under-rates. A plan buys
the cells the model rates highest, so those errors become the forecast's
error and the plan's loss. The window shows where, but thinly: every effect
is shrunk toward none by a ridge (a normal prior on the logit), the thinner
its slice the more, and the ridge's strength is the one that best predicts
held-out users (cross-validated over users, main effects first, then the
campaign x segment effects with the main ones fixed). Where the logs hold no
signal the chosen ridge is the strongest tried and the effects vanish.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize

log = logging.getLogger("adopt")

MAIN = ("campaign", "segment", "placement")
PAIR = "campaign x segment"
# ridge strengths tried, in units of the loss (an effect of 0.1 costs 0.01 x this)
PENALTIES = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 1e4, 1e6)
FOLDS = 5
MIN_CONVERSIONS = 30  # fewer logged conversions: conversion effects are not fitted


@dataclass(frozen=True)
class SliceCalibration:
    """Per-slice effects on the click logit and on log conversions per click.

    Attributes
    ----------
    click, conversion : dict
        Factor name (`MAIN` and `PAIR`) -> level -> effect. A level a factor does
        not name has no effect. Pair levels are ``"campaign|segment"``.
    click_penalty, conversion_penalty : dict
        The ridge chosen for the main effects and the pairs (None: not fitted).
    """

    click: dict[str, dict[str, float]] = field(default_factory=dict)
    conversion: dict[str, dict[str, float]] = field(default_factory=dict)
    click_penalty: dict[str, float | None] = field(default_factory=dict)
    conversion_penalty: dict[str, float | None] = field(default_factory=dict)

    def shifts(self, effects: dict[str, dict[str, float]], campaign: str, segment: str,
               placements: pd.Index) -> np.ndarray:
        """The summed effect at each of `placements` for a campaign x segment."""
        fixed = (effects.get("campaign", {}).get(campaign, 0.0)
                 + effects.get("segment", {}).get(segment, 0.0)
                 + effects.get(PAIR, {}).get(f"{campaign}|{segment}", 0.0))
        per = effects.get("placement", {})
        return fixed + np.array([per.get(str(p), 0.0) for p in placements])

    def spread(self) -> str:
        """One line: the range of each fitted factor's click and conversion effects."""
        parts = []
        for name, effects in (("click logit", self.click), ("conversions per click",
                                                            self.conversion)):
            for factor, levels in effects.items():
                if levels:
                    v = np.array(list(levels.values()))
                    parts.append(f"{name} by {factor} {v.min():+.2f}..{v.max():+.2f}")
        return "; ".join(parts) if parts else "no slice effects"


def _design(codes: dict[str, np.ndarray]) -> tuple[sp.csr_matrix, list[tuple[str, int]]]:
    """One-hot columns for each factor's levels; rows with code -1 get none."""
    blocks, columns = [], []
    for factor, code in codes.items():
        n = int(code.max()) + 1 if len(code) and code.max() >= 0 else 0
        ok = code >= 0
        blocks.append(sp.csr_matrix((np.ones(int(ok.sum())), (np.flatnonzero(ok), code[ok])),
                                    shape=(len(code), n)))
        columns += [(factor, j) for j in range(n)]
    return sp.hstack(blocks, format="csr"), columns


def _loss(kind: str, base: np.ndarray, y: np.ndarray):
    """Negative log-likelihood and its gradient in the linear predictor."""
    if kind == "logit":
        def f(eta):
            return np.logaddexp(0.0, eta) - y * eta, 1.0 / (1.0 + np.exp(-eta)) - y
    else:  # poisson on log mean
        def f(eta):
            mu = np.exp(eta)
            return mu - y * eta, mu - y
    return lambda beta, x: f(base + x @ beta)


def _fit(x: sp.csr_matrix, base: np.ndarray, y: np.ndarray, kind: str, penalty: np.ndarray
         ) -> np.ndarray:
    nll = _loss(kind, base, y)

    def objective(beta):
        value, r = nll(beta, x)
        return float(value.sum() + penalty @ beta**2), x.T @ r + 2 * penalty * beta

    res = minimize(objective, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 500})
    return res.x


def _choose(x: sp.csr_matrix, base: np.ndarray, y: np.ndarray, kind: str, folds: np.ndarray
            ) -> float:
    """The ridge that best predicts held-out users."""
    best, best_loss = PENALTIES[-1], np.inf
    for lam in PENALTIES:
        penalty = np.full(x.shape[1], lam)
        held = 0.0
        for f in range(FOLDS):
            train, test = folds != f, folds == f
            beta = _fit(x[train], base[train], y[train], kind, penalty)
            held += float(_loss(kind, base[test], y[test])(beta, x[test])[0].sum())
        if not np.isfinite(best_loss) or held < best_loss - 1e-9 * abs(best_loss):
            best, best_loss = lam, held
    return best


def _effects(x: sp.csr_matrix, base: np.ndarray, y: np.ndarray, kind: str, folds: np.ndarray,
             is_pair: np.ndarray) -> tuple[np.ndarray, dict[str, float | None]]:
    """Main effects by cross-validated ridge, then the pairs on top of them."""
    beta = np.zeros(x.shape[1])
    chosen: dict[str, float | None] = {"main": None, "pair": None}
    for name, cols in (("main", ~is_pair), ("pair", is_pair)):
        if not cols.any():
            continue
        part = x[:, np.flatnonzero(cols)]
        offset = base + x @ beta
        chosen[name] = lam = _choose(part, offset, y, kind, folds)
        beta[cols] = _fit(part, offset, y, kind, np.full(part.shape[1], lam))
    return beta, chosen


def _levels(beta: np.ndarray, columns: list[tuple[str, int]],
            names: dict[str, pd.Index]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for (factor, j), value in zip(columns, beta, strict=True):
        if abs(value) > 1e-6:
            out.setdefault(factor, {})[str(names[factor][j])] = round(float(value), 6)
    return out


def fit_slices(frame: pd.DataFrame, click_logit: np.ndarray, conversions_per_click: np.ndarray,
               seed: int = 0) -> tuple[SliceCalibration, np.ndarray]:
    """Fit the slice effects on the replayed window (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        One row per replayed impression: ``campaign``, ``segment``, ``placement``
        (segment may be missing), ``user_id``, ``clicked``, ``converted``.
    click_logit : ndarray
        The construction's click logit of each row after the global recalibration,
        fall included.
    conversions_per_click : ndarray
        Its predicted conversions per click after the global factor.
    seed : int
        Seed of the user folds.

    Returns
    -------
    SliceCalibration
    ndarray
        Each row's click rate with the click effects applied.
    """
    names, codes = {}, {}
    for factor in MAIN:
        values = frame[factor].astype("string")
        code, uniq = pd.factorize(values, sort=True)
        codes[factor], names[factor] = code, pd.Index(uniq.astype(str))
    pair = (frame["campaign"].astype("string") + "|" + frame["segment"].astype("string"))
    codes[PAIR], uniq = pd.factorize(pair, sort=True)
    names[PAIR] = pd.Index(uniq.astype(str))
    x, columns = _design(codes)
    is_pair = np.array([factor == PAIR for factor, _ in columns])
    user_code, users = pd.factorize(frame["user_id"], sort=True)
    folds = np.random.default_rng(seed).permutation(len(users))[user_code] % FOLDS

    clicked = frame["clicked"].to_numpy(float)
    beta, click_pen = _effects(x, click_logit, clicked, "logit", folds, is_pair)
    click = 1.0 / (1.0 + np.exp(-(click_logit + x @ beta)))
    cal = SliceCalibration(click=_levels(beta, columns, names), click_penalty=click_pen)
    converted = frame["converted"].to_numpy(float)
    if converted.sum() >= MIN_CONVERSIONS:
        mean = np.maximum(click * conversions_per_click, 1e-12)
        gamma, conv_pen = _effects(x, np.log(mean), converted, "poisson", folds, is_pair)
        cal = SliceCalibration(click=cal.click, conversion=_levels(gamma, columns, names),
                               click_penalty=click_pen, conversion_penalty=conv_pen)
    log.info("curves: slice effects (ridge by held-out users) %s", cal.spread())
    return cal, click
