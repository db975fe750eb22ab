from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize import Objective, PlanSpec, build_grid, optimize
from adopt.plan import write_plan
from adopt.report import build_report, export_plan, load_report_data
from adopt.report.privacy import OTHER

from .conftest import ATTR_DESCRIPTION, BUDGET, HIDDEN, SCRIPT_TITLE, curves_of

TITLES = ("Plan at a glance", "Allocation by segment x placement", "Frequency caps and reach",
          "Budget frontier", "Marginal ROI and shadow prices", "Binding constraints",
          "Segment portraits", "Model quality", "Data and assumptions")


@pytest.fixture(scope="module")
def report(planned: dict, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("html") / "report.html"
    assert build_report(planned["plan"], out) == out
    return out.read_text(encoding="utf-8")


def test_every_section_is_there_with_its_content(report, planned):
    for title in TITLES:
        assert f"<h2>{title}</h2>" in report
    assert "Not available" not in report  # every optional input exists in this workspace
    assert f">{BUDGET:.0f}<" in report  # the budget card
    assert "uniform allocation" in report and "historical allocation" in report
    assert "conversions: plan +66.7% against uniform" in report  # 1 / 0.6 - 1
    assert "chosen budget 60" in report  # the frontier marks the chosen budget
    assert report.count("<svg") == 5  # heatmap, reach bars, frontier, 2 calibration plots
    assert "One more 1 on placement" in report  # budget 60: steps of 1
    assert "Calibration of click: observed against predicted" in report
    assert "95% interval" in report and "random-order delivery" in report
    assert "What the forecast assumes" in report and "click-logit penalty by k" in report
    assert "Each cell&#x27;s creative chosen by (its value summed over k)" in report
    assert "Users by impressions of a campaign, over all placements" in report
    assert "Calibration of conversion: observed against predicted" in report
    assert "shoppers of young_urban" in report  # a segment portrait
    assert "lightgbm" in report and "r-test" in report
    binding = planned["result"].binding
    assert binding and all(name in report for name in binding if "seg_" not in name)


def test_texts_are_escaped_and_nothing_can_run(report):
    assert SCRIPT_TITLE not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert "<img" not in report and "&lt;img src=x onerror=alert(2)&gt;" in report
    assert ATTR_DESCRIPTION not in report
    assert "&lt;b&gt;bargain&lt;/b&gt;" in report and "<b>bargain</b>" not in report
    assert "loyal &amp; returning" in report
    assert "<script" not in report.lower()
    assert "Content-Security-Policy" in report and "default-src 'none'" in report


class _Nesting(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_tags_are_balanced(report):
    parser = _Nesting()
    parser.feed(report)
    parser.close()
    assert parser.problems == [] and parser.stack == []


def test_nothing_is_fetched_from_anywhere(report):
    links = re.findall(r'(?:src|href|xlink:href)\s*=\s*"([^"]*)"', report)
    assert links and all(link.startswith("#") for link in links)
    assert "url(" not in report and "@import" not in report


def test_no_user_id_of_the_world_appears(report, planned):
    users = pd.read_parquet(planned["world"] / "users.parquet")["user_id"].astype(str)
    assert len(users) == 300
    leaked = [u for u in users if u in report]
    assert leaked == []


def test_small_and_flagged_segments_are_only_shown_together(report, planned):
    for name in HIDDEN:
        assert name not in report
    assert OTHER in report
    data = load_report_data(planned["plan"])
    assert set(data.suppression.hidden) == set(HIDDEN)
    assert not set(data.allocation["segment"]) & set(HIDDEN)
    # merging keeps the totals
    raw = pd.read_parquet(planned["plan"] / "allocation.parquet")
    assert data.allocation["spend"].sum() == pytest.approx(raw["spend"].sum())
    assert data.allocation["conversions"].sum() == pytest.approx(raw["conversions"].sum())
    # the min-spend row on the tiny segment is relabelled, not dropped
    names = [r["name"] for r in data.plan["constraints"]]
    assert f"min_spend[segment={OTHER}]" in names


def test_min_segment_size_zero_shows_unflagged_small_segments(planned, tmp_path):
    html = build_report(planned["plan"], tmp_path / "r.html", min_segment_size=0).read_text()
    assert "seg_tiny_zz" in html
    assert "seg_flagged_qq" not in html  # the segment stage's flag still holds


@pytest.mark.parametrize("bad", [-1, 2.5, "50", True])
def test_min_segment_size_must_be_a_non_negative_integer(planned, tmp_path, bad):
    with pytest.raises(ParameterError, match="'min_segment_size' parameter of build_report"):
        build_report(planned["plan"], tmp_path / "r.html", min_segment_size=bad)


def test_missing_optional_inputs_say_not_available(plan_copy, tmp_path):
    doc = json.loads((plan_copy / "plan.json").read_text())
    doc["inputs"].pop("workspace")
    doc.pop("baselines")
    (plan_copy / "plan.json").write_text(json.dumps(doc))
    (plan_copy / "frontier.parquet").unlink()
    (plan_copy / "audiences.parquet").unlink()
    html = build_report(plan_copy, tmp_path / "r.html").read_text()
    for title in TITLES:
        assert f"<h2>{title}</h2>" in html
    assert "Not available: baselines" in html
    assert "Not available: frontier.parquet is not in the plan folder" in html
    assert "Not available: segment descriptions (no workspace)" in html
    assert "Not available: model card (no workspace)" in html
    assert "Not available: creative texts (no workspace)" in html
    # sizes then come from the allocation: the 12-user segment is still hidden
    assert "seg_tiny_zz" not in html and OTHER in html


def test_a_workspace_without_segments_or_models(planned, plan_copy, tmp_path):
    ws = tmp_path / "bare_ws"
    ws.mkdir()
    html = build_report(plan_copy, tmp_path / "r.html", workspace=ws).read_text()
    assert "warehouse.duckdb does not exist" in html
    assert "Not available: model card (no model card under" in html


def test_missing_plan_files_are_clear_errors(plan_copy, tmp_path):
    (plan_copy / "allocation.parquet").unlink()
    with pytest.raises(WorkspaceError, match="allocation.parquet is missing"):
        build_report(plan_copy, tmp_path / "r.html")
    (plan_copy / "plan.json").write_text("{not json")
    with pytest.raises(InputError, match="plan.json.*is not valid JSON"):
        build_report(plan_copy, tmp_path / "r.html")
    with pytest.raises(WorkspaceError, match="plan.json is missing"):
        build_report(tmp_path / "nowhere", tmp_path / "r.html")


def test_out_must_not_be_a_folder(plan_copy, tmp_path):
    with pytest.raises(ParameterError, match="'out' parameter of build_report must be a file"):
        build_report(plan_copy, tmp_path)


def test_a_named_workspace_must_exist(plan_copy, tmp_path):
    with pytest.raises(WorkspaceError, match="workspace .*missing_ws is not a folder"):
        build_report(plan_copy, tmp_path / "r.html", workspace=tmp_path / "missing_ws")


def test_a_failed_build_leaves_the_previous_report(plan_copy, tmp_path):
    out = tmp_path / "reports" / "report.html"
    build_report(plan_copy, out)
    before = out.read_bytes()
    table = pd.read_parquet(plan_copy / "allocation.parquet")
    table.drop(columns=["spend"]).to_parquet(plan_copy / "allocation.parquet")
    with pytest.raises(InputError, match="table 'allocation', column 'spend'"):
        build_report(plan_copy, out)
    assert out.read_bytes() == before
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_a_least_spend_plan_reports_too(planned, tmp_path):
    world = planned["world"]
    curves = curves_of(pd.read_parquet(world / "ads.parquet"),
                     pd.read_parquet(world / "placements.parquet"))
    spec = PlanSpec(objective=Objective(metric="conversions", target=0.5))
    result = optimize(build_grid(curves), spec)
    folder = write_plan(result, tmp_path / "plans" / "least", {"spec": spec.model_dump(
        mode="json")})
    html = build_report(folder, tmp_path / "r.html", workspace=planned["ws"]).read_text()
    assert "there is no budget to extend" in html
    assert "Each extra unit of the conversions target would cost about" in html


def test_exports(planned, tmp_path):
    written = export_plan(planned["plan"], tmp_path / "exp")
    assert set(written) == {f"allocation_by_{k}.{e}" for k in ("cell", "segment", "placement",
                                                                "campaign")
                            for e in ("csv", "parquet")} | {"kpis.json", "kpis.csv"}
    totals = json.loads((planned["plan"] / "plan.json").read_text())["totals"]
    for key in ("cell", "segment", "placement", "campaign"):
        pq = pd.read_parquet(written[f"allocation_by_{key}.parquet"])
        csv = pd.read_csv(written[f"allocation_by_{key}.csv"])
        assert len(pq) == len(csv)
        assert pq["spend"].sum() == pytest.approx(totals["spend"])
        assert csv["conversions"].sum() == pytest.approx(totals["conversions"])
    by_segment = pd.read_parquet(written["allocation_by_segment.parquet"])
    assert OTHER in set(by_segment["segment"]) and not set(HIDDEN) & set(by_segment["segment"])
    kpis = json.loads(written["kpis.json"].read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert kpis["plan"]["conversions"] == pytest.approx(totals["conversions"])
    assert kpis["plan"]["cpa"] == pytest.approx(totals["spend"] / totals["conversions"])
    assert kpis["budget"] == BUDGET
    assert kpis["baselines"]["uniform"]["conversions"] == pytest.approx(
        0.6 * totals["conversions"])
    table = pd.read_csv(written["kpis.csv"]).set_index("kpi")
    assert list(table.columns) == ["plan", "uniform", "historical"]
    users = set(pd.read_parquet(planned["world"] / "users.parquet")["user_id"].astype(str))
    for path in written.values():
        text = path.read_bytes().decode("utf-8", "replace")
        assert not [u for u in users if u in text]


def test_a_plan_that_buys_nothing_still_reports(plan_copy, tmp_path):
    table = pd.read_parquet(plan_copy / "allocation.parquet")
    table.iloc[0:0].to_parquet(plan_copy / "allocation.parquet")
    html = build_report(plan_copy, tmp_path / "r.html").read_text()
    for title in TITLES:
        assert f"<h2>{title}</h2>" in html
    written = export_plan(plan_copy, tmp_path / "exp")
    assert pd.read_parquet(written["allocation_by_segment.parquet"]).empty
