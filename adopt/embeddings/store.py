"""The embedding tables in the DuckDB warehouse: a content-addressed cache and a key map.

Written by the embeddings pipeline (``adopt.embeddings.pipeline``), read by later
stages (response models, segments) through `load_embeddings` or SQL:

- ``embedding_cache`` (model_id, text_hash, dim, vector FLOAT[], created_at): one
  row per distinct text a model has embedded, keyed by (model_id, text_hash).
  Rows are only ever inserted, each batch in its own transaction, so a killed
  run keeps what it finished and a rerun resumes.
- ``embeddings`` (kind 'ad' | 'user', key, model_id, text_hash): which text each
  ad and user has now; replaced for a model in one transaction at the end of a
  run, so a killed run leaves it as it was.
- ``embedding_vectors``: a view joining the two into (kind, key, model_id,
  text_hash, vector), for analysts and SQL features.

Texts are identified by ``sha256`` of the whitespace-normalised text.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

_DDL = """
create table if not exists embedding_cache (
    model_id varchar not null,
    text_hash varchar not null,
    dim integer not null,
    vector float[] not null,
    created_at timestamp not null default current_timestamp,
    primary key (model_id, text_hash),
);
create table if not exists embeddings (
    kind varchar not null,
    key varchar not null,
    model_id varchar not null,
    text_hash varchar not null,
    primary key (kind, key, model_id),
);
create or replace view embedding_vectors as
select e.kind, e.key, e.model_id, e.text_hash, c.vector
from embeddings as e
join embedding_cache as c on c.model_id = e.model_id and c.text_hash = e.text_hash;
"""

# The texts of this run, one row per ad / user with a non-empty text. Whitespace
# runs become one space so reformatting a title does not re-embed it.
_TEXTS_SQL = """
create or replace temp table _embed_texts as
with ads as (
    select 'ad' as kind, ad_id as key, concat_ws(' ', title, description) as raw_text,
    from ads
),
users as (
    select 'user' as kind, user_id as key, interest_text as raw_text,
    from user_profiles
),
unioned as (
    select * from ads
    union all
    select * from users
),
normalised as (
    select kind, key, trim(regexp_replace(coalesce(raw_text, ''), '\\s+', ' ', 'g')) as text,
    from unioned
),
final as (
    select kind, key, text, sha256(text) as text_hash,
    from normalised
    where text <> ''
)
select * from final
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the embedding tables and view if they are missing."""
    con.execute(_DDL)


def stage_texts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Collect this run's texts into the temp table ``_embed_texts``.

    Returns
    -------
    dict
        ``total``: ads plus users read; ``empty``: those without text (skipped);
        ``texts``: those kept; ``unique``: distinct texts among them.
    """
    con.execute(_TEXTS_SQL)
    total = con.execute(
        "select (select count(*) from ads) + (select count(*) from user_profiles)"
    ).fetchall()[0][0]
    texts, unique = con.execute(
        "select count(*), count(distinct text_hash) from _embed_texts"
    ).fetchall()[0]
    return {"total": int(total), "empty": int(total - texts), "texts": int(texts),
            "unique": int(unique)}


def duplicate_key(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """An example (kind, key) that appears twice in ``_embed_texts``, or None."""
    rows = con.execute(
        "select kind, key from _embed_texts group by kind, key having count(*) > 1 limit 1"
    ).fetchall()
    return rows[0] if rows else None


def uncached_texts(con: duckdb.DuckDBPyConnection, model_id: str) -> pa.Table:
    """Distinct staged texts that `model_id` has not embedded yet.

    Returns
    -------
    pyarrow.Table
        Columns ``text_hash``, ``text``, shortest text first (so a Ray batch
        holds texts of similar length).
    """
    return con.sql(
        """
        select text_hash, any_value(text) as text,
        from _embed_texts as t
        where not exists (
            select 1 from embedding_cache as c
            where c.model_id = $model_id and c.text_hash = t.text_hash
        )
        group by text_hash
        order by length(any_value(text)), text_hash
        """,
        params={"model_id": model_id},
    ).to_arrow_table()


def insert_vectors(
    con: duckdb.DuckDBPyConnection, model_id: str, text_hashes: np.ndarray, vectors: np.ndarray
) -> int:
    """Add vectors to the cache in one transaction, skipping rows already there.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Writable warehouse connection.
    model_id : str
        The model that made the vectors.
    text_hashes : numpy.ndarray
        ``(n,)`` hashes of the texts.
    vectors : numpy.ndarray
        ``(n, dim)`` float32 vectors, row i for ``text_hashes[i]``.

    Returns
    -------
    int
        Rows written.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    batch = pa.table({
        "text_hash": pa.array(np.asarray(text_hashes, dtype=object), type=pa.string()),
        "vector": pa.ListArray.from_arrays(
            pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32)),
            pa.array(vectors.reshape(-1)),
        ),
    })
    con.register("_new_vectors", batch)
    try:
        con.execute("begin transaction")
        con.execute(
            """
            insert into embedding_cache (model_id, text_hash, dim, vector)
            select $model_id, text_hash, $dim, vector from _new_vectors
            on conflict do nothing
            """,
            {"model_id": model_id, "dim": dim},
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_new_vectors")
    return n


def replace_key_map(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """Make ``embeddings`` for `model_id` match ``_embed_texts``, in one transaction.

    Rows already right are left alone, so a rerun over unchanged data writes
    nothing; ads and users that are gone or now empty lose their row.
    """
    con.execute("begin transaction")
    try:
        con.execute(
            """
            delete from embeddings as e
            where e.model_id = $model_id and not exists (
                select 1 from _embed_texts as t
                where t.kind = e.kind and t.key = e.key and t.text_hash = e.text_hash
            )
            """,
            {"model_id": model_id},
        )
        con.execute(
            """
            insert into embeddings (kind, key, model_id, text_hash)
            select t.kind, t.key, $model_id, t.text_hash
            from _embed_texts as t
            where not exists (
                select 1 from embeddings as e
                where e.model_id = $model_id and e.kind = t.kind and e.key = t.key
            )
            """,
            {"model_id": model_id},
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def read_vectors(
    con: duckdb.DuckDBPyConnection, kind: str, model_id: str
) -> tuple[list[str], np.ndarray]:
    """Keys of `kind` with their vectors from `model_id`, sorted by key.

    Returns
    -------
    keys : list of str
    matrix : numpy.ndarray
        ``(len(keys), dim)`` float32; ``(0, 0)`` when there is none.
    """
    table = con.sql(
        """
        select e.key, c.vector
        from embeddings as e
        join embedding_cache as c on c.model_id = e.model_id and c.text_hash = e.text_hash
        where e.kind = $kind and e.model_id = $model_id
        order by e.key
        """,
        params={"kind": kind, "model_id": model_id},
    ).to_arrow_table()
    keys = table.column("key").to_pylist()
    if not keys:
        return keys, np.zeros((0, 0), dtype=np.float32)
    vectors = table.column("vector").combine_chunks()
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return keys, flat.reshape(len(keys), -1)
