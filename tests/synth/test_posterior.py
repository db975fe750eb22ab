"""What the logs say about each creative's quality: adopt.synth.posterior."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.synth import Truth, generate_world, load_truth
from adopt.synth.entities import QUALITY_SD
from adopt.synth.posterior import (
    CEILING_DRAWS,
    QualityPosterior,
    ceiling_curves,
    logged_impressions,
    offer_bonus,
    quality_posterior,
)


@pytest.fixture(scope="module")
def truth(demo_world: Path) -> Truth:
    return load_truth(demo_world)


@pytest.fixture(scope="module")
def posterior(demo_world: Path, truth: Truth) -> QualityPosterior:
    return quality_posterior(demo_world, truth)


def test_logged_impressions_count_k_per_user_and_campaign(demo_world: Path, truth: Truth,
                                                          impressions: pd.DataFrame) -> None:
    ours = logged_impressions(demo_world, truth).set_index("impression_id")
    theirs = impressions.set_index("impression_id")
    assert len(ours) == len(theirs)
    assert (ours["k"].reindex(theirs.index).to_numpy() == theirs["k"].to_numpy()).all()
    assert (ours["clicked"].reindex(theirs.index).to_numpy()
            == theirs["clicked"].to_numpy()).all()


def test_the_offer_text_is_the_visible_part_of_quality(demo_world: Path, truth: Truth) -> None:
    ads = pd.read_parquet(demo_world / "ads.parquet").set_index("ad_id")
    hidden = truth.ads["quality"] - offer_bonus(ads["description"].reindex(truth.ads.index))
    assert abs(hidden.mean()) < 0.1
    assert 0.7 * QUALITY_SD < hidden.std() < 1.3 * QUALITY_SD
    assert offer_bonus(["Nothing on offer.", None]).tolist() == [0.0, 0.0]


def test_the_logs_move_each_quality_towards_the_truth(posterior: QualityPosterior,
                                                      truth: Truth) -> None:
    true = truth.ads["quality"].reindex(posterior.ad_ids).to_numpy()
    after, before = posterior.summary(), posterior.summary(logs=False)
    rmse_after = np.sqrt(np.mean((after["mean"].to_numpy() - true) ** 2))
    rmse_before = np.sqrt(np.mean((before["mean"].to_numpy() - true) ** 2))
    assert rmse_after < 0.75 * rmse_before
    assert np.allclose(before["sd"], QUALITY_SD, rtol=1e-3)
    # the posterior sd says how far off the mean is: ~90% of creatives inside +-1.645 sd
    z = (true - after["mean"].to_numpy()) / after["sd"].to_numpy()
    assert 0.75 <= np.mean(np.abs(z) < 1.645) <= 0.99
    # the more a creative was clicked, the narrower its posterior
    assert np.corrcoef(after["clicks"], after["sd"])[0, 1] < -0.3


def test_a_creative_never_logged_keeps_its_prior(posterior: QualityPosterior) -> None:
    unseen = posterior.counts["impressions"].to_numpy() == 0
    assert unseen.any()
    after, before = posterior.summary(), posterior.summary(logs=False)
    assert np.allclose(after.loc[unseen, "mean"], before.loc[unseen, "mean"])
    assert np.allclose(after.loc[unseen, "sd"], before.loc[unseen, "sd"])


def test_draws_are_the_posterior_quantiles(posterior: QualityPosterior) -> None:
    draws = posterior.draws(9)
    assert draws.shape == (len(posterior.ad_ids), 9)
    assert (np.diff(draws.to_numpy(), axis=1) > 0).all()
    summary = posterior.summary()
    assert np.allclose(draws.mean(axis=1), summary["mean"], atol=0.02)
    assert np.allclose(draws.std(axis=1, ddof=0), summary["sd"], rtol=0.15)
    with pytest.raises(ParameterError, match="'n' parameter of QualityPosterior.draws"):
        posterior.draws(0)


def test_true_curves_average_the_given_qualities(tiny_world: Path) -> None:
    truth = load_truth(tiny_world)
    audiences = pd.DataFrame({"user_id": truth.users.index, "segment": "all"})
    ads = truth.ads.index[truth.ads["campaign_id"] == truth.ads["campaign_id"].iloc[0]][:1]
    own = truth.ads.loc[ads, ["quality"]]
    assert truth.true_curves(audiences, 4, ads=ads).equals(
        truth.true_curves(audiences, 4, ads=ads, quality=own))
    low, high = own - 0.4, own + 0.4
    both = pd.concat([low, high], axis=1)
    mean = truth.true_curves(audiences, 4, ads=ads, quality=both)
    parts = [truth.true_curves(audiences, 4, ads=ads, quality=q) for q in (low, high)]
    for m in ("clicks", "conversions", "revenue"):
        assert np.allclose(mean[m], (parts[0][m] + parts[1][m]) / 2)
        assert (parts[0][m] < mean[m]).all() and (mean[m] < parts[1][m]).all()


def test_a_quality_shared_by_the_campaign_widens_each_creatives_prior(demo_world: Path,
                                                                      truth: Truth) -> None:
    shared = replace(truth, params=replace(truth.params, campaign_quality=0.4))
    wide = quality_posterior(demo_world, shared).summary(logs=False)
    assert np.allclose(wide["sd"], np.hypot(QUALITY_SD, 0.4), rtol=1e-3)


def test_the_ceiling_is_the_truth_at_each_creatives_posterior_on_the_curves_rows(
        tiny_world: Path) -> None:
    truth = load_truth(tiny_world)
    posterior = quality_posterior(tiny_world, truth)
    audiences = pd.DataFrame({"user_id": truth.users.index,
                              "segment": np.where(np.arange(len(truth.users)) % 2, "a", "b")})
    ads = truth.ads.index[truth.ads["campaign_id"].isin(truth.ads["campaign_id"].unique()[:2])]
    # the model's curves: their own row order and index, values and columns the ceiling keeps
    curves = truth.true_curves(audiences, 3, ads=ads).sample(frac=1.0, random_state=1)
    curves = curves.assign(conversions=0.0, cost=1.5, users=np.arange(len(curves)))
    key = ["campaign_id", "segment", "placement_id", "k"]
    for logs in (True, False):
        out = ceiling_curves(tiny_world, truth, audiences, curves, logs=logs,
                             posterior=posterior)
        assert out.index.equals(curves.index)
        assert (out["cost"] == 1.5).all() and out["users"].equals(curves["users"])
        expected = truth.true_curves(audiences, 3, ads=ads,
                                     quality=posterior.draws(CEILING_DRAWS, logs)).set_index(key)
        expected = expected.reindex(pd.MultiIndex.from_frame(curves[key]))
        for col in ("clicks", "conversions", "revenue"):
            assert np.allclose(out[col], expected[col])
        assert (out["ad_id"].to_numpy() == expected["ad_id"].to_numpy()).all()
    assert not np.allclose(out["clicks"], ceiling_curves(
        tiny_world, truth, audiences, curves, posterior=posterior)["clicks"])
    # a cell the truth has no curve for is named, not planned on as missing values
    stray = curves.head(1).assign(segment="elsewhere")
    with pytest.raises(WorkspaceError, match="no curve for 1 of the curves' rows"):
        ceiling_curves(tiny_world, truth, audiences, pd.concat([curves, stray]),
                       posterior=posterior)


def test_the_posterior_reads_each_creatives_appeal_by_age_band(tmp_path: Path) -> None:
    # the ceiling knows all but quality: a creative's appeal to each age band is known
    generate_world(tmp_path, seed=3, users=400, ads=20, days=6, show_progress=False,
                   creative_audience=1.0)
    truth = load_truth(tmp_path)
    cols = [c for c in truth.ads.columns if c.startswith("appeal_")]
    blind = replace(truth, ads=truth.ads.drop(columns=cols))
    known, unknown = (quality_posterior(tmp_path, t).summary() for t in (truth, blind))
    logged = known["clicks"] > 0
    error = {name: float(np.sqrt(((s["mean"] - truth.ads["quality"])[logged] ** 2).mean()))
             for name, s in (("known", known), ("unknown", unknown))}
    assert not np.allclose(known["mean"], unknown["mean"])
    assert error["known"] < error["unknown"]
