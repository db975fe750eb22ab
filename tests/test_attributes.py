"""User attributes: typed at ingest, names refused when unsafe, readable by rules, model
features, k-means inputs; k-means never clusters on the logged responses."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.attributes import RESERVED, check_names
from adopt.audiences import read_audiences, read_segments, segment_workspace
from adopt.audiences.features import BEHAVIOUR, load_user_features
from adopt.audiences.rules import Rule
from adopt.cli import main
from adopt.exceptions import InputError, ParameterError
from adopt.ingest import ingest
from adopt.profiles import build_profiles

pytestmark = pytest.mark.usefixtures("own_log_handler")


def types(ws: Path, table: str) -> dict[str, str]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute(f"select column_name, column_type from (describe {table})")
                    .fetchall())


@pytest.fixture
def profiled(export_folder: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ingest(export_folder, ws)
    build_profiles(ws)
    return ws


@pytest.mark.parametrize(("name", "problem"), [
    ("pctr decile", "an attribute name must be a letter"),
    ('x"; drop table users; --', "an attribute name must be a letter"),
    ("1st_visit", "an attribute name must be a letter"),
    ("a" * 64, "an attribute name must be a letter"),
    ("clicks", "taken by a column of user_profiles or training_examples"),
    ("Hour", "taken by a column"),
])
def test_unsafe_or_taken_names_are_refused(name: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        check_names(["ok_name", name])
    assert str(info.value).startswith("table 'users', column '")


def test_names_repeating_another_in_another_case_are_refused() -> None:
    check_names(["pctr_decile", "I1", "C26", "_x"])
    with pytest.raises(InputError, match="repeats 'Tier'"):
        check_names(["Tier", "tier"])


def test_ingest_refuses_an_unsafe_attribute_in_one_line(export_folder: Path, tmp_path: Path,
                                                        capsys) -> None:
    users = pd.read_csv(export_folder / "users.csv")
    users.rename(columns={"tier": "loyalty tier"}).to_csv(export_folder / "users.csv",
                                                          index=False)
    code = main(["ingest", str(export_folder), "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("adopt: error: table 'users', column 'loyalty tier': an attribute "
                              "name must be")
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "ws" / "warehouse.duckdb").exists() or "users" not in {
        r[0] for r in duckdb.connect(str(tmp_path / "ws" / "warehouse.duckdb"), read_only=True)
        .execute("select table_name from information_schema.tables").fetchall()}


def test_csv_attributes_are_typed_and_reach_profiles_and_training_rows(profiled: Path) -> None:
    users = types(profiled, "users")
    # numbers stay numbers; a code with leading zeros and text stay text
    assert users["pctr_decile"] == "BIGINT" and users["score"] == "DOUBLE"
    assert users["member_code"] == "VARCHAR" and users["tier"] == "VARCHAR"
    profiles, training = types(profiled, "user_profiles"), types(profiled, "training_examples")
    for table in (profiles, training):
        assert (table["pctr_decile"], table["score"], table["tier"]) == (
            "BIGINT", "DOUBLE", "VARCHAR")
    with duckdb.connect(str(profiled / "warehouse.duckdb"), read_only=True) as con:
        codes = {r[0] for r in con.execute("select member_code from user_profiles").fetchall()}
        # the training rows carry each user's own attribute values
        mismatched = con.execute("""
            select count(*) from training_examples t join users u using (user_id)
            where t.pctr_decile is distinct from u.pctr_decile or t.tier is distinct from u.tier
        """).fetchone()[0]
    assert all(len(c) == 5 for c in codes)  # '00042' kept as written
    assert mismatched == 0


def test_reserved_names_cover_the_built_tables(profiled: Path) -> None:
    """RESERVED must list every column the profile and training tables make themselves."""
    attrs = {"pctr_decile", "score", "member_code", "tier"}
    for table in ("user_profiles", "training_examples"):
        own = {c.lower() for c in types(profiled, table)} - attrs
        assert own <= RESERVED, sorted(own - RESERVED)


def test_rules_read_attributes(profiled: Path) -> None:
    """The issue's `Binder Error: column "pctr_decile" not found` is gone."""
    rules = [Rule("top_deciles", "pctr_decile >= $low and tier <> 'bronze'", {"low": 8}),
             Rule("scored", "score > 0")]
    segment_workspace(profiled, rules=rules, min_size=1)
    aud = read_audiences(profiled)
    users = pd.read_csv(profiled.parent / "my_export" / "users.csv", dtype={"member_code": str})
    expected = set(users.loc[(users.pctr_decile >= 8) & (users.tier != "bronze"), "user_id"])
    assert set(aud.loc[aud.segment == "top_deciles", "user_id"]) == expected
    assert set(aud.loc[aud.segment == "scored", "user_id"]) == set(
        users.loc[users.score > 0, "user_id"])


def test_kmeans_takes_attributes_when_asked(profiled: Path) -> None:
    with duckdb.connect(str(profiled / "warehouse.duckdb"), read_only=True) as con:
        features = load_user_features(con, attributes=["pctr_decile", "tier"])
        none = load_user_features(con, attributes=())
        auto = load_user_features(con, attributes=None)
    names = features.names[features.blocks["attributes"]]
    assert names == ["attr:pctr_decile", "attr:tier=bronze", "attr:tier=silver",
                     "attr:tier=gold"]
    assert "attributes" not in none.blocks
    # no behaviours, no categories, no vectors: the attributes are all there is to cluster on
    assert auto.attributes == ("pctr_decile", "score", "member_code", "tier")
    summary = segment_workspace(profiled, k=3, min_size=1, attributes=["tier"])
    assert any("attributes tier" in note for note in summary.notes)
    # one-hot on tier alone: each segment is one tier
    aud = read_audiences(profiled)
    tiers = pd.read_csv(profiled.parent / "my_export" / "users.csv").set_index("user_id")["tier"]
    per_segment = aud.assign(tier=aud.user_id.map(tiers)).groupby("segment")["tier"].nunique()
    assert (per_segment == 1).all() and len(per_segment) == 3
    with pytest.raises(ParameterError, match="must name user attributes"):
        segment_workspace(profiled, k=3, attributes=["clicks"])
    with pytest.raises(ParameterError, match="k-means only"):
        segment_workspace(profiled, rules=[Rule("x", "score > 0")], attributes="all")


def test_kmeans_never_clusters_on_the_outcome(tmp_path: Path, make_export) -> None:
    """One impression per user, clicks independent of anything known before: the
    segments' CTRs stay near the base rate instead of splitting 0% / 100%."""
    folder = make_export(tmp_path / "one_each", users=400, seed=3)
    events = pd.read_csv(folder / "events.csv")
    first = events[events.event == "impression"].drop_duplicates("user_id")
    rng = np.random.default_rng(0)
    clicked = first[rng.random(len(first)) < 0.3].assign(event="click", cost=None)
    pd.concat([first, clicked]).sort_values("ts", kind="stable").to_csv(
        folder / "events.csv", index=False)
    users = pd.read_csv(folder / "users.csv", dtype={"member_code": str})
    users[["user_id"]].to_csv(folder / "users.csv", index=False)  # nothing known before
    ws = tmp_path / "ws"
    ingest(folder, ws)
    build_profiles(ws)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        features = load_user_features(con)
    assert features.names == list(BEHAVIOUR)
    segment_workspace(ws, k=2, min_size=1)
    ctr = read_segments(ws)["ctr"]
    assert ctr.min() > 0.1 and ctr.max() < 0.5, ctr.tolist()


def test_curve_rows_carry_attributes_and_need_no_categories(profiled: Path) -> None:
    """The counterfactual rows the curves score: no ad has a category (the empty affinity
    matrix crashed `adopt curves`), and each user's attributes ride along, typed."""
    from adopt.curves.state import PairState

    state = PairState.load(profiled)
    assert state.categories.empty and state.affinity.shape == (300, 0)
    assert state.attributes == ("pctr_decile", "score", "member_code", "tier")
    u = state.user_index(["u0003", "u0007"])
    rows = state.rows(u, state.ad_index(["a0", "a4"]), state.placement_index(["home", "video"]),
                      np.array([1, 2]))
    users = pd.read_csv(profiled.parent / "my_export" / "users.csv",
                        dtype={"member_code": str}).set_index("user_id")
    assert rows["pctr_decile"].tolist() == users.loc[["u0003", "u0007"], "pctr_decile"].tolist()
    assert rows["member_code"].tolist() == users.loc[["u0003", "u0007"], "member_code"].tolist()
    assert rows["user_category_affinity"].tolist() == [0.0, 0.0]
    assert pd.api.types.is_integer_dtype(rows["pctr_decile"])


def test_a_model_keeps_the_most_frequent_levels_of_an_id_like_attribute() -> None:
    from adopt.response import features as features_module
    from adopt.response.features import Features

    n = features_module.MAX_LEVELS + 500
    df = pd.DataFrame({"user_code": [f"c{i}" for i in range(n)] + ["common"] * 10,
                       "x": np.arange(n + 10, dtype=float)})
    fitted = Features(vectors=()).fit(df)
    levels = fitted.categories_["user_code"]
    assert len(levels) == features_module.MAX_LEVELS and "common" in levels
    frame = fitted.frame(df)
    assert frame["user_code"].isna().sum() == n + 10 - (features_module.MAX_LEVELS - 1) - 10


def test_the_planner_api_passes_attributes(profiled: Path) -> None:
    import adopt

    summary = adopt.Planner(profiled).segment(k=2, min_size=1, attributes=["pctr_decile"])
    assert "attributes pctr_decile" in summary.notes[0]
    aud = read_audiences(profiled)
    deciles = pd.read_csv(profiled.parent / "my_export" / "users.csv").set_index(
        "user_id")["pctr_decile"]
    ranges = aud.assign(d=aud.user_id.map(deciles)).groupby("segment")["d"].agg(
        ["min", "max"]).sort_values("min")
    # one number to cluster on besides exposure: the two segments split the deciles
    # (they may share the decile at the border)
    low, high = ranges.iloc[0], ranges.iloc[1]
    assert low["max"] <= high["min"] and low["min"] == 1 and high["max"] == 10
