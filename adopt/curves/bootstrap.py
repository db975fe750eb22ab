"""Curves from per-user predictions: point values, bootstrap intervals, decreasing in k.

Data flow: `adopt.curves.grid.CellValues` (each sampled user's k = 1 value
and the shape users' values at every k) -> `curve_table` -> the curves table
(one row per campaign x segment x placement x k).

A cell's value of the k-th impression per user is

    level x shape(k),  level = mean over the sampled users of the k = 1 value,
                       shape(k) = mean_shape(value at k) / mean_shape(value at 1)

(exact when every sampled user is a shape user). Where the segment has a wider
draw of users for the anchor (`adopt.curves.grid.Sample.wide`), the level is a
double sample's ratio estimate: the sampled users' mean at each placement times
mean_draw(x) / mean_sample(x), x being each user's k = 1 value at one placement
(`adopt.curves.grid.anchor_placements`), over the whole draw (the sampled users
and the further ones) and over the sampled users. x and a placement's value move
together user by user, so the ratio corrects the sample's luck in who it drew at
the cost of one row a further user. The interval resamples the
segment's sampled users with replacement (`n_boot` times, one draw per segment
shared by every campaign and placement, so cells of a segment move together),
and the further users likewise on a stream of its own (two strata: a sampled
user weighs in the draw's mean as it does in the sample's), recomputes level
and shape, and takes the 2.5% and 97.5% quantiles.

The model is noisy where the logs are thin (high k), while the true response
falls with k (ad fatigue) and the optimizer's plan is a prefix of positions
per cell, so each curve is made non-increasing in k: the mean of its running
minimum from the left and its running maximum from the right (both
non-increasing, and equal to the curve where it already falls). Intervals get
the same treatment and are then widened to hold the point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adopt.curves.grid import METRICS, CellValues, Sample, anchor_placements


def non_increasing(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """A non-increasing version of `values` along `axis` (see the module docstring)."""
    v = np.moveaxis(values, axis, -1)
    left = np.minimum.accumulate(v, axis=-1)
    right = np.maximum.accumulate(v[..., ::-1], axis=-1)[..., ::-1]
    return np.moveaxis((left + right) / 2.0, -1, axis)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)),
                     where=den > 0)


def cell_curves(first: np.ndarray, shape: np.ndarray, weights: np.ndarray | None = None,
                wide: np.ndarray | None = None, wide_weights: np.ndarray | None = None
                ) -> np.ndarray:
    """level x shape(k) of one campaign x segment.

    Parameters
    ----------
    first : ndarray (n_users, n_placements, 3)
        k = 1 values of the sampled users (shape users first), in the draw's order.
    shape : ndarray (n_shape, n_placements, K, 3)
        Values of the shape users at every k.
    weights : ndarray (B, n_users), optional
        Bootstrap counts per user; None gives the point estimate.
    wide : ndarray (n_wide, 3), optional
        k = 1 values of the further users of the anchor's draw, each at its
        `adopt.curves.grid.anchor_placements` placement (module docstring).
    wide_weights : ndarray (B, n_wide), optional
        Bootstrap counts of the further users; with ``weights``.

    Returns
    -------
    ndarray (n_placements, K, 3), or (B, n_placements, K, 3) with weights.
    """
    if weights is None:
        weights = np.ones((1, len(first)))
        squeeze = True
    else:
        squeeze = False
    total = weights.sum(axis=1)[:, None, None]
    level = np.tensordot(weights, first, axes=(1, 0)) / total  # B x P x 3
    if wide is not None and len(wide):
        level = level * _anchor_ratio(first, wide, weights, wide_weights)[:, None, :]
    shaped = np.tensordot(weights[:, : len(shape)], shape, axes=(1, 0))  # B x P x K x 3
    curves = level[:, :, None, :] * _ratio(shaped, shaped[:, :, :1, :])
    return curves[0] if squeeze else curves


def _resample(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """`n_boot` bootstrap counts over `n` users (n_boot x n), each summing to `n`."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def _anchor_ratio(first: np.ndarray, wide: np.ndarray, weights: np.ndarray,
                  wide_weights: np.ndarray | None) -> np.ndarray:
    """mean_draw(x) / mean_sample(x) per replicate and metric (B x 3); 1 where x is 0."""
    x_sample = first[np.arange(len(first)), anchor_placements(0, len(first), first.shape[1])]
    if wide_weights is None:
        wide_weights = np.ones((len(weights), len(wide)))
    # two strata: a sampled user weighs in the draw as in the sample
    draw_weights = np.concatenate([weights, wide_weights], axis=1)
    sample_mean = weights @ x_sample / weights.sum(axis=1)[:, None]
    draw_mean = (draw_weights @ np.concatenate([x_sample, wide])
                 / draw_weights.sum(axis=1)[:, None])
    return np.where(sample_mean > 0, _ratio(draw_mean, sample_mean), 1.0)


def curve_table(values: CellValues, sample: Sample, campaigns: list[str], ad_ids: np.ndarray,
                placements: pd.DataFrame, max_k: int, n_boot: int, seed: int,
                monotone: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The curves table with ``*_lo`` / ``*_hi`` intervals, and the bootstrap replicates.

    The replicates (one row per cell x k x replicate: campaign_id, segment,
    placement_id, k, replicate, clicks, conversions, revenue; empty without
    resamples) let a plan's forecast carry an interval that keeps the
    resampling shared by the cells of a segment (`adopt.optimize.forecast`).

    Parameters
    ----------
    values : per-user predictions from `adopt.curves.grid.predict_grid`.
    sample : the sampled users.
    campaigns : campaign ids, in the order of `values`' campaign numbers.
    ad_ids : ad id of each row of the feature state's ads.
    placements : the feature state's placements (cpm per placement, in order).
    max_k : positions per cell.
    n_boot : bootstrap resamples (0: the intervals equal the point).
    seed : seed of the resampling.
    monotone : make curves non-increasing in k.
    """
    rng = np.random.default_rng(seed)
    weights = {s: _resample(rng, len(u), n_boot)
               for s, u in enumerate(sample.users) if n_boot > 0 and len(u)}
    # the further users on a stream of their own: curves without them keep their
    # replicates to the digit
    wide_rng = np.random.default_rng([seed, 1])
    wide_weights = {s: _resample(wide_rng, len(sample.wide[s]), n_boot)
                    for s in weights if len(sample.wide[s])}
    n_pl = len(placements)
    frames, replicates = [], []
    for (c, s), first in values.first.items():
        wide = values.wide.get((c, s))
        point = cell_curves(first, values.shape[(c, s)], wide=wide)
        if s in weights:
            boot = cell_curves(first, values.shape[(c, s)], weights[s], wide,
                               wide_weights.get(s))
            lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
            replicates.append(_replicates(campaigns[c], sample.segments[s], placements, boot,
                                          monotone))
        else:
            lo, hi = point, point
        if monotone:
            point, lo, hi = (non_increasing(x, axis=1) for x in (point, lo, hi))
        lo, hi = np.minimum(lo, point), np.maximum(hi, point)
        size = float(sample.sizes[s])
        frame = pd.DataFrame({
            "campaign_id": campaigns[c],
            "segment": sample.segments[s],
            "placement_id": np.repeat(placements.index.to_numpy(), max_k),
            "k": np.tile(np.arange(1, max_k + 1), n_pl),
            "users": size,
            "segment_users": size,
            "cost_per_impression": np.repeat(placements["cpm"].to_numpy(float) / 1000.0, max_k),
        })
        for i, m in enumerate(METRICS):
            frame[m] = point[:, :, i].ravel()
            frame[f"{m}_lo"] = lo[:, :, i].ravel()
            frame[f"{m}_hi"] = hi[:, :, i].ravel()
        frame["ad_id"] = np.repeat(ad_ids[values.ads[(c, s)]], max_k)
        frames.append(frame)
    boot_table = (pd.concat(replicates, ignore_index=True) if replicates
                  else pd.DataFrame(columns=["campaign_id", "segment", "placement_id", "k",
                                             "replicate", *METRICS]))
    return pd.concat(frames, ignore_index=True), boot_table


def _replicates(campaign: str, segment: str, placements: pd.DataFrame, boot: np.ndarray,
                monotone: bool) -> pd.DataFrame:
    """Long table of one campaign x segment's bootstrap curves (B x placements x K x 3)."""
    if monotone:
        boot = non_increasing(boot, axis=2)
    n_boot, n_pl, max_k, _ = boot.shape
    frame = pd.DataFrame({
        "campaign_id": campaign,
        "segment": segment,
        "placement_id": np.tile(np.repeat(placements.index.to_numpy(), max_k), n_boot),
        "k": np.tile(np.arange(1, max_k + 1), n_boot * n_pl),
        "replicate": np.repeat(np.arange(n_boot), n_pl * max_k),
    })
    for i, m in enumerate(METRICS):
        frame[m] = boot[..., i].ravel().astype(np.float32)  # intervals need no more
    return frame
