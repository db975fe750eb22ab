"""The Plan object: round trip, KPIs, frontier, duals, notebook HTML, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import adopt
from adopt.exceptions import WorkspaceError


def test_round_trip_keeps_every_table_and_the_document(plan_at, tmp_path):
    plan = plan_at(0.2, constraints=[adopt.frequency_cap(3)])
    folder = plan.save(tmp_path / "copy")
    back = adopt.Plan.load(folder)
    assert back.plan_id == plan.plan_id and back.folder == folder
    pd.testing.assert_frame_equal(back.allocation, plan.allocation)
    pd.testing.assert_frame_equal(back.audiences, plan.audiences)
    pd.testing.assert_frame_equal(back.frontier, plan.frontier)
    assert back.document == plan.document
    pd.testing.assert_series_equal(back.kpis, plan.kpis)
    pd.testing.assert_frame_equal(back.duals, plan.duals)
    assert back.binding == plan.binding and back.spec == plan.spec


def test_planner_writes_the_plan_folder_contract(plan_at, planner):
    plan = plan_at(0.2)
    assert plan.folder == planner.workspace.plans / plan.plan_id
    names = sorted(p.name for p in plan.folder.iterdir())
    assert names == ["allocation.csv", "allocation.parquet", "audiences.parquet", "exposure.csv",
                     "exposure.parquet", "frontier.parquet", "plan.json"]
    doc = json.loads((plan.folder / "plan.json").read_text())
    assert doc["plan_id"] == plan.plan_id
    assert doc["inputs"]["workspace"] == str(planner.workspace.root)
    assert doc["inputs"]["spec"]["budget"] == pytest.approx(plan.budget)
    frontier = pd.read_parquet(plan.folder / "frontier.parquet")
    assert list(frontier.columns[:3]) == ["budget", "objective", "marginal"]
    assert planner.load_plan(plan.plan_id).document == plan.document


def test_kpis_add_up(plan_at, full):
    plan = plan_at(0.2)
    k = plan.kpis
    alloc = plan.allocation
    assert k["spend"] == pytest.approx(alloc["spend"].sum())
    assert k["conversions"] == pytest.approx(alloc["conversions"].sum())
    assert k["budget"] == pytest.approx(0.2 * full)
    assert k["spend"] <= k["budget"] * (1 + 1e-9)
    assert k["cpa"] == pytest.approx(k["spend"] / k["conversions"])
    assert k["roas"] == pytest.approx(k["revenue"] / k["spend"])
    assert 0 <= k["gap"] <= 1e-6 and plan.status == "optimal"
    assert plan.objective["value"] == pytest.approx(k["conversions"])
    assert plan.certificate["gap"] == k["gap"]


def test_frontier_is_non_decreasing_concave_and_marks_the_budget(plan_at):
    plan = plan_at(0.3, constraints=[adopt.frequency_cap(2)])
    f = plan.frontier
    assert len(f) == 7 and f["certified"].all()
    assert (np.diff(f["budget"]) > 0).all()
    assert (np.diff(f["objective"]) >= -1e-9).all()
    assert (np.diff(f["marginal"]) <= 1e-9).all()
    here = f.loc[np.isclose(f["budget"], plan.budget)]
    assert here["objective"].iloc[0] == pytest.approx(plan.objective["value"])
    assert here["marginal"].iloc[0] == pytest.approx(plan.duals.set_index("name")
                                                      .loc["budget", "shadow_price"])


def test_frontier_on_given_budgets_or_not_at_all(plan_at, full):
    plan = plan_at(0.2, frontier=[0.1 * full, 0.05 * full])
    assert plan.frontier["budget"].tolist() == pytest.approx([0.05 * full, 0.1 * full])
    assert plan_at(0.2, frontier=False).frontier is None
    assert not (plan_at(0.2, frontier=False).folder / "frontier.parquet").exists()


def test_frontier_skips_budgets_below_the_minimum_spends(plan_at, full):
    need = 0.15 * full
    plan = plan_at(0.2, constraints=[adopt.min_spend("campaign", "c0", need)])
    assert plan.frontier["budget"].min() >= need
    assert len(plan.frontier) < 7


def test_duals_and_binding_constraints(plan_at):
    plan = plan_at(0.1)
    duals = plan.duals.set_index("name")
    assert "budget" in plan.binding
    assert duals.loc["budget", "shadow_price"] > 0
    assert set(plan.binding) == set(duals.index[duals["binding"]])


def test_least_spend_plan_has_no_frontier(planner, tables):
    curves, placements = tables
    plan = planner.plan(objective={"metric": "conversions", "target": 50.0}, curves=curves,
                        placements=placements, baselines=False)
    assert plan.objective["sense"] == "min"
    assert plan.kpis["conversions"] == pytest.approx(50.0, rel=1e-6)
    assert plan.frontier is None and np.isnan(plan.kpis["budget"])


def test_repr_html_escapes_campaign_and_segment_names(planner, tables, full):
    curves, placements = tables
    evil = curves.assign(campaign_id=curves["campaign_id"].replace(
        "c0", "<script>alert(1)</script>"), segment=curves["segment"].replace("s1", "a&b\"'"))
    plan = planner.plan(budget=0.3 * full, curves=evil, placements=placements,
                        baselines=False)
    assert (plan.allocation["campaign_id"] == "<script>alert(1)</script>").any()
    page = plan._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b&quot;&#x27;" in page
    assert "optimal" in page and "conversions" in page


def test_a_failed_write_leaves_the_previous_plan_whole(plan_at, tmp_path):
    plan = plan_at(0.2)
    folder = plan.save(tmp_path / "p")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    broken = adopt.Plan(plan_id="x", document={**plan.document, "status": "changed"},
                        allocation=plan.allocation.assign(bad=[object()] * len(plan.allocation)),
                        audiences=plan.audiences, frontier=None)
    with pytest.raises(Exception, match="bad|object|conver"):
        broken.save(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_load_names_what_is_missing(tmp_path):
    with pytest.raises(WorkspaceError, match="plan.json is missing"):
        adopt.Plan.load(tmp_path)


def test_baselines_at_the_same_budget_never_beat_the_plan(plan_at):
    plan = plan_at(0.2, baselines=True)
    base = plan.baselines
    assert list(base.index) == ["uniform"]  # no warehouse here: no historical mix
    assert any("no historical baseline" in note for note in plan.notes)
    # uniform keeps each user's even split over placements, so a used-up placement
    # holds back every group on it: it may spend less than the budget
    assert base.loc["uniform", "spend"] <= plan.budget * (1 + 1e-6)
    assert base.loc["uniform", "conversions"] < plan.kpis["conversions"]
    assert base.loc["uniform", "cpa"] == pytest.approx(
        base.loc["uniform", "spend"] / base.loc["uniform", "conversions"])
    assert plan.document["baselines"]["uniform"]["conversions"] == pytest.approx(
        base.loc["uniform", "conversions"])
    assert "uniform" in plan._repr_html_()
    assert plan_at(0.2).baselines.empty


def test_missing_numbers_in_plan_json_read_as_nan(plan_at):
    plan = plan_at(0.2, frontier=False)
    doc = {**plan.document, "totals": {**plan.totals, "revenue": None},
           "objective": {**plan.objective, "value": None}}
    odd = adopt.Plan(plan_id="odd", allocation=plan.allocation, document=doc)
    assert np.isnan(odd.kpis["revenue"]) and np.isnan(odd.kpis["roas"])
    assert "conversions=nan" in repr(odd)
    assert odd.frontier is None and odd.audiences is None and "odd" in odd._repr_html_()


def test_write_plan_keeps_its_old_call(tables, full, tmp_path):
    from adopt.optimize import PlanSpec, optimize
    from adopt.plan import write_plan

    curves, placements = tables
    result = optimize(curves, PlanSpec(budget=0.2 * full), placements)
    folder = write_plan(result, tmp_path / "old", {"curves": "x.csv"})
    assert sorted(p.name for p in folder.iterdir()) == ["allocation.csv", "allocation.parquet",
                                                        "exposure.csv", "exposure.parquet",
                                                        "plan.json"]
    plan = adopt.Plan.load(folder)
    assert plan.plan_id == "old" and plan.baselines.empty and plan.frontier is None
    assert plan.kpis["spend"] == pytest.approx(result.totals["spend"])
    assert np.isnan(plan.kpis["budget"])  # the spec is not among these inputs
