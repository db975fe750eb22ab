"""build_profiles on a workspace: defaults, parameters, DuckDB settings, log, summary, CLI."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from adopt.cli import main
from adopt.exceptions import ParameterError, WorkspaceError
from adopt.profiles import ProfileParams, ProfilesSummary, build_profiles
from adopt.warehouse import create_input_tables, read_warehouse_table
from adopt.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = Workspace(tmp_path / "ws").ensure()
    with duckdb.connect(str(ws.warehouse)) as con:
        create_input_tables(con)
        con.execute(
            """
            insert into users (user_id) values ('u1'), ('u2'), ('u3');
            insert into ads (ad_id, campaign_id, title) values ('a1', 'c1', 'Shoes');
            insert into placements (placement_id, cpm) values ('p1', 4.0);
            insert into events (ts, user_id, ad_id, placement_id, event) values
                ('2024-02-01 08:00', 'u1', 'a1', 'p1', 'impression'),
                ('2024-02-01 08:00:30', 'u1', 'a1', 'p1', 'click'),
                ('2024-02-02 09:00', 'u2', 'a1', 'p1', 'impression');
            insert into behaviors (ts, user_id, action, category, text) values
                ('2024-02-01 07:00', 'u3', 'view', 'shoes', 'red sneakers');
            """
        )
    return ws.root


def test_defaults_to_the_last_event(workspace: Path) -> None:
    summary = build_profiles(workspace)
    assert isinstance(summary, ProfilesSummary)
    assert summary.as_of == datetime(2024, 2, 2, 9, 0)
    assert summary.rows == {"ad_history": 1, "training_examples": 2, "user_profiles": 3}
    text = str(summary)
    assert "as of 2024-02-02 09:00:00" in text and "user_profiles" in text
    profiles = read_warehouse_table(workspace, "user_profiles").set_index("user_id")
    assert profiles.loc["u3", "interest_text"] == "interests: shoes. recent: red sneakers"


def test_as_of_cuts_the_marts(workspace: Path) -> None:
    summary = build_profiles(workspace, as_of="2024-02-01 12:00", memory_limit="1GB")
    assert summary.rows["training_examples"] == 1
    assert summary.as_of == datetime(2024, 2, 1, 12, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"as_of": "yesterday-ish"}, "'as_of' parameter must be a timestamp"),
        ({"as_of": "2024-02-01T00:00+02:00"},
         "'as_of' parameter must be a timestamp without time zone"),
        ({"memory_limit": "4 gigs"}, "'memory_limit' parameter must be a size such as '4GB'"),
        ({"memory_limit": "1GB'; set threads=64; --"}, "'memory_limit' parameter must be a size"),
        ({"threads": 0}, "'threads' parameter must be a positive integer. Got 0 instead"),
        ({"threads": "2"}, "'threads' parameter must be a positive integer. Got '2' instead"),
    ],
)
def test_bad_arguments_are_named(workspace: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        build_profiles(workspace, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prior_strength": 0}, "'prior_strength' parameter of ProfileParams must be a "
                                "number > 0. Got 0 instead"),
        ({"affinity_half_life_days": -1.0}, "'affinity_half_life_days'"),
        ({"click_window_hours": "24"}, "'click_window_hours' parameter .* must be a number >= 0"),
        ({"conversion_window_hours": True},
         "'conversion_window_hours' parameter .* must be a number >= 0"),
        ({"interest_text_words": 0},
         "'interest_text_words' parameter .* must be a positive integer"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        ProfileParams(**kwargs)


def test_parameters_are_stored_as_floats() -> None:
    params = ProfileParams(prior_strength=5, click_window_hours=0)
    assert params.prior_strength == 5.0 and isinstance(params.prior_strength, float)
    assert params.click_window_hours == 0.0 and params.interest_text_words == 40


def test_memory_limit_and_threads_reach_duckdb(workspace: Path) -> None:
    with Workspace(workspace).connect(memory_limit="512MB", threads=1) as con:
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() "
                "where name in ('memory_limit', 'threads')"
            ).fetchall()
        )
    assert settings["threads"] == "1"
    assert settings["memory_limit"] in {"512.0 MB", "488.2 MiB"}


def test_the_build_logs_each_model_with_rows_and_time(workspace: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="adopt"):
        summary = build_profiles(workspace, params=ProfileParams(prior_strength=10), threads=1)
    lines = {
        r.getMessage().split()[2]: r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("sql ")
    }
    assert re.search(r"training_examples +2 rows +\d+\.\ds$", lines["training_examples"])
    assert lines["smoothed_rate"].endswith("defined")
    assert len(summary.models) == len(lines) - 1  # the macro has no rows


def test_before_ingest(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="run `adopt ingest"):
        build_profiles(tmp_path)


def test_empty_events(tmp_path: Path) -> None:
    ws = Workspace(tmp_path).ensure()
    with duckdb.connect(str(ws.warehouse)) as con:
        create_input_tables(con)
    with pytest.raises(WorkspaceError, match="events table is empty"):
        build_profiles(tmp_path)


def test_cli(workspace: Path, capsys) -> None:
    assert main(["profiles", "--workspace", str(workspace), "--as-of", "2024-02-03"]) == 0
    assert "profiles as of 2024-02-03 00:00:00" in capsys.readouterr().out
    assert main(["profiles", "--workspace", str(workspace), "--as-of", "soon"]) == 2
    err = capsys.readouterr().err
    # a parameter error is one line naming the parameter, not a table and a column
    assert err == ("adopt: error: The 'as_of' parameter must be a timestamp such as 2024-05-01 "
                   "or 2024-05-01T12:00:00. Got 'soon' instead.\n")
    assert main(["profiles", "--workspace", str(workspace), "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'threads' parameter" in err and "table" not in err
