"""`adopt demo` end to end on a small world (the pipeline on a generated world, scored)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adopt.exceptions import WorkspaceError
from adopt.optimize import load_spec
from adopt.pipeline.demo import DEMO_PLAN, run_demo


def test_the_demo_plan_file_is_a_valid_spec() -> None:
    spec = load_spec(DEMO_PLAN)
    assert spec.budget > 0


def test_a_missing_plan_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="missing.toml"):
        run_demo(tmp_path, users=10, ads=2, days=2, config=tmp_path / "missing.toml")
    assert not (tmp_path / "world").exists()


@pytest.mark.slow
def test_demo_runs_every_stage_and_scores_the_plan(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Embeddings are covered by the job tests; here the chain runs without them.
    figures = run_demo(tmp_path, users=1500, ads=24, days=14, seed=1, embed=False)
    out = capsys.readouterr().out
    stages = ["generate", "ingest", "profiles", "train", "segment", "curves", "plan", "report",
              "score"]
    assert list(figures["stage_seconds"]) == stages
    assert all(s is not None and s >= 0 for s in figures["stage_seconds"].values())
    assert figures["model"]["auc"] > 0.5
    assert figures["plan"]["certified"] and figures["plan"]["certificate_gap"] <= 1e-6
    card = figures["score"]
    assert card.value("oracle") >= card.value("plan") * (1 - 1e-6) > 0
    assert Path(figures["report"]).is_file()
    # the curves' fall with k came from the logs, and the plan and its report say so
    plan = json.loads((tmp_path / "plans" / "demo" / "plan.json").read_text())
    assert "one-click user x campaign pairs" in plan["inputs"]["fall_with_k"]
    assert "one-click user x campaign pairs" in Path(figures["report"]).read_text()
    manifest = json.loads(Path(figures["manifest"]).read_text())
    assert manifest["status"] == "done"
    for line in ("== score", "plan / oracle", "stage timings:", "report:", "click model"):
        assert line in out
