"""The guard rail on curves fitted to aggregates, and what plan.json and the report say of them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from adopt.cli import main
from adopt.exceptions import InfeasibleError, InputError, ParameterError
from adopt.optimize import PlanSpec, fit_curves, load_spec, min_spend
from adopt.optimize.observed import beyond_observed, cell_table, historical_totals
from adopt.plan import make_plan
from adopt.report.words import constraint_subject, unit_of
from adopt.synth.aggregates import generate_aggregates

pytestmark = pytest.mark.usefixtures("own_log_handler")
CELL = ["campaign_id", "segment", "placement_id"]


@pytest.fixture(scope="module")
def fitted() -> pd.DataFrame:
    export, _ = generate_aggregates(campaigns=2, interests=2, seed=7)
    return fit_curves(export)[0]


def _historical_spend(curves: pd.DataFrame) -> float:
    return float(cell_table(curves)["historical_spend"].sum())


def _cell_spend(allocation: pd.DataFrame) -> pd.DataFrame:
    return allocation.groupby(CELL)["spend"].sum().reset_index()


def solve_plan(curves, spec, placements=None, frontier=False):
    """A plan of `make_plan` that is not saved."""
    return make_plan(spec, curves=curves, placements=placements, frontier=frontier, save=False)


def test_no_cell_spends_more_than_twice_its_largest_observed_spend_by_default(fitted):
    budget = 2 * _historical_spend(fitted)
    plan = solve_plan(fitted, PlanSpec(budget=budget), frontier=False)
    spend = _cell_spend(plan.allocation).merge(cell_table(fitted)[[*CELL,
                                                                          "observed_spend"]])
    assert (spend["spend"] <= 2 * spend["observed_spend"] * (1 + 1e-6) + 1e-6).all()
    assert any(k == "guard_rail" for k in plan.duals["kind"])
    off = solve_plan(fitted, PlanSpec(budget=budget, max_spend_multiple=None), frontier=False)
    share_on = plan.aggregates["beyond_observed"]["share"]
    share_off = off.aggregates["beyond_observed"]["share"]
    assert share_on < share_off
    assert share_on <= 0.5 + 1e-9  # at most 2x: at most half of a cell's spend is new ground
    three = solve_plan(fitted, PlanSpec(budget=budget, max_spend_multiple=3.0), frontier=False)
    assert three.totals["conversions"] >= plan.totals["conversions"] - 1e-6


def test_the_guard_rail_is_named_in_an_infeasibility_and_in_words(fitted):
    cells = cell_table(fitted)
    segment = cells["segment"].iloc[0]
    rails = 2 * cells.loc[cells["segment"] == segment, "observed_spend"].sum()
    # within what the curves could spend (5 positions), beyond what the guard rails allow
    spec = PlanSpec(budget=10 * _historical_spend(fitted),
                    constraints=[min_spend("segment", segment, 1.5 * rails)])
    with pytest.raises(InfeasibleError, match=r"guard_rail\[c\d/" + segment):
        solve_plan(fitted, spec, frontier=False)
    relaxed = PlanSpec(budget=10 * _historical_spend(fitted), max_spend_multiple=4.0,
                       constraints=[min_spend("segment", segment, 1.5 * rails)])
    assert solve_plan(fitted, relaxed, frontier=False).status == "optimal"
    subject = constraint_subject("guard_rail[c1/18-24/F/i1/p1]", "guard_rail")
    assert "guard rail of campaign c1, segment 18-24/F/i1, placement p1" in subject
    assert unit_of("guard_rail") == unit_of("budget")


def test_curves_without_observed_spend_have_no_guard_rail():
    from adopt.optimize.examples import random_curves

    curves, placements = random_curves(seed=0)
    plan = solve_plan(curves, PlanSpec(budget=1e3), placements, frontier=False)
    assert "guard_rail" not in set(plan.duals["kind"])
    assert plan.aggregates == {}


def test_max_spend_multiple_from_the_plan_file_python_and_refusals(tmp_path: Path):
    (tmp_path / "p.toml").write_text("budget = 10.0\nmax_spend_multiple = 1.5\n")
    assert load_spec(tmp_path / "p.toml").max_spend_multiple == 1.5
    (tmp_path / "p.toml").write_text("budget = 10.0\nmax_spend_multiple = false\n")
    assert load_spec(tmp_path / "p.toml").max_spend_multiple is None
    (tmp_path / "p.toml").write_text("budget = 10.0\nmax_spend_multiple = 0\n")
    with pytest.raises(InputError, match="max_spend_multiple"):
        load_spec(tmp_path / "p.toml")
    assert PlanSpec(budget=1.0).max_spend_multiple == 2.0
    with pytest.raises(ParameterError, match="'max_spend_multiple' parameter of PlanSpec"):
        PlanSpec(budget=1.0, max_spend_multiple=-2)


def test_historical_baseline_comes_from_the_aggregates(fitted):
    budget = _historical_spend(fitted)
    plan = solve_plan(fitted, PlanSpec(budget=budget), frontier=False)
    hist = plan.document["baselines"]["historical"]
    assert hist["spend"] == pytest.approx(budget, rel=1e-6)
    assert hist == pytest.approx(historical_totals(fitted))
    half = historical_totals(fitted, budget / 2)
    assert half["spend"] == pytest.approx(budget / 2, rel=1e-6)


def test_beyond_observed_counts_only_spend_above_each_cells_maximum():
    curves = pd.DataFrame({"campaign_id": ["c", "c"], "segment": ["a", "b"],
                           "placement_id": ["p", "p"], "k": [1, 1], "observed_spend": [10.0, 4.0],
                           "users": 1.0, "cost_per_impression": 1.0, "clicks": 0.0,
                           "conversions": 0.0, "revenue": 0.0})
    allocation = curves[CELL].assign(spend=[8.0, 12.0])
    found = beyond_observed(allocation, curves)
    assert found["spend_beyond"] == pytest.approx(8.0)
    assert found["share"] == pytest.approx(0.4)
    assert found["cells"] == 1


def test_cli_aggregates_to_plan_json_and_report(tmp_path: Path, capsys):
    export, _ = generate_aggregates(campaigns=2, interests=2, seed=8)
    export.to_csv(tmp_path / "perf.csv", index=False)
    assert main(["curves", "--aggregates", str(tmp_path / "perf.csv"), "--out",
                 str(tmp_path / "curves.parquet"), "--users", "200000"]) == 0
    printed = capsys.readouterr().out
    assert "where it produced" in printed and "pooled" in printed
    assert (tmp_path / "curves.fit.csv").is_file()
    assert pd.read_parquet(tmp_path / "curves.parquet")["users"].eq(200000).all()
    budget = _historical_spend(pd.read_parquet(tmp_path / "curves.parquet"))
    (tmp_path / "plan.toml").write_text(f"budget = {budget / 3:.2f}\n")
    assert main(["plan", "--curves", str(tmp_path / "curves.parquet"), "--config",
                 str(tmp_path / "plan.toml"), "--out", str(tmp_path / "plans"),
                 "--no-frontier", "--max-spend-multiple", "1.5"]) == 0
    folder = next((tmp_path / "plans").iterdir())
    doc = json.loads((folder / "plan.json").read_text())
    agg = doc["aggregates"]
    assert agg["max_spend_multiple"] == 1.5
    assert {"fit_quality", "beyond_observed", "historical_check"} <= set(agg)
    assert "where it produced" in agg["historical_check"]["text"]
    assert "historical" in doc["baselines"]
    assert main(["report", "--plan", str(folder), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    verdict = html[html.index("certified optimal"):][:600]
    assert "r2 median" in verdict and "beyond the largest spend observed" in verdict
    lift = html[html.index("against uniform"):][:600]
    assert "r2 median" in lift and "beyond the largest spend observed" in lift
    assert "Historical check" in html and "1.5x the largest spend" in html
    assert "This plan: at 33% of last period&#x27;s spend the plan forecasts" in html


def test_cli_refuses_a_bad_guard_rail_and_bad_users(tmp_path: Path, capsys):
    export, _ = generate_aggregates(campaigns=1, interests=2, seed=9)
    export.to_csv(tmp_path / "perf.csv", index=False)
    assert main(["curves", "--aggregates", str(tmp_path / "perf.csv"), "--out",
                 str(tmp_path / "c.parquet"), "--users", "-5"]) == 2
    assert "'--users' parameter" in capsys.readouterr().err
    main(["curves", "--aggregates", str(tmp_path / "perf.csv"), "--out",
          str(tmp_path / "c.parquet")])
    (tmp_path / "plan.toml").write_text("budget = 100.0\n")
    assert main(["plan", "--curves", str(tmp_path / "c.parquet"), "--config",
                 str(tmp_path / "plan.toml"), "--out", str(tmp_path / "plans"),
                 "--max-spend-multiple", "0"]) == 2
    err = capsys.readouterr().err
    assert "'--max-spend-multiple' parameter of adopt plan" in err and "Traceback" not in err
    export.loc[4, "spend"] = -1
    export.to_csv(tmp_path / "perf.csv", index=False)
    assert main(["curves", "--aggregates", str(tmp_path / "perf.csv"), "--out",
                 str(tmp_path / "c.parquet")]) == 2
    assert "column 'spend', row 5:" in capsys.readouterr().err


def test_plan_files_and_planner_take_the_guard_rail(tmp_path: Path, fitted):
    from adopt.planner import Planner

    fitted.to_parquet(tmp_path / "curves.parquet")
    (tmp_path / "plan.toml").write_text(f"budget = {_historical_spend(fitted):.2f}\n")
    on, off = (make_plan(tmp_path / "plan.toml", curves=tmp_path / "curves.parquet",
                         out=tmp_path / "plans", frontier=False, max_spend_multiple=guard).folder
               for guard in (None, False))
    assert on != off
    share = [json.loads((f / "plan.json").read_text())["aggregates"]["beyond_observed"]["share"]
             for f in (on, off)]
    assert share[0] < share[1]
    planner = Planner(tmp_path / "ws")
    plan = planner.plan(budget=_historical_spend(fitted), curves=fitted, frontier=False,
                        max_spend_multiple=1.0, save=False)
    assert plan.aggregates["beyond_observed"]["share"] == pytest.approx(0, abs=1e-6)
    assert "where it produced" in plan.aggregates["historical_check"]["text"]
    with pytest.raises(ParameterError, match="'max_spend_multiple' parameter of Planner.plan"):
        planner.plan(budget=1.0, curves=fitted, max_spend_multiple=0, save=False)


def test_the_plan_is_set_against_what_last_period_produced(fitted):
    from adopt.optimize.observed import historical_check, plan_against_history

    budget = _historical_spend(fitted)
    plan = solve_plan(fitted, PlanSpec(budget=budget / 3), frontier=False)
    against = plan.aggregates["plan_against_history"]
    base = cell_table(fitted)["base_conversions"].sum()
    assert against["spend_ratio"] == pytest.approx(1 / 3, rel=1e-6)
    assert against["conversions"]["forecast_with_base"] == pytest.approx(
        plan.totals["conversions"] + base)
    assert "at 33% of last period's spend the plan forecasts" in against["text"]
    # the symptom: less spend, more conversions than the period produced -> flagged
    check = historical_check(fitted)
    produced = check["conversions"]["produced"]
    greedy = {"spend": budget / 3, "conversions": 2 * produced, "clicks": 0.0, "revenue": 0.0}
    flagged = plan_against_history(fitted, greedy, check)
    assert flagged["flag"] and "more conversions than last period for less spend" in \
        flagged["text"]
    same = plan_against_history(fitted, {**greedy, "spend": budget}, check)
    assert not same["flag"]
