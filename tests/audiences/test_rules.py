"""Rule segments: bound params, overlap or first match, suppression, bad rules, atomicity."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from adopt.audiences import (
    Rule,
    load_rules,
    read_audiences,
    read_segments,
    segment_workspace,
    store,
)
from adopt.exceptions import InputError

RULES = """
[[segment]]
name = "sporty"
where = "list_contains(top_categories, $cat)"
params = { cat = "sports" }
description = "likes sports"

[[segment]]
name = "big-spenders"
where = "monetary >= $min_spend and impressions > $n"
params = { min_spend = 1.0, n = 0 }
"""


def count(ws: Path, where: str, params: dict) -> int:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select count(*) from user_profiles where {where}",
                           params).fetchall()[0][0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_rules_from_toml_overlap_by_default(ws: Path, tmp_path: Path) -> None:
    summary = segment_workspace(ws, rules=write(tmp_path, RULES), min_size=1)
    segments = read_segments(ws).set_index("segment")
    sporty = count(ws, "list_contains(top_categories, 'sports')", {})
    spenders = count(ws, "monetary >= 1.0 and impressions > 0", {})
    assert 0 < sporty < 600 and 0 < spenders < 600
    assert segments.loc["sporty", "size"] == sporty
    assert segments.loc["big-spenders", "size"] == spenders
    assert (segments["method"] == "rules").all()
    assert segments.loc["sporty", "rule"] == "list_contains(top_categories, $cat)"
    assert segments.loc["sporty", "params"] == '{"cat": "sports"}'
    aud = read_audiences(ws)
    assert len(aud) == sporty + spenders
    both = aud.groupby("user_id").size()
    assert (both == 2).any()  # some users sit in both segments
    assert any("double-counts" in note for note in summary.notes)
    assert "sports" in segments.loc["sporty", "top_categories"]
    assert segments.loc["sporty", "description"].startswith(f"likes sports · {sporty:,} users · ")
    assert segments.loc["big-spenders", "description"].startswith(f"{spenders:,} users · ")


def test_exclusive_rules_first_match_wins(ws: Path, tmp_path: Path) -> None:
    segment_workspace(ws, rules=write(tmp_path, "exclusive = true\n" + RULES), min_size=1)
    aud = read_audiences(ws)
    assert aud["user_id"].is_unique
    sizes = aud.groupby("segment").size()
    assert sizes["sporty"] == count(ws, "list_contains(top_categories, 'sports')", {})
    assert sizes["big-spenders"] == count(
        ws, "monetary >= 1.0 and impressions > 0 and not list_contains(top_categories, 'sports')",
        {})


def test_rule_objects_and_the_exclusive_argument(ws: Path) -> None:
    rules = [Rule("all", "impressions >= $n", {"n": 0}),
             Rule("active", "recency_days is not null")]
    segment_workspace(ws, rules=rules, min_size=1, exclusive=True)
    sizes = read_audiences(ws).groupby("segment").size()
    assert sizes.to_dict() == {"all": 600}
    assert read_segments(ws).set_index("segment").loc["active", "size"] == 0


def test_injection_stays_a_value(ws: Path) -> None:
    evil = "x' or 1=1 --"
    rules = [Rule("evil", "list_contains(top_categories, $cat) or gender = $cat", {"cat": evil}),
             Rule("everyone", "true")]
    segment_workspace(ws, rules=rules, min_size=1)
    segments = read_segments(ws).set_index("segment")
    assert segments.loc["evil", "size"] == 0
    assert segments.loc["evil", "suppressed"]
    assert segments.loc["everyone", "size"] == 600
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from user_profiles").fetchall()[0][0] == 600


def test_small_rule_segments_are_suppressed(ws: Path) -> None:
    small = count(ws, "list_contains(top_categories, 'pets')", {})
    assert 0 < small < 600
    rules = [Rule("pets", "list_contains(top_categories, $c)", {"c": "pets"}),
             Rule("everyone", "true")]
    summary = segment_workspace(ws, rules=rules, min_size=small + 1)
    segments = read_segments(ws).set_index("segment")
    assert segments.loc["pets", "suppressed"] and segments.loc["pets", "size"] == small
    assert segments.loc["pets", "description"] == f"suppressed (under {small + 1} users)"
    assert set(read_audiences(ws)["segment"]) == {"everyone"}
    shown = [line for line in str(summary).splitlines() if line.startswith("  pets")]
    assert shown and "suppressed" in shown[0]


@pytest.mark.parametrize(("name", "where", "params", "match"), [
    ("a", "monetary > 0; drop table users", {}, r"rule 'a'.*may not contain ';'"),
    ("a", "monetary > 0 -- hidden", {}, r"rule 'a'.*comments"),
    ("a", "user_id in (select user_id from users)", {}, r"rule 'a'.*found 'select'"),
    ("a", "monetary > $min", {}, r"rule 'a'.*\$min is used in 'where' but has no value"),
    ("a", "monetary > 1", {"min": 1}, r"rule 'a'.*param 'min' is not used"),
    ("a", "monetary > $1", {}, r"rule 'a'.*placeholders must be named"),
    ("a b", "true", {}, r"the name must be"),
    ("a", "   ", {}, r"rule 'a'.*non-empty SQL expression"),
    ("a", "monetary > $x", {"x": {"nested": 1}}, r"rule 'a'.*param 'x' must be a string"),
])
def test_rejected_rules(name: str, where: str, params: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        Rule(name, where, params)


@pytest.mark.parametrize(("where", "match"), [
    # rows are 1-based: 'bad' is the second rule
    ("no_such_column > 1", r"table 'rules', column 'where', row 2: rule 'bad': .*no_such_column"),
    ("interest_text::integer > 0", r"rule 'bad': Conversion Error"),
])
def test_expressions_duckdb_rejects_name_the_rule(ws: Path, where: str, match: str) -> None:
    rules = [Rule("fine", "true"), Rule("bad", where)]
    with pytest.raises(InputError, match=match):
        segment_workspace(ws, rules=rules)


@pytest.mark.parametrize(("text", "match"), [
    ("[[segment]\nname = 1", "is not valid TOML"),
    ("colour = 1", "column 'colour': unknown key"),
    ('[[segment]]\nname = "a"\nwhere = "true"\nwhom = 1', "column 'whom'.*allowed"),
    ('[[segment]]\nname = "a"', "column 'where'.*needs 'name' and 'where'"),
    ('[[segment]]\nname = "a"\nwhere = "x ;"', r"row 1: rule 'a'.*';'"),
    ('[[segment]]\nname = "a"\nwhere = "true"\n[[segment]]\nname = "a"\nwhere = "true"',
     "rule 'a' is defined twice"),
    ("exclusive = true", "no rules given"),
    ('exclusive = "yes"\n[[segment]]\nname = "a"\nwhere = "true"', "must be true or false"),
])
def test_bad_rule_files(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_rules(write(tmp_path, text))


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no rules file at"):
        load_rules(tmp_path / "nope.toml")


def snapshot(ws: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return tuple(con.sql(f"select * from {t} order by all").df()
                     for t in ("audiences", "segments", "segment_centroids"))


def test_a_failing_run_leaves_the_previous_tables(ws: Path) -> None:
    segment_workspace(ws, k=4, min_size=1)
    before = snapshot(ws)
    # the second rule fails while DuckDB runs it, after the first one has matched users
    with pytest.raises(InputError, match="rule 'bad'"):
        segment_workspace(ws, rules=[Rule("fine", "true"), Rule("bad", "user_id::integer > 0")])
    after = snapshot(ws)
    for a, b in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_write_is_one_transaction(ws: Path) -> None:
    segment_workspace(ws, k=4, min_size=1)
    before = snapshot(ws)
    segments = read_segments(ws)
    broken = pd.concat([segments, segments.iloc[:1]])  # a duplicate id breaks the primary key
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute("create temp table _adopt_segment_members as "
                    "select segment, user_id from audiences where segment = 's01'")
        with pytest.raises(duckdb.ConstraintException):
            store.write_tables(con, broken, None)
    after = snapshot(ws)  # audiences had been replaced inside the transaction: rolled back
    for a, b in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_a_rules_run_keeps_the_kmeans_centroids(ws: Path) -> None:
    segment_workspace(ws, k=5, min_size=1)
    first = read_audiences(ws)
    segment_workspace(ws, rules=[Rule("everyone", "true")], min_size=1)
    assert set(read_audiences(ws)["segment"]) == {"everyone"}
    segment_workspace(ws, k=5, min_size=1, seed=4)
    pd.testing.assert_frame_equal(read_audiences(ws), first)
