"""`make_plan` is the one way to a plan: the API and the CLI agree, and the LP is built once."""

from __future__ import annotations

import sys

import pytest

import adopt
from adopt.cli import main
from adopt.optimize import budget_frontier
from adopt.optimize import lp as lp_module
from adopt.plan import make_plan

from .conftest import full_spend

INPUTS = {"workspace", "config", "curves", "curves_hash", "placements", "campaigns", "spec",
          "model_run", "fall_with_k"}


@pytest.fixture
def files(tables, tmp_path):
    """The fixture curves and placements as files, and a plan file at a fifth of full spend."""
    curves, placements = tables
    curves.to_parquet(tmp_path / "curves.parquet", index=False)
    placements.to_parquet(tmp_path / "placements.parquet", index=False)
    config = tmp_path / "plan.toml"
    config.write_text(f'budget = {0.2 * full_spend(curves)}\nobjective = "conversions"\n'
                      '[[constraints]]\ntype = "frequency_cap"\ncap = 3\n')
    return tmp_path / "curves.parquet", tmp_path / "placements.parquet", config


def test_the_api_and_the_cli_make_the_same_plan_id_and_inputs(files, tmp_path, capsys):
    curves, placements, config = files
    ws = tmp_path / "ws"
    api = adopt.Planner(ws).plan(spec=config, curves=curves, placements=placements)
    assert main(["plan", "--config", str(config), "--workspace", str(ws), "--curves",
                 str(curves), "--placements", str(placements)]) == 0
    assert f"plan {api.plan_id} written to" in capsys.readouterr().out
    cli = adopt.Plan.load(ws / "plans" / api.plan_id)
    assert cli.plan_id == api.plan_id
    assert cli.document["inputs"] == api.document["inputs"]
    assert INPUTS <= set(api.document["inputs"])
    assert api.document["inputs"]["config"] == str(config.resolve())
    assert cli.allocation.equals(api.allocation)


def test_inputs_record_the_curves_hash_whichever_way_the_curves_come(tables, full):
    curves, placements = tables
    spec = {"budget": 0.2 * full}
    table = make_plan(spec, curves=curves, placements=placements, save=False, baselines=False)
    assert INPUTS <= set(table.document["inputs"])
    assert table.document["inputs"]["curves"] == "DataFrame"
    assert table.document["inputs"]["config"] is None
    again = make_plan(spec, curves=curves.copy(), placements=placements, save=False,
                      baselines=False)
    assert again.plan_id == table.plan_id
    assert again.document["inputs"]["curves_hash"] == table.document["inputs"]["curves_hash"]


@pytest.mark.parametrize("integer_caps", [False, True])
def test_one_make_plan_builds_the_lp_once(tables, full, monkeypatch, integer_caps):
    curves, placements = tables
    calls = []
    real = lp_module.build_lp

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    # every module that imported build_lp calls the spy
    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "") or "").startswith("adopt.") and getattr(
                module, "build_lp", None) is real:
            monkeypatch.setattr(module, "build_lp", counted)
    plan = make_plan({"budget": 0.2 * full, "integer_caps": integer_caps}, curves=curves,
                     placements=placements, save=False, baselines=False)
    assert len(plan.frontier) == 7  # the default budgets, each solved
    assert len(calls) == 1


def test_the_frontier_reads_the_plans_own_point(tables, full):
    curves, placements = tables
    plan = make_plan({"budget": 0.2 * full}, curves=curves, placements=placements, save=False,
                     baselines=False)
    own = plan.frontier.loc[plan.frontier["budget"] == plan.budget].iloc[0]
    assert own["objective"] == plan.certificate["primal"]
    assert own["spend"] == plan.totals["spend"]
    assert own["marginal"] == plan.duals.set_index("name").loc["budget", "shadow_price"]
    again = budget_frontier(curves, plan.spec, [plan.budget], placements)
    assert again["objective"].iloc[0] == pytest.approx(own["objective"], rel=1e-9)
    assert again["marginal_value"].iloc[0] == pytest.approx(own["marginal"], rel=1e-6)
