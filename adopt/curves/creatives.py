"""Each creative's own logged outcomes, beyond what the response model reads.

Data flow: the response model + ``training_examples`` (every logged
impression, with its own as-of features) -> `fit_creative_effects` -> a
`CreativeEffects`: per creative, its logged clicks and conversions against
the model's expectation on those same rows, shrunk by the spread the logs
support -> `CreativeAdjusted` scales the model's predictions of each
creative by it, before the curve stage picks a creative per cell ->
curves.json (``creative_effects``) and the plan's assumptions record it.
The same pass sums each creative's clicks by audience group for
`adopt.curves.creative_audiences` (what a creative does to one audience and
not another), kept only where the logs show more spread than chance.

Why: the response model does not read a creative's own history (its prior
impressions and clicks are not features, `adopt.response.features.CREATIVE_HISTORY`):
in the serving state every creative sits at its longest history, where the
trees read a count they rarely saw. It predicts a creative from what it
shares with others (text, price, brand, category, placement, the user).
What only the creative's own outcomes show comes here, as a multiplicative
effect with a Gamma(s, s) prior (mean 1): clicks ~ Poisson(E x effect), so
the effect's posterior mean is (clicks + s) / (E + s). The strength s is the
empirical-Bayes moment estimate, 1 / s = (sum (O - E)^2 - O) / sum E^2 over
creatives: spread beyond Poisson is real, the rest is noise, and with none
the effects are 1. Conversions per click get a second effect, on the
conversions against what the prior expects of the clicks the creative logged
(so neither the luck of its clicks nor who happened to click passes to it),
whose prior mean follows the click effect, exp(a + b log click factor): a
creative's few conversions barely show what its many clicks do. (a, b) are
fitted by the negative binomial likelihood over creatives and the strength is
integrated out over a grid (`linked_factors`). A factor applies as a shift of
the log-odds that scales the model's expectation on the creative's logged rows
by it (`logit_shifts`, from the rows' predictions summed in bins of 0.05
log-odds), not as a product on every row: a creative's quality moves a
logistic model's log-odds, and a product would promise the users the plan
buys, those already most likely to convert, the most. Against a model that
read the history features, on ten generated worlds, the effects took plan /
oracle 0.800 -> 0.842 and the link 0.842 -> 0.855 (docs/curves.md, sessions
10 and 11); the strength integrated out, 0.883 -> 0.886 on 26 worlds
(session 15).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, gammaln, logit

from adopt.curves.creative_audiences import AudienceEffects, binned, fit_audience_effects
from adopt.curves.logit_shifts import LOGIT_BIN, logit_shifts
from adopt.progress import Progress
from adopt.shrinkage import NO_SPREAD, prior_strength, shrunk_factors, strength_text
from adopt.warehouse import examples_order, fetch_batches
from adopt.workspace import PROFILES_HINT, Workspace

BATCH_ROWS = 200_000  # logged rows predicted at a time (bounds the memory of the pass)
# strengths tried, in pseudo-conversions, 8 a decade; 1e5: as good as no spread beyond the link
_STRENGTH_GRID = np.logspace(np.log10(0.5), 5.0, 43)
_LOG_EFFECT_BOUND = 10.0  # |a|, |b| of the conversions' prior mean exp(a + b log click)


@dataclass(frozen=True)
class CreativeEffects:
    """Per creative, the factor on its predicted clicks and on its conversions per click.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ad_id; columns clicks, expected_clicks, conversions,
        expected_conversions (the model's, on the creative's logged rows),
        expected_conversions_of_clicks (the model's p(conversion | click) summed
        over the rows that were clicked),
        click_factor, conversion_factor (conversions per click; the
        conversions' factor is their product), and click_shift,
        conversion_shift: the shifts of the log-odds that scale the model's
        expectation on the creative's logged rows by those factors (how the
        effects are applied, `CreativeAdjusted`).
    click_strength, conversion_strength : float
        The prior's strength in pseudo-clicks and pseudo-conversions (inf: no
        spread beyond Poisson, every click factor 1); the conversions' is the
        summary `linked_factors` returns, its factors average over a grid.
    conversion_link : (float, float)
        (a, b) of the conversions-per-click prior mean exp(a + b log click_factor).
    against : what the outcomes were weighed against, in words.
    audiences : each creative's clicks by audience group beyond its effect
        (`adopt.curves.creative_audiences`); None where not fitted or no grouping's cells
        spread more than chance.
    """

    table: pd.DataFrame
    click_strength: float
    conversion_strength: float
    conversion_link: tuple[float, float] = (0.0, 0.0)
    against: str = "the model's expectation"
    audiences: AudienceEffects | None = None

    def shifts(self, ad_ids: np.ndarray, user_ids: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Shifts of the click and conversion-per-click log-odds of `ad_ids` (0: a creative
        never logged); with `user_ids`, a row's creative x audience shifts where it has them."""
        index = self.table.index.get_indexer(pd.Index(ad_ids).astype(str))
        click = self.table["click_shift"].to_numpy()
        per_click = self.table["conversion_shift"].to_numpy()
        known = index >= 0
        out_click, out_per_click = np.zeros(len(index)), np.zeros(len(index))
        out_click[known], out_per_click[known] = click[index[known]], per_click[index[known]]
        if self.audiences is not None and user_ids is not None:
            return self.audiences.override(np.asarray(ad_ids), np.asarray(user_ids),
                                          out_click, out_per_click)
        return out_click, out_per_click

    def record(self) -> dict[str, Any]:
        """What curves.json keeps: the strengths, the factors' range and a line of text."""
        def spread(col: str) -> dict[str, float]:
            v = self.table[col]
            return {"min": float(v.min()), "median": float(v.median()), "max": float(v.max())}

        return {"creatives": len(self.table), "click_strength": _finite(self.click_strength),
                "conversion_strength": _finite(self.conversion_strength),
                "conversion_link": {"intercept": self.conversion_link[0],
                                    "slope_on_log_click_factor": self.conversion_link[1]},
                "click_factor": spread("click_factor"),
                "conversion_factor": spread("conversion_factor"),
                "audience_effects": None if self.audiences is None else self.audiences.record(),
                "text": str(self)}

    def __str__(self) -> str:
        c, v = self.table["click_factor"], self.table["conversion_factor"]
        a, b = self.conversion_link
        return (f"each creative's own logged outcomes against {self.against}, shrunk "
                f"by {strength_text(self.click_strength)} pseudo-clicks and "
                f"{strength_text(self.conversion_strength)} pseudo-conversions around "
                f"exp({a:+.2f} {b:+.2f} log click factor) ({len(self.table)} "
                f"creatives): clicks x{c.min():.2f}-{c.max():.2f} (median {c.median():.2f}), "
                f"conversions per click x{v.min():.2f}-{v.max():.2f} (median {v.median():.2f})"
                + ("" if self.audiences is None else f"; {self.audiences}"))


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def linked_factors(observed: np.ndarray, expected: np.ndarray, link: np.ndarray
                   ) -> tuple[np.ndarray, tuple[float, float], float]:
    """Effects whose prior mean follows a creative-level covariate, by marginal likelihood.

    observed ~ Poisson(expected x m x u), m = exp(a + b x link), u ~ Gamma(s, s):
    at each strength s of a grid, (a, b) maximise the negative binomial likelihood
    of the counts over creatives, and each effect's posterior mean is
    m (O + s) / (E m + s). The strength is integrated out, not picked: the effects
    are those posterior means averaged over the grid, each strength weighted by its
    likelihood under a uniform prior on the spread's sd 1 / sqrt(s). With a few
    counts per creative the likelihood is flat from a real spread to none, and its
    maximum sat at none (every creative's own counts ignored) on four of seven
    generated worlds whose creatives spread by about 0.2 on the log scale
    (docs/curves.md, session 15). With no counts at all every effect is 1.

    Returns
    -------
    factors, (a, b), s
        (a, b) and s are the posterior means of the coefficients and of the sd
        (s = 1 / mean sd^2), a summary: the factors average over the grid.
    """
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    link = np.asarray(link, float)
    if observed.sum() <= 0 or expected.sum() <= 0:
        return np.ones(len(observed)), (0.0, 0.0), NO_SPREAD
    design = np.c_[np.ones(len(observed)), link]
    expected = np.maximum(expected, 1e-12)

    def loss(coef: np.ndarray, s: float) -> float:
        mean = expected * np.exp(design @ coef)
        return -float((gammaln(observed + s) - gammaln(s) + s * np.log(s / (s + mean))
                       + observed * np.log(mean / (s + mean))).sum())

    # the strength on a fixed grid, (a, b) solved at each: far from Poisson the likelihood
    # is flat in s, and a continuous search there moved with the last bits of the counts
    # (run to run, the demo's strength read 1,476 to 2,868 pseudo-conversions)
    bounds = [(-_LOG_EFFECT_BOUND, _LOG_EFFECT_BOUND)] * 2
    coef, nll, coefs = np.zeros(2), [], []
    for strength in _STRENGTH_GRID:
        fit = minimize(loss, coef, args=(strength,), method="L-BFGS-B", bounds=bounds,
                       options={"ftol": 1e-15, "gtol": 1e-9})
        coef = fit.x
        nll.append(fit.fun)
        coefs.append(coef)
    # the grid is even in log s: a uniform prior on sd = s^-1/2 weighs each point by sd
    log_weight = -(np.array(nll) - min(nll)) - 0.5 * np.log(_STRENGTH_GRID)
    weight = np.exp(log_weight - log_weight.max())
    weight /= weight.sum()
    factors = np.zeros(len(observed))
    for w, c, strength in zip(weight, coefs, _STRENGTH_GRID, strict=True):
        prior = np.exp(design @ c)
        factors += w * prior * (observed + strength) / (expected * prior + strength)
    a, b = weight @ np.array(coefs)
    sd = weight @ (1.0 / np.sqrt(_STRENGTH_GRID))
    return factors, (float(a), float(b)), float(1.0 / sd ** 2)


def _bin_sums(bins: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """Each creative's sum w sigmoid(x) over its bins (0 without bins)."""
    sums = (bins["weight"] * expit(bins["logit"])).groupby(bins["ad_id"].astype(str)).sum()
    return sums.reindex(index).fillna(0.0).to_numpy(float)


def _expected_conversions_of_clicks(counts: pd.DataFrame) -> np.ndarray:
    """The conversions the prior expects of the clicks each creative logged.

    ``expected_conversions_of_clicks`` sums the prior's p(conversion | click) over the
    rows that were clicked; without it, the prior's mean conversions per click times
    the clicks. Weighed against the clicks the creative logged, its conversions carry
    neither the luck of its clicks nor who happened to click (a lucky run of clicks
    from users who buy more is not a better converter); weighed against its expected
    clicks times its click factor, they did, and the link read that luck as quality:
    on generated worlds its slope on the log click factor came out 0.56-1.09 where the
    truth's is 0.54-0.74, above it on all seven (docs/curves.md, session 18).
    """
    if "expected_conversions_of_clicks" in counts:
        return counts["expected_conversions_of_clicks"].to_numpy(float)
    return _mean_per_click(counts) * counts["clicks"].to_numpy(float)


def _mean_per_click(counts: pd.DataFrame) -> np.ndarray:
    """The prior's conversions per click over each creative's expected clicks."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(counts["expected_conversions"].to_numpy(float)
                             / counts["expected_clicks"].to_numpy(float))


def effects_from_counts(counts: pd.DataFrame, click_bins: pd.DataFrame | None = None,
                        conversion_bins: pd.DataFrame | None = None) -> CreativeEffects:
    """`CreativeEffects` from per-creative clicks, expected_clicks, conversions,
    expected_conversions and, where the rows gave it, expected_conversions_of_clicks
    (`_expected_conversions_of_clicks`; index ad_id), and the bins of the log-odds of clicks and of
    conversions per click (weighted by the clicks) that the curves' model predicts on
    each creative's logged rows.

    The factors scale the counts' expectations; the shifts move the curves' model so
    that its clicks and conversions on the logged rows reach the expectations times
    the factors (`logit_shifts`). Without bins a shift is the log of its factor (rare
    events, the counts' expectations from the curves' model).
    """
    c_strength = prior_strength(counts["clicks"], counts["expected_clicks"])
    click = shrunk_factors(counts["clicks"], counts["expected_clicks"], c_strength)
    # conversions per click against the prior's on the clicks the creative logged, with
    # a prior mean that follows the click effect: clicks are many, conversions few
    per_click, link, v_strength = linked_factors(
        counts["conversions"], _expected_conversions_of_clicks(counts), np.log(click))
    table = counts.assign(click_factor=click, conversion_factor=per_click)
    clicks = click * counts["expected_clicks"].to_numpy(float)
    table["click_shift"] = np.log(click)
    if click_bins is not None:
        shift = logit_shifts(click_bins, pd.Series(clicks, index=table.index))
        table["click_shift"] = shift.fillna(table["click_shift"])
    table["conversion_shift"] = np.log(per_click)
    if conversion_bins is not None and click_bins is not None:
        # the bins weigh each row by the model's clicks before the shift: the target is
        # the prior's conversions per click times the factor, times the model's clicks
        model_clicks = _bin_sums(click_bins, table.index)
        totals = per_click * _mean_per_click(counts) * model_clicks
        shift = logit_shifts(conversion_bins, pd.Series(np.nan_to_num(totals), index=table.index))
        table["conversion_shift"] = shift.fillna(table["conversion_shift"])
    return CreativeEffects(table=table, click_strength=c_strength,
                           conversion_strength=v_strength, conversion_link=link)


def _binned(ad_ids: np.ndarray, p: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """The weights summed per creative x log-odds bin of ``p`` (`LOGIT_BIN` wide)."""
    x = logit(np.clip(p, 1e-9, 1 - 1e-9))
    return pd.DataFrame({"ad_id": ad_ids, "bin": np.rint(x / LOGIT_BIN).astype(np.int64),
                         "weight": weight}).groupby(["ad_id", "bin"]).sum()


def _bins_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(parts).groupby(level=[0, 1]).sum().reset_index()
    return out.assign(logit=out["bin"] * LOGIT_BIN)


def fit_creative_effects(workspace: str | os.PathLike[str], model: Any,
                         attach: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                         batch_rows: int = BATCH_ROWS, prior: Any = None,
                         groupings: dict[str, pd.Series] | None = None
                         ) -> CreativeEffects | None:
    """Each creative's effect from the model's expectation on its logged rows (module docstring).

    Parameters
    ----------
    workspace : path
        A workspace with ``training_examples``.
    model : a fitted response model (``predict`` returning ``p_click`` and
        ``p_conversion``): the model the effects' shifts move.
    attach : the model's text-feature hook (`adopt.curves.pairs.text_feature_hook`).
    batch_rows : logged rows predicted at a time.
    prior : the model whose expectation each creative's outcomes are weighed against
        (default ``model``): `adopt.response.creative_folds.HeldOut`, which predicts
        each creative by a refit that never saw it, so that a creative's own outcomes
        enter once, through its effect, and not also through the trees' fit.
    groupings : candidate groupings of the users (`audience_groupings`): also fit each
        creative's clicks by audience beyond its effect (`adopt.curves.creative_audiences`).

    Returns
    -------
    CreativeEffects or None
        None when nothing is logged.
    """
    ws = Workspace.of(workspace)
    parts, click_bins, conversion_bins = [], [], []
    audience_bins: dict[str, list[pd.DataFrame]] = {name: [] for name in groupings or {}}
    with ws.connect(read_only=True) as con:
        ws.require("training_examples", PROFILES_HINT, con)
        total = con.execute("select count(*) from training_examples").fetchone()[0]
        if not total:
            return None
        # one order for every build of the same logs: the sums, and so the fitted link,
        # must not move with the order the rows come in
        con.execute(f"select * from training_examples order by {examples_order(con)}")
        with Progress(int(total), "curves: creatives' logged rows", unit="rows") as progress:
            for rows in fetch_batches(con, batch_rows):
                rows = attach(rows) if attach is not None else rows
                pred = model.predict(rows)
                expected = pred if prior is None or prior is model else prior.predict(rows)
                ad_ids = rows["ad_id"].astype(str).to_numpy()
                p_click = pred["p_click"].to_numpy(float)
                click_bins.append(_binned(ad_ids, p_click, np.ones(len(rows))))
                if "p_conversion_given_click" in pred:
                    conversion_bins.append(_binned(
                        ad_ids, pred["p_conversion_given_click"].to_numpy(float), p_click))
                clicked = rows["clicked"].fillna(False).to_numpy(float)
                users = rows["user_id"].astype(str) if groupings else None
                for name, group_of in (groupings or {}).items():
                    audience_bins[name].append(binned(
                        ad_ids, group_of.reindex(users).to_numpy(), p_click, clicked))
                parts.append(pd.DataFrame({
                    "ad_id": ad_ids,
                    "clicks": clicked.astype(int),
                    "expected_clicks": expected["p_click"].to_numpy(float),
                    "conversions": rows["converted"].fillna(False).astype(int).to_numpy(),
                    "expected_conversions": expected["p_conversion"].to_numpy(float)
                    if "p_conversion" in expected else 0.0,
                    "expected_conversions_of_clicks":
                    clicked * expected["p_conversion_given_click"].to_numpy(float)
                    if "p_conversion_given_click" in expected else 0.0,
                }).groupby("ad_id").sum())
                progress.update(len(rows))
    counts = pd.concat(parts).groupby(level=0).sum().sort_index()
    effects = effects_from_counts(counts, _bins_table(click_bins),
                                  _bins_table(conversion_bins) if conversion_bins else None)
    if not groupings:
        return effects
    audiences = fit_audience_effects(audience_bins, effects.table, effects.conversion_link[1],
                                     groupings)
    return replace(effects, audiences=audiences)


class CreativeAdjusted:
    """A response model whose predictions of each creative carry its `CreativeEffects`.

    ``predict`` shifts the log-odds of ``p_click`` and of
    ``p_conversion_given_click`` by the creative's shifts: on its logged rows the
    model's expected clicks and conversions per click grow by its factors, spread
    over the rows as a creative's quality moves a logistic model (a factor of 2
    on conversions per click doubles a user at 2% and takes one at 40% to 57%,
    where scaling every row by 2 would promise 80%); everything else is the
    wrapped model's.
    """

    def __init__(self, model: Any, effects: CreativeEffects) -> None:
        self.model = model
        self.effects = effects
        self.features_ = getattr(model, "features_", None)

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = self.model.predict(rows).copy()
        users = rows["user_id"].to_numpy() if "user_id" in rows else None
        click, per_click = self.effects.shifts(rows["ad_id"].to_numpy(), users)
        out["p_click"] = shift_logit(out["p_click"].to_numpy(float), click)
        if "p_conversion_given_click" in out:
            out["p_conversion_given_click"] = shift_logit(
                out["p_conversion_given_click"].to_numpy(float), per_click)
            out["p_conversion"] = out["p_click"] * out["p_conversion_given_click"]
        return out


def shift_logit(p: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    """``p`` with its log-odds moved by ``shift`` (``p`` held 1e-12 inside 0 and 1 first)."""
    return expit(logit(np.clip(p, 1e-12, 1 - 1e-12)) + shift)
