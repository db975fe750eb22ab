"""build_curves on a small built workspace: contract, shape, intervals, creatives, writes."""

from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves import build_curves, load_audiences, predict_pairs
from adopt.curves.bootstrap import cell_curves, non_increasing
from adopt.curves.fall_anchor import FallAnchor
from adopt.curves.frequency import fit_frequency_decay
from adopt.curves.grid import expand_k
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize import validate_curves
from adopt.optimize.forecast import NOT_RECALIBRATED, curves_context
from adopt.plan import make_plan

from .conftest import RUN_ID

SMALL = {"run_id": RUN_ID, "max_k": 4, "users_per_segment": 40, "shape_users": 15,
         "n_boot": 12, "top_creatives": 2}


@pytest.fixture(scope="module")
def built(small_ws, tmp_path_factory) -> tuple:
    import shutil

    ws = tmp_path_factory.mktemp("built") / "ws"
    shutil.copytree(small_ws, ws)
    summary = build_curves(ws, **SMALL)
    return ws, summary, pd.read_parquet(summary.curves_path)


def test_contract_and_sizes(built) -> None:
    ws, summary, curves = built
    clean = validate_curves(curves)
    assert len(clean) == len(curves) == summary.rows
    sizes = load_audiences(ws).groupby("segment").size()
    assert (curves["segment_users"] == curves["segment"].map(sizes)).all()
    # users: the part of the segment the placement reaches in the period (reach.parquet)
    reach = pd.read_parquet(summary.reach_path).set_index(["segment", "placement_id"])
    share = reach["reachable_share"].reindex(pd.MultiIndex.from_frame(
        curves[["segment", "placement_id"]])).to_numpy()
    assert np.allclose(curves["users"], curves["segment_users"] * share)
    assert (curves["impressions_per_user"] > 0).all()
    assert curves["k"].max() == 4
    cells = curves.groupby(["campaign_id", "segment", "placement_id"]).size()
    assert (cells == 4).all()
    assert summary.campaigns * summary.segments * summary.placements == len(cells)


def test_curves_fall_with_k_and_intervals_hold_the_point(built) -> None:
    _, _, curves = built
    for m in ("clicks", "conversions", "revenue"):
        assert (curves[f"{m}_lo"] <= curves[m]).all() and (curves[m] <= curves[f"{m}_hi"]).all()
        steps = curves.groupby(["campaign_id", "segment", "placement_id"])[m].diff().dropna()
        assert (steps <= 1e-15).all()
    assert (curves["clicks_hi"] > curves["clicks_lo"]).mean() > 0.9


def test_creative_is_one_of_the_campaigns_ads(built) -> None:
    ws, _, curves = built
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        ads = con.execute("select ad_id, campaign_id from ads").df().set_index("ad_id")
    assert (ads.loc[curves["ad_id"], "campaign_id"].to_numpy() == curves["campaign_id"]).all()
    per_segment = curves.groupby(["campaign_id", "segment"])["ad_id"].nunique()
    assert (per_segment == 1).all()


def test_inventory_and_period(built) -> None:
    ws, summary, _ = built
    inv = pd.read_parquet(summary.placements_path)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        daily = con.execute("select placement_id, daily_inventory from placements").df()
    merged = inv.merge(daily, on="placement_id")
    assert np.allclose(merged["inventory"], merged["daily_inventory"] * summary.days)
    assert summary.days >= 1


def test_reach_is_recorded_beside_the_curves(built) -> None:
    ws, summary, curves = built
    reach = pd.read_parquet(summary.reach_path)
    record = json.loads((summary.curves_path.parent / "curves.json").read_text())["reach"]
    assert record["sha256"] == hashlib.sha256(summary.reach_path.read_bytes()).hexdigest()
    assert record["file"] == summary.reach_path.name and record["days"] == summary.days
    cells = curves[["segment", "placement_id"]].drop_duplicates()
    assert len(reach) == len(cells) == record["cells"]
    assert record["cells_below_half"] == int((reach["reachable_share"] < 0.5).sum())
    assert record["reachable_share"]["max"] == pytest.approx(reach["reachable_share"].max())
    assert len(record["lowest_cells"]) == min(20, record["cells_below_half"])
    assert "reach:" in str(summary) and "window(s)" in str(summary)


def test_all_users_and_no_smoothing_give_the_plain_mean(ws_copy) -> None:
    summary = build_curves(ws_copy, run_id=RUN_ID, max_k=2, users_per_segment=10_000,
                           shape_users=10_000, n_boot=0, top_creatives=1, monotone=False,
                           frequency="model", calibrate=False, creative_effects=False)
    assert summary.frequency == "the response model at each k"
    # the model at each k is its own fall: nothing to anchor its k = 1 to
    assert curves_context(summary.curves_path).assumptions["levels"] == NOT_RECALIBRATED
    curves = pd.read_parquet(summary.curves_path)
    row = curves.iloc[0]
    aud = load_audiences(ws_copy)
    users = aud.loc[aud["segment"] == row["segment"], "user_id"].to_numpy()
    for k in (1, 2):
        pred = predict_pairs(ws_copy, RUN_ID, users, row["ad_id"], row["placement_id"], k)
        cell = curves.loc[(curves["campaign_id"] == row["campaign_id"])
                          & (curves["segment"] == row["segment"])
                          & (curves["placement_id"] == row["placement_id"])
                          & (curves["k"] == k)].iloc[0]
        assert cell["clicks"] == pytest.approx(pred["p_click"].mean(), rel=1e-9)
        assert cell["revenue"] == pytest.approx(pred["expected_revenue"].mean(), rel=1e-9)


def test_the_fall_from_the_logs_carries_each_users_first_impression(ws_copy) -> None:
    decay = fit_frequency_decay(ws_copy)
    assert decay is not None and decay.penalty(3) > 0
    summary = build_curves(ws_copy, run_id=RUN_ID, max_k=5, users_per_segment=10_000,
                           shape_users=10, n_boot=0, top_creatives=1, monotone=False,
                           frequency="logs", calibrate=False, creative_effects=False)
    assert summary.frequency == str(decay)
    record = json.loads((summary.curves_path.parent / "curves.json").read_text())
    assert record["fall_with_k"] == str(decay) and record["model_run_id"] == RUN_ID
    assert record["frequency_decay"]["penalties"] == pytest.approx(list(decay.penalties))
    assert record["frequency_decay"]["observed_k"] == decay.observed_k
    curves = pd.read_parquet(summary.curves_path)
    cell = curves[(curves["campaign_id"] == curves["campaign_id"].iloc[0])
                  & (curves["segment"] == curves["segment"].iloc[0])
                  & (curves["placement_id"] == curves["placement_id"].iloc[0])]
    aud = load_audiences(ws_copy)
    users = aud.loc[aud["segment"] == cell["segment"].iloc[0], "user_id"].to_numpy()
    first = predict_pairs(ws_copy, RUN_ID, users, cell["ad_id"].iloc[0],
                          cell["placement_id"].iloc[0], 1)
    values = first[["p_click", "p_conversion", "expected_revenue"]].to_numpy()
    # k = 1 moved by the fall's anchor (adopt.curves.fall_anchor), conversions per click kept
    anchor = FallAnchor(**{k: v for k, v in record["level_calibration"].items() if k != "text"})
    assert record["level_calibration"]["text"] == str(anchor)
    values = values * (anchor.click_rate(values[:, 0]) / values[:, 0])[:, None]
    expected = expand_k(values[:, None, :], decay, np.arange(1, 6)).mean(axis=0)[0]
    assert np.allclose(cell[["clicks", "conversions", "revenue"]].to_numpy(), expected,
                       rtol=1e-9)
    with pytest.raises(ParameterError, match="'frequency' parameter of build_curves"):
        build_curves(ws_copy, run_id=RUN_ID, frequency="fast")


def test_thin_logs_leave_the_fall_to_the_model_unless_logs_are_required(ws_copy) -> None:
    with duckdb.connect(str(ws_copy / "warehouse.duckdb")) as con:
        con.execute("delete from training_examples where clicked")
    with pytest.raises(InputError, match="frequency='logs' needs at least"):
        build_curves(ws_copy, **SMALL, frequency="logs")
    summary = build_curves(ws_copy, **SMALL)
    assert summary.frequency == "the response model at each k"


def test_the_plan_names_the_fall_only_from_the_record_of_its_own_curves(built, tmp_path) -> None:
    ws, summary, _ = built
    curves = tmp_path / "curves.parquet"
    curves.write_bytes(summary.curves_path.read_bytes())
    record = curves.with_suffix(".json")
    record.write_text((summary.curves_path.parent / "curves.json").read_text())
    assert curves_context(curves).assumptions["fall_with_k"] == summary.frequency
    nothing = ({}, None, None, None, None)
    record.write_text(json.dumps(json.loads(record.read_text()) | {"curves_sha256": "0" * 64}))
    assert curves_context(curves) == nothing  # a record of other curves
    record.write_text("[not json")
    assert curves_context(curves) == nothing
    record.unlink()
    assert curves_context(curves) == nothing


def test_a_failed_run_leaves_the_previous_curves(ws_copy) -> None:
    first = build_curves(ws_copy, **SMALL)
    before = first.curves_path.read_bytes()
    with duckdb.connect(str(ws_copy / "warehouse.duckdb")) as con:
        con.execute("insert into audiences values ('ghost', 'x')")
    with pytest.raises(Exception, match="ghost"):
        build_curves(ws_copy, **SMALL)
    assert first.curves_path.read_bytes() == before
    assert sorted(p.name for p in first.curves_path.parent.iterdir()) == [
        "curves.json", "curves.parquet", "curves_boot.parquet", "placements.parquet",
        "reach.parquet"]


def test_parameters_and_missing_inputs(ws_copy) -> None:
    with pytest.raises(ParameterError, match="'max_k' parameter of build_curves"):
        build_curves(ws_copy, max_k=0)
    with pytest.raises(ParameterError, match="'days' parameter"):
        build_curves(ws_copy, days=-1)
    with pytest.raises(ParameterError, match="'creative_metric' parameter.*Got 'spend'"):
        build_curves(ws_copy, creative_metric="spend")
    with duckdb.connect(str(ws_copy / "warehouse.duckdb")) as con:
        con.execute("drop table audiences")
    with pytest.raises(WorkspaceError, match="no table 'audiences'"):
        build_curves(ws_copy, run_id=RUN_ID)


def test_level_times_shape_is_exact_when_all_users_are_shape_users() -> None:
    rng = np.random.default_rng(0)
    shape = rng.uniform(0, 1, (20, 3, 5, 3))
    assert np.allclose(cell_curves(shape[:, :, 0, :], shape), shape.mean(axis=0))
    boot = cell_curves(shape[:, :, 0, :], shape, rng.multinomial(20, np.full(20, 0.05), 7))
    assert boot.shape == (7, 3, 5, 3)


def test_the_anchor_draw_brings_the_levels_near_the_whole_segments_mean(ws_copy) -> None:
    # eight sampled users a segment: their mean is off by its luck; the anchor's draw (every
    # user, one placement each) corrects it through each user's value at one placement
    common = {"run_id": RUN_ID, "max_k": 1, "users_per_segment": 8, "shape_users": 8,
              "n_boot": 0, "top_creatives": 1, "monotone": False, "frequency": "model",
              "creative_effects": False}
    alone = pd.read_parquet(build_curves(ws_copy, **common, level_users=0).curves_path)
    summary = build_curves(ws_copy, **common, level_users=10_000)
    anchored = pd.read_parquet(summary.curves_path)
    assert json.loads((summary.curves_path.parent / "curves.json").read_text())[
        "level_users"] == 10_000
    keys = ["campaign_id", "segment", "placement_id"]
    assert (alone[keys + ["ad_id"]] == anchored[keys + ["ad_id"]]).all().all()  # one sample
    aud = load_audiences(ws_copy)
    errors = {"alone": [], "anchored": []}
    for segment in sorted(anchored["segment"].unique())[:2]:
        users = aud.loc[aud["segment"] == segment, "user_id"].to_numpy()
        assert len(users) > 8
        cells = anchored[anchored["segment"] == segment].head(8)
        for i, cell in cells.iterrows():
            truth = predict_pairs(ws_copy, RUN_ID, users, cell["ad_id"], cell["placement_id"],
                                  1)["p_click"].mean()
            errors["alone"].append(abs(np.log(alone.loc[i, "clicks"] / truth)))
            errors["anchored"].append(abs(np.log(cell["clicks"] / truth)))
    assert np.mean(errors["anchored"]) < 0.5 * np.mean(errors["alone"])


def test_the_anchor_is_the_whole_draws_mean_when_placements_do_not_matter() -> None:
    rng = np.random.default_rng(1)
    per_user, further = rng.uniform(0, 1, (6, 1, 3)), rng.uniform(0, 1, (9, 3))
    first = np.repeat(per_user, 4, axis=1)  # the same value at each of 4 placements
    level = cell_curves(first, first[:, :, None, :], wide=further)[:, 0, :]
    whole = np.concatenate([per_user[:, 0, :], further]).mean(axis=0)
    assert np.allclose(level, np.tile(whole, (4, 1)))
    # a replicate weighs each sampled user in the draw as in the sample (two strata)
    weights = rng.multinomial(6, np.full(6, 1 / 6), 5)
    further_weights = rng.multinomial(9, np.full(9, 1 / 9), 5)
    boot = cell_curves(first, first[:, :, None, :], weights, further, further_weights)
    resampled = ((weights @ per_user[:, 0, :] + further_weights @ further)
                 / (weights.sum(axis=1) + further_weights.sum(axis=1))[:, None])
    assert boot.shape == (5, 4, 1, 3)
    assert np.allclose(boot[:, :, 0, :], resampled[:, None, :])


def test_non_increasing_keeps_falling_curves_and_fixes_bumps() -> None:
    falling = np.array([[5.0, 3.0, 2.0, 1.0]])
    assert np.array_equal(non_increasing(falling), falling)
    fixed = non_increasing(np.array([[5.0, 2.0, 3.0, 1.0]]))
    assert (np.diff(fixed) <= 0).all() and fixed[0, 0] == 5.0 and fixed[0, -1] == 1.0


def test_replicates_and_level_calibration_are_recorded(built) -> None:
    ws, summary, curves = built
    record = json.loads((summary.curves_path.parent / "curves.json").read_text())
    boot = pd.read_parquet(summary.curves_path.parent / "curves_boot.parquet")
    assert record["replicates"]["sha256"] == hashlib.sha256(
        (summary.curves_path.parent / "curves_boot.parquet").read_bytes()).hexdigest()
    assert boot["replicate"].nunique() == SMALL["n_boot"]
    assert len(boot) == len(curves) * SMALL["n_boot"]
    # the interval of each cell x k holds the replicates' 2.5% and 97.5% quantiles
    q = boot.groupby(["campaign_id", "segment", "placement_id", "k"])["clicks"].quantile(0.5)
    merged = curves.set_index(["campaign_id", "segment", "placement_id", "k"]).join(q.rename("q"))
    assert ((merged["q"] >= merged["clicks_lo"] * (1 - 1e-5))
            & (merged["q"] <= merged["clicks_hi"] * (1 + 1e-5))).all()
    # the levels are the model's k = 1 anchored to its own k on the logged rows unless
    # calibrate=True (docs/curves.md), and the plan says so
    anchor = record["level_calibration"]
    assert anchor["text"].startswith("k = 1 click logit") and anchor["conversion_factor"] == 1.0
    assert curves_context(summary.curves_path).assumptions["levels"] == anchor["text"]
    # each campaign's level rests on its logged clicks and conversions, recorded for the
    # forecast's interval (adopt.curves.evidence)
    # and per campaign x segment (the users' segments), for the levels of the cells a plan buys
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute("select campaign_id, sum(clicked::int), "
                             "sum((clicked and converted)::int) from training_examples "
                             "group by 1").fetchall()
        cells = con.execute("select campaign_id, segment, sum(clicked::int), "
                            "sum((clicked and converted)::int) from training_examples "
                            "join audiences using (user_id) group by 1, 2").fetchall()
    expected = {c: {"clicks": int(n), "conversions": int(v), "segments": {}} for c, n, v in logged
                if c in set(curves["campaign_id"])}
    for c, s, n, v in cells:
        if c in expected:
            expected[c]["segments"][s] = {"clicks": int(n), "conversions": int(v)}
    assert record["level_evidence"]["campaigns"] == expected
    assert all(entry["segments"] for entry in expected.values())
    context = curves_context(summary.curves_path)
    assert context.evidence == expected
    assert "per campaign x segment" in context.assumptions["level_evidence"]
    # and each creative the curves chose, on its own logged rows (zeros: never logged)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        own = {a: {"impressions": int(n), "clicks": int(c), "conversions": int(v)}
               for a, n, c, v in con.execute(
                   "select ad_id, count(*), sum(clicked::int), sum((clicked and converted)::int) "
                   "from training_examples group by 1").fetchall()}
    chosen = sorted(curves["ad_id"].unique())
    zero = {"impressions": 0, "clicks": 0, "conversions": 0}
    assert record["creative_evidence"] == {a: own.get(a, zero) for a in chosen}
    assert context.creatives == record["creative_evidence"]
    never = {a for a in chosen if a not in own}
    if never:  # drawn from the spread of the logged creatives' effects in the interval
        assert context.unlogged.ad_ids == never
    else:
        assert context.unlogged is None


def test_a_model_with_creative_folds_predicts_each_creative_held_out(ws_copy) -> None:
    from adopt.response.creative_folds import fit_creative_folds
    from adopt.response.run import load_response
    from adopt.response.split import time_split

    with duckdb.connect(str(ws_copy / "warehouse.duckdb"), read_only=True) as con:
        examples = con.execute("select * from training_examples order by ts").df()
    split = time_split(examples, valid_days=2, test_days=1)
    model = load_response(ws_copy / "models" / RUN_ID)
    fit_creative_folds(model, split.train, split.valid, folds=3).save(ws_copy / "models" / RUN_ID)
    options = SMALL | {"n_boot": 0, "frequency": "logs"}

    def build(**kwargs) -> tuple[dict, pd.DataFrame]:
        summary = build_curves(ws_copy, **options, **kwargs)
        record = json.loads((summary.curves_path.parent / "curves.json").read_text())
        return record, pd.read_parquet(summary.curves_path)

    held, held_curves = build()
    assert held["creative_predictions"]["held_out"] is True
    assert held["creative_predictions"]["folds"] == 3
    assert "never saw it" in held["creative_predictions"]["text"]
    in_sample, in_sample_curves = build(held_out_creatives=False)
    assert in_sample["creative_predictions"]["held_out"] is False
    # the creative effects are measured against other predictions: other strengths
    assert held["creative_effects"]["click_strength"] != \
        in_sample["creative_effects"]["click_strength"]
    assert not np.allclose(held_curves["conversions"], in_sample_curves["conversions"])


def test_creatives_chosen_for_the_named_metric(built, ws_copy) -> None:
    """The default chooses each cell's creative by conversions, as the demo plan counts
    them; ``campaign`` by each campaign's own objective; the record and a plan say which."""
    _, _, by_conversions = built
    summary = build_curves(ws_copy, **SMALL, creative_metric="revenue")
    by_revenue = pd.read_parquet(summary.curves_path)
    assert json.loads((ws_copy / "curves" / "curves.json").read_text())[
        "creative_metric"] == "revenue"
    assert curves_context(summary.curves_path).assumptions["creative_choice"] == "revenue"
    first = ["campaign_id", "segment", "placement_id"]
    a = by_conversions.loc[by_conversions["k"] == 1].set_index(first)
    b = by_revenue.loc[by_revenue["k"] == 1].set_index(first).reindex(a.index)
    differ = a["ad_id"] != b["ad_id"]
    assert differ.any()  # the small world's creatives differ in price
    # where the choice differs, each choice holds more of its own metric at k = 1
    assert (b.loc[differ, "revenue"] >= a.loc[differ, "revenue"]).mean() > 0.5
    assert (a.loc[differ, "conversions"] >= b.loc[differ, "conversions"]).mean() > 0.5
    built_by_campaign = build_curves(ws_copy, **SMALL, creative_metric="campaign")
    assert curves_context(built_by_campaign.curves_path).assumptions[
        "creative_choice"] == "each campaign's own objective"
    config = ws_copy.parent / "clicks.toml"
    config.write_text('budget = 50.0\nobjective = "clicks"\n')
    doc = make_plan(config, workspace=ws_copy, save=False, baselines=False).document
    inputs = doc["inputs"]
    assert inputs["creative_metric"] == "campaign"
    assert inputs["creative_choice"].startswith(
        "creatives chosen by each campaign's own objective, not the plan's clicks")
    assert "creative_metric='clicks'" in inputs["creative_choice"]
    assert inputs["creative_choice"] in doc["notes"]
    # a record written before the choice was recorded: each campaign's own objective
    record_path = ws_copy / "curves" / "curves.json"
    record = json.loads(record_path.read_text())
    del record["creative_metric"]
    record_path.write_text(json.dumps(record))
    assert curves_context(built_by_campaign.curves_path).assumptions[
        "creative_metric"] == "campaign"
    # a reach plan's creatives are chosen by clicks, and a clicks-chosen curve suits it
    build_curves(ws_copy, **SMALL, creative_metric="reach")
    assert json.loads(record_path.read_text())["creative_metric"] == "clicks"
    config.write_text('budget = 50.0\nobjective = "reach"\n')
    doc = make_plan(config, workspace=ws_copy, save=False, baselines=False).document
    assert doc["inputs"]["creative_choice"] == "clicks"
    assert not any("creatives chosen by" in note for note in doc["notes"])
