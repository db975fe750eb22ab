"""Text and embedding features of (user, ad) rows, joined from the warehouse.

Sits between the embeddings stage (the ``embedding_vectors`` view over the
tables ``embeddings`` / ``embedding_cache``, see ``adopt.embeddings.store``)
and the response models. `attach_text_features` takes any rows with
``user_id`` and ``ad_id`` (training examples, or the counterfactual rows the
curves stage builds) and adds:

- ``user_vec``, ``ad_vec``: the user interest vector and the ad creative vector
  (float32 arrays; rows of one user / ad share one array object, so 200k rows
  cost no more memory than the distinct users and ads);
- ``user_vec_missing``, ``ad_vec_missing``: 1.0 where the user / ad has no vector
  (no text, or not embedded yet); the vector is then all zeros;
- ``cosine_user_ad``: the cosine of the two vectors, NaN where either is missing;
- ``text_match_user_ad``: how close the ad's creative text is to the texts of the
  user's behaviours (item titles, search queries) before the row's ``ts`` (all of
  them when the rows have no ``ts``, as counterfactual rows do): the mean cosine, in
  a latent semantic (LSA) space fitted on the warehouse's behaviour and ad texts,
  of each behaviour text with the ad text; NaN when the user has no such behaviour.
  ``user_profiles.interest_text`` keeps only the latest few behaviours; this reads
  them all, and only those before the impression, so training rows do not see
  their future;
- ``topic_share_user_ad``: the share of those same behaviours that fall in the ad's
  interest topic (`adopt.response.topics`: behaviour texts grouped by the users who
  share them, the ad put with the topic its text sits nearest); NaN where the match
  is NaN or the ad's text has no topic. Sharper than the mean cosine, which reads a
  user who browses the ad's neighbouring kinds of product (same brands, same shop
  words) much as one who browses its own;
- with ``texts=True``: ``user_text`` (``user_profiles.interest_text``) and
  ``ad_text`` (title + description, whitespace-normalised as the embeddings
  stage does), the pair the BERT cross-encoder reads; ``''`` where absent.

`Features` turns the vectors into model input (the cosine plus a few PCA
components learned on train), so the same call before ``model.predict`` rebuilds
the columns a model was trained with.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import svds

from adopt.exceptions import InputError, WorkspaceError
from adopt.response.topics import TOPICS, cobrowse_topics, topics_of_texts
from adopt.workspace import EMBED_HINT, INGEST_HINT, PROFILES_HINT, Workspace, has_table

VECTOR_COLUMNS = ("user_vec", "ad_vec")
TEXT_COLUMNS = ("user_text", "ad_text")
# Columns attach_text_features adds; anything already there under these names is replaced.
ADDED_COLUMNS = ("user_vec", "ad_vec", "user_vec_missing", "ad_vec_missing", "cosine_user_ad",
                 "text_match_user_ad", "topic_share_user_ad", "user_text", "ad_text")
TEXT_MATCH = "text_match_user_ad"
TOPIC_SHARE = "topic_share_user_ad"
# Dimensions of the LSA space of `text_match_user_ad`: enough for a few dozen topics
# (the demo world has 24 subcategories; 24-48 measured alike, see docs/response.md).
LSA_COMPONENTS = 32
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_BEHAVIOUR_TEXT_SQL = """
select user_id, epoch_us(ts) as t, text from stg_behaviors
where text is not null and user_id is not null and ts is not null
"""

_AD_TEXT_SQL = """
select ad_id as key,
    trim(regexp_replace(concat_ws(' ', title, description), '\\s+', ' ', 'g')) as text,
from ads
"""
_USER_TEXT_SQL = "select user_id as key, coalesce(interest_text, '') as text from user_profiles"




def embedding_model_ids(workspace: str | os.PathLike[str]) -> list[str]:
    """Model ids with vectors in the workspace's ``embeddings`` table ([] when none)."""
    ws = Workspace.of(workspace)
    if not ws.warehouse.is_file():
        return []
    with ws.connect(read_only=True) as con:
        if not has_table(con, "embeddings"):
            return []
        rows = con.execute("select distinct model_id from embeddings order by 1").fetchall()
    return [r[0] for r in rows]


def has_embeddings(workspace: str | os.PathLike[str]) -> bool:
    """True when ``adopt embed`` has written vectors into the workspace."""
    return bool(embedding_model_ids(workspace))


def choose_model_id(workspace: str | os.PathLike[str], model_id: str | None = None) -> str:
    """The embedding model whose vectors to use.

    Parameters
    ----------
    workspace : the workspace folder.
    model_id : an id from the ``embeddings`` table; None picks the only one, or,
        when several exist, the bundled default model's.

    Raises
    ------
    WorkspaceError
        No embeddings, an unknown ``model_id``, or several models and none is the default.
    """
    ids = embedding_model_ids(workspace)
    if not ids:
        raise WorkspaceError(
            f"The workspace {Workspace.of(workspace).root} has no embeddings: {EMBED_HINT}, "
            "or pass vectors=False."
        )
    if model_id is not None:
        if model_id not in ids:
            raise WorkspaceError(f"The 'model_id' parameter of attach_text_features must be one "
                                 f"of {ids}. Got {model_id!r} instead.")
        return model_id
    if len(ids) == 1:
        return ids[0]
    from adopt.embeddings.models import default_model_path
    from adopt.embeddings.models import model_id as folder_model_id

    default = folder_model_id(default_model_path())
    if default in ids:
        return default
    raise WorkspaceError(f"The workspace has embeddings of several models {ids}; pass "
                         "model_id to say which to use.")


def _read_vectors(con: duckdb.DuckDBPyConnection, kind: str, model_id: str
                  ) -> tuple[list[str], np.ndarray]:
    """Keys of ``kind`` and their vectors, from the ``embedding_vectors`` view.

    Read here rather than through ``adopt.embeddings``, whose import loads torch.
    """
    table = con.sql(
        "select key, vector from embedding_vectors where kind = $kind and model_id = $mid "
        "order by key", params={"kind": kind, "mid": model_id},
    ).to_arrow_table()
    keys = table.column("key").to_pylist()
    if not keys:
        return keys, np.zeros((0, 0), dtype=np.float32)
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return keys, flat.astype(np.float32, copy=False).reshape(len(keys), -1)


def _positions(keys: pd.Series, table_keys: list[str]) -> np.ndarray:
    """Row of each key in the vector matrix; ``len(table_keys)`` (the zero row) when absent."""
    position = pd.Index(table_keys).get_indexer(keys.astype(str))
    return np.where(position < 0, len(table_keys), position)


def _with_zero_row(matrix: np.ndarray, dim: int) -> np.ndarray:
    if matrix.shape[0] == 0:
        return np.zeros((1, dim), dtype=np.float32)
    return np.vstack([matrix, np.zeros((1, dim), dtype=np.float32)])


def _cosine_rows(users: np.ndarray, ads: np.ndarray, pu: np.ndarray, pa: np.ndarray,
                 chunk: int = 50_000) -> np.ndarray:
    """Cosine of ``users[pu]`` and ``ads[pa]``: once per distinct (user, ad) pair, chunked
    so no (pairs, dim) copy is whole."""
    pair, pairs = pd.factorize(pu.astype(np.int64) * len(ads) + pa)
    pu, pa = pairs // len(ads), pairs % len(ads)
    nu, na = np.linalg.norm(users, axis=1), np.linalg.norm(ads, axis=1)
    out = np.full(len(pu), np.nan)
    for start in range(0, len(pu), chunk):
        u, a = pu[start:start + chunk], pa[start:start + chunk]
        dots = np.einsum("ij,ij->i", users[u], ads[a])
        norms = nu[u] * na[a]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + chunk] = np.where(norms > 0, dots / norms, np.nan)
    return out[pair]


def _texts(con: duckdb.DuckDBPyConnection, sql: str, table: str, keys: pd.Series) -> list[str]:
    if not has_table(con, table):
        hint = INGEST_HINT if table == "ads" else PROFILES_HINT
        raise WorkspaceError(f"The warehouse has no table '{table}': texts=True needs it ({hint}).")
    found = con.execute(sql).df()
    by_key = dict(zip(found["key"].astype(str), found["text"].fillna(""), strict=True))
    return [by_key.get(k, "") for k in keys.astype(str)]


class _TextMatch:
    """What `text_match_user_ad` needs from a warehouse: behaviour and ad texts in one LSA space.

    ``users`` / ``user_start``: the users with behaviours and where each one's behaviours
    start in ``t`` / ``prefix`` (sorted by user, then time); ``prefix[i]`` is the sum
    of the unit LSA vectors of behaviours ``0 .. i-1``; ``ads`` / ``ad_z``: unit LSA
    vectors of the ads' creative texts (zero for an empty text).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, components: int = LSA_COMPONENTS) -> None:
        found = con.execute(_BEHAVIOUR_TEXT_SQL).df() if has_table(con, "stg_behaviors") \
            else pd.DataFrame({"user_id": [], "t": [], "text": []})
        ads = con.execute(_AD_TEXT_SQL).df() if has_table(con, "ads") \
            else pd.DataFrame({"key": [], "text": []})
        # codes in sorted order, as np.unique gives, but by hashing rather than sorting strings
        user, users = pd.factorize(found["user_id"].astype(str).to_numpy(), sort=True)
        which, texts = pd.factorize(found["text"].astype(str).to_numpy(), sort=True)
        t = found["t"].to_numpy(dtype=np.int64)
        # by user, then time (one block per user), then text: the same sums whatever
        # order the query returned the rows in
        order = np.lexsort((which, t, user))
        user, t, which = user[order], t[order], which[order]
        z = _lsa([*texts, *ads["text"].fillna("").astype(str)], components)
        self.ads = pd.Index(ads["key"].astype(str))
        self.ad_z = z[len(texts):]
        self.users = np.asarray(users, dtype=object)
        self.user_start = np.searchsorted(user, np.arange(len(users) + 1))
        self.t = t
        self.prefix = _prefix_sums(z[:len(texts)], which)
        text_topic = cobrowse_topics(which, user, len(texts), len(users))
        self.ad_topic = topics_of_texts(z[:len(texts)], text_topic, self.ad_z)
        # running counts of each user's behaviours per topic, summed as the LSA vectors are
        one_hot = np.zeros((len(texts), TOPICS))
        one_hot[np.flatnonzero(text_topic >= 0), text_topic[text_topic >= 0]] = 1.0
        self.topic_prefix = _prefix_sums(one_hot, which)

    def match(self, user_ids: pd.Series, ad_ids: pd.Series, ts: pd.Series | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the mean cosine of its ad with its user's behaviours before ``ts`` (all if
        None) and the share of those behaviours in the ad's topic."""
        u = np.searchsorted(self.users, user_ids.astype(str).to_numpy())
        known = u < len(self.users)
        known[known] = self.users[u[known]] == user_ids.astype(str).to_numpy()[known]
        u = np.where(known, u, 0)
        start, stop = self.user_start[u], self.user_start[np.minimum(u + 1, len(self.users))]
        if ts is not None:  # behaviours strictly before the impression: no look-ahead
            t = pd.to_datetime(ts).to_numpy().astype("datetime64[us]").astype(np.int64)
            t = np.where(pd.isna(ts).to_numpy(), np.iinfo(np.int64).max, t)
            stop = _count_before(self.t, start, stop, t)
        a = self.ads.get_indexer(ad_ids.astype(str))
        n = (stop - start) * known
        ok = (n > 0) & (a >= 0)
        out = np.full(len(u), np.nan)
        share = np.full(len(u), np.nan)
        if ok.any():
            profile = (self.prefix[stop[ok]] - self.prefix[start[ok]]) / n[ok, None]
            out[ok] = np.einsum("ij,ij->i", profile, self.ad_z[a[ok]])
            topic = self.ad_topic[a[ok]]
            has = topic >= 0
            rows, col = np.flatnonzero(ok)[has], topic[has]
            share[rows] = ((self.topic_prefix[stop[rows], col]
                            - self.topic_prefix[start[rows], col]) / n[rows])
        return out, share


def _prefix_sums(z: np.ndarray, which: np.ndarray, block: int = 4096) -> np.ndarray:
    """Row ``i`` is ``z[which[:i]].sum(axis=0)``, summed in order.

    By blocks that stay in cache: numpy's cumsum down a tall array is several
    times slower than this (a million behaviours on the demo world).
    """
    out = np.zeros((len(which) + 1, z.shape[1]))
    np.take(z, which, axis=0, out=out[1:], mode="clip")  # in range; "raise" buffers `out`
    for start in range(1, len(out), block):
        part = out[start:start + block]
        part[0] += out[start - 1]  # the running total first: the same order as one cumsum
        np.cumsum(part, axis=0, out=part)
    return out


def _count_before(t: np.ndarray, start: np.ndarray, stop: np.ndarray, when: np.ndarray
                  ) -> np.ndarray:
    """For each row, the end of the run ``t[start:stop]`` (sorted) that lies before ``when``.

    Binary search on all rows at once: the runs are the users' time-sorted behaviours.
    """
    lo, hi = start.copy(), stop.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        before = np.zeros(len(lo), dtype=bool)
        before[active] = t[mid[active]] < when[active]
        lo = np.where(active & before, mid + 1, lo)
        hi = np.where(active & ~before, mid, hi)


def _lsa(docs: list[str], components: int) -> np.ndarray:
    """Unit vectors of ``docs`` in a latent semantic space: binary TF-IDF, truncated SVD."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, doc in enumerate(docs):
        # sorted: a set's order follows the string hash, which differs run to run, and
        # so would the vocabulary's columns and the SVD's last bits
        for word in sorted(set(_TOKEN.findall(doc.lower()))):
            rows.append(i)
            cols.append(vocab.setdefault(word, len(vocab)))
    if not vocab:
        return np.zeros((len(docs), 1))
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(vocab)))
    idf = np.log((1 + len(docs)) / (1 + np.asarray(x.sum(axis=0)).ravel())) + 1
    x = sparse.csr_matrix(x.multiply(idf))
    x = sparse.diags(1 / np.maximum(np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()),
                                    1e-12)) @ x
    k = min(components, min(x.shape) - 1)
    if k < 1:
        z = x.toarray()
    else:
        v0 = np.full(min(x.shape), 1 / np.sqrt(min(x.shape)))  # deterministic start
        _, _, vt = svds(x, k=k, v0=v0)
        z = x @ vt.T
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return np.where(norm > 0, z / np.maximum(norm, 1e-12), 0.0)


@lru_cache(maxsize=2)
def _text_match_state(ws: Workspace, stamp: tuple) -> _TextMatch:
    """`_TextMatch` of a warehouse, cached while it is unchanged (``stamp``: mtime and
    size of the file and its WAL), so batch after batch of counterfactual rows reuse it."""
    with ws.connect(read_only=True) as con:
        return _TextMatch(con)


def text_match(workspace: str | os.PathLike[str], df: pd.DataFrame
               ) -> tuple[np.ndarray, np.ndarray]:
    """`text_match_user_ad` and `topic_share_user_ad` of each row of ``df`` (``user_id``,
    ``ad_id``, optional ``ts``)."""
    ws = Workspace.of(workspace)
    path = ws.warehouse
    wal = path.with_name(path.name + ".wal")
    stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else (0, 0)
                  for f in (path, wal))
    state = _text_match_state(ws, stamp)
    return state.match(df["user_id"], df["ad_id"], df["ts"] if "ts" in df.columns else None)


def attach_text_features(
    workspace: str | os.PathLike[str],
    df: pd.DataFrame,
    *,
    vectors: bool = True,
    texts: bool = False,
    model_id: str | None = None,
) -> pd.DataFrame:
    """Add the user / ad embedding vectors, their cosine and (optionally) texts to ``df``.

    Parameters
    ----------
    workspace : the workspace folder (its warehouse is opened read-only).
    df : rows with ``user_id`` and ``ad_id``; not modified.
    vectors : add ``user_vec``, ``ad_vec``, ``user_vec_missing``, ``ad_vec_missing``,
        ``cosine_user_ad`` (needs ``adopt embed``) and ``text_match_user_ad`` (needs
        ``adopt profiles``; NaN without it).
    texts : add ``user_text`` and ``ad_text`` (needs ``ads`` and ``user_profiles``,
        not the embeddings).
    model_id : which embedding model's vectors (see `choose_model_id`); a trained
        response model records the one it used as ``embedding_model_id``.

    Returns
    -------
    DataFrame
        A copy of ``df`` (same index and order) with the new columns; the
        embedding model used is in ``result.attrs["embedding_model_id"]``.

    Raises
    ------
    InputError
        ``df`` lacks ``user_id`` or ``ad_id``.
    WorkspaceError
        No warehouse, no embeddings (with ``vectors=True``), or no text tables.
    """
    for col in ("user_id", "ad_id"):
        if col not in df.columns:
            raise InputError("training_examples", col,
                             "attach_text_features joins on user_id and ad_id; it is missing")
    ws = Workspace.of(workspace)
    out = df.drop(columns=[c for c in ADDED_COLUMNS if c in df.columns])
    with ws.connect(read_only=True) as con:
        mid = choose_model_id(ws, model_id) if vectors else None
        if vectors:
            user_keys, users = _read_vectors(con, "user", mid)
            ad_keys, ads = _read_vectors(con, "ad", mid)
            dim = max(users.shape[1], ads.shape[1])
            users, ads = _with_zero_row(users, dim), _with_zero_row(ads, dim)
            pu, pa = _positions(df["user_id"], user_keys), _positions(df["ad_id"], ad_keys)
            # one array object per user / ad, shared by all its rows
            user_rows, ad_rows = list(users), list(ads)
            out["user_vec"] = [user_rows[i] for i in pu]
            out["ad_vec"] = [ad_rows[i] for i in pa]
            out["user_vec_missing"] = (pu == len(user_keys)).astype(float)
            out["ad_vec_missing"] = (pa == len(ad_keys)).astype(float)
            out["cosine_user_ad"] = _cosine_rows(users, ads, pu, pa)
        if texts:
            out["user_text"] = _texts(con, _USER_TEXT_SQL, "user_profiles", df["user_id"])
            out["ad_text"] = _texts(con, _AD_TEXT_SQL, "ads", df["ad_id"])
    if vectors:
        out[TEXT_MATCH], out[TOPIC_SHARE] = text_match(ws.root, df)
    out.attrs["embedding_model_id"] = mid
    return out

