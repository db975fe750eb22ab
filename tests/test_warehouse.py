"""The warehouse runner: model discovery and order, one-transaction builds, helpers."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import duckdb
import pytest

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.profiles import run_profile_models
from adopt.warehouse import (
    LAYERS,
    check_inputs,
    create_input_tables,
    discover_models,
    models_for,
    read_warehouse_table,
    run_models,
    sql_dir,
)
from adopt.workspace import Workspace

WORLD_SQL = """
insert into users (user_id) values ('u1'), ('u2');
insert into ads (ad_id, campaign_id, title, category) values ('a1', 'c1', 'Shoes', 'shoes');
insert into placements (placement_id, cpm) values ('p1', 4.0);
insert into events (ts, user_id, ad_id, placement_id, event) values
    ('2024-02-01 08:00', 'u1', 'a1', 'p1', 'impression'),
    ('2024-02-01 08:00:30', 'u1', 'a1', 'p1', 'click'),
    ('2024-02-02 09:00', 'u2', 'a1', 'p1', 'impression');
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace whose warehouse holds a tiny ingested world."""
    ws = Workspace(tmp_path / "ws").ensure()
    with duckdb.connect(str(ws.warehouse)) as con:
        create_input_tables(con)
        con.execute(WORLD_SQL)
    return ws.root


def _write_models(root: Path, models: dict[str, str]) -> Path:
    for layer in LAYERS:
        (root / layer).mkdir(parents=True, exist_ok=True)
    for path, sql in models.items():
        (root / path).write_text(sql)
    return root


def test_repo_models_come_in_dependency_and_layer_order() -> None:
    models = discover_models()
    names = [m.name for m in models]
    assert {"user_profiles", "ad_history", "training_examples"} <= set(names)
    for i, model in enumerate(models):
        assert set(model.depends_on) <= set(names[:i]), model.name
    layers = [LAYERS.index(m.layer) for m in models]
    assert layers == sorted(layers)
    responses = next(m for m in models if m.name == "int_responses")
    assert responses.parameters == ("click_window_hours", "conversion_window_hours")
    assert sql_dir() == Path(__file__).resolve().parents[1] / "sql"


def test_dependencies_come_from_the_sql_not_the_comments(tmp_path: Path) -> None:
    root = _write_models(
        tmp_path,
        {
            "staging/zz_first.sql": "select 1 as x",
            "features/aa_second.sql": "-- not from mart_b\nselect * from zz_first",
            "marts/mart_a.sql": "select * from mart_b",
            "marts/mart_b.sql": "select * from aa_second where x = $limit",
        },
    )
    models = discover_models(root)
    assert [m.name for m in models] == ["zz_first", "aa_second", "mart_b", "mart_a"]
    assert models[1].depends_on == ("zz_first",)
    assert models[2].parameters == ("limit",)


def test_models_for_a_target_bring_what_it_reads() -> None:
    names = [m.name for m in models_for(["ad_history"])]
    assert names[-1] == "ad_history"
    assert {"stg_events", "int_impressions"} <= set(names)
    assert "training_examples" not in names and "int_user_stream" not in names
    with pytest.raises(WorkspaceError, match=r"no SQL model named \['nope'\]"):
        models_for(["nope"])


def test_a_cycle_is_refused(tmp_path: Path) -> None:
    root = _write_models(
        tmp_path, {"marts/a.sql": "select * from b", "marts/b.sql": "select * from a"}
    )
    with pytest.raises(WorkspaceError, match=r"cycle: \['a', 'b'\]"):
        discover_models(root)


def test_a_model_defined_twice_is_refused(tmp_path: Path) -> None:
    root = _write_models(
        tmp_path, {"staging/a.sql": "select 1 as x", "marts/a.sql": "select 2 as x"}
    )
    with pytest.raises(WorkspaceError, match="model 'a' is defined twice"):
        discover_models(root)


def test_build_logs_one_line_per_model(workspace: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="adopt"), Workspace(workspace).connect() as con:
        _, stats = run_profile_models(con)
    models = discover_models()
    assert [s.name for s in stats] == [m.name for m in models if m.layer != "macros"]
    marts = {s.name: s.rows for s in stats if s.layer == "marts"}
    assert marts == {"ad_history": 1, "training_examples": 2, "user_profiles": 2}
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sql ")]
    assert len(lines) == len(models)
    assert any("user_profiles" in line and " 2 rows" in line for line in lines)
    assert any("smoothed_rate" in line and line.endswith("defined") for line in lines)


def test_macros_come_first_and_are_dependencies(workspace: Path, tmp_path: Path) -> None:
    root = _write_models(
        tmp_path,
        {
            "macros/twice.sql": "-- doubles\ncreate or replace temp macro twice(x) as 2 * x",
            "staging/stg_one.sql": "select 21 as x",
            "marts/answer.sql": "select twice(stg_one.x) as y from stg_one",
            "marts/other.sql": "select 1 as z",
        },
    )
    models = discover_models(root)
    assert [m.name for m in models] == ["twice", "stg_one", "answer", "other"]
    assert models[2].depends_on == ("stg_one", "twice")
    assert [m.name for m in models_for(["answer"], models)] == ["twice", "stg_one", "answer"]
    with Workspace(workspace).connect() as con:
        stats = run_models(con, {}, models)
    assert [s.name for s in stats] == ["stg_one", "answer", "other"]
    assert read_warehouse_table(workspace, "answer")["y"].tolist() == [42]
    # Temporary: the macro is not stored in the warehouse.
    with Workspace(workspace).connect() as con, pytest.raises(duckdb.Error, match="twice"):
        con.execute("select twice(1)")


@pytest.mark.parametrize(
    "sql",
    [
        "create or replace temp macro doubled(x) as 2 * x",
        "create macro twice(x) as 2 * x",
        "select 2 as twice",
        "create or replace temp macro twice(x) as 2 * x; drop table users",
    ],
)
def test_a_macro_file_must_create_its_macro(tmp_path: Path, sql: str) -> None:
    root = _write_models(tmp_path, {"macros/twice.sql": sql})
    with pytest.raises(WorkspaceError, match=r"twice\.sql must hold one statement `create or "):
        discover_models(root)


def test_a_macro_cannot_take_parameters(workspace: Path, tmp_path: Path) -> None:
    root = _write_models(
        tmp_path, {"macros/shift.sql": "create or replace temp macro shift(x) as x + $days"}
    )
    with (Workspace(workspace).connect() as con,
          pytest.raises(WorkspaceError, match="macro 'shift'.*argument")):
        run_models(con, {"days": 1}, discover_models(root))


def test_a_failing_model_leaves_the_previous_build(workspace: Path, tmp_path: Path) -> None:
    with Workspace(workspace).connect() as con:
        run_profile_models(con)
    root = tmp_path / "broken"
    shutil.copytree(sql_dir(), root)
    (root / "staging" / "stg_users.sql").write_text(
        "select * replace ('nobody' as user_id) from users"
    )
    (root / "marts" / "zz_broken.sql").write_text("select error('boom') as x from stg_users")
    with Workspace(workspace).connect() as con:
        with pytest.raises(duckdb.Error, match="boom"):
            run_models(
                con,
                {
                    "as_of": "2024-03-01",
                    "serving_as_of": "2024-03-02",
                    "prior_strength": 1.0,
                    "affinity_half_life_days": 30.0,
                    "click_window_hours": 24.0,
                    "conversion_window_hours": 168.0,
                    "interest_text_words": 40,
                },
                discover_models(root),
            )
    assert sorted(read_warehouse_table(workspace, "stg_users")["user_id"]) == ["u1", "u2"]
    assert len(read_warehouse_table(workspace, "training_examples")) == 2


def test_staging_views_cannot_take_parameters(workspace: Path, tmp_path: Path) -> None:
    root = _write_models(tmp_path, {"staging/stg_x.sql": "select $as_of as x"})
    with (Workspace(workspace).connect() as con,
          pytest.raises(WorkspaceError, match="view.*build_params")):
        run_models(con, {"as_of": "2024-01-01"}, discover_models(root))


def test_a_model_may_change_kind(workspace: Path) -> None:
    with Workspace(workspace).connect() as con:
        con.execute("create table stg_users as select 1 as stale")
        run_profile_models(con)
        kind = con.execute(
            "select table_type from information_schema.tables where table_name = 'stg_users'"
        ).fetchone()
        params = con.execute("select as_of from build_params").fetchone()
    assert kind == ("VIEW",)
    assert str(params[0]) == "2024-02-02 09:00:00"


def test_a_missing_parameter_is_named(workspace: Path) -> None:
    with (
        Workspace(workspace).connect() as con,
        pytest.raises(ParameterError, match="'click_window_hours'.*int_responses"),
    ):
        run_models(con, {"prior_strength": 1.0})
    with (Workspace(workspace).connect() as con,
          pytest.raises(ParameterError, match="'x; drop table users'")):
        run_models(con, {"x; drop table users": 1})


def test_connect_without_a_warehouse(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="run `adopt ingest"):
        Workspace(tmp_path / "nothing").connect()
    with Workspace(tmp_path / "new").connect(create=True) as con:
        assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)
    assert Workspace(tmp_path / "new").warehouse.exists()


def test_connect_to_a_file_that_is_not_a_warehouse(tmp_path: Path) -> None:
    Workspace(tmp_path).ensure().warehouse.write_text("not a database")
    with pytest.raises(WorkspaceError, match=r"^cannot open the warehouse .*warehouse\.duckdb: "):
        Workspace(tmp_path).connect()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"memory_limit": "lots"}, "'memory_limit' parameter must be a size such as '4GB'.*"
                                   "Got 'lots' instead"),
        ({"memory_limit": 4}, "'memory_limit' parameter must be a size"),
        ({"threads": -1}, "'threads' parameter must be a positive integer. Got -1 instead"),
        ({"threads": True}, "'threads' parameter must be a positive integer. Got True instead"),
    ],
)
def test_connect_checks_the_duckdb_settings(workspace: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        Workspace(workspace).connect(**kwargs)


def test_missing_input_table_or_column(workspace: Path) -> None:
    with Workspace(workspace).connect() as con:
        con.execute("alter table events drop column impression_id")
        with pytest.raises(WorkspaceError, match=r"'events'.*\['impression_id'\].*adopt ingest"):
            check_inputs(con)
        con.execute("alter table events add column impression_id varchar")
        con.execute("drop table behaviors")
        with pytest.raises(WorkspaceError, match="no 'behaviors' table"):
            check_inputs(con)


def test_read_table(workspace: Path) -> None:
    users = read_warehouse_table(workspace, "users")
    assert sorted(users["user_id"]) == ["u1", "u2"]
    with pytest.raises(WorkspaceError, match="no table 'user_profiles'.*adopt profiles"):
        read_warehouse_table(workspace, "user_profiles")
