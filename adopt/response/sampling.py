"""Negative downsampling for training, and the exact correction of its predictions.

Clicks are rare, so response models may train on all positives and a fraction
``rate`` of negatives. A model fitted that way predicts ``q``, the positive
rate of the downsampled data; the true probability is recovered exactly by
``p = q / (q + (1 - q) / rate)`` (the odds shrink by ``rate``). Applied before
calibration, so calibrators see probabilities on the true scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _check_rate(rate: float) -> float:
    if not 0 < rate <= 1:
        raise ValueError(f"The 'rate' parameter must lie in (0, 1]. Got {rate!r} instead.")
    return float(rate)


def downsample_mask(y: np.ndarray, rate: float, seed: int = 0) -> np.ndarray:
    """Boolean mask keeping every positive and each negative with probability ``rate``.

    Parameters
    ----------
    y : 0/1 labels.
    rate : the fraction of negatives kept, in (0, 1].
    seed : seed of the random generator.
    """
    rate = _check_rate(rate)
    y = np.asarray(y)
    keep_negative = np.random.default_rng(seed).random(y.size) < rate
    return (y == 1) | keep_negative


def downsample_negatives(
    df: pd.DataFrame, label: str, rate: float, seed: int = 0
) -> pd.DataFrame:
    """Rows of ``df`` with all positives of ``label`` and a ``rate`` fraction of negatives."""
    return df.loc[downsample_mask(df[label].to_numpy(), rate, seed)]


def correct_downsampled(q: np.ndarray, rate: float) -> np.ndarray:
    """Map probabilities predicted on downsampled data back to the true scale.

    Parameters
    ----------
    q : probabilities from a model trained with negatives kept at ``rate``.
    rate : the fraction of negatives kept.

    Returns
    -------
    ndarray
        ``q / (q + (1 - q) / rate)``.
    """
    rate = _check_rate(rate)
    q = np.asarray(q, dtype=float)
    return q / (q + (1.0 - q) / rate)
