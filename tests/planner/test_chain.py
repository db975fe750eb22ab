"""The whole Planner chain on a small generated world: logs in, plan, recommendation, report out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import adopt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    adopt.generate_world(root / "world", users=1500, ads=16, days=12, seed=2, show_progress=False)
    planner = adopt.Planner(root / "ws")
    planner.ingest(root / "world")
    planner.build_profiles()
    card = planner.train(params={"num_threads": 1}, valid_days=2, test_days=2)
    planner.segment(k=4, min_size=20)
    planner.curves(max_k=4, users_per_segment=60, shape_users=30, n_boot=5)
    curves = pd.read_parquet(planner.workspace.root / "curves" / "curves.parquet")
    full = float((curves["users"] * curves["cost_per_impression"]).sum())
    plan = planner.plan(budget=0.2 * full, constraints=[adopt.frequency_cap(3)])
    return planner, card, plan, full


def test_train_remembers_its_run(chain):
    planner, card, _, _ = chain
    assert planner.run_id == card.run_id
    metrics = planner.evaluate()
    assert {"auc", "target"} <= set(metrics.columns)
    # training_examples carry each impression's cost; it is known only after the
    # auction, so the model does not read it (the placement's cpm it does)
    assert "cpm" in card.features and "cost" not in card.features


def test_plan_from_the_workspace_has_baselines_and_beats_them(chain):
    planner, _, plan, _ = chain
    assert plan.status == "optimal" and plan.kpis["gap"] <= 1e-6
    assert plan.document["inputs"]["workspace"] == str(planner.workspace.root)
    base = plan.baselines
    assert list(base.index) == ["uniform", "historical"]
    assert (base["spend"] <= plan.budget * (1 + 1e-6)).all()
    assert (plan.kpis["conversions"] >= base["conversions"] * (1 - 1e-9)).all()
    again = adopt.Plan.load(plan.folder)
    pd.testing.assert_frame_equal(again.baselines, base)


def test_what_a_bigger_budget_buys(chain):
    planner, _, plan, full = chain
    bigger = planner.plan(budget=0.3 * full, constraints=[adopt.frequency_cap(3)])
    cmp = bigger.compare(plan)
    assert cmp.buys["extra_spend"] > 0 and cmp.buys["extra_conversions"] >= 0
    assert "more than" in str(cmp)


def test_recommend_returns_k_ads_ranked_by_predicted_value(chain):
    planner, _, _, _ = chain
    user = pd.read_parquet(planner.workspace.root.parent / "world" / "users.parquet")[
        "user_id"].iloc[0]
    top = planner.recommend(user, k=5)
    assert len(top) == 5 and top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert top["ad_id"].is_unique
    assert (np.diff(top["expected_revenue"]) <= 0).all()
    one = planner.recommend(user, k=3, placement_id=top["placement_id"].iloc[0], by="clicks")
    assert (np.diff(one["p_click"]) <= 0).all() and one["placement_id"].nunique() == 1
    with pytest.raises(adopt.ParameterError, match="'user_id' parameter of Planner.recommend"):
        planner.recommend("no-such-user")


def test_to_html_writes_the_report(chain, tmp_path):
    _, _, plan, _ = chain
    out = plan.to_html(tmp_path / "report.html")
    page = out.read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and plan.plan_id in page
    unsaved = adopt.Plan(plan_id="unsaved", allocation=plan.allocation, document=plan.document,
                         audiences=plan.audiences, frontier=plan.frontier)
    assert unsaved.to_html(tmp_path / "unsaved.html").is_file() and unsaved.folder is None


def test_make_plan_from_a_plan_file_writes_frontier_baselines_and_workspace(chain, tmp_path):
    from adopt.plan import make_plan

    planner = chain[0]
    config = tmp_path / "plan.toml"
    config.write_text(f'plan_id = "from-files"\nbudget = {0.2 * chain[3]}\n')
    folder = make_plan(config, workspace=planner.workspace.root).folder
    plan = adopt.Plan.load(folder)
    assert plan.document["inputs"]["workspace"] == str(planner.workspace.root)
    assert set(plan.document["baselines"]) == {"uniform", "historical"}
    assert list(pd.read_parquet(folder / "frontier.parquet").columns[:3]) == [
        "budget", "objective", "marginal"]
