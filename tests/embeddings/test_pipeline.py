"""The Ray Data pipeline on a tiny BERT: cache hits, idempotence, resume, failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from adopt.embeddings import Encoder, embed_workspace, load_embeddings, model_id
from adopt.embeddings.store import ensure_tables, insert_vectors
from adopt.exceptions import InputError, ParameterError, WorkspaceError

from .conftest import WORDS, make_warehouse

pytestmark = pytest.mark.usefixtures("ray_session")


def world(n_ads: int, n_users: int, seed: int = 0):
    """Ads and users with realistic duplication: shared titles, repeated interest texts."""
    rng = np.random.default_rng(seed)
    titles = [" ".join(rng.choice(WORDS, size=4)) for _ in range(n_ads // 2)]
    ads = [(f"ad{i}", titles[i % len(titles)], None if i % 4 else "free shipping")
           for i in range(n_ads)]
    interests = [" ".join(rng.choice(WORDS, size=3)) for _ in range(n_users // 5)]
    users = [(f"u{i}", "" if i % 10 == 0 else interests[i % len(interests)])
             for i in range(n_users)]
    return ads, users


def table_rows(ws: Path, table: str) -> list[tuple]:
    """Every row of `table` (one of ours, so the name is no user value), sorted."""
    columns = "* exclude (created_at)" if table == "embedding_cache" else "*"
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select {columns} from {table} order by all").fetchall()


def test_first_run_then_cached_rerun_then_one_percent_new(tiny_model: Path, tmp_path: Path) -> None:
    ads, users = world(200, 300)
    ads[1] = ("ad1", f"  {ads[0][1]}\n", "free   shipping")  # ad0's text up to whitespace
    ws = make_warehouse(tmp_path / "ws", ads, users)

    first = embed_workspace(ws, model=tiny_model, actors=2, batch_size=16, precision="fp32")
    texts = {a for a, _, d in ads} | {u for u, t in users if t}
    assert (first.total, first.empty, first.texts) == (500, 30, len(texts))
    assert first.embedded == first.unique < first.texts and first.cached == 0
    assert first.device == "cpu" and 0 < first.startup_seconds < first.seconds

    keys, matrix = load_embeddings(ws, "ad", model=tiny_model)
    assert keys == sorted(a for a, _, _ in ads)
    np.testing.assert_array_equal(matrix[keys.index("ad0")], matrix[keys.index("ad1")])
    expected = Encoder(tiny_model, precision="fp32").encode([" ".join(filter(None, ads[2][1:]))])[0]
    np.testing.assert_allclose(matrix[keys.index("ad2")], expected, atol=1e-5)
    user_keys, user_matrix = load_embeddings(ws, "user", model=tiny_model)
    assert len(user_keys) == 270 and "u0" not in user_keys  # empty interest text: no vector
    np.testing.assert_allclose(np.linalg.norm(user_matrix, axis=1), 1.0, rtol=1e-5)

    before = {t: table_rows(ws, t) for t in ("embedding_cache", "embeddings")}
    again = embed_workspace(ws, model=tiny_model)
    assert (again.embedded, again.cached, again.device) == (0, first.unique, "none")
    assert {t: table_rows(ws, t) for t in before} == before  # idempotent: nothing duplicated

    new_ads = [("new0", "brand new trail marathon shoes", None),
               ("new1", "brand new trail marathon shoes", None)]
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.executemany("insert into ads values (?, 'c2', ?, ?)", new_ads)
        con.execute("update ads set title = 'sale knife' where ad_id = 'ad3'")
        con.execute("delete from user_profiles where user_id = 'u1'")
    third = embed_workspace(ws, model=tiny_model)
    assert third.embedded == 2  # the new creative (once) and ad3's new text
    keys, _ = load_embeddings(ws, "ad", model=tiny_model)
    assert {"new0", "new1"} <= set(keys)
    assert "u1" not in load_embeddings(ws, "user", model=tiny_model)[0]
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        counts = con.execute(
            "select count(*), count(distinct (kind, key)) from embeddings"
        ).fetchall()[0]
        view = con.execute("select count(*) from embedding_vectors").fetchall()[0][0]
    assert counts[0] == counts[1] == view == 202 + 299 - 30


@pytest.mark.slow
def test_a_rerun_resumes_from_vectors_already_written(tiny_model: Path, tmp_path: Path) -> None:
    ads, users = world(40, 50, seed=1)
    ws = make_warehouse(tmp_path / "ws", ads, users)
    # What a killed run leaves: some vectors committed to the cache, no key map yet.
    done = sorted({t for _, t, d in ads if d is None})[:5]
    encoder = Encoder(tiny_model)
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        ensure_tables(con)
        hashes = [con.execute("select sha256(?)", [t]).fetchall()[0][0] for t in done]
        insert_vectors(con, encoder.model_id, np.array(hashes), encoder.encode(done))
        insert_vectors(con, encoder.model_id, np.array(hashes), encoder.encode(done))
        assert con.execute("select count(*) from embedding_cache").fetchall()[0][0] == 5
    summary = embed_workspace(ws, model=tiny_model)
    assert summary.cached == 5 and summary.embedded == summary.unique - 5


@pytest.mark.slow
def test_a_failed_run_leaves_the_tables_as_they_were(tiny_model: Path, tmp_path: Path) -> None:
    ads, users = world(40, 50, seed=2)
    ws = make_warehouse(tmp_path / "ws", ads, users)
    embed_workspace(ws, model=tiny_model)
    before = table_rows(ws, "embeddings")
    # A model that accepts the short texts but breaks on a long one mid-run.
    broken = Path(shutil.copytree(tiny_model, tmp_path / "broken"))
    config = json.loads((broken / "config.json").read_text())
    config["max_position_embeddings"] = 8
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(**config)).save_pretrained(broken)
    (broken / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute("insert into ads values ('long', 'c9', ?, null)", [" ".join(WORDS * 3)])
    with pytest.raises(Exception, match="(?i)size|index|range"):
        embed_workspace(ws, model=broken)
    assert table_rows(ws, "embeddings") == before
    assert model_id(broken) not in {row[2] for row in before}


def test_missing_inputs_and_bad_ids_are_named(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="No warehouse"):
        embed_workspace(tmp_path / "nowhere", model=tiny_model)
    ws = tmp_path / "ws"
    ws.mkdir()
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute("create table ads (ad_id varchar, title varchar, description varchar)")
    with pytest.raises(WorkspaceError, match="no table 'user_profiles': run `adopt profiles"):
        embed_workspace(ws, model=tiny_model)
    with pytest.raises(WorkspaceError, match="run `adopt embed --workspace WS` first"):
        load_embeddings(ws, "ad", model=tiny_model)
    with pytest.raises(ParameterError, match="'precision' parameter of embed_workspace"):
        embed_workspace(ws, model=tiny_model, precision="int8")
    with pytest.raises(InputError, match="'kind' parameter of load_embeddings"):
        load_embeddings(ws, "campaign", model=tiny_model)
    dup = make_warehouse(tmp_path / "dup", [("a1", "x", None), ("a1", "y", None)], [])
    # a warehouse table has no input row: the id is named, not shown as a row
    with pytest.raises(InputError, match=r"^table 'ads', column 'ad_id': id 'a1' appears more "
                       "than once"):
        embed_workspace(dup, model=tiny_model)


@pytest.mark.slow
def test_default_model_puts_a_runner_nearest_running_shoes(tmp_path: Path) -> None:
    ads = [("shoe", "Lightweight running shoes", "Responsive cushioning for your next marathon"),
           ("pan", "Nonstick frying pan set", "Dishwasher safe cookware for every kitchen")]
    users = [("runner", "jogging trail runs marathon training running socks"),
             ("cook", "kitchenware chef knives baking trays cast iron skillet")]
    ws = make_warehouse(tmp_path / "ws", ads, users)
    embed_workspace(ws)
    ad_keys, ad_vectors = load_embeddings(ws, "ad")
    user_keys, user_vectors = load_embeddings(ws, "user")
    similarity = user_vectors @ ad_vectors.T
    shoe = ad_keys.index("shoe")
    assert similarity[user_keys.index("runner"), shoe] > similarity[user_keys.index("cook"), shoe]
    assert ad_keys[int(np.argmax(similarity[user_keys.index("cook")]))] == "pan"
