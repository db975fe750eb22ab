"""A small real workspace with a real plan, for the report tests.

A tiny synthetic world is ingested into a real DuckDB warehouse (one creative
text is hostile HTML); a ``segments`` table like the segment stage's is added
(one segment too small, one flagged suppressed, one with markup in its name);
a model card is written; curves over the world's campaigns and placements
are planned with the real optimizer, and the plan folder gets a frontier and
baselines as the planner API writes them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.ingest import ingest
from adopt.optimize import PlanSpec, budget_frontier, build_grid, min_spend, optimize
from adopt.optimize.curves import METRICS
from adopt.optimize.forecast import forecast_interval
from adopt.plan import write_plan
from adopt.response.card import ModelCard
from adopt.synth import generate_world

SCRIPT_TITLE = "<script>alert(1)</script>"
ATTR_DESCRIPTION = '"><img src=x onerror=alert(2)>'
SEGMENTS = {  # name: (size, flagged suppressed)
    "young_urban": (260, False),
    "loyal & returning": (180, False),
    "<b>bargain</b>": (120, False),
    "seg_tiny_zz": (12, False),
    "seg_flagged_qq": (150, True),
}
HIDDEN = ("seg_tiny_zz", "seg_flagged_qq")
BUDGET = 60.0


def curves_of(ads: pd.DataFrame, placements: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first_ad = ads.groupby("campaign_id")["ad_id"].first()
    rows = []
    for c, ad in first_ad.items():
        for s, (size, _) in SEGMENTS.items():
            for p, cpm in zip(placements["placement_id"], placements["cpm"], strict=True):
                users = float(round(size * rng.uniform(0.3, 1.0)))
                ctr = 0.03 * rng.lognormal(0, 0.4)
                for k in (1, 2, 3):
                    click = ctr * 0.6 ** (k - 1)
                    rows.append({"campaign_id": c, "segment": s, "placement_id": p, "k": k,
                                 "users": users, "cost_per_impression": cpm / 1000,
                                 "clicks": click, "conversions": click * 0.2,
                                 "revenue": click * 0.2 * 40.0, "ad_id": ad})
    return pd.DataFrame(rows)


def _card(folder: Path) -> None:
    metrics, reliability = [], []
    for target, base in (("click", 0.03), ("conversion", 0.2)):
        for predictor, auc, ne in (("model", 0.71, 0.93), ("base_rate", 0.5, 1.0)):
            metrics.append({"target": target, "slice": "overall", "group": "all",
                            "predictor": predictor, "n": 1000, "auc": auc, "ne": ne,
                            "calibration_ratio": 1.02, "ece": 0.004})
        metrics.append({"target": target, "slice": "placement_id", "group": "home_banner",
                        "predictor": "model", "n": 200, "auc": 0.69, "ne": 0.95,
                        "calibration_ratio": 0.98, "ece": 0.006})
        for b, p in enumerate(np.linspace(base / 3, base * 2, 8)):
            reliability.append({"bin": b, "count": 125, "p_min": p * 0.9, "p_max": p * 1.1,
                                "mean_predicted": float(p), "observed": float(p * 1.05),
                                "target": target})
    ModelCard(run_id="r-test", model="lightgbm", data={"fingerprint": "abc"},
              features=["k_ad", "user_ctr_smoothed"], hyperparameters={"num_leaves": 31},
              metrics=metrics, reliability=reliability).write(folder)


@pytest.fixture(scope="session")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Workspace, world and plan folder (read-only for tests: copy before changing)."""
    root = tmp_path_factory.mktemp("report")
    world, ws = root / "world", root / "ws"
    generate_world(world, users=300, ads=12, days=4, seed=2, show_progress=False)
    ads = pd.read_parquet(world / "ads.parquet")
    ads.loc[0, "title"] = SCRIPT_TITLE
    ads.loc[0, "description"] = ATTR_DESCRIPTION
    ads.to_parquet(world / "ads.parquet", index=False)
    ingest(world, ws)
    seg = pd.DataFrame([
        {"segment": s, "size": n, "description": f"shoppers of {s}",
         "top_categories": ["home", "sports"], "recency_days": 4.5, "frequency": 3.0,
         "monetary": 120.0, "ctr": 0.031, "cvr": 0.19, "suppressed": flag}
        for s, (n, flag) in SEGMENTS.items()])
    con = duckdb.connect(str(ws / "warehouse.duckdb"))
    con.register("seg_df", seg)
    con.execute("create table segments as select * from seg_df")
    con.close()
    _card(ws / "models" / "r-test")

    placements = pd.read_parquet(world / "placements.parquet")
    curves = curves_of(ads, placements)
    inventory = pd.DataFrame({"placement_id": placements["placement_id"],
                              "inventory": [600.0] * len(placements)})
    spec = PlanSpec(budget=BUDGET, objective="conversions",
                    constraints=[min_spend("segment", "seg_tiny_zz", 1.0)])
    grid = build_grid(curves)
    result = optimize(grid, spec, inventory)
    audiences = result.audiences
    # five bootstrap-like replicates of the curves, 10% apart, for the forecast's interval
    replicates = pd.concat([curves.assign(replicate=b, **{m: curves[m] * (0.9 + 0.05 * b)
                                                          for m in METRICS})
                            for b in range(5)], ignore_index=True)
    m = result.x[: grid.n_cells * grid.K].reshape(grid.n_cells, grid.K)
    folder = write_plan(result, ws / "plans" / "p-test",
                        {"workspace": str(ws), "spec": spec.model_dump(mode="json"),
                         "fall_with_k": "click-logit penalty by k: 0.00, 0.40, 0.65",
                         "creative_choice": "conversions", "period_days": 15.0},
                        audiences, forecast=forecast_interval(grid, m, replicates))
    frontier = budget_frontier(grid, spec, [15.0, 30.0, BUDGET, 90.0, 150.0], inventory)
    frontier.rename(columns={"marginal_value": "marginal"}).to_parquet(
        folder / "frontier.parquet", index=False)
    doc = json.loads((folder / "plan.json").read_text())
    totals = doc["totals"]
    doc["baselines"] = {"uniform": {k: v * 0.6 for k, v in totals.items()},
                        "historical": {k: v * 0.75 for k, v in totals.items()}}
    (folder / "plan.json").write_text(json.dumps(doc))
    return {"root": root, "world": world, "ws": ws, "plan": folder, "result": result}


@pytest.fixture()
def plan_copy(planned: dict, tmp_path: Path) -> Path:
    """A copy of the plan folder alone (no workspace beside it), to change freely."""
    out = tmp_path / "plans" / "p-copy"
    shutil.copytree(planned["plan"], out)
    return out
