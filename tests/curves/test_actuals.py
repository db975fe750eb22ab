"""A plan weighed against its delivery's log: `delivery_events`, `write_delivery_log`,
`check_actuals` and ``adopt actuals``, on a generated world whose truth delivers the plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt import Planner
from adopt.actuals import NO_SEGMENT, check_actuals, plan_window
from adopt.cli import main
from adopt.delivery import deliver, delivery_events
from adopt.exceptions import ParameterError, WorkspaceError
from adopt.ingest import ingest
from adopt.optimize.forecast import interval_z, widened
from adopt.plan import Plan
from adopt.report import build_report
from adopt.report.fmt import num
from adopt.report.privacy import OTHER
from adopt.scoring import PlanInputs, write_delivery_log

from .conftest import plan_small_world


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory, small_ws: Path) -> tuple[Path, Path, Path]:
    """The small world with model curves and a conversions plan whose budget binds, capped
    at 4 impressions of a campaign across placements."""
    return plan_small_world(tmp_path_factory.mktemp("actuals") / "copy", small_ws,
                            '[[constraints]]\ntype = "frequency_cap"\ncap = 4\n'
                            'across_placements = true\n')


def _logged(planned, tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A private copy of the planned workspace and one delivery's log, not yet ingested:
    (workspace, log folder, its events)."""
    world, ws, _ = planned
    shutil.copytree(ws, tmp_path / "ws")
    log = write_delivery_log(world, tmp_path / "ws", tmp_path / "ws" / "plans" / "t",
                             tmp_path / "log")[0]
    return tmp_path / "ws", log, pd.read_parquet(log / "events.parquet")


@pytest.fixture(scope="module")
def delivered(planned, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A copy of the planned workspace with one delivery of the plan ingested."""
    world, ws, folder = planned
    root = tmp_path_factory.mktemp("delivered")
    shutil.copytree(ws, root / "ws")
    log, start, end = write_delivery_log(world, root / "ws", root / "ws" / "plans" / "t",
                                         root / "log")
    events = pd.read_parquet(log / "events.parquet")
    assert events["ts"].min() >= start and events.loc[events["event"] == "impression",
                                                       "ts"].max() < end
    ingest(log, root / "ws", mode="append")
    return root / "ws", root / "ws" / "plans" / "t", log


def test_the_log_is_the_scored_delivery_drawn(planned) -> None:
    world, ws, folder = planned
    plan = PlanInputs.read(world, ws, folder)
    start = pd.Timestamp("2030-01-01")
    for seed in (0, 1):
        expected = deliver(plan.truth, plan.audiences, plan.exposure, caps=plan.caps, seed=seed)
        events = delivery_events(plan.truth, plan.audiences, plan.exposure, start=start,
                                 days=7, caps=plan.caps, seed=seed)
        imps = events.loc[events["event"] == "impression"]
        # the same users and impressions as the delivery scored with that seed
        assert len(imps) == expected.totals["impressions"]
        assert imps["cost"].sum() == pytest.approx(expected.totals["spend"])
        campaign = imps["ad_id"].map(plan.truth.ads["campaign_id"])
        assert len(imps.assign(c=campaign)[["user_id", "c"]].drop_duplicates()) \
            == expected.totals["reach"]
        # clicks and conversions drawn with the truth's probabilities: within 4 sds
        for name in ("clicks", "conversions"):
            got = (events["event"] == name[:-1]).sum()
            mean = expected.totals[name]
            assert abs(got - mean) < 4 * np.sqrt(mean) + 1, (name, got, mean)
        assert events["ts"].between(start, start + pd.Timedelta(days=7, seconds=2)).all()
        assert events["impression_id"].isin(imps["impression_id"]).all()
        # a conversion follows a click of its impression, and only conversions carry revenue
        clicked = set(events.loc[events["event"] == "click", "impression_id"])
        assert set(events.loc[events["event"] == "conversion", "impression_id"]) <= clicked
        assert events.loc[events["event"] != "conversion", "revenue"].isna().all()
    again = delivery_events(plan.truth, plan.audiences, plan.exposure, start=start, days=7,
                            caps=plan.caps, seed=1)
    pd.testing.assert_frame_equal(events, again)  # deterministic


def test_the_card_counts_what_the_delivery_logged(delivered) -> None:
    ws, folder, log = delivered
    events = pd.read_parquet(log / "events.parquet")
    start = events["ts"].min().normalize()
    card = check_actuals(folder, ws, start=start)
    doc = json.loads((folder / "plan.json").read_text())
    count = events["event"].value_counts()
    assert card.totals["clicks"]["actual"] == count["click"]
    assert card.totals["conversions"]["actual"] == count["conversion"]
    assert card.totals["revenue"]["actual"] == pytest.approx(events["revenue"].sum())
    assert card.delivery["impressions"] == count["impression"]
    assert card.delivery["spend"] == pytest.approx(events["cost"].sum())
    assert card.delivery["planned_impressions"] == pytest.approx(doc["totals"]["impressions"])
    assert card.delivery["planned_reach"] == pytest.approx(doc["totals"]["reach"])
    # the plan delivered whole (up to the users' rounding): the forecast as planned
    conv = card.totals["conversions"]
    assert conv["point"] == pytest.approx(doc["forecast"]["conversions"]["point"])
    assert conv["at_delivered"] == pytest.approx(conv["point"], rel=0.02)
    assert conv["ratio"] == pytest.approx(conv["actual"] / conv["at_delivered"])
    # the interval of an expected value, widened by the logged counts' own (Poisson) noise
    noise = 1.0 / conv["at_delivered"]
    assert conv["z"] == pytest.approx(interval_z(conv["at_delivered"], conv["lo_at_delivered"],
                                                 conv["hi_at_delivered"], conv["actual"],
                                                 extra_log_var=noise))
    assert conv["lo_logged"] < conv["lo_at_delivered"] < conv["at_delivered"] \
        < conv["hi_at_delivered"] < conv["hi_logged"]
    assert conv["inside"] is (conv["lo_logged"] <= conv["actual"] <= conv["hi_logged"])
    # revenue: conversions at each cell's order value (compound Poisson), not one count
    cells = card.segments.assign(order_value=lambda d: d["at_delivered_revenue"]
                                 / d["at_delivered_conversions"])
    mix = float((cells["order_value"] ** 2 * cells["at_delivered_conversions"]).sum()
                / cells["at_delivered_revenue"].sum() ** 2)
    assert mix > 1.0 / conv["at_delivered"]  # order values differ between campaigns
    revenue = card.totals["revenue"]
    assert revenue["z"] == pytest.approx(interval_z(
        revenue["at_delivered"], revenue["lo_at_delivered"], revenue["hi_at_delivered"],
        revenue["actual"], extra_log_var=mix), rel=0.05)
    c = card.campaigns
    assert np.allclose(c["z_conversions"], (c["conversions"] - c["at_delivered_conversions"])
                       / np.sqrt(c["at_delivered_conversions"]))
    assert card.delivery["off_plan_impressions"] == 0 and card.delivery["users_over_cap"] == 0
    # campaigns and campaign x segment rows add up to the totals
    for table in (card.campaigns, card.segments):
        assert table["conversions"].sum() == count["conversion"]
        assert table["at_delivered_conversions"].sum() == pytest.approx(conv["at_delivered"])
    # the saved card: no user id, the numbers as shown
    saved = json.loads(card.save(folder).read_text())
    assert saved["totals"]["conversions"]["actual"] == count["conversion"]
    assert not any(u in (folder / "actuals.json").read_text()
                   for u in events["user_id"].unique()[:50])
    assert "actual" in str(card) and "at the volume and frequency delivered" in str(card)


def test_a_short_delivery_is_read_at_its_volume(planned, tmp_path: Path) -> None:
    ws, log, events = _logged(planned, tmp_path)
    camp = events["ad_id"].map(pd.read_parquet(log / "ads.parquet")
                               .set_index("ad_id")["campaign_id"])
    top = camp.loc[events["event"] == "impression"].value_counts().index[0]
    # the ad server served only the first half of the period for the largest campaign
    mid = events["ts"].min() + (events["ts"].max() - events["ts"].min()) / 2
    imps = events.loc[events["event"] == "impression"]
    late = set(imps.loc[(camp[imps.index] == top) & (imps["ts"] > mid), "impression_id"])
    events = events.loc[~events["impression_id"].isin(late)].copy()
    # conversions reported days after the period still count with their impressions
    conv = events["event"] == "conversion"
    events.loc[conv, "ts"] += pd.Timedelta(days=30)
    events.to_parquet(log / "events.parquet")
    ingest(log, ws, mode="append")
    card = check_actuals(ws / "plans" / "t", ws, start=events["ts"].min().normalize())
    row = card.campaigns.set_index("campaign_id").loc[top]
    assert row["impressions"] < 0.6 * row["planned_impressions"]
    assert row["at_volume_conversions"] == pytest.approx(
        row["forecast_conversions"] * row["impressions"] / row["planned_impressions"], rel=0.1)
    # its users got fewer impressions than planned: each nearer the top of the fall with k
    assert row["at_delivered_conversions"] > 1.05 * row["at_volume_conversions"]
    conv = card.totals["conversions"]
    assert conv["actual"] == (events["event"] == "conversion").sum() > 0
    assert conv["at_delivered"] < conv["point"] and conv["hi_at_delivered"] < conv["hi"]
    assert any("of the planned impressions" in n for n in card.notes)


def _by_hand(curves: pd.DataFrame, alloc: pd.DataFrame, audiences: pd.DataFrame,
             imps: pd.DataFrame, campaign: str) -> float:
    """The conversions forecast of one campaign's logged impressions, user by user: the k-th
    impression of a user's campaign (over all placements, in time order) at placement p
    carries the cell's curve at k (past the curve's depth, its last position)."""
    bought = alloc.loc[alloc["campaign_id"] == campaign]
    curve = curves.loc[curves["campaign_id"] == campaign].set_index(
        ["segment", "placement_id", "k"])["conversions"]
    total = 0.0
    for user, mine in imps.loc[imps["campaign_id"] == campaign].groupby("user_id"):
        segments = sorted(audiences.loc[audiences["user_id"] == user, "segment"])
        mine = mine.sort_values(["ts", "impression_id", "placement_id"])
        for k, place in enumerate(mine["placement_id"], start=1):
            seg = next((s for s in segments if ((bought["segment"] == s)
                                                & (bought["placement_id"] == place)).any()), None)
            if seg is not None:
                values = curve.loc[(seg, place)].sort_index().to_numpy()
                total += values[min(k, len(values)) - 1]
    return total


def test_each_impression_is_read_at_its_place_in_its_users_sequence(planned,
                                                                    tmp_path: Path) -> None:
    ws, log, events = _logged(planned, tmp_path)
    ads = pd.read_parquet(log / "ads.parquet").set_index("ad_id")["campaign_id"]
    imps = events.loc[events["event"] == "impression"].assign(
        campaign_id=lambda d: d["ad_id"].map(ads))
    top = imps["campaign_id"].value_counts().index[0]
    # the ad server served the largest campaign's impressions twice to each user
    again = imps.loc[imps["campaign_id"] == top].assign(
        ts=lambda d: d["ts"] + pd.Timedelta(minutes=1),
        impression_id=lambda d: d["impression_id"] + "-again")
    pd.concat([events, again.drop(columns="campaign_id")]).to_parquet(log / "events.parquet")
    ingest(log, ws, mode="append")
    folder = ws / "plans" / "t"
    card = check_actuals(folder, ws, start=events["ts"].min().normalize())
    row = card.campaigns.set_index("campaign_id").loc[top]
    assert row["impressions"] == pytest.approx(2 * row["planned_impressions"], rel=0.01)
    assert row["at_volume_conversions"] == pytest.approx(2 * row["forecast_conversions"],
                                                         rel=0.01)
    # each user's impressions fall further down the curve: each valued at its own k
    doc = json.loads((folder / "plan.json").read_text())
    curves = pd.read_parquet(doc["inputs"]["curves"])
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        audiences = con.execute("select user_id, segment::varchar as segment "
                                "from audiences").df()
    alloc = pd.read_parquet(folder / "allocation.parquet")
    served = pd.concat([imps, again]).query("ts < @card.end")
    assert row["at_delivered_conversions"] == pytest.approx(
        _by_hand(curves, alloc, audiences, served, top), rel=1e-9)
    assert row["at_delivered_conversions"] < 0.9 * row["at_volume_conversions"]
    assert card.at_users_frequency and any("at the frequency users got" in n
                                           for n in card.notes)
    # the doubled impressions sit at later places: down to the curves' depth and after
    places = card.positions
    assert places["and_after"].tolist() == [False] * (len(places) - 1) + [True]
    assert places["impressions"].iloc[-1] > places["impressions"].iloc[0]
    assert places["at_delivered_conversions"].sum() == pytest.approx(
        card.totals["conversions"]["at_delivered"], rel=1e-9)
    # a plan whose curves file changed since, even only at the deepest k: the plan's
    # frequency, said so
    curves_path = doc["inputs"]["curves"]
    changed = pd.read_parquet(curves_path)
    changed.loc[changed["k"] == changed["k"].max(), "conversions"] *= 10
    changed.to_parquet(tmp_path / "changed.parquet")
    doc["inputs"]["curves"] = str(tmp_path / "changed.parquet")
    (folder / "plan.json").write_text(json.dumps(doc))
    stale = check_actuals(folder, ws, start=events["ts"].min().normalize())
    assert not stale.at_users_frequency
    assert stale.totals["conversions"]["at_delivered"] == pytest.approx(
        stale.totals["conversions"]["at_volume"], rel=1e-12)
    assert stale.totals["conversions"]["at_volume"] == card.totals["conversions"]["at_volume"]
    assert any("keeps the plan's frequency" in n for n in stale.notes)
    assert stale.positions.empty and stale.to_dict()["positions"] == []
    assert stale.days["at_delivered_conversions"].sum() == pytest.approx(
        stale.totals["conversions"]["at_delivered"], rel=1e-9)
    # a plan written without the hash: the curves still value its exposure as it did
    doc["inputs"]["curves"] = curves_path
    doc["inputs"].pop("curves_hash")
    (folder / "plan.json").write_text(json.dumps(doc))
    unhashed = check_actuals(folder, ws, start=events["ts"].min().normalize())
    assert unhashed.at_users_frequency and unhashed.totals == card.totals
    doc["inputs"]["curves"] = str(tmp_path / "gone.parquet")
    (folder / "plan.json").write_text(json.dumps(doc))
    assert not check_actuals(folder, ws, start=events["ts"].min().normalize()).at_users_frequency


def test_the_card_follows_the_delivery_day_by_day(delivered, planned, tmp_path: Path) -> None:
    ws, folder, log = delivered
    events = pd.read_parquet(log / "events.parquet")
    start = events["ts"].min().normalize()
    card = check_actuals(folder, ws, start=start)
    days = card.days
    assert len(days) == (card.end - card.start).days and days["day"].iloc[0] == start
    assert days["planned_impressions"].sum() == pytest.approx(
        card.delivery["planned_impressions"])
    for name in ("impressions", "clicks", "conversions"):
        total = card.delivery["impressions"] if name == "impressions" \
            else card.totals[name]["actual"]
        assert days[name].sum() == total
    assert days["at_delivered_conversions"].sum() == pytest.approx(
        card.totals["conversions"]["at_delivered"], rel=1e-9)
    # a conversion counts on its impression's day
    day_of = events.loc[events["event"] == "impression"].set_index("impression_id")["ts"]
    conv = events.loc[events["event"] == "conversion", "impression_id"].map(day_of)
    per_day = ((conv - start) // pd.Timedelta(days=1)).value_counts()
    assert days["conversions"].to_numpy() == pytest.approx(
        per_day.reindex(range(len(days)), fill_value=0).to_numpy())
    assert not any(n.startswith("pacing") for n in card.notes)  # delivered evenly
    # by the place k of each impression in its user's sequence: the same totals
    places = card.positions
    assert places["k"].tolist() == list(range(1, len(places) + 1))
    assert places["impressions"].sum() == card.delivery["impressions"]
    assert places["conversions"].sum() == card.totals["conversions"]["actual"]  # all linked
    assert places["at_delivered_conversions"].sum() == pytest.approx(
        card.totals["conversions"]["at_delivered"], rel=1e-9)
    cap = 4  # the plan's cap across placements: no fifth impression of a campaign
    assert places["k"].max() <= cap and places["impressions"].is_monotonic_decreasing
    saved = json.loads(card.save(tmp_path).read_text())
    assert saved["days"][0]["day"] == start.isoformat() and len(saved["days"]) == len(days)
    assert "by day" in str(card)
    assert not any("projected" in t for t in card.totals.values())  # the plan ran its course
    # mid-flight: five and a half days logged, read against the plan's whole period
    ws2, log2, logged = _logged(planned, tmp_path / "mid")
    imps = logged.loc[logged["event"] == "impression"].set_index("impression_id")["ts"]
    early = logged["impression_id"].map(imps) < start + pd.Timedelta(days=5.5)
    logged.loc[early].to_parquet(log2 / "events.parquet")
    ingest(log2, ws2, mode="append")
    mid = check_actuals(ws2 / "plans" / "t", ws2, start=start)
    assert mid.end == card.end and mid.days["impressions"].iloc[6:].sum() == 0
    assert not any(n.startswith("pacing") for n in mid.notes)  # on pace so far, mid-day
    # where it is heading: between the plan's forecast and the raw extrapolation of the logs
    c = mid.totals["conversions"]
    rest = c["point"] - c["at_delivered"]
    raw = c["actual"] + rest * c["actual"] / c["at_delivered"]
    assert c["lo_projected"] < c["projected"] < c["hi_projected"]
    assert min(c["point"], raw) * 0.99 < c["projected"] < max(c["point"], raw) * 1.01
    assert "by the period's end" in str(mid)
    mid.save(ws2 / "plans" / "t")
    html = build_report(ws2 / "plans" / "t", tmp_path / "mid.html", workspace=ws2).read_text()
    assert "The plan still runs" in html and f"<b>{num(c['projected'])}</b>" in html
    # half the impressions dropped: behind even pacing
    ws4, log4, logged = _logged(planned, tmp_path / "slow")
    imps = logged.loc[logged["event"] == "impression", "impression_id"]
    kept = set(imps.iloc[::2]) & set(logged.loc[early, "impression_id"])
    logged.loc[logged["impression_id"].isin(kept)].to_parquet(log4 / "events.parquet")
    ingest(log4, ws4, mode="append")
    slow = check_actuals(ws4 / "plans" / "t", ws4, start=start)
    assert any(n.startswith("pacing") and "behind even pacing" in n for n in slow.notes)
    # every impression served in the first half: ahead of even pacing
    ws3, log3, logged = _logged(planned, tmp_path / "fast")
    logged["ts"] = start + (logged["ts"] - start) / 2
    logged.to_parquet(log3 / "events.parquet")
    ingest(log3, ws3, mode="append")
    fast = check_actuals(ws3 / "plans" / "t", ws3, start=start)
    assert fast.days["impressions"].iloc[len(days) // 2 + 1:].sum() == 0
    assert any(n.startswith("pacing") and "ahead of even pacing" in n for n in fast.notes)
    assert not any("projected" in t for t in fast.totals.values())  # nothing left to come


def test_a_window_inside_the_plans_period_counts_from_the_plans_start(delivered,
                                                                      tmp_path: Path) -> None:
    ws, folder, log = delivered
    start = pd.read_parquet(log / "events.parquet")["ts"].min().normalize()
    copy = tmp_path / "t"
    shutil.copytree(folder, copy)
    doc = json.loads((copy / "plan.json").read_text())
    doc["inputs"]["spec"]["period_start"] = f"{start:%Y-%m-%d}"
    (copy / "plan.json").write_text(json.dumps(doc))
    whole = check_actuals(copy, ws)
    later = check_actuals(copy, ws, start=start + pd.Timedelta(days=5))
    assert later.end == whole.end and len(later.days) == len(whole.days) - 5
    # each impression keeps its place in its user's sequence from the plan's start
    assert later.totals["conversions"]["at_delivered"] == pytest.approx(
        whole.days["at_delivered_conversions"].iloc[5:].sum(), rel=1e-9)
    # even pacing over the plan's period, not the window's
    assert later.days["planned_impressions"].to_numpy() == pytest.approx(
        whole.days["planned_impressions"].iloc[5:].to_numpy())
    assert not any("projected" in t for t in later.totals.values())


def test_the_period_and_the_plans_campaigns_bound_what_counts(delivered) -> None:
    ws, folder, log = delivered
    events = pd.read_parquet(log / "events.parquet")
    start = events["ts"].min().normalize()
    whole = check_actuals(folder, ws, start=start)
    first_day = check_actuals(folder, ws, start=start, end=start + pd.Timedelta(days=1))
    on_day = events.loc[(events["event"] == "impression")
                        & (events["ts"] < start + pd.Timedelta(days=1))]
    assert first_day.delivery["impressions"] == len(on_day)
    assert first_day.delivery["impressions"] < whole.delivery["impressions"]
    # clicks and conversions count with their impression, whenever they were logged
    linked = events["impression_id"].isin(on_day["impression_id"])
    assert first_day.totals["clicks"]["actual"] == (linked & (events["event"] == "click")).sum()
    # a window too long for a table by day: said so
    long = check_actuals(folder, ws, start=start, end=start + pd.Timedelta(days=400))
    assert long.days.empty and any("no table by day" in n for n in long.notes)
    # a period after the delivery: nothing logged
    with pytest.raises(ParameterError, match="No impression of the plan's campaigns"):
        check_actuals(folder, ws, start="2031-01-01")


def test_a_planner_reads_the_card_from_the_plan(delivered) -> None:
    ws, folder, log = delivered
    start = pd.read_parquet(log / "events.parquet")["ts"].min().normalize()
    (folder / "actuals.json").unlink(missing_ok=True)
    card = Planner(ws).load_plan("t").actuals(start=start)
    assert card.to_dict() == json.loads((folder / "actuals.json").read_text())
    assert card.to_dict() == check_actuals(folder, ws, start=start).to_dict()
    with pytest.raises(WorkspaceError, match="needs a saved plan"):
        Plan("t", card.campaigns, {}).actuals()  # made, never written


def test_the_report_shows_the_delivery_per_campaign(delivered, tmp_path: Path) -> None:
    ws, folder, log = delivered
    events = pd.read_parquet(log / "events.parquet")
    check_actuals(folder, ws, start=events["ts"].min().normalize()).save(folder)
    html = build_report(folder, tmp_path / "r.html", workspace=ws).read_text()
    section = html[html.index('id="delivery"'):html.index('id="allocation"')]
    assert "Forecast against delivery" in section and "actual / forecast" in section
    assert f"<b>{(events['event'] == 'conversion').sum()}</b>" in section
    assert "By day" in section and f"<td>{events['ts'].min():%Y-%m-%d}</td>" in section
    assert "place k of an impression" in section
    assert not any(u in html for u in events["user_id"].unique()[:50])
    # a broken card is named, not fatal
    copy = tmp_path / "plan"
    shutil.copytree(folder, copy)
    (copy / "actuals.json").write_text("<script>")
    html = build_report(copy, tmp_path / "b.html", workspace=ws).read_text()
    assert "Not available: actuals.json is not a card" in html and "<script>" not in html


def test_what_the_ad_server_did_off_the_plan_is_counted_apart(planned, tmp_path: Path) -> None:
    world, _, folder = planned
    ws, log, events = _logged(planned, tmp_path)
    ads = pd.read_parquet(log / "ads.parquet")
    alloc = pd.read_parquet(folder / "allocation.parquet")
    placements = set(pd.read_parquet(log / "placements.parquet")["placement_id"])
    # the largest cell of a campaign the plan leaves some placement out for
    cell, unbought = next(
        (row, sorted(placements - set(alloc.loc[alloc["campaign_id"] == row["campaign_id"],
                                                "placement_id"])))
        for _, row in alloc.sort_values("impressions", ascending=False).iterrows()
        if placements - set(alloc.loc[alloc["campaign_id"] == row["campaign_id"],
                                      "placement_id"]))
    first = events.iloc[0]
    user = first["user_id"]
    # six more impressions of the campaign for one user, at a placement the plan did not buy
    extra = pd.DataFrame({"ts": first["ts"] + pd.to_timedelta(range(1, 7), unit="min"),
                          "user_id": user, "ad_id": cell["ad_id"], "placement_id": unbought[0],
                          "event": "impression", "cost": 0.01, "revenue": np.nan,
                          "impression_id": [f"extra-{i}" for i in range(6)]})
    # and a campaign the plan does not hold, which must not count
    ads = pd.concat([ads, ads.iloc[[0]].assign(ad_id="a_new", campaign_id="c_new")])
    other = extra.iloc[:2].assign(ad_id="a_new", impression_id=["other-0", "other-1"])
    pd.concat([events, extra, other]).to_parquet(log / "events.parquet")
    ads.to_parquet(log / "ads.parquet")
    campaigns = pd.read_parquet(world / "campaigns.parquet")
    pd.concat([campaigns, campaigns.iloc[[0]].assign(campaign_id="c_new")]).to_parquet(
        log / "campaigns.parquet")
    ingest(log, ws, mode="append")
    card = check_actuals(ws / "plans" / "t", ws, start=events["ts"].min().normalize())
    assert card.delivery["impressions"] == (events["event"] == "impression").sum() + 6
    assert card.delivery["off_plan_impressions"] == 6
    assert card.delivery["users_over_cap"] >= 1  # the plan's cap across placements is 4
    row = card.campaigns.set_index("campaign_id").loc[cell["campaign_id"]]
    assert row["off_plan_impressions"] == 6
    assert "c_new" not in set(card.campaigns["campaign_id"])
    assert any("cells the plan did not buy" in n for n in card.notes)
    assert any("more often than the plan's cap of 4" in n for n in card.notes)


def test_a_user_in_two_segments_counts_once(delivered, tmp_path: Path) -> None:
    ws, folder, log = delivered
    shutil.copytree(ws, tmp_path / "ws")
    start = pd.read_parquet(log / "events.parquet")["ts"].min().normalize()
    copy = tmp_path / "ws" / "plans" / "t"
    before = check_actuals(copy, tmp_path / "ws", start=start)
    with duckdb.connect(str(tmp_path / "ws" / "warehouse.duckdb")) as con:
        # rule-based audiences overlap: every user also in a segment first by name that the
        # plan buys nowhere
        con.execute("insert into audiences select user_id, 'aa overlap' from audiences")
    after = check_actuals(copy, tmp_path / "ws", start=start)
    assert after.totals == before.totals
    assert after.delivery == pytest.approx(before.delivery, rel=1e-12)
    # b's users in a too, where the campaign buys b at a placement it does not buy a: at
    # each placement a user counts in a segment bought there, so nothing turns off-plan
    alloc = pd.read_parquet(folder / "allocation.parquet")
    bought = set(zip(alloc["campaign_id"], alloc["segment"], alloc["placement_id"],
                     strict=True))
    pairs = [(c, x, y) for (c, x, p) in bought for (d, y, q) in bought
             if c == d and x < y and (c, x, q) not in bought]
    assert pairs, "the test needs a campaign buying two segments at different placements"
    _, a, b = min(pairs)
    with duckdb.connect(str(tmp_path / "ws" / "warehouse.duckdb")) as con:
        con.execute("insert into audiences select user_id, ? from audiences where segment = ?",
                    [a, b])
    after = check_actuals(copy, tmp_path / "ws", start=start)
    assert after.delivery["off_plan_impressions"] == 0
    assert {m: t["actual"] for m, t in after.totals.items()} \
        == {m: t["actual"] for m, t in before.totals.items()}


def test_a_new_plan_in_the_folder_drops_the_old_delivery(delivered, tmp_path: Path) -> None:
    ws, folder, log = delivered
    start = pd.read_parquet(log / "events.parquet")["ts"].min().normalize()
    copy = tmp_path / "t"
    shutil.copytree(folder, copy)
    check_actuals(copy, ws, start=start).save(copy)
    Plan.load(copy).save(copy)  # what `adopt plan` does when it writes the same id again
    assert not (copy / "actuals.json").exists()


def test_small_segments_are_merged_and_the_unsegmented_kept_apart(delivered) -> None:
    ws, folder, log = delivered
    start = pd.read_parquet(log / "events.parquet")["ts"].min().normalize()
    card = check_actuals(folder, ws, start=start, min_segment_size=10**9)
    assert set(card.segments["segment"]) <= {OTHER, NO_SEGMENT}
    assert card.segments["conversions"].sum() == card.totals["conversions"]["actual"]


def test_the_projection_updates_the_forecasts_level_by_the_logs() -> None:
    from adopt.actuals.check import _projected

    plan = {"point": 500.0, "lo": 250.0, "hi": 1000.0, "level": 0.95}
    # nothing logged yet: the forecast itself (its point is a mean)
    none = _projected(plan | {"at_delivered": 1e-9, "actual": 0.0}, 1.0 / 1e-9)
    assert none["projected"] == pytest.approx(500.0, rel=1e-6)
    # as many as forecast, many counts: near the forecast; twice as many: near the logs
    same = _projected(plan | {"at_delivered": 250.0, "actual": 250.0}, 1.0 / 250.0)
    assert same["projected"] == pytest.approx(500.0, rel=0.01)
    twice = _projected(plan | {"at_delivered": 250.0, "actual": 500.0}, 1.0 / 250.0)
    assert 0.9 * 1000.0 < twice["projected"] < 1000.0
    assert twice["lo_projected"] < twice["projected"] < twice["hi_projected"]
    # a sliver left: a band that stays finite and close, nothing past half a count
    sliver = _projected(plan | {"at_delivered": 499.99, "actual": 480.0}, 1.0 / 499.99)
    assert sliver == {}
    small = _projected(plan | {"at_delivered": 499.0, "actual": 480.0}, 1.0 / 499.0)
    assert 480.0 < small["lo_projected"] < small["projected"] < small["hi_projected"] < 490.0
    json.dumps(small, allow_nan=False)


def test_an_interval_widens_by_a_noise_in_the_log() -> None:
    lo, hi = 100 * np.exp(-0.196), 100 * np.exp(0.392)  # sd 0.1 below, 0.2 above
    assert widened(100.0, lo, hi, 0.95, 0.0) == pytest.approx((lo, hi))
    wide = widened(100.0, lo, hi, 0.95, 0.0175)  # the sd of the log 0.15 -> 0.2: x 4/3
    assert np.log(np.array(wide) / 100.0) == pytest.approx([-0.196 * 4 / 3, 0.392 * 4 / 3],
                                                           rel=1e-3)
    assert interval_z(100.0, lo, hi, 100 * np.exp(0.2), extra_log_var=0.0175) == pytest.approx(
        1.0, rel=1e-3)
    # quantiles of draws can sit on one side of the point: the band never narrows
    assert widened(10.0, 11.0, 20.0, 0.95, 0.1) == pytest.approx((11.0, widened(
        10.0, 11.0, 20.0, 0.95, 0.1)[1])) and widened(10.0, 11.0, 20.0, 0.95, 0.1)[1] > 20.0


def test_the_period_comes_from_the_plan_or_the_arguments() -> None:
    doc = {"inputs": {"spec": {"period_start": "2026-03-01", "period_end": "2026-03-14"},
                      "period_days": 14}}
    assert plan_window(doc) == (pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-15"))
    assert plan_window({"inputs": {"period_days": 7}}, start="2026-03-01") == (
        pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-08"))
    assert plan_window(doc, "2026-03-02", "2026-03-03")[1] == pd.Timestamp("2026-03-03")
    for kwargs, match in (({}, "'start' parameter .* is needed"),
                          ({"start": "soon"}, "must be a date"),
                          ({"start": "2026-03-01T00:00+02:00"}, "without a time zone"),
                          ({"start": "2026-03-02", "end": "2026-03-01"}, "must come after")):
        with pytest.raises(ParameterError, match=match):
            plan_window({"inputs": {"period_days": 7}}, **kwargs)
    with pytest.raises(ParameterError, match="'end' parameter .* is needed"):
        plan_window({"inputs": {}}, start="2026-03-01")


@pytest.mark.usefixtures("own_log_handler")
def test_adopt_actuals_prints_the_card_and_refuses_bad_input_in_one_line(
        delivered, planned, tmp_path: Path, capsys) -> None:
    ws, folder, log = delivered
    start = str(pd.read_parquet(log / "events.parquet")["ts"].min().date())
    assert main(["actuals", "--plan", str(folder), "--workspace", str(ws), "--start", start]) == 0
    out = capsys.readouterr().out
    assert "conversions: forecast" in out and "actuals.json" in out
    for args in (["--start", "soon"], ["--start", start, "--min-segment-size", "-1"],
                 ["--start", "2031-01-01"]):
        assert main(["actuals", "--plan", str(folder), "--workspace", str(ws), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("adopt: error:"), err
    assert main(["actuals", "--plan", str(tmp_path / "none"), "--start", start]) == 2
    assert "plan.json is missing" in capsys.readouterr().err
    # score's delivery log goes to a new folder only, refused before the scoring
    world, _, plan_folder = planned
    assert main(["score", "--world", str(world), "--workspace", str(ws), "--plan",
                 str(plan_folder), "--write-delivery", str(log)]) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(WorkspaceError, match="already exists"):
        write_delivery_log(world, ws, plan_folder, log)
