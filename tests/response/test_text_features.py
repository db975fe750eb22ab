"""Joining embedding vectors and texts onto (user, ad) rows from a real warehouse."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, WorkspaceError
from adopt.response.text_features import attach_text_features, has_embeddings

from .conftest import make_examples, write_warehouse


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    examples = make_examples(n=600, users=40, ads=12, days=5, seed=3)
    ws = tmp_path_factory.mktemp("ws")
    write_warehouse(ws, examples)
    return ws, examples


def test_vectors_cosine_and_texts_join_by_user_and_ad(world):
    ws, examples = world
    rows = examples[["user_id", "ad_id", "k_ad"]].iloc[::7].set_index(
        pd.RangeIndex(1000, 1000 + len(examples.iloc[::7])))
    out = attach_text_features(ws, rows, texts=True)
    assert out.index.equals(rows.index) and "user_vec" not in rows  # a copy, same order
    want_u = np.stack(examples["user_vec"].iloc[::7].to_numpy())
    np.testing.assert_allclose(np.stack(out["user_vec"].to_numpy()), want_u, rtol=1e-6)
    u, a = want_u, np.stack(examples["ad_vec"].iloc[::7].to_numpy())
    cos = (u * a).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(a, axis=1)
    np.testing.assert_allclose(out["cosine_user_ad"], cos, rtol=1e-5)
    assert out["user_vec_missing"].eq(0).all() and out["ad_vec_missing"].eq(0).all()
    # the profile text of each user (the examples' first text of that user was written)
    profile = examples.drop_duplicates("user_id").set_index("user_id")["user_text"]
    assert out["user_text"].tolist() == profile.loc[rows["user_id"]].tolist()
    assert out["ad_text"].tolist() == examples["ad_text"].iloc[::7].tolist()
    assert out.attrs["embedding_model_id"] == "test-model@0"
    # rows of one user share one array: memory grows with users, not rows
    same = out[out["user_id"] == out["user_id"].iloc[0]]["user_vec"]
    assert len({id(v) for v in same}) == 1


def test_unknown_user_or_ad_gets_zero_vector_flag_nan_cosine_and_empty_text(world):
    ws, examples = world
    rows = pd.DataFrame({"user_id": [examples["user_id"].iloc[0], "nobody"],
                         "ad_id": ["no-ad", examples["ad_id"].iloc[0]]})
    out = attach_text_features(ws, rows, texts=True)
    assert out["ad_vec_missing"].tolist() == [1.0, 0.0]
    assert out["user_vec_missing"].tolist() == [0.0, 1.0]
    assert not out["ad_vec"].iloc[0].any() and not out["user_vec"].iloc[1].any()
    assert out["cosine_user_ad"].isna().all()
    assert out["ad_text"].iloc[0] == "" and out["user_text"].iloc[1] == ""


def test_texts_need_no_embeddings_and_vectors_say_what_to_run(tmp_path):
    examples = make_examples(n=200, users=10, ads=5, days=5, seed=4)
    write_warehouse(tmp_path, examples, embeddings=False)
    assert not has_embeddings(tmp_path)
    rows = examples[["user_id", "ad_id"]]
    out = attach_text_features(tmp_path, rows, vectors=False, texts=True)
    assert out["ad_text"].tolist() == examples["ad_text"].tolist()
    assert out.attrs["embedding_model_id"] is None
    with pytest.raises(WorkspaceError,
                       match="has no embeddings: run `adopt embed --workspace WS` first"):
        attach_text_features(tmp_path, rows)
    with pytest.raises(InputError, match="column 'ad_id': attach_text_features joins on"):
        attach_text_features(tmp_path, rows.drop(columns="ad_id"), vectors=False, texts=True)
    with pytest.raises(WorkspaceError, match="No warehouse at"):
        attach_text_features(tmp_path / "nowhere", rows)


def test_an_unknown_embedding_model_is_refused(world):
    ws, examples = world
    with pytest.raises(WorkspaceError, match=r"'model_id' parameter .* must be one of \["):
        attach_text_features(ws, examples[["user_id", "ad_id"]], model_id="other@1")


def _with_behaviours(folder, rows: list[tuple[str, str, str]]) -> None:
    """Add ``stg_behaviors`` (user_id, ts, text), as `adopt profiles` builds it."""
    import duckdb

    frame = pd.DataFrame(rows, columns=["user_id", "ts", "text"]).assign(
        ts=lambda d: pd.to_datetime(d["ts"]))
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        con.register("_b", frame)
        con.execute("create or replace table stg_behaviors as select * from _b")
        con.unregister("_b")


@pytest.fixture(scope="module")
def behaviour_world(tmp_path_factory):
    """Ads 0..4 of categories shoes/books/phones/games/garden; users with known behaviours."""
    examples = make_examples(n=400, users=20, ads=5, days=5, seed=5)
    ws = tmp_path_factory.mktemp("behaviours")
    write_warehouse(ws, examples)
    ads = examples.drop_duplicates("ad_id").set_index("ad_id")["ad_text"]
    word = {a: t.split(" ")[0] for a, t in ads.items()}  # each ad's category word
    _with_behaviours(ws, [
        ("alice", "2026-01-01 10:00", f"{word[0]} review"),
        ("alice", "2026-01-03 10:00", f"best {word[0]} {word[0]} deal"),
        ("bob", "2026-01-02 10:00", "weather today"),
        ("both", "2026-01-01 10:00", f"{word[0]} review"),
        ("both", "2026-01-02 10:00", "weather today"),
        ("late", "2026-01-04 10:00", f"{word[0]} review"),
    ])
    return ws, word


def test_text_match_reads_behaviours_before_the_row_only(behaviour_world):
    ws, word = behaviour_world
    ad = 0
    rows = pd.DataFrame({
        "user_id": ["alice", "alice", "alice", "late", "late", "nobody"],
        "ad_id": [ad] * 6,
        "ts": pd.to_datetime(["2026-01-02 00:00", "2026-01-04 00:00", "2026-01-01 10:00",
                              "2026-01-02 00:00", "2026-01-05 00:00", "2026-01-05 00:00"]),
    })
    attached = attach_text_features(ws, rows)
    out = attached["text_match_user_ad"].to_numpy()
    # alice on day 2 has seen one behaviour, on day 4 both; at 10:00 on day 1 none yet
    # (strictly before); `late` has nothing before day 4; an unknown user has nothing
    assert np.isfinite(out[[0, 1, 4]]).all()
    assert np.isnan(out[[2, 3, 5]]).all()
    # the share of those behaviours in the ad's topic reads the same ones
    share = attached["topic_share_user_ad"].to_numpy()
    assert np.isnan(share[[2, 3, 5]]).all()
    assert ((share[[0, 1, 4]] >= 0) & (share[[0, 1, 4]] <= 1)).all()
    assert out[0] != pytest.approx(out[1])
    # without ts (counterfactual rows) every behaviour counts: alice as on day 4
    no_ts = attach_text_features(ws, rows.drop(columns="ts"))["text_match_user_ad"]
    assert no_ts.iloc[0] == pytest.approx(out[1]) and no_ts.iloc[3] == pytest.approx(out[4])


def test_text_match_is_the_mean_over_behaviours_and_ranks_matching_ads_first(behaviour_world):
    ws, word = behaviour_world
    other = next(a for a in word if word[a] != word[0])
    rows = pd.DataFrame({"user_id": ["alice", "bob", "both", "alice"],
                         "ad_id": [0, 0, 0, other]})
    m = attach_text_features(ws, rows)["text_match_user_ad"].to_numpy()
    single = attach_text_features(ws, pd.DataFrame({"user_id": ["late"], "ad_id": [0]}))
    # `both` read one behaviour like late's and one like bob's: the mean of the two
    assert m[2] == pytest.approx((single["text_match_user_ad"].iloc[0] + m[1]) / 2)
    # the ad named in alice's behaviours matches her better than bob, and than another ad
    assert m[0] > m[1] and m[0] > m[3]
    assert np.all(np.abs(m) <= 1 + 1e-9)


def test_text_match_is_nan_without_profiles(world):
    ws, examples = world  # no stg_behaviors: `adopt profiles` has not run
    out = attach_text_features(ws, examples[["user_id", "ad_id", "ts"]].head(5))
    assert out["text_match_user_ad"].isna().all()


def test_the_lsa_space_is_the_same_bits_whatever_the_string_hash():
    # a set of words iterates in hash order, which Python seeds afresh each run: the
    # vocabulary's columns, and so the SVD's last bits, must not follow it
    script = ("import sys; from adopt.response.text_features import _lsa; "
              "docs = [' '.join(f'w{(i * 7 + j) % 53} t{j % 5}' for j in range(9)) "
              "for i in range(120)]; sys.stdout.write(_lsa(docs, 8).tobytes().hex())")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1
