"""Baseline exposure profiles: uniform on random curves, historical on the small world's logs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves import load_audiences
from adopt.curves.baselines import historical_exposure, historical_profile, uniform_exposure
from adopt.delivery import evaluate_exposure, exposure_outcomes, validate_exposure
from adopt.exceptions import ParameterError
from adopt.optimize.examples import random_curves
from adopt.synth import load_truth


@pytest.fixture(scope="module")
def curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    return random_curves(segments=6, placements=3, positions=5, campaigns=2, seed=4)


def _used(exposure: pd.DataFrame, placements: pd.DataFrame) -> pd.Series:
    inv = placements.set_index("placement_id")["inventory"]
    imps = exposure.groupby("placement_id")["impressions"].sum()
    return imps / inv.reindex(imps.index)


def test_uniform_spends_the_budget_evenly_with_cap_impressions_per_user(curves) -> None:
    table, placements = curves
    exposure = validate_exposure(uniform_exposure(table, 500.0, placements, cap=2))
    assert evaluate_exposure(table, exposure)["spend"] == pytest.approx(500.0, rel=1e-6)
    assert (exposure["frequency"] == 2).all()
    per_user = exposure["impressions"] / exposure["users"]
    width = exposure.groupby(["campaign_id", "segment"])["placement_id"].transform("size")
    assert per_user.to_numpy() == pytest.approx((2 / width).to_numpy())
    assert (_used(exposure, placements) <= 1 + 1e-9).all()
    spend = exposure_outcomes(table, exposure).groupby(["campaign_id", "segment"])["spend"].sum()
    assert spend.max() == pytest.approx(spend.min(), rel=1e-6)  # no segment is full here


def test_uniform_respects_inventory_and_stops_when_a_placement_is_used_up(curves) -> None:
    table, placements = curves
    exposure = uniform_exposure(table, 1e9, placements)
    assert evaluate_exposure(table, exposure)["spend"] < 1e9
    assert _used(exposure, placements).max() == pytest.approx(1.0, rel=1e-6)
    seg = table.groupby(["campaign_id", "segment"])["users"].max()
    users = exposure.groupby(["campaign_id", "segment"])["users"].first()
    assert (users <= seg.reindex(users.index) * (1 + 1e-9)).all()


def test_uniform_rejects_a_bad_budget_or_cap(curves) -> None:
    with pytest.raises(ParameterError, match="'budget' parameter of uniform_exposure"):
        uniform_exposure(curves[0], -1.0)
    with pytest.raises(ParameterError, match="'cap' parameter"):
        uniform_exposure(curves[0], 10.0, cap=0)


@pytest.fixture(scope="module")
def logged(small_ws: Path) -> tuple[Path, pd.DataFrame]:
    """The small world's true curves over its workspace's segments (cells the logs fill)."""
    truth = load_truth(small_ws.parent / "world")
    return small_ws, truth.true_curves(load_audiences(small_ws), 4)


def test_the_historical_profile_is_the_logs_per_user_count(logged) -> None:
    ws, curves = logged
    profile = historical_profile(ws, curves, 4)
    validate_exposure(profile.assign(ad_id=""))  # N x users over placements
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        n = con.execute("select count(*) from int_impressions as i join audiences as a "
                        "using (user_id) where i.campaign_id = 'c0001' and "
                        "a.segment::varchar = $s", {"s": profile["segment"].iloc[0]}).fetchone()
        users = con.execute("select count(distinct i.user_id) from int_impressions as i "
                            "join audiences as a using (user_id) where i.campaign_id = 'c0001' "
                            "and a.segment::varchar = $s",
                            {"s": profile["segment"].iloc[0]}).fetchone()
    mine = profile.loc[(profile["campaign_id"] == "c0001")
                       & (profile["segment"] == profile["segment"].iloc[0])]
    assert mine.groupby("frequency")["users"].first().sum() == users[0]
    assert mine["impressions"].sum() <= n[0]  # users above 4 count at 4
    assert profile["frequency"].max() <= 4


def test_historical_spends_the_budget_within_segments_and_inventory(logged) -> None:
    ws, curves = logged
    placements = pd.DataFrame({"placement_id": curves["placement_id"].unique(),
                               "inventory": 400.0})
    exposure = historical_exposure(ws, curves, 30.0, placements)
    assert evaluate_exposure(curves, exposure)["spend"] == pytest.approx(30.0, rel=1e-6)
    assert (_used(exposure, placements) <= 1 + 1e-9).all()
    big = historical_exposure(ws, curves, 1e7)
    seg = curves.groupby(["campaign_id", "segment"])["users"].max()
    reach = big.groupby(["campaign_id", "segment", "frequency"])["users"].first().groupby(
        ["campaign_id", "segment"]).sum()
    assert (reach <= seg.reindex(reach.index) * (1 + 1e-9)).all()
    assert np.isclose(reach, seg.reindex(reach.index)).any()
