"""Report sections about what the plan rests on: segments, model quality, data and assumptions.

Data flow: `ReportData` (segments table already suppressed, model card,
warehouse counts, plan.json inputs/certificate/versions) -> HTML `Section`s.
"""

from __future__ import annotations

import json
from importlib import metadata

import pandas as pd

from adopt.report.charts import reliability_plot
from adopt.report.data import ReportData
from adopt.report.fmt import esc, frame_rows, num, table
from adopt.report.privacy import OTHER
from adopt.report.sections_plan import Section, unavailable


def segments(data: ReportData) -> Section:
    """One row per segment: size, description, interests, RFM, CTR/CVR and its plan."""
    a = data.allocation
    plan = a.groupby("segment", sort=True)[["spend", "reach", "conversions"]].sum()
    note = (f"<p>Segments under {data.suppression.min_size} users, or marked suppressed, are "
            f"shown together as “{esc(OTHER)}”.</p>")
    if data.segments is None:
        rows = plan.reset_index()
        if data.audiences is not None and "segment_users" in data.audiences:
            size = data.audiences.groupby("segment")["segment_users"].max()
            rows["size"] = rows["segment"].map(size)
        cols = ["segment", "size", "spend", "reach", "conversions"]
        body = (unavailable(f"segment descriptions ({data.missing.get('segments', '')})")
                + table(frame_rows(rows, cols), ["segment", "users", "planned spend",
                                                 "planned reach", "expected conversions"],
                        numeric=[False, True, True, True, True]) + note)
        return Section("segments", "Segment portraits", body)
    seg = data.segments.merge(plan, left_on="segment", right_index=True, how="left")
    seg["top_categories"] = seg["top_categories"].map(_listing) \
        if "top_categories" in seg else None
    cols = ["segment", "size", "description", "top_categories", "recency_days", "frequency",
            "monetary", "ctr", "cvr", "spend", "reach", "conversions"]
    header = ["segment", "users", "description", "top interests", "recency (days)",
              "frequency", "monetary", "CTR", "CVR", "planned spend", "planned reach",
              "expected conversions"]
    body = table(frame_rows(seg, cols), header,
                 numeric=[False, True, False, False] + [True] * 8) + note
    return Section("segments", "Segment portraits", body)


_ASSUMED = (("fall_with_k", "How a user's response falls with the k-th impression of a campaign "
                            "(counted over all placements)"),
            ("levels", "Levels of the curves"),
            ("level_evidence", "What each campaign's and segment's level rests on"),
            ("creative_choice", "Each cell's creative chosen by (its value summed over k)"),
            ("creative_effects", "Each creative's own logged outcomes"),
            ("creative_evidence", "What the bought creatives rest on"),
            ("reach", "Users a placement can reach in the plan period"),
            ("period_days", "Plan period (days)"),
            ("model_run", "Response model run"))


def _forecast_assumptions(inputs: dict, forecast: dict) -> str:
    """What the forecast rests on, from the curve stage's record (plan.json inputs)."""
    rows = [[label, _text(inputs[key])] for key, label in _ASSUMED if inputs.get(key) is not None]
    rows.append(["Delivery", "each user's impressions of a campaign arrive in random order over "
                             "the placements; the plan's users are random users of the segment"])
    if forecast.get("basis"):
        rows.append(["Forecast interval", _text(forecast["basis"])])
    note = "" if len(rows) > 2 else unavailable(
        "the curves' record (curves.json beside the curves file, with the same hash)")
    return ("<h3>What the forecast assumes</h3>" + note
            + table(rows, ["assumption", "value"], numeric=[False, False]))


def _listing(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        return value
    try:
        return ", ".join(str(v) for v in value)  # type: ignore[union-attr]
    except TypeError:
        return str(value)


def model(data: ReportData) -> Section:
    """AUC, normalised entropy and calibration of the response model (its card)."""
    card = data.card
    if card is None:
        return Section("model", "Model quality",
                       unavailable(f"model card ({data.missing.get('model', 'none')})"))
    metrics = pd.DataFrame(card.get("metrics") or [])
    named = (data.plan.get("inputs") or {}).get("model_run")
    which = "" if named else " (the latest model in the workspace: the plan names none)"
    html = [f"<p>Model <b>{esc(card.get('model'))}</b>, run {esc(card.get('run_id'))}"
            f"{esc(which)}, trained {esc(card.get('created'))}; test-period metrics beside a "
            f"constant base-rate predictor (AUC 0.5, NE 1).</p>"]
    if metrics.empty:
        html.append(unavailable("the card has no metrics"))
    else:
        overall = metrics[metrics["slice"] == "overall"] if "slice" in metrics else metrics
        cols = ["target", "predictor", "n", "auc", "ne", "calibration_ratio", "ece"]
        html.append(table(frame_rows(overall, cols), ["target", "predictor", "rows", "AUC",
                                                      "NE", "predicted / observed", "ECE"],
                          numeric=[False, False] + [True] * 5))
        if {"slice", "predictor"} <= set(metrics.columns):
            parts = metrics[(metrics["slice"] != "overall") & (metrics["predictor"] == "model")]
            if not parts.empty:
                cols = ["target", "slice", "group", "n", "auc", "ne", "calibration_ratio"]
                html.append("<details><summary>By placement and cold start</summary>"
                            + table(frame_rows(parts, cols), cols,
                                    numeric=[False] * 3 + [True] * 4) + "</details>")
    rel = pd.DataFrame(card.get("reliability") or [])
    if rel.empty or not {"mean_predicted", "observed"} <= set(rel.columns):
        html.append(unavailable("the card has no reliability table"))
    else:
        if "target" not in rel:
            rel["target"] = "response"
        # one plot per target: click and conversion rates differ by an order of magnitude
        plots = [reliability_plot({str(t): (g["mean_predicted"].tolist(),
                                            g["observed"].tolist())},
                                  title=f"Calibration of {t}: observed against predicted")
                 for t, g in rel.groupby("target", sort=True)]
        html.append('<div class="row">' + "".join(plots) + "</div>")
        html.append("<p>Points on the diagonal mean the predicted rates come true on "
                    "average (equal-count bins of the test period).</p>")
    return Section("model", "Model quality", "".join(html))


def assumptions(data: ReportData) -> Section:
    """Inputs, solver, certificate, notes, warehouse counts and library versions."""
    plan = data.plan
    cert = plan.get("certificate") or {}
    html = ["<h3>Certificate</h3>"]
    html.append(table([[k, v] for k, v in cert.items()], ["", "value"],
                      numeric=[False, True]))
    html.append(f"<p>Solved by {esc(plan.get('method'))} in "
                f"{esc(num(plan.get('solve_seconds')))} s; the gap is |dual bound − plan value| "
                f"/ max(1, |plan value|), certified when at most the tolerance.</p>")
    if plan.get("integer_gap") is not None:
        html.append(f"<p>Integer frequency caps: {esc(num(plan['integer_gap']))} from the LP "
                    f"bound.</p>")
    notes = plan.get("notes") or []
    if notes:
        html.append("<h3>Solver notes</h3><ul>"
                    + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    inputs = dict(plan.get("inputs") or {})
    spec = inputs.pop("spec", None)
    html.append(_forecast_assumptions(inputs, plan.get("forecast") or {}))
    html.append("<h3>Inputs</h3>")
    html.append(table([[k, _text(v)] for k, v in inputs.items()], ["input", "value"],
                      numeric=[False, False]) if inputs else unavailable("plan.json has no inputs"))
    if spec:
        html.append("<h3>Plan spec</h3><pre>" + esc(json.dumps(spec, indent=1, default=str))
                    + "</pre>")
    if data.warehouse:
        html.append("<h3>Warehouse</h3>" + table([[k, v] for k, v in data.warehouse.items()],
                                                 ["", "value"], numeric=[False, False]))
    versions = dict(plan.get("versions") or {})
    versions["adopt (report)"] = _adopt_version()
    if data.card:
        for k, v in (data.card.get("library_versions") or {}).items():
            versions.setdefault(f"{k} (model)", v)
    html.append("<h3>Versions</h3>" + table([[k, v] for k, v in versions.items()],
                                            ["library", "version"], numeric=[False, False]))
    if data.missing:
        html.append("<h3>Inputs not available</h3><ul>" + "".join(
            f"<li>{esc(k)}: {esc(v)}</li>" for k, v in sorted(data.missing.items())) + "</ul>")
    return Section("assumptions", "Data and assumptions", "".join(html))


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _adopt_version() -> str:
    try:
        return metadata.version("adopt")
    except metadata.PackageNotFoundError:
        return "unknown"
