"""Adversarial Python API cases: each bad argument is one ParameterError line.

Messages follow "The 'cap' parameter of frequency_cap must be a positive
number. Got -1 instead.": the parameter, the function, what is allowed and
the value got, on one line. Plan ids never leave plans/, outputs never
replace a link, and rule conditions are parsed before they run.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import adopt
from adopt.audiences.rule_expr import compile_where
from adopt.audiences.rules import Rule
from adopt.exceptions import InfeasibleError, InputError, ParameterError
from adopt.optimize.examples import random_curves
from adopt.optimize.spec import Inventory, PlanSpec, parse_spec
from adopt.report import build_report, export_plan
from adopt.workspace import atomic_path


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text and "pydantic" not in text, text
    return text


@pytest.fixture(scope="module")
def tables():
    return random_curves(segments=4, placements=2, positions=2, seed=5)


@pytest.fixture
def planner(tmp_path) -> adopt.Planner:
    return adopt.Planner(tmp_path / "ws")


@pytest.fixture
def plan(planner, tables) -> adopt.Plan:
    curves, placements = tables
    return planner.plan(budget=50.0, curves=curves, placements=placements, frontier=False,
                        baselines=False, plan_id="base")


FACTORY_CASES = [
    (lambda: adopt.frequency_cap(-1), "'cap' parameter of frequency_cap", "Got -1 instead"),
    (lambda: adopt.frequency_cap(0), "'cap' parameter of frequency_cap must be greater than 0",
     "Got 0 instead"),
    (lambda: adopt.frequency_cap(math.nan), "'cap' parameter of frequency_cap must be a finite",
     "Got nan"),
    (lambda: adopt.frequency_cap(math.inf), "'cap' parameter of frequency_cap", "Got inf"),
    (lambda: adopt.frequency_cap(True), "'cap' parameter of frequency_cap", "Got True"),
    (lambda: adopt.frequency_cap("3"), "'cap' parameter of frequency_cap", "Got '3'"),
    (lambda: adopt.frequency_cap(3, placement_id=7), "'placement_id' parameter of frequency_cap",
     "Got 7"),
    (lambda: adopt.target_cpa(math.nan), "'value' parameter of target_cpa must be a finite",
     "Got nan instead"),
    (lambda: adopt.target_cpa(-2), "'value' parameter of target_cpa", "Got -2"),
    (lambda: adopt.target_cpa("cheap"), "'value' parameter of target_cpa", "Got 'cheap'"),
    (lambda: adopt.target_roas(math.inf), "'value' parameter of target_roas", "Got inf"),
    (lambda: adopt.target_roas(0), "'value' parameter of target_roas", "Got 0"),
    (lambda: adopt.min_spend("campaign", "c0", -1), "'amount' parameter of min_spend",
     "Got -1"),
    (lambda: adopt.min_spend("galaxy", "c0", 1), "'level' parameter of min_spend",
     "Got 'galaxy'"),
    (lambda: adopt.max_spend("campaign", "c0", "5"), "'amount' parameter of max_spend",
     "Got '5'"),
    (lambda: adopt.max_share("campaign", "c0", 1.5), "'share' parameter of max_share",
     "Got 1.5"),
    (lambda: adopt.max_share("campaign", "c0", math.nan), "'share' parameter of max_share",
     "Got nan"),
    (lambda: PlanSpec(budget=math.inf), "'budget' parameter of PlanSpec", "Got inf"),
    (lambda: PlanSpec(budget=True), "'budget' parameter of PlanSpec", "Got True"),
    (lambda: PlanSpec(budget="100"), "'budget' parameter of PlanSpec", "Got '100'"),
    (lambda: PlanSpec(budget=5, plan_id="../x"), "'plan_id' parameter of PlanSpec",
     "Got '../x'"),
    (lambda: PlanSpec(budget=5, integer_caps="yes"), "'integer_caps' parameter of PlanSpec",
     "Got 'yes'"),
    (lambda: PlanSpec(budget=5, colour="red"), "'colour' parameter of PlanSpec is unknown",
     "Got 'red'"),
    (lambda: PlanSpec(budget=5, constraints=[{"type": "frequency_cap", "cap": "3"}]),
     "'constraints[0].cap' parameter of PlanSpec", "Got '3'"),
    (lambda: PlanSpec(), "'budget' parameter of PlanSpec is required", ""),
    (lambda: Inventory(placement_id="p0", impressions=-1),
     "'impressions' parameter of Inventory", "Got -1"),
]


@pytest.mark.parametrize(("call", "needle", "got"), FACTORY_CASES,
                         ids=[f"factory{i}" for i in range(len(FACTORY_CASES))])
def test_factories_and_specs_raise_one_parameter_error(call, needle, got):
    with pytest.raises(ParameterError) as exc:
        call()
    text = one_line(exc)
    assert text.startswith("The '") and needle in text and got in text, text


@pytest.mark.parametrize(("data", "column"), [
    ({"budget": math.inf}, "budget"),
    ({"budget": True}, "budget"),
    ({"budget": "100"}, "budget"),
    ({"budget": 5.0, "plan_id": "/etc"}, "plan_id"),
])
def test_plan_file_specs_raise_input_error_naming_the_field(data, column):
    with pytest.raises(InputError) as exc:
        parse_spec(data, source="plan.toml")
    assert exc.value.column == column
    one_line(exc)


@pytest.mark.parametrize("bad", ["../../x", "{tmp}/abs", ".", "..", ".hidden", "a/b", "", 5,
                                 "x" * 101])
def test_planner_plan_refuses_plan_ids_that_are_not_folder_names(planner, tables, tmp_path, bad):
    curves, placements = tables
    if isinstance(bad, str):
        bad = bad.replace("{tmp}", str(tmp_path))
    with pytest.raises(ParameterError) as exc:
        planner.plan(budget=50.0, curves=curves, placements=placements, frontier=False,
                     baselines=False, plan_id=bad)
    assert "'plan_id' parameter of Planner.plan" in one_line(exc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert not (planner.workspace.plans).exists()


def test_planner_plan_refuses_a_plan_folder_linked_out_of_plans(planner, tables, tmp_path):
    curves, placements = tables
    planner.workspace.plans.mkdir()
    (planner.workspace.plans / "linked").symlink_to(tmp_path)
    with pytest.raises(ParameterError, match="resolves to") as exc:
        planner.plan(budget=50.0, curves=curves, placements=placements, frontier=False,
                     baselines=False, plan_id="linked")
    one_line(exc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


@pytest.mark.parametrize("bad", ["../ws", "/etc", ".."])
def test_load_plan_refuses_paths(planner, bad):
    with pytest.raises(ParameterError, match="'plan_id' parameter of Planner.load_plan") as exc:
        planner.load_plan(bad)
    one_line(exc)


def test_planner_on_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ParameterError, match="'workspace' parameter of Planner") as exc:
        adopt.Planner(afile)
    one_line(exc)


@pytest.mark.parametrize("bad", [None, 5, ["data"]])
def test_ingest_of_a_non_path(planner, bad):
    with pytest.raises(ParameterError, match="'data_dir' parameter of Planner.ingest") as exc:
        planner.ingest(bad)
    one_line(exc)


@pytest.mark.parametrize("other", ["x", None, 3])
def test_compare_with_a_non_plan(plan, other):
    with pytest.raises(ParameterError, match="'other' parameter of Plan.compare") as exc:
        plan.compare(other)
    assert f"Got {other!r} instead" in one_line(exc)


@pytest.mark.parametrize(("constraint", "needle"), [
    (adopt.target_cpa(0.0001), r"target_cpa\[all\] 0.0001 cannot be met: the best CPA any cell "
                               r"reaches is [\d.]+"),
    (adopt.target_cpa(0.0001, campaign_id="c0"), r"target_cpa\[c0\] 0.0001 cannot be met"),
    (adopt.target_roas(1e9), r"target_roas\[all\] 1,000,000,000 cannot be met: the best ROAS"),
])
def test_impossible_targets_are_explained(planner, tables, constraint, needle):
    curves, placements = tables
    with pytest.raises(InfeasibleError, match=needle) as exc:
        planner.plan(budget=50.0, curves=curves, placements=placements, constraints=[constraint],
                     frontier=False, baselines=False, save=False)
    one_line(exc)


def test_reachable_target_still_plans(planner, tables):
    curves, placements = tables
    plan = planner.plan(budget=50.0, curves=curves, placements=placements,
                        constraints=[adopt.target_cpa(1e9)], frontier=False, baselines=False,
                        save=False)
    assert plan.status == "optimal" and plan.kpis["spend"] > 0


def test_inventory_on_an_unknown_placement(planner, tables):
    curves, placements = tables
    with pytest.raises(InputError, match=r"constraints\[0\].placement_id.*'nowhere'.*p0") as exc:
        planner.plan(budget=50.0, curves=curves, placements=placements,
                     constraints=[Inventory(placement_id="nowhere", impressions=10)],
                     frontier=False, baselines=False, save=False)
    one_line(exc)


def test_report_out_link_and_export_file_are_refused(plan, tmp_path):
    victim = tmp_path / "victim.html"
    victim.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(victim)
    with pytest.raises(ParameterError, match="'out' parameter of build_report.*symbolic link"):
        build_report(plan.folder, link)
    assert victim.read_text() == "keep me" and link.is_symlink()
    afile = tmp_path / "exports"
    afile.write_text("x")
    with pytest.raises(ParameterError, match="'out_dir' parameter of export_plan"):
        export_plan(plan.folder, afile)
    assert afile.read_text() == "x"


def test_atomic_path_never_replaces_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(FileExistsError, match="symbolic link"), atomic_path(tmp_path / "link"):
        pass
    assert (tmp_path / "link").is_symlink() and victim.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "victim"]


@pytest.mark.parametrize(("where", "token"), [
    ("1=1) order by user_id limit (60", "')'"),
    ("monetary > 0 limit 60", "'limit'"),
    ("load_extension('x') is null", "'load_extension'"),
    ("monetary >> 1", "'>'"),
])
def test_rule_conditions_outside_the_grammar(where, token):
    with pytest.raises(InputError, match="rule 'r'") as exc:
        Rule("r", where)
    assert token in one_line(exc)


@pytest.mark.parametrize(("where", "sql"), [
    ("monetary >= $m and impressions > 3",
     '(("monetary" >= $p_m) and ("impressions" > $l0))'),
    ("list_contains(top_categories, $cat)", 'list_contains("top_categories", $p_cat)'),
    ("recency_days > 5 or recency_days is null",
     '(("recency_days" > $l0) or ("recency_days" is null))'),
    ("gender not in ('f', 'x')", '("gender" not in ($l0, $l1))'),
    ("monetary between 1 and 2.5", '("monetary" between $l0 and $l1)'),
    ("not (monetary < -1)", '(not ("monetary" < (- $l0)))'),
    ("user_id::integer > 0", '(cast("user_id" as integer) > $l0)'),
    ("interest_text ilike '%o''k%'", '("interest_text" ilike $l0)'),
])
def test_valid_conditions_are_rebuilt_with_bound_values(where, sql):
    compiled = compile_where(where)
    assert compiled.sql == sql
    assert "'" not in compiled.sql  # every string literal is bound
    if "o''k" in where:
        assert compiled.literals == {"l0": "%o'k%"}


def test_plan_saved_under_plans_with_a_good_id(plan, planner):
    assert plan.folder == planner.workspace.plans.resolve() / "base"
    assert Path(plan.folder, "plan.json").is_file()
