"""Gamma-Poisson empirical Bayes: a group's counts against a model's expectation, shrunk.

A group (a creative, a placement) logs O events where a model expected E. Its effect u
multiplies the expectation, O ~ Poisson(E x u), with a Gamma(s, s) prior (mean 1); the
posterior mean is (O + s) / (E + s). The strength s is the moment estimate over the groups,
1 / s = (sum (O - E)^2 - O) / sum E^2: spread beyond Poisson is real, the rest is noise,
and with none every effect is 1. Used by the creative effects (`adopt.curves.creatives`)
and by the conversion model's placement factors (`adopt.response.placement_factors`).
"""

from __future__ import annotations

import numpy as np

NO_SPREAD = float("inf")  # the strength when the counts show no spread beyond Poisson


def prior_strength(observed: np.ndarray, expected: np.ndarray) -> float:
    """Empirical-Bayes strength s of a Gamma(s, s) effect: 1 / s = (sum (O-E)^2 - O) / sum E^2.

    Returns `NO_SPREAD` (inf) when the counts spread no more than Poisson.
    """
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    excess = float(((observed - expected) ** 2 - observed).sum())
    scale = float((expected ** 2).sum())
    return NO_SPREAD if excess <= 0.0 or scale <= 0.0 else scale / excess


def shrunk_factors(observed: np.ndarray, expected: np.ndarray, strength: float) -> np.ndarray:
    """Posterior mean effects (O + s) / (E + s); all 1 when s is infinite."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    if not np.isfinite(strength):
        return np.ones(len(observed))
    return (observed + strength) / (expected + strength)


def strength_text(value: float) -> str:
    """A strength in words: a number, or no spread beyond chance."""
    return "infinitely many (no spread beyond chance)" if not np.isfinite(value) \
        else f"{value:,.1f}"
