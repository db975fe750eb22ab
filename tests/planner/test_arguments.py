"""Planner arguments and plan files: one clear error line for each mistake."""

from __future__ import annotations

import pytest

import adopt
from adopt.exceptions import InputError, ParameterError, WorkspaceError


@pytest.fixture
def plan_with(planner, tables, full):
    curves, placements = tables

    def make(**options):
        options = {"budget": 0.2 * full, "curves": curves, "placements": placements,
                   "baselines": False, "frontier": False} | options
        return planner.plan(**options)

    return make


@pytest.mark.parametrize(("options", "message"), [
    ({"budget": -5}, "The 'budget' parameter of Planner.plan must be a positive number. "
                     "Got -5 instead."),
    ({"budget": float("nan")}, "'budget' parameter .* positive number. Got nan"),
    ({"budget": True}, "'budget' parameter .* Got True"),
    ({"budget": "100"}, "'budget' parameter .* Got '100'"),
    ({"objective": "likes"}, "'objective' parameter of Planner.plan must name a metric"),
    ({"objective": {"metric": "clicks", "target": -1}}, "'objective' parameter .* target"),
    ({"objective": 3}, "'objective' parameter .* Got int"),
    ({"constraints": ["cap 3"]}, "'constraints' parameter of Planner.plan must hold constraint"),
    ({"constraints": "cap"}, "'constraints' parameter .* must be a list"),
    ({"campaigns": ["c0", "nope"]}, r"'campaigns' parameter .* unknown campaign\(s\) \['nope'\]"),
    ({"campaigns": []}, "'campaigns' parameter .* non-empty list"),
    ({"campaigns": [7]}, "'campaigns' parameter .* Got 7"),
    ({"integer_caps": "yes"}, "'integer_caps' parameter .* True or False"),
    ({"frontier": [100, -1]}, "'frontier' parameter of Planner.plan must be a positive"),
    ({"frontier": "yes"}, "'frontier' parameter .* True, False or a list"),
    ({"method": "slsqp"}, "'method' parameter .* one of"),
    ({"curves": 42}, "'curves' parameter .* DataFrame or a Parquet/CSV file"),
    ({"spec": "missing.toml"}, r"'spec' parameter .* \(no such file\)"),
    ({"spec": 3.0}, "'spec' parameter .* Got float"),
])
def test_bad_plan_arguments(plan_with, options, message):
    with pytest.raises(ParameterError, match=message):
        plan_with(**options)


def test_a_plan_needs_a_budget_or_a_target(planner, tables):
    with pytest.raises(ParameterError, match="'budget' parameter .* Got None"):
        planner.plan(curves=tables[0], baselines=False)


def test_plan_without_curves_says_which_stage_to_run(planner):
    with pytest.raises(WorkspaceError, match=r"curves.parquet is missing: run Planner.curves"):
        planner.plan(budget=100.0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda p: p.segment(k=1), "'k' parameter of Planner.segment must be an integer >= 2"),
    (lambda p: p.segment(min_size=0), "'min_size' parameter of Planner.segment"),
    (lambda p: p.curves(max_k=0), "'max_k' parameter of Planner.curves"),
    (lambda p: p.train(model="xgboost"), r"'model' parameter of Planner.train must be one of"),
    (lambda p: p.recommend("u1", k=0), "'k' parameter of Planner.recommend"),
    (lambda p: p.recommend("u1", by="likes"), "'by' parameter of Planner.recommend"),
    (lambda p: p.ingest("no/such/folder"), "'data_dir' parameter of Planner.ingest"),
    (lambda p: p.build_profiles(as_off="2026"), r"Planner.build_profiles got unknown option\(s\) "
                                                r"\['as_off'\]. Valid options: .*'as_of'"),
])
def test_bad_stage_arguments(planner, call, message):
    with pytest.raises(ParameterError, match=message):
        call(planner)


def test_planner_needs_a_path():
    with pytest.raises(ParameterError, match="'workspace' parameter of Planner must be a path"):
        adopt.Planner(3)


@pytest.mark.parametrize(("toml", "message"), [
    ('bugdet = 5.0\n', r"table 'plan.toml', column 'bugdet': Extra inputs are not permitted"),
    ('budget = -5.0\n', r"'budget' parameter of PlanSpec must be a positive number"),
    ('budget = 100.0\n[[constraints]]\ntype = "campaign_budget"\ncampaign_id = "c0"\n'
     'min_spend = 50.0\nmax_spend = 10.0\n', "min_spend 50.0 exceeds max_spend 10.0"),
    ('budget = 100.0\n[[constraints]]\ntype = "frequency_cap"\ncap = 3\ncolour = "red"\n',
     r"column 'constraints.0.frequency_cap.colour': Extra inputs"),
    ('budget = 100.0\nobjective = "likes"\n', r"column 'objective.metric'"),
    ('budget = 100.0\n[[constraints]]\ntype = "campaign_budget"\ncampaign_id = "zz"\n'
     'max_spend = 10.0\n', r"unknown campaign_id 'zz' \(known: \['c0', 'c1'\]\)"),
    ('budget = [1\n', "cannot read the plan file"),
])
def test_bad_plan_files_give_one_clear_line(plan_with, tmp_path, toml, message):
    path = tmp_path / "plan.toml"
    path.write_text(toml)
    with pytest.raises(InputError, match=message) as info:
        plan_with(spec=path, budget=None)
    assert "\n" not in str(info.value)


def test_plan_file_and_python_give_the_same_plan(plan_with, tmp_path, full):
    path = tmp_path / "plan.toml"
    path.write_text(f'budget = {0.2 * full}\nobjective = "clicks"\n'
                    '[[constraints]]\ntype = "frequency_cap"\ncap = 2\n')
    from_file = plan_with(spec=path, budget=None)
    from_python = plan_with(objective="clicks", constraints=[adopt.frequency_cap(2)])
    spec = adopt.PlanSpec(budget=0.2 * full, objective="clicks",
                          constraints=[adopt.frequency_cap(2)])
    from_spec = plan_with(spec=spec, budget=None)
    assert from_file.plan_id == from_python.plan_id == from_spec.plan_id
    assert from_file.kpis["clicks"] == pytest.approx(from_python.kpis["clicks"])
    assert from_file.allocation["frequency_cap"].max() <= 2


def test_arguments_override_and_extend_the_spec(plan_with, tmp_path, full):
    path = tmp_path / "plan.toml"
    path.write_text(f'budget = {0.1 * full}\nobjective = "clicks"\n'
                    '[[constraints]]\ntype = "frequency_cap"\ncap = 2\n')
    plan = plan_with(spec=path, budget=0.2 * full,
                     constraints=[adopt.max_spend("placement", "p0", 10.0)])
    assert plan.budget == pytest.approx(0.2 * full)
    assert plan.objective["name"] == "clicks"
    kinds = [c.type for c in plan.spec.constraints]
    assert kinds == ["frequency_cap", "spend"]
    assert plan.allocation.query("placement_id == 'p0'")["spend"].sum() <= 10.0 + 1e-6


def test_campaigns_restrict_the_plan_and_add_their_limits(plan_with, full):
    only = plan_with(campaigns=["c1"])
    assert set(only.allocation["campaign_id"]) == {"c1"}
    assert only.document["inputs"]["campaigns"] == ["c1"]
    capped = plan_with(campaigns=["c0", adopt.CampaignBudget(campaign_id="c1", max_spend=25.0)])
    by_campaign = capped.allocation.groupby("campaign_id")["spend"].sum()
    assert by_campaign["c1"] <= 25.0 + 1e-6 and by_campaign["c0"] > 0
