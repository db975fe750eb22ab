"""Loading into a warehouse that holds data: modes, duplicates refused or replaced."""

from __future__ import annotations

import pandas as pd
import pytest

from adopt import Planner
from adopt.cli import main
from adopt.exceptions import InputError, ParameterError
from adopt.ingest import ingest
from adopt.workspace import Workspace


def _corrected(world, row: int = 7):
    """The same events with the cost of one impression corrected (ids unchanged)."""
    events = world["events"].copy()
    assert events.loc[row, "event"] == "impression"
    events.loc[row, "cost"] = 0.009
    return dict(world, events=events)


def _no_ids(world):
    """The world with events that carry no impression_id."""
    return dict(world, events=world["events"].drop(columns="impression_id"))


def test_corrected_events_with_the_same_ids_are_refused(
    world, write, loaded_ws, base_checksum, wh_checksum
):
    with pytest.raises(InputError) as err:
        ingest(write(_corrected(world)), loaded_ws)
    assert str(err.value).startswith(
        "table 'events', column 'impression_id', row 8 of events.csv: "
        "duplicate impression_id 'i7': the warehouse already holds a different impression"
    )
    assert "--on-duplicate replace" in str(err.value)
    assert wh_checksum(Workspace(loaded_ws).warehouse) == base_checksum


def test_cli_refused_reload_exits_2_with_one_line(world, write, loaded_ws, capsys, own_log_handler):
    code = main(["ingest", str(write(_corrected(world))), "--workspace", str(loaded_ws)])
    assert code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert errors == err.splitlines()[-1:]
    assert errors[0].startswith(
        "adopt: error: table 'events', column 'impression_id', row 8 of events.csv:"
    )
    assert "Traceback" not in err


def test_on_duplicate_replace_takes_the_corrected_rows(world, write, loaded_ws, wh_query):
    summary = ingest(write(_corrected(world)), loaded_ws, on_duplicate="replace")
    wh = Workspace(loaded_ws).warehouse
    assert wh_query(wh, "SELECT count(*) FROM events") == [(len(world["events"]),)]
    corrected = "SELECT cost FROM events WHERE impression_id = 'i7' AND event = 'impression'"
    assert wh_query(wh, corrected) == [(0.009,)]
    # every impression of the input came again: the warehouse's rows of each were replaced
    assert summary["events"].rows_replaced == len(world["events"])
    assert summary["events"].rows_loaded == len(world["events"])


def test_on_duplicate_replace_keeps_impressions_the_input_only_clicks(
    world, write, loaded_ws, wh_query
):
    # A late click on an impression loaded before: the impression stays.
    imp = world["events"].query("event == 'impression'").iloc[[1]].copy()
    imp["event"], imp["ts"] = "click", imp["ts"] + pd.Timedelta(seconds=5)
    ingest(write({"users": world["users"], "placements": world["placements"],
                  "ads": world["ads"], "events": imp}), loaded_ws, on_duplicate="replace")
    wh = Workspace(loaded_ws).warehouse
    iid = imp["impression_id"].iloc[0]
    got = wh_query(wh, "SELECT event FROM events WHERE impression_id = $i", {"i": iid})
    assert ("impression",) in got and ("click",) in got


def test_mode_replace_makes_the_warehouse_the_input(world, write, loaded_ws, wh_query):
    wh = Workspace(loaded_ws).warehouse
    smaller = _corrected(world)
    smaller["events"] = smaller["events"].iloc[:30]  # impressions only
    smaller["users"] = smaller["users"].drop(columns="loyalty")
    del smaller["behaviors"], smaller["campaigns"]
    smaller["ads"] = smaller["ads"].assign(campaign_id="c9")
    summary = ingest(write(smaller), loaded_ws, mode="replace")
    assert wh_query(wh, "SELECT count(*), sum(cost) FROM events") == [
        (30, pytest.approx(smaller["events"].cost.sum()))
    ]
    assert wh_query(wh, "SELECT count(*) FROM behaviors") == [(0,)]
    assert wh_query(wh, "SELECT count(*) FROM campaigns") == [(0,)]
    cols = [c for (c,) in wh_query(wh, "SELECT column_name FROM (DESCRIBE users)")]
    assert "loyalty" not in cols  # an extra column of the load replaced
    assert summary.mode == "replace"
    assert summary.removed["events"] == len(world["events"])
    assert summary.removed["behaviors"] == len(world["behaviors"])
    assert "removed the rows the warehouse held before: users 20" in str(summary)
    assert wh_query(wh, "SELECT ingest_id, mode FROM ingest_log ORDER BY 1") == [
        (1, "append"),
        (2, "replace"),
    ]


def test_mode_replace_that_fails_leaves_the_warehouse(
    world, write, loaded_ws, base_checksum, wh_checksum
):
    world["events"].loc[3, "ad_id"] = "a_unknown"
    with pytest.raises(InputError, match=r"table 'events', column 'ad_id', row 4 of events.csv"):
        ingest(write(world), loaded_ws, mode="replace")
    assert wh_checksum(Workspace(loaded_ws).warehouse) == base_checksum


def test_mode_replace_may_change_the_salt(world, write, tmp_path, wh_query):
    data = write(world)
    ingest(data, tmp_path / "ws", pseudonymize_salt="old")
    with pytest.raises(InputError, match="pseudonymize_salt differs"):
        ingest(data, tmp_path / "ws", pseudonymize_salt="new")
    ingest(data, tmp_path / "ws", pseudonymize_salt="new", mode="replace")
    wh = Workspace(tmp_path / "ws").warehouse
    assert wh_query(wh, "SELECT count(*) FROM users") == [(20,)]


def test_corrected_events_without_ids_are_refused_by_default(
    world, write, tmp_path, wh_checksum, wh_query
):
    ws = tmp_path / "ws"
    ingest(write(_no_ids(world)), ws)
    wh = Workspace(ws).warehouse
    before = wh_checksum(wh)
    corrected = _no_ids(_corrected(world))
    with pytest.raises(InputError) as err:
        ingest(write(corrected), ws)
    ad, placement = world["events"].loc[7, ["ad_id", "placement_id"]]
    assert str(err.value).startswith(
        f"table 'events', column 'ts', row 8 of events.csv: the warehouse already holds events "
        f"of ad '{ad}' on placement '{placement}' from "
    )
    assert "--mode replace" in str(err.value) and "--mode append" in str(err.value)
    assert wh_checksum(wh) == before
    # The same file again is fine (exact repeats are dropped); so is a later batch.
    again = ingest(write(_no_ids(world)), ws)
    assert again["events"].rows_loaded == 0
    later = _no_ids(world)
    later["events"] = later["events"].assign(ts=later["events"].ts + pd.Timedelta(days=30))
    assert ingest(write(later), ws)["events"].rows_loaded == len(world["events"])
    # Explicit append adds the corrected row; replace makes the warehouse the input.
    assert ingest(write(corrected), ws, mode="append")["events"].rows_loaded == 1
    ingest(write(corrected), ws, mode="replace")
    assert wh_query(wh, "SELECT count(*) FROM events") == [(len(world["events"]),)]


def test_corrected_behaviors_are_refused_by_default(world, write, loaded_ws):
    behaviors = world["behaviors"].copy()
    behaviors.loc[4, "text"] = "green tea"
    with pytest.raises(InputError, match=r"table 'behaviors', column 'ts', row 5 of behaviors.csv"):
        ingest(write(dict(world, behaviors=behaviors)), loaded_ws)


def test_bad_mode_names_the_choices(world, write, tmp_path):
    with pytest.raises(ParameterError, match=r"'mode' parameter of ingest must be one of "
                       r"None, 'append', 'replace'. Got 'overwrite'"):
        ingest(write(world), tmp_path / "ws", mode="overwrite")
    with pytest.raises(ParameterError, match="'on_duplicate' parameter"):
        ingest(write(world), tmp_path / "ws", on_duplicate="skip")
    assert not Workspace(tmp_path / "ws").warehouse.exists()


def test_planner_and_cli_take_the_mode(world, write, loaded_ws, wh_query, own_log_handler):
    wh = Workspace(loaded_ws).warehouse
    corrected = write(_corrected(world))
    Planner(loaded_ws).ingest(corrected, on_duplicate="replace")
    assert wh_query(wh, "SELECT count(*) FROM events") == [(len(world["events"]),)]
    small = dict(world, events=world["events"].iloc[:10])
    code = main(["ingest", str(write(small)), "--workspace", str(loaded_ws), "--mode", "replace"])
    assert code == 0
    assert wh_query(wh, "SELECT count(*) FROM events") == [(10,)]


def test_the_ingest_job_takes_the_mode(
    world, write, loaded_ws, wh_query, monkeypatch, capsys, own_log_handler
):
    from jobs import ingest as job

    small = dict(world, events=world["events"].iloc[:12])
    monkeypatch.setattr("sys.argv", ["jobs.ingest", "--workspace", str(loaded_ws),
                                     "--data", str(write(small)), "--mode", "replace"])
    job.main()
    assert "replaced the warehouse's input tables with" in capsys.readouterr().out
    assert wh_query(Workspace(loaded_ws).warehouse, "SELECT count(*) FROM events") == [(12,)]
