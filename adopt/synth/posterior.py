"""What a synthetic world's logs say about each creative's latent quality.

The oracle (`Truth.true_curves`) knows every part of the response function; a
model has to learn it from the logs. One part no feature shows is each
creative's latent quality: its text shows the offer bonus (`vocab.OFFERS`),
the rest is N(0, QUALITY_SD^2) and only the creative's own logged
impressions, clicks and conversions speak to it. `quality_posterior` computes
that posterior exactly (on a grid) with every other part of the truth known,
and `QualityPosterior.draws` turns it into equally weighted draws for
`Truth.true_curves(quality=...)`, and `ceiling_curves` into the curves a planner
that knows everything but the creatives' qualities would expect. A plan made on
them is what a planner reading these logs exactly would buy and promise, the best
any model of them can do in expectation (`bench/plan_gap_bench.py`, the "knows all
but quality" rows; `bench/plan_quality_bench.py --ceiling`). It is a diagnostic of
generated worlds, never a plan's input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.optimize.curves import KEY, METRICS
from adopt.synth import vocab
from adopt.synth.entities import QUALITY_SD
from adopt.synth.response import click_probability, p_conversion
from adopt.synth.truth import Truth

GRID_POINTS = 201
GRID_WIDTH = 5.0  # the grid spans the prior mean +- this many prior sd
ROWS_PER_BLOCK = 20_000  # impressions per likelihood block (bounds rows x grid memory)
CEILING_DRAWS = 7  # quantile draws per creative for the curves expected under its posterior
_EPS = 1e-12


@dataclass(frozen=True)
class QualityPosterior:
    """Each creative's quality on a grid: prior and log likelihood of its logs.

    Attributes
    ----------
    ad_ids : pandas.Index
        The creatives, in the truth's order.
    grid : ndarray, shape (n_ads, GRID_POINTS)
        Quality values per creative (its prior mean +- GRID_WIDTH prior sd).
    log_prior, log_likelihood : ndarray, shape (n_ads, GRID_POINTS)
        Unnormalised log densities on the grid.
    counts : pandas.DataFrame
        impressions, clicks, conversions logged per creative (index ad_id).
    """

    ad_ids: pd.Index
    grid: np.ndarray
    log_prior: np.ndarray
    log_likelihood: np.ndarray
    counts: pd.DataFrame

    def weights(self, logs: bool = True) -> np.ndarray:
        """Normalised grid weights: the posterior, or the prior alone (`logs` False)."""
        log_w = self.log_prior + (self.log_likelihood if logs else 0.0)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    def summary(self, logs: bool = True) -> pd.DataFrame:
        """Mean and sd of each creative's quality, beside its logged counts."""
        w = self.weights(logs)
        mean = (w * self.grid).sum(axis=1)
        sd = np.sqrt(np.maximum((w * self.grid ** 2).sum(axis=1) - mean ** 2, 0.0))
        return self.counts.assign(mean=mean, sd=sd)

    def draws(self, n: int, logs: bool = True) -> pd.DataFrame:
        """`n` equally weighted quality values per creative: the midpoint quantiles.

        Parameters
        ----------
        n : int
            Draws per creative (their mean approximates the expectation).
        logs : bool
            From the posterior (True) or from the prior alone, as if nothing were logged.

        Returns
        -------
        pandas.DataFrame
            Index ad_id, one column per draw.
        """
        if n < 1:
            raise ParameterError(
                f"The 'n' parameter of QualityPosterior.draws must be at least 1. Got {n!r} "
                "instead.")
        w = self.weights(logs)
        mid_cdf = np.cumsum(w, axis=1) - 0.5 * w  # the cdf at each grid point's middle
        levels = (np.arange(n) + 0.5) / n
        values = np.stack([np.interp(levels, c, g) for c, g in
                           zip(mid_cdf, self.grid, strict=True)])
        return pd.DataFrame(values, index=self.ad_ids)


def offer_bonus(descriptions: object) -> np.ndarray:
    """The visible part of each creative's quality: the bonus of the offer its text ends with."""
    texts = pd.Series(descriptions, dtype="string").fillna("")
    out = np.zeros(len(texts))
    for offer, bonus in vocab.OFFERS:
        out[texts.str.endswith(offer).to_numpy(dtype=bool)] = bonus
    return out


def logged_impressions(world_dir: str | os.PathLike[str], truth: Truth) -> pd.DataFrame:
    """Every logged impression with its k (user x campaign position), click and conversion.

    k counts the user's impressions of the campaign over the whole log in time
    order, as the simulator does.
    """
    folder = Path(world_dir) / "events"
    if not folder.is_dir():
        raise WorkspaceError(f"{folder} is missing: give a folder written by `adopt generate`.")
    events = pd.read_parquet(folder, columns=["ts", "user_id", "ad_id", "placement_id",
                                              "event", "impression_id"])
    shown = events.loc[events["event"] == "impression"].sort_values("ts", kind="stable")
    shown = shown.assign(campaign_id=truth.ads["campaign_id"].reindex(shown["ad_id"]).to_numpy())
    shown["k"] = shown.groupby(["user_id", "campaign_id"], sort=False).cumcount() + 1
    for event, column in (("click", "clicked"), ("conversion", "converted")):
        ids = events.loc[events["event"] == event, "impression_id"]
        shown[column] = shown["impression_id"].isin(ids).to_numpy()
    return shown.drop(columns=["event", "ts"]).reset_index(drop=True)


def quality_posterior(world_dir: str | os.PathLike[str], truth: Truth) -> QualityPosterior:
    """Each creative's quality given its logs, with every other part of the truth known.

    The prior is the offer bonus its text shows plus N(0, QUALITY_SD^2 +
    campaign_quality^2), each creative on its own.

    Parameters
    ----------
    world_dir : path
        A world written by `adopt generate` (``ads.parquet``, ``events/``).
    truth : Truth
        Its truth (`adopt.synth.load_truth`).

    Returns
    -------
    QualityPosterior
    """
    ads = pd.read_parquet(Path(world_dir) / "ads.parquet", columns=["ad_id", "description"])
    bonus = pd.Series(offer_bonus(ads["description"]), index=ads["ad_id"])
    ad_ids = truth.ads.index
    prior_mean = bonus.reindex(ad_ids).fillna(0.0).to_numpy()
    steps = np.linspace(-GRID_WIDTH, GRID_WIDTH, GRID_POINTS)
    # a quality the campaign's creatives share (`ResponseParams.campaign_quality`) widens
    # each creative's prior; the siblings' logs are not pooled into it (a looser ceiling)
    prior_sd = float(np.hypot(QUALITY_SD, truth.params.campaign_quality))
    grid = prior_mean[:, None] + prior_sd * steps[None, :]
    log_prior = np.broadcast_to(-0.5 * steps ** 2, grid.shape).copy()
    log_lik = np.zeros_like(grid)

    shown = logged_impressions(world_dir, truth)
    params = truth.params
    sub_of = truth.ads["subcategory"]
    users = truth.users
    effect = truth.placements["effect"]
    for ad_id, rows in shown.groupby("ad_id", sort=False):
        i = ad_ids.get_loc(ad_id)
        interest = users[f"interest_{sub_of[ad_id]}"].reindex(rows["user_id"]).to_numpy()
        placement = effect.reindex(rows["placement_id"]).to_numpy()
        base = (params.b0 + params.b_match * interest
                + users["demo_effect"].reindex(rows["user_id"]).to_numpy() + placement)
        # a creative's appeal to each age band is the truth's, known like the rest
        appeal = np.broadcast_to(truth.appeal(users.index.get_indexer(rows["user_id"]),
                                              np.full(len(rows), i)), len(rows))
        base = base + appeal
        k = rows["k"].to_numpy()
        clicked, converted = rows["clicked"].to_numpy(), rows["converted"].to_numpy()
        price = float(truth.ads.at[ad_id, "price"])
        for lo in range(0, len(rows), ROWS_PER_BLOCK):
            s = slice(lo, lo + ROWS_PER_BLOCK)
            p = np.clip(click_probability(base[s, None] + grid[i][None, :], k[s, None], params),
                        _EPS, 1 - _EPS)
            log_lik[i] += np.where(clicked[s, None], np.log(p), np.log1p(-p)).sum(axis=0)
            c = clicked[s]
            if c.any():
                pc = np.clip(p_conversion(interest[s][c, None],
                                          grid[i][None, :] + appeal[s][c, None], price, params,
                                          placement[s][c, None]), _EPS, 1 - _EPS)
                log_lik[i] += np.where(converted[s][c, None], np.log(pc),
                                       np.log1p(-pc)).sum(axis=0)
    counts = shown.groupby("ad_id").agg(impressions=("k", "size"), clicks=("clicked", "sum"),
                                        conversions=("converted", "sum"))
    counts = counts.reindex(ad_ids, fill_value=0).astype(np.int64)
    return QualityPosterior(ad_ids=ad_ids, grid=grid, log_prior=log_prior,
                            log_likelihood=log_lik, counts=counts)


def on_cells(values: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """`values`' clicks, conversions, revenue and ad_id on `curves`' rows (campaign x
    segment x placement x k); every other column (users, reach, capacity, cost) is the
    curves'.

    Raises
    ------
    WorkspaceError
        A row of `curves` that `values` lacks (curves of another world or segments).
    """
    key = list(KEY)
    picked = values.set_index(key)[list(METRICS) + ["ad_id"]].reindex(
        pd.MultiIndex.from_frame(curves[key]))
    missing = picked["ad_id"].isna().to_numpy()
    if missing.any():
        first = dict(zip(key, curves[key].to_numpy()[missing.argmax()], strict=True))
        raise WorkspaceError(
            f"The truth has no curve for {int(missing.sum())} of the curves' rows (the first: "
            f"{first}): give curves built from this world's workspace.")
    out = curves.copy()
    for col in picked.columns:
        out[col] = picked[col].to_numpy()
    return out


def true_curves_on_cells(truth: Truth, audiences: pd.DataFrame, curves: pd.DataFrame,
                         quality: pd.DataFrame | None = None,
                         metric: str | None = None) -> pd.DataFrame:
    """The truth's curves of the campaigns in `curves` (the best creative per cell by
    `metric`, at `quality`, as `Truth.true_curves` takes them) on `curves`' rows
    (`on_cells`)."""
    ads = truth.ads.index[truth.ads["campaign_id"].isin(curves["campaign_id"].unique())]
    return on_cells(truth.true_curves(audiences, int(curves["k"].max()), ads=ads,
                                      quality=quality, metric=metric), curves)


def ceiling_curves(world_dir: str | os.PathLike[str], truth: Truth, audiences: pd.DataFrame,
                   curves: pd.DataFrame, *, logs: bool = True, draws: int = CEILING_DRAWS,
                   posterior: QualityPosterior | None = None,
                   metric: str | None = None) -> pd.DataFrame:
    """The curves a planner expects that knows the truth's response but each creative's quality.

    Each creative's quality is read from its own logs exactly (`quality_posterior`), or
    from its text alone (`logs` False); the rest of the response (the users' interests,
    the fall with k, the placements, the price) is the truth's. The expected curves
    average the truth's over `draws` quantiles of each posterior, the best creative per
    cell by that expectation; the cells, their users, reach, capacity and cost are
    `curves`', as the model's plan has them. A plan made on them is what a planner that
    reads these logs exactly would buy and promise: in expectation over the logs' luck no
    model of them does better, but on one world a model's own errors can land it above
    (bench/plan_gap_bench.py, docs/curves.md session 22).

    Parameters
    ----------
    world_dir : path
        The world (``ads.parquet``, ``events/``).
    truth : Truth
        Its truth.
    audiences : pandas.DataFrame
        user_id, segment: the users of the segments planned.
    curves : pandas.DataFrame
        The model's curves: the result has their rows and columns, with the truth's
        expected clicks, conversions, revenue and creative.
    logs, draws : as `QualityPosterior.draws`.
    posterior : a `quality_posterior` already computed for this world.
    metric : the metric each cell's creative is chosen by (`Truth.true_curves`; the
        plan's objective); default each campaign's own objective.

    Returns
    -------
    pandas.DataFrame
    """
    posterior = posterior if posterior is not None else quality_posterior(world_dir, truth)
    return true_curves_on_cells(truth, audiences, curves, posterior.draws(draws, logs), metric)
