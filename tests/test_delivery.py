"""Exposure forecasts and user-by-user delivery on a tiny generated world's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adopt.curves.baselines import uniform_exposure
from adopt.delivery import (
    DeliveryCaps,
    _split,
    deliver,
    evaluate_exposure,
    validate_exposure,
)
from adopt.exceptions import InputError
from adopt.synth import generate_world, load_truth
from adopt.synth.truth import Truth


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Truth, pd.DataFrame]:
    out: Path = tmp_path_factory.mktemp("delivery")
    generate_world(out, users=400, ads=20, days=6, seed=3, show_progress=False)
    truth = load_truth(out)
    audiences = pd.DataFrame({"user_id": truth.users.index,
                              "segment": np.where(np.arange(len(truth.users)) % 2, "a", "b")})
    return truth, audiences


def _profile(rows: list[tuple[str, int, float, float]], ad: str = "a0001",
             campaign: str = "c0001", segment: str = "a") -> pd.DataFrame:
    """Exposure rows (placement_id, frequency, users, impressions) of one campaign x segment."""
    return pd.DataFrame([{"campaign_id": campaign, "segment": segment, "placement_id": p,
                          "ad_id": ad, "frequency": n, "users": u, "impressions": i}
                         for p, n, u, i in rows])


def _members(audiences: pd.DataFrame, segment: str = "a") -> np.ndarray:
    return audiences.loc[audiences["segment"] == segment, "user_id"].to_numpy()


def test_one_placement_delivers_the_analytic_mean_over_k(world) -> None:
    truth, audiences = world
    users = _members(audiences)
    n = 4
    exposure = _profile([("feed_native", n, 150.0, n * 150.0)])
    # every member equally likely: the expected value is the segment's mean of k = 1..N
    per_user = sum(truth.expected(users, np.full(len(users), "a0001"),
                                  np.full(len(users), "feed_native"), k)["p_click"].mean()
                   for k in range(1, n + 1))
    got = [deliver(truth, audiences, exposure, seed=s).totals["clicks"] for s in range(20)]
    assert np.mean(got) == pytest.approx(150 * per_user, rel=0.03)
    one = deliver(truth, audiences, exposure, seed=0)
    assert one.totals["impressions"] == n * 150 and one.totals["reach"] == 150
    assert one.totals["spend"] == pytest.approx(n * 150 * truth.placements.loc[
        "feed_native", "cpm"] / 1000)


def test_a_users_k_counts_across_placements(world) -> None:
    truth, audiences = world
    users = _members(audiences)
    exposure = _profile([("feed_native", 2, 200.0, 200.0), ("search_top", 2, 200.0, 200.0)])
    got = deliver(truth, audiences, exposure, seed=1).totals["clicks"]

    def clicks(placement: str, k: int) -> float:
        n = len(users)
        return 200 * truth.expected(users, np.full(n, "a0001"), np.full(n, placement),
                                    k)["p_click"].mean()

    across = sum((clicks(p, 1) + clicks(p, 2)) / 2 for p in ("feed_native", "search_top"))
    per_placement = clicks("feed_native", 1) + clicks("search_top", 1)  # k = 1 twice
    assert per_placement > across * 1.05  # fatigue makes the two readings differ
    assert got == pytest.approx(across, rel=0.02)  # 200 of the 200 members: no sampling error


def test_every_user_gets_exactly_n_with_floor_or_ceil_per_placement() -> None:
    rng = np.random.default_rng(0)
    avg = np.array([1.4, 0.35, 1.25, 2.0, 0.5, 0.5])  # groups: N = 3 (3 rows), 2 (1), 1 (2)
    start, width = np.array([0, 3, 4]), np.array([3, 1, 2])
    user_group = np.repeat([0, 1, 2], [5000, 10, 4000])
    row, count = _split(rng, avg, start, width, user_group)
    owner = np.repeat(np.arange(len(user_group)), width[user_group])
    per_user = np.bincount(owner, weights=count)
    assert (per_user == np.array([3, 2, 1])[user_group]).all()
    assert ((count == np.floor(avg[row])) | (count == np.ceil(avg[row]))).all()
    means = np.bincount(row, weights=count) / np.bincount(row)
    assert means == pytest.approx(avg, abs=0.02)


def test_delivery_is_deterministic_given_the_seed(world) -> None:
    truth, audiences = world
    exposure = uniform_exposure(truth.true_curves(audiences, 4), 40.0)
    first, again = (deliver(truth, audiences, exposure, seed=7) for _ in range(2))
    assert first.totals == again.totals
    assert deliver(truth, audiences, exposure, seed=8).totals != first.totals


def test_groups_beyond_the_segment_are_truncated_and_counted(world) -> None:
    truth, audiences = world
    size = len(_members(audiences))
    exposure = pd.concat([_profile([("feed_native", 1, 150.0, 150.0)]),
                          _profile([("feed_native", 3, 150.0, 450.0)])])
    got = deliver(truth, audiences, exposure, seed=0)
    assert got.users_requested == 300 and got.users_drawn == size
    assert got.users_short == 300 - size
    assert got.totals["impressions"] == 150 + 3 * (size - 150)  # the larger N is cut


def test_caps_drop_and_count_impressions(world) -> None:
    truth, audiences = world
    exposure = _profile([("feed_native", 4, 100.0, 300.0), ("search_top", 4, 100.0, 100.0)])
    got = deliver(truth, audiences, exposure, seed=0,
                  caps=DeliveryCaps(per_placement=2, across_placements=2))
    assert got.impressions_dropped["placement"] == 100  # 3 at feed_native, cap 2
    assert got.impressions_dropped["across"] == 100  # 2 + 1 left, cap 2
    assert got.totals["impressions"] == 200


def test_the_forecast_on_true_curves_matches_the_delivered_mean(world) -> None:
    truth, audiences = world
    curves = truth.true_curves(audiences, 4)
    exposure = uniform_exposure(curves, 60.0, cap=3)
    forecast = evaluate_exposure(curves, exposure)
    delivered = [deliver(truth, audiences, exposure, seed=s).totals for s in range(5)]
    for name in ("spend", "impressions", "reach", "clicks", "conversions"):
        assert np.mean([d[name] for d in delivered]) == pytest.approx(forecast[name], rel=0.05)


def test_the_forecast_is_the_mean_of_the_curve_over_k(world) -> None:
    truth, audiences = world
    curves = truth.true_curves(audiences, 4)
    cell = curves.loc[(curves["campaign_id"] == "c0001") & (curves["segment"] == "a")
                      & (curves["placement_id"] == "feed_native")].set_index("k")
    exposure = _profile([("feed_native", 3, 10.0, 30.0)], ad=cell["ad_id"].iloc[0])
    got = evaluate_exposure(curves, exposure)
    assert got["clicks"] == pytest.approx(10 * cell.loc[[1, 2, 3], "clicks"].sum())
    assert got["reach"] == 10 and got["impressions"] == 30
    with pytest.raises(InputError, match="beyond the curves' depth"):
        evaluate_exposure(curves, _profile([("feed_native", 5, 1.0, 5.0)]))


def test_bad_exposures_are_named() -> None:
    with pytest.raises(InputError, match="does not sum over placements"):
        validate_exposure(_profile([("p", 2, 10.0, 10.0)]))
    with pytest.raises(InputError, match="frequency.*integer"):
        validate_exposure(_profile([("p", 0, 10.0, 0.0)]))
    with pytest.raises(InputError, match="users.*differs"):
        validate_exposure(_profile([("p", 2, 10.0, 10.0), ("q", 2, 5.0, 10.0)]))
