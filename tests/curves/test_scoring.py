"""Scoring by delivery on the small generated world: exposures delivered over seeds, the card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adopt.curves import load_audiences
from adopt.curves.baselines import historical_exposure, uniform_exposure
from adopt.delivery import evaluate_exposure
from adopt.exceptions import WorkspaceError
from adopt.optimize import parse_spec
from adopt.scoring import ScoreCard, caps_from_spec, score_exposures, score_plan
from adopt.synth import load_truth

from .conftest import plan_small_world


@pytest.fixture(scope="module")
def card(small_ws: Path) -> ScoreCard:
    """A uniform exposure standing in for the plan (its forecast on the true curves)."""
    truth = load_truth(small_ws.parent / "world")
    audiences = load_audiences(small_ws)
    curves = truth.true_curves(audiences, 4)
    plan = uniform_exposure(curves, 40.0, cap=3)
    exposures = {"plan": plan, "oracle": uniform_exposure(curves, 40.0, cap=1),
                 "uniform": uniform_exposure(curves, 40.0, cap=4),
                 "historical": historical_exposure(small_ws, curves, 40.0)}
    return score_exposures(truth, audiences, exposures, metric="clicks", budget=40.0,
                           forecast=evaluate_exposure(curves, plan), plan_id="t",
                           seeds=(0, 1, 2))


def test_every_exposure_is_delivered_once_per_seed(card) -> None:
    assert card.seeds == [0, 1, 2]
    for name in ("plan", "oracle", "uniform", "historical"):
        runs = card.values(name)
        assert len(runs) == 3 and runs.min() > 0
        assert card.values(name, "spend").mean() == pytest.approx(40.0, rel=0.05)
    assert card.values("plan").std() > 0  # seeds draw other users


def test_the_forecast_on_true_curves_holds_when_delivered(card) -> None:
    assert card.forecast_ratio == pytest.approx(1.0, abs=0.08)
    assert card.targets["forecast_vs_delivered"]
    assert card.ratio("oracle") == pytest.approx(card.value("plan") / card.value("oracle"))


def test_card_prints_and_serialises_the_spread(card) -> None:
    text = str(card)
    for word in ("plan forecast", "forecast / delivered", "plan / oracle", "plan / historical",
                 "historical", "[", "delivery seeds"):
        assert word in text
    doc = card.to_dict()
    plan = doc["delivered"]["plan"]["clicks"]
    assert plan["min"] <= plan["mean"] <= plan["max"]
    assert doc["plan_vs_oracle"] == pytest.approx(card.ratio("oracle"))
    assert set(doc["targets"]) == {"plan_vs_oracle", "plan_vs_historical",
                                   "forecast_vs_delivered"}
    assert doc["meets_targets"] == all(doc["targets"].values())


def test_caps_come_from_the_spec() -> None:
    spec = parse_spec({"budget": 10.0, "constraints": [
        {"type": "frequency_cap", "cap": 5}, {"type": "frequency_cap", "cap": 2,
                                              "placement_id": "p1"},
        {"type": "frequency_cap", "cap": 10, "across_placements": True}]})
    caps = caps_from_spec(spec, ["p0", "p1"])
    assert caps.per_placement == {"p0": 5, "p1": 2} and caps.across_placements == 10
    assert caps_from_spec(parse_spec({"budget": 10.0}), ["p0"]) is None


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory, small_ws: Path) -> tuple[Path, Path, Path]:
    """The small world with model curves and a conversions plan whose budget binds."""
    return plan_small_world(tmp_path_factory.mktemp("scoring") / "copy", small_ws)


def test_the_plan_says_what_its_creatives_rest_on(planned) -> None:
    _, _, folder = planned
    plan = json.loads((folder / "plan.json").read_text())
    alloc = pd.read_parquet(folder / "allocation.parquet")
    record = json.loads((Path(plan["inputs"]["curves"]).with_suffix(".json")).read_text())
    counts = record["creative_evidence"]
    bought = alloc.groupby("ad_id")["conversions"].sum()
    bought = bought[bought > 0]
    never = [a for a in bought.index if counts[a]["impressions"] == 0]
    line = plan["inputs"]["creative_evidence"]
    assert f"the plan buys {len(bought)} creative(s); {len(never)} never logged" in line
    assert f"carry {bought[never].sum() / bought.sum():.1%} of the forecast conversions" in line
    # and the interval draws their levels from the spread of the logged creatives' effects
    basis = plan["forecast"]["basis"]
    assert never, "the small world's plan buys a never-logged creative"
    assert f"each of the {len(never)} never-logged creative(s) the plan buys" in basis


def test_a_plan_folder_scores_end_to_end(planned) -> None:
    world, ws, folder = planned
    card = score_plan(world, ws, folder, seeds=(0, 1))
    assert card.value("oracle") >= card.value("plan") * 0.95
    assert np.isfinite(card.ratio("historical")) and np.isfinite(card.forecast_ratio)
    # the plan's own interval (plan.json), and whether delivery fell in it
    assert card.interval["lo"] <= card.forecast[card.metric] <= card.interval["hi"]
    assert card.delivered_in_interval is (
        card.interval["lo"] <= card.value("plan") <= card.interval["hi"])
    assert "forecast interval:" in str(card) and "of its standard deviations" in str(card)
    assert card.to_dict()["delivered_in_interval"] is card.delivered_in_interval
    assert card.interval["level"] == 0.95 and card.to_dict()["interval_z"] == card.interval_z


def test_the_miss_is_read_in_the_intervals_own_standard_deviations() -> None:
    # a 95% interval of log-width 2 x 1.96 x 0.1 around 100: sd 0.1 on the log scale
    card = ScoreCard("p", "conversions", 10.0, {"plan": [{"conversions": 100 * np.exp(0.2)}]},
                     forecast={"conversions": 100.0},
                     interval={"lo": 100 * np.exp(-0.196), "hi": 100 * np.exp(0.196),
                               "level": 0.95})
    assert card.interval_z == pytest.approx(2.0, rel=1e-4)  # 1.96 is the rounded quantile
    assert card.delivered_in_interval is False
    card.interval["level"] = 0.5  # the same width held half the draws: a wider sd
    assert card.interval_z == pytest.approx(0.2 / (0.196 / 0.6745), rel=1e-3)
    assert ScoreCard("p", "conversions", 10.0, {"plan": [{"conversions": 1.0}]},
                     forecast={"conversions": 1.0}).interval_z is None


def test_missing_plan_files_are_named(planned, tmp_path: Path) -> None:
    world, ws, folder = planned
    broken = tmp_path / "plan"
    shutil.copytree(folder, broken)
    (broken / "exposure.parquet").unlink(missing_ok=True)
    with pytest.raises(WorkspaceError, match="exposure.parquet is missing"):
        score_plan(world, ws, broken)
