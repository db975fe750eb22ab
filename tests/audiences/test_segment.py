"""segment_workspace with k-means on a small profiled world: tables, stable ids, merges."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.audiences import read_audiences, read_segments, segment_workspace
from adopt.audiences.features import load_user_features
from adopt.embeddings import store as embedding_store
from adopt.exceptions import ParameterError, WorkspaceError


def table_types(ws: Path, table: str) -> dict[str, str]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = $t", {"t": table}).fetchall())


def memberships(ws: Path) -> dict[str, set[str]]:
    aud = read_audiences(ws)
    return {seg: set(group["user_id"]) for seg, group in aud.groupby("segment")}


def test_tables_and_shapes(ws: Path) -> None:
    summary = segment_workspace(ws, k=5, min_size=1)
    assert table_types(ws, "audiences") == {"user_id": "VARCHAR", "segment": "VARCHAR"}
    types = table_types(ws, "segments")
    expected = {"segment": "VARCHAR", "size": "BIGINT", "description": "VARCHAR",
                "top_categories": "VARCHAR[]", "recency_days": "DOUBLE", "frequency": "DOUBLE",
                "monetary": "DOUBLE", "ctr": "DOUBLE", "cvr": "DOUBLE", "suppressed": "BOOLEAN",
                "method": "VARCHAR"}
    assert {c: types[c] for c in expected} == expected
    segments = read_segments(ws)
    assert list(segments["segment"]) == ["s01", "s02", "s03", "s04", "s05"]
    assert (segments["method"] == "kmeans").all() and not segments["suppressed"].any()
    aud = read_audiences(ws)
    assert len(aud) == 600 and aud["user_id"].is_unique
    assert aud.groupby("segment").size().to_dict() == dict(
        zip(segments["segment"], segments["size"], strict=True))
    # s01 is the largest on a first run
    assert segments["size"].iloc[0] == segments["size"].max()
    for row in segments.itertuples():
        assert row.description.startswith(f"{row.size:,} users · ")
        assert "CTR" in row.description
        assert 1 <= len(row.top_categories) <= 3
        assert 0 <= row.ctr <= 1 and 0 <= row.cvr <= 1
    lines = str(summary).splitlines()
    assert lines[0].startswith("5 segments (kmeans) cover 600 of 600 users")
    assert [line.split()[0] for line in lines[1:6]] == list(segments["segment"])
    assert summary.segments["description"].tolist() == segments["description"].tolist()


def test_stats_match_the_profiles(ws: Path) -> None:
    segment_workspace(ws, k=4, min_size=1)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        direct = con.sql("""
            select a.segment, sum(p.clicks) / sum(p.impressions) as ctr, avg(p.monetary) as m,
            from audiences as a join user_profiles as p using (user_id)
            group by a.segment order by a.segment
        """).df()
    segments = read_segments(ws)
    assert np.allclose(segments["ctr"], direct["ctr"])
    assert np.allclose(segments["monetary"], direct["m"])


def test_rerun_keeps_ids_and_members(ws: Path) -> None:
    segment_workspace(ws, k=6, min_size=1, seed=0)
    first = memberships(ws)
    summary = segment_workspace(ws, k=6, min_size=1, seed=7)
    assert memberships(ws) == first
    assert any("warm start" in note for note in summary.notes)


def test_ids_survive_a_small_change_in_the_data(ws: Path) -> None:
    segment_workspace(ws, k=6, min_size=1, seed=0)
    first = memberships(ws)
    rng = np.random.default_rng(0)
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        users = [r[0] for r in con.execute("select user_id from user_profiles").fetchall()]
        gone = [str(u) for u in rng.choice(users, 20, replace=False)]
        con.execute("delete from user_profiles where list_contains($gone, user_id)",
                    {"gone": gone})
        con.execute("update user_profiles set monetary = monetary * 1.1 "
                    "where hash(user_id) % 10 = 0")
    # a different seed and a fresh fit: the Hungarian match still finds the old ids
    segment_workspace(ws, k=6, min_size=1, seed=3)
    second = memberships(ws)
    assert set(second) == set(first)
    for seg, members in second.items():
        before = first[seg] - set(gone)
        assert len(members & before) / len(members | before) > 0.8, seg


def test_small_clusters_merge_into_the_nearest(ws: Path) -> None:
    summary = segment_workspace(ws, k=8, min_size=1)
    sizes = summary.segments.set_index("segment")["size"]
    threshold = int(sizes.sort_values().iloc[2]) + 1  # at least three clusters under it
    merged = segment_workspace(ws, k=8, min_size=threshold).segments.set_index("segment")
    small = merged[merged["suppressed"]]
    assert len(small) >= 3
    assert small["merged_into"].notna().all()
    assert not merged.loc[small["merged_into"], "suppressed"].any()
    assert (merged.loc[~merged["suppressed"], "size"] >= threshold).all()
    assert all(d == f"merged into {m} (under {threshold} users)"
               for d, m in zip(small["description"], small["merged_into"], strict=True))
    aud = read_audiences(ws)
    assert len(aud) == 600 and not set(aud["segment"]) & set(small.index)
    # a merged segment keeps its own portrait; its users count in the one it joined
    assert merged.loc[~merged["suppressed"], "size"].sum() == 600


def test_everyone_too_few_suppresses_the_last_segment(ws: Path) -> None:
    segments = segment_workspace(ws, k=3, min_size=10_000).segments
    assert segments["suppressed"].all()
    assert read_audiences(ws).empty


def test_k_above_the_number_of_users_is_clamped(ws: Path) -> None:
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute("delete from user_profiles where user_id not in "
                    "(select user_id from user_profiles order by user_id limit 4)")
    summary = segment_workspace(ws, k=6, min_size=1)
    assert len(summary.segments) == 4
    assert any("k = 6 is more than the 4 users" in note for note in summary.notes)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"k": 0}, "'k' parameter of segment_workspace must be an integer >= 1. Got 0"),
    ({"min_size": -1}, "'min_size' parameter of segment_workspace must be an integer >= 0"),
    ({"seed": 1.5}, "'seed' parameter"),
    ({"exclusive": True}, "applies to rules only"),
])
def test_bad_parameters(ws: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        segment_workspace(ws, **kwargs)


def test_missing_stage_errors(tmp_path: Path, ws: Path) -> None:
    with pytest.raises(WorkspaceError, match="No warehouse at"):
        segment_workspace(tmp_path / "nothing")
    with pytest.raises(WorkspaceError, match="run `adopt segment"):
        read_segments(ws)
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute("drop table user_profiles")
    with pytest.raises(WorkspaceError, match="run `adopt profiles"):
        segment_workspace(ws)


def add_user_vectors(ws: Path, share: float = 0.8, dim: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    """Give most users a vector that points at their profile's top category.

    Every other user shares one text (and vector) with the others of their category.
    """
    rng = np.random.default_rng(1)
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        users = con.sql("select user_id, coalesce(top_categories[1], 'none') as top "
                        "from user_profiles order by user_id").df()
        users = users[rng.random(len(users)) < share].reset_index(drop=True)
        basis = {c: rng.normal(size=dim) for c in sorted(set(users["top"]))}
        vectors = np.stack([basis[c] for c in users["top"]]) + rng.normal(
            scale=0.1, size=(len(users), dim))
        shared = users.index % 2 == 1
        users["text_hash"] = np.where(shared, "t-" + users["top"], "u-" + users["user_id"])
        first = ~users.duplicated("text_hash")
        for text in users.loc[shared, "text_hash"].unique():  # one vector per shared text
            rows = users.index[users["text_hash"] == text]
            vectors[rows] = vectors[rows[0]]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        embedding_store.ensure_tables(con)
        embedding_store.insert_vectors(con, "tiny@1", users.loc[first, "text_hash"].to_numpy(),
                                       vectors[first.to_numpy()].astype(np.float32))
        con.register("with_vectors", users)
        con.execute("insert into embeddings select 'user', user_id, 'tiny@1', text_hash "
                    "from with_vectors")
    return users, vectors.astype(np.float32)


def test_interest_vectors_join_the_features(ws: Path) -> None:
    with_vectors, vectors = add_user_vectors(ws)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        features = load_user_features(con)
    assert features.embedding_model == "tiny@1"
    emb = features.raw[:, features.blocks["interest"]]
    assert emb.shape == (600, 8)
    have = np.isin(features.user_ids, with_vectors["user_id"])
    assert 0 < have.sum() < 600
    assert np.array_equal(emb[have], vectors)  # both in user_id order
    assert np.allclose(emb[~have], emb[have].mean(axis=0), atol=1e-6)
    segment_workspace(ws, k=5, min_size=1)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        names = {r[0] for r in con.execute("select distinct feature from segment_centroids")
                 .fetchall()}
    assert {f"emb:{i}" for i in range(8)} <= names and "log_purchase_amount" in names
    segments = read_segments(ws)
    # the vectors point at the top category: segments agree on it more than by chance
    share = (segments["top_category_share"] * segments["size"]).sum() / segments["size"].sum()
    assert share > 0.6
