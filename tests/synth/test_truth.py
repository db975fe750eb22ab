"""The oracle: load_truth, Truth.expected and Truth.true_curves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.synth import Truth, load_truth


@pytest.fixture(scope="module")
def truth(tiny_world: Path) -> Truth:
    return load_truth(tiny_world)


@pytest.fixture(scope="module")
def audiences(truth: Truth) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    users = truth.users.index.to_numpy()
    aud = pd.DataFrame({"user_id": users, "segment": rng.choice(["s1", "s2", "s3"], len(users))})
    # one overlapping segment: a user may sit in several
    extra = pd.DataFrame({"user_id": users[:50], "segment": "vip"})
    return pd.concat([aud, extra], ignore_index=True)


def test_load_truth_needs_a_world(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="params.json not found"):
        load_truth(tmp_path)


def test_truth_contents(truth: Truth, tiny_world: Path) -> None:
    ads = pd.read_parquet(tiny_world / "ads.parquet")
    assert list(truth.ads.index) == list(ads.ad_id)
    assert truth.users.filter(like="interest_").shape[1] == 24
    assert truth.users.filter(like="interest_").max(axis=1).eq(1.0).all()
    assert truth.users.filter(like="policy_").sum(axis=1).round(6).eq(1.0).all()
    assert set(truth.info) >= {"response", "fatigue", "logging_policy", "categories", "seed"}
    assert "explore" in truth.info["logging_policy"]["description"]


def test_expected_follows_the_response_function(truth: Truth) -> None:
    user = truth.users.index[0]
    ad = truth.ads.index[0]
    out = truth.expected([user] * 6, [ad] * 6, ["search_top"] * 5 + ["home_banner"], np.r_[1:6, 1])
    assert list(out.columns) == ["p_click", "p_conversion_given_click", "p_conversion",
                                 "expected_revenue"]
    assert (np.diff(out.p_click[:5]) < 0).all()  # fatigue
    assert out.p_click[0] > out.p_click[5]  # search_top beats home_banner
    assert np.allclose(out.p_conversion, out.p_click * out.p_conversion_given_click)
    order_value = truth.ads.loc[ad, "order_value"]
    assert np.allclose(out.expected_revenue, out.p_conversion * order_value)


def test_expected_refuses_unknown_ids_and_bad_k(truth: Truth) -> None:
    user, ad = truth.users.index[0], truth.ads.index[0]
    with pytest.raises(InputError, match="column 'ad_id', row 2: unknown id 'nope'"):
        truth.expected([user, user], [ad, "nope"], ["search_top"] * 2)
    with pytest.raises(InputError, match="column 'k'.*start at 1"):
        truth.expected([user], [ad], ["search_top"], k=0)


def test_true_curves_shape_and_monotone(truth: Truth, audiences: pd.DataFrame) -> None:
    curves = truth.true_curves(audiences, max_k=6)
    n_camp = truth.ads.campaign_id.nunique()
    assert len(curves) == n_camp * 4 * len(truth.placements) * 6
    assert list(curves.columns) == ["campaign_id", "segment", "placement_id", "k", "users",
                                    "cost_per_impression", "clicks", "conversions", "revenue",
                                    "ad_id"]
    sizes = audiences.segment.value_counts()
    assert (curves.users == curves.segment.map(sizes)).all()
    cpm = truth.placements.cpm
    assert np.allclose(curves.cost_per_impression, curves.placement_id.map(cpm) / 1000)
    key = ["campaign_id", "segment", "placement_id"]
    for col in ("clicks", "conversions", "revenue"):
        assert (curves.groupby(key)[col].diff().dropna() < 0).all(), col
    assert (curves.groupby(key).ad_id.nunique() == 1).all()
    assert (curves.ad_id.map(truth.ads.campaign_id) == curves.campaign_id).all()


def test_true_curves_average_expected_over_the_segment(truth: Truth,
                                                       audiences: pd.DataFrame) -> None:
    curves = truth.true_curves(audiences, max_k=3)
    row = curves[(curves.segment == "vip") & (curves.placement_id == "product_detail")
                 & (curves.k == 3)].iloc[0]
    users = audiences.user_id[audiences.segment == "vip"]
    n = len(users)
    campaign_ads = truth.ads.index[truth.ads.campaign_id == row.campaign_id]
    metric = {"clicks": "p_click", "reach": "p_click", "conversions": "p_conversion",
              "revenue": "expected_revenue"}[truth.campaigns.objective[row.campaign_id]]
    values = {}
    for ad in campaign_ads:
        total = sum(truth.expected(users, [ad] * n, ["product_detail"] * n, k)[metric].mean()
                    for k in (1, 2, 3))
        values[ad] = total
    assert row.ad_id == max(values, key=values.get)
    direct = truth.expected(users, [row.ad_id] * n, ["product_detail"] * n, 3)
    assert np.isclose(row.clicks, direct.p_click.mean())
    assert np.isclose(row.conversions, direct.p_conversion.mean())
    assert np.isclose(row.revenue, direct.expected_revenue.mean())


def test_true_curves_restricted_ads_and_bad_input(truth: Truth, audiences: pd.DataFrame) -> None:
    some = truth.ads.index[:4]
    curves = truth.true_curves(audiences, max_k=2, ads=some)
    assert set(curves.ad_id) <= set(some)
    assert set(curves.campaign_id) == set(truth.ads.campaign_id[some])
    with pytest.raises(InputError, match="audiences.*column 'segment'.*missing"):
        truth.true_curves(audiences[["user_id"]])
    with pytest.raises(InputError, match="column 'user_id'.*unknown id 'ghost'"):
        truth.true_curves(pd.DataFrame({"user_id": ["ghost"], "segment": ["a"]}))
    with pytest.raises(InputError, match="column 'ads'.*no creative"):
        truth.true_curves(audiences, ads=[])
    with pytest.raises(InputError, match="table 'audiences'.*no rows"):
        truth.true_curves(audiences.iloc[:0])
    with pytest.raises(ParameterError, match="'max_k' parameter.*at least 1"):
        truth.true_curves(audiences, max_k=0)


def test_expected_broadcasts_scalar_ids_against_arrays(truth: Truth) -> None:
    users = truth.users.index[:3]
    ad, placement = truth.ads.index[0], truth.placements.index[0]
    one = truth.expected(users, ad, placement, k=2)
    many = truth.expected(users, [ad] * 3, [placement] * 3, k=[2, 2, 2])
    assert len(one) == 3
    pd.testing.assert_frame_equal(one, many)


def test_geometric_fatigue_multiplies_the_click_rate(truth: Truth) -> None:
    geometric = replace(truth, params=replace(truth.params, fatigue_form="geometric",
                                              fatigue_rate=0.7))
    user, ad = truth.users.index[0], truth.ads.index[0]
    out = geometric.expected([user] * 5, [ad] * 5, ["search_top"] * 5, np.r_[1:6])
    assert np.allclose(out.p_click / out.p_click[0], 0.7 ** np.arange(5))
    assert out.p_click[0] == pytest.approx(truth.expected(user, ad, "search_top").p_click[0])
    aud = pd.DataFrame({"user_id": truth.users.index[:30], "segment": "s"})
    curves = geometric.true_curves(aud, max_k=4, ads=[ad])
    cell = curves[curves["placement_id"] == "search_top"]
    direct = geometric.expected(np.repeat(aud["user_id"], 4), ad, "search_top",
                                np.tile(np.r_[1:5], 30))
    assert np.allclose(cell["clicks"], direct.p_click.to_numpy().reshape(30, 4).mean(axis=0))


def test_true_curves_choose_the_creative_for_the_plans_metric(truth: Truth,
                                                              audiences: pd.DataFrame) -> None:
    """Given a metric, every cell runs the creative with the most of it summed over k, so
    a conversions plan's oracle is at least the campaign-objective oracle's, cell by cell."""
    key = ["campaign_id", "segment", "placement_id"]
    own = truth.true_curves(audiences, max_k=3)
    per_ad = pd.concat([truth.true_curves(audiences, max_k=3, ads=[ad])
                        for ad in truth.ads.index])
    for metric in ("conversions", "clicks", "revenue"):
        chosen = truth.true_curves(audiences, max_k=3, metric=metric)
        summed = chosen.groupby(key)[metric].sum()
        best = per_ad.groupby(key + ["ad_id"])[metric].sum().groupby(level=key).max()
        assert np.allclose(summed.to_numpy(), best.reindex(summed.index).to_numpy())
        assert (summed >= own.groupby(key)[metric].sum() - 1e-12).all()
    chosen = truth.true_curves(audiences, max_k=3, metric="revenue")
    differ = (chosen.ad_id != own.ad_id).mean()
    assert 0 < differ < 1  # a few of the tiny world's cells run another creative for revenue
    reach = truth.true_curves(audiences, max_k=3, metric="reach")
    assert (reach.ad_id == truth.true_curves(audiences, max_k=3, metric="clicks").ad_id).all()
    with pytest.raises(ParameterError, match="'metric' parameter.*Got 'spend'"):
        truth.true_curves(audiences, metric="spend")
