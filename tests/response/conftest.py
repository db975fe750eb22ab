"""Fixtures of the response tests: a small synthetic world with a known signal, one local Ray."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

CATEGORIES = ["shoes", "books", "phones", "games", "garden"]
BRANDS = ["acme", "zeta", "nova"]
PLACEMENTS = {"home": 0.4, "search": 0.0, "feed": -0.5}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_examples(
    n: int = 20_000, users: int = 300, ads: int = 40, days: int = 5, seed: int = 0, dim: int = 8
) -> pd.DataFrame:
    """Impressions whose click odds rise when the user's interest matches the ad's category.
    """
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(len(CATEGORIES), dim))
    interest = rng.integers(len(CATEGORIES), size=users)
    ad_cat = rng.integers(len(CATEGORIES), size=ads)
    user_vec = basis[interest] + 0.3 * rng.normal(size=(users, dim))
    ad_vec = basis[ad_cat] + 0.3 * rng.normal(size=(ads, dim))
    u = rng.integers(users, size=n)
    # later ads appear only on the last day: cold-start ads in the test period
    a = rng.integers(ads, size=n)
    ts = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, days, size=n), unit="D")
    young = ts < pd.Timestamp("2026-01-01") + pd.Timedelta(days=days - 1)
    a = np.where(young & (a >= ads - 5), a - 5, a)
    place = rng.choice(list(PLACEMENTS), size=n)
    k_ad = rng.integers(1, 6, size=n)
    match = (interest[u] == ad_cat[a]).astype(float)
    user_activity = rng.gamma(2.0, 1.0, size=users)[u]
    logit = (-3.0 + 2.5 * match + np.vectorize(PLACEMENTS.get)(place) - 0.3 * (k_ad - 1)
             + 0.4 * np.log(user_activity))
    p = _sigmoid(logit)
    clicked = (rng.random(n) < p).astype(int)
    converted = clicked * (rng.random(n) < _sigmoid(-1.0 + 1.5 * match)).astype(int)
    filler = rng.choice(["today", "often", "new", "cheap"], size=n)
    return pd.DataFrame(
        {
            "ts": ts,
            "user_id": u,
            "ad_id": a,
            "campaign_id": a // 4,
            "placement_id": place,
            "category": np.array(CATEGORIES)[ad_cat[a]],
            "brand": np.array(BRANDS)[a % len(BRANDS)],
            "k_ad": k_ad,
            "k_campaign": k_ad + rng.integers(0, 3, size=n),
            "user_activity": user_activity,
            "noise": rng.normal(size=n),
            "user_text": [f"likes {CATEGORIES[i]} {w}"
                          for i, w in zip(interest[u], filler, strict=True)],
            "ad_text": [f"{CATEGORIES[c]} deal {BRANDS[i % 3]}"
                        for c, i in zip(ad_cat[a], a, strict=True)],
            "user_vec": list(user_vec[u].astype(np.float32)),
            "ad_vec": list(ad_vec[a].astype(np.float32)),
            "clicked": clicked,
            "converted": converted,
        }
    ).sort_values("ts", ignore_index=True)


@pytest.fixture(scope="session")
def examples() -> pd.DataFrame:
    """A 20k-row world over 5 days (shared, do not mutate)."""
    return make_examples()


EMBEDDING_DDL = """
create table embedding_cache (model_id varchar, text_hash varchar, dim integer, vector float[]);
create table embeddings (kind varchar, key varchar, model_id varchar, text_hash varchar);
create view embedding_vectors as
select e.kind, e.key, e.model_id, e.text_hash, c.vector
from embeddings as e
join embedding_cache as c on c.model_id = e.model_id and c.text_hash = e.text_hash;
"""


def write_warehouse(folder, examples: pd.DataFrame, embeddings: bool = True,
                    model_id: str = "test-model@0") -> None:
    """A real DuckDB warehouse holding ``examples`` as ``training_examples``, with the
    ``ads`` and ``user_profiles`` texts and (optionally) the embedding tables holding each
    user's and ad's vector, as ``adopt embed`` writes them."""
    import duckdb

    flat = examples.drop(columns=["user_vec", "ad_vec", "user_text", "ad_text"]).assign(
        user_id=examples["user_id"].astype(str), ad_id=examples["ad_id"].astype(str))
    users = examples.drop_duplicates("user_id")
    ads = examples.drop_duplicates("ad_id")
    user_texts = pd.DataFrame({"user_id": users["user_id"].astype(str),
                               "interest_text": users["user_text"]})
    # the creative text is title + description; split it in two to check the join
    ad_texts = pd.DataFrame({"ad_id": ads["ad_id"].astype(str),
                             "title": ads["ad_text"].str.split(" ", n=1).str[0],
                             "description": ads["ad_text"].str.split(" ", n=1).str[1]})
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        for name, frame in (("training_examples", flat), ("user_profiles", user_texts),
                            ("ads", ad_texts)):
            con.register("_frame", frame)
            con.execute(f"create or replace table {name} as select * from _frame")
            con.unregister("_frame")
        if not embeddings:
            return
        # the layout of adopt.embeddings.store (not imported: it loads torch and Ray)
        con.execute(EMBEDDING_DDL)
        for kind, frame, key, col in (("user", users, "user_id", "user_vec"),
                                      ("ad", ads, "ad_id", "ad_vec")):
            keys = frame[key].astype(str).to_numpy()
            rows = pd.DataFrame({"key": keys, "text_hash": [f"{kind}-{k}" for k in keys],
                                 "vector": [np.asarray(v, np.float32).tolist()
                                            for v in frame[col]]})
            con.register("_rows", rows)
            con.execute("insert into embedding_cache select $mid, text_hash, len(vector), "
                        "vector::float[] from _rows", {"mid": model_id})
            con.execute("insert into embeddings select $kind, key, $mid, text_hash from _rows",
                        {"kind": kind, "mid": model_id})
            con.unregister("_rows")
