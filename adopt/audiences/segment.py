"""The segment stage: `segment_workspace` builds audiences by k-means or by rules and stores them.

Reads ``user_profiles`` (and user interest vectors when ``adopt embed`` has
run), writes ``audiences``, ``segments`` and ``segment_centroids`` (see
:mod:`adopt.audiences.store`). Response curves and plans are then built per
segment; reports show the segments' portraits.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from adopt._validation import check_int
from adopt.audiences import store
from adopt.audiences.describe import MEMBERS, describe, segment_stats
from adopt.audiences.features import (
    FeatureSpace,
    UserFeatures,
    fit_space,
    load_user_features,
    profile_attributes,
)
from adopt.audiences.kmeans import DEFAULT_K, KMeans, cluster_means, number_clusters
from adopt.audiences.rules import MEMBERS_TABLE, Rule, RuleSet, evaluate_rules, load_rules
from adopt.configs import SegmentConfig
from adopt.exceptions import ParameterError, WorkspaceError
from adopt.workspace import PROFILES_HINT, Workspace

log = logging.getLogger("adopt")

# A warm start from the previous run's centroids is kept unless fresh k-means++
# starts find a clustering this much tighter: ids stay put on small changes.
WARM_START_SLACK = 0.02
# Smallest segment kept by default (smaller ones are merged or suppressed).
DEFAULT_MIN_SIZE = SegmentConfig.default("min_size")


@dataclass(frozen=True)
class SegmentSummary:
    """What `segment_workspace` built.

    Attributes
    ----------
    workspace : Path
    method : str
        ``"kmeans"`` or ``"rules"``.
    segments : pandas.DataFrame
        The ``segments`` table as written (suppressed segments included).
    users : int
        Users in ``user_profiles``.
    assigned : int
        Users in at least one segment that is not suppressed.
    seconds : float
    notes : tuple of str
        What a planner should know (merges, suppressions, warm starts...).
    """

    workspace: Path
    method: str
    segments: pd.DataFrame
    users: int
    assigned: int
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        shown = self.segments[~self.segments["suppressed"]]
        hidden = len(self.segments) - len(shown)
        head = (f"{len(shown)} segments ({self.method}) cover {self.assigned:,} of "
                f"{self.users:,} users in {self.seconds:.1f}s")
        if hidden:
            head += f"; {hidden} suppressed (under the minimum size)"
        lines = [head]
        width = max((len(s) for s in self.segments["segment"]), default=3)
        lines += [f"  {row.segment:<{width}}  {row.description}"
                  for row in self.segments.itertuples()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def segment_workspace(
    workspace: str | os.PathLike[str],
    *,
    k: int = DEFAULT_K,
    min_size: int = DEFAULT_MIN_SIZE,
    rules: str | os.PathLike[str] | list[Rule] | RuleSet | None = None,
    seed: int = 0,
    exclusive: bool | None = None,
    attributes: Sequence[str] | str | None = None,
) -> SegmentSummary:
    """Build the workspace's audiences and store them (``audiences``, ``segments`` tables).

    Without `rules`: k-means over what is known before an impression
    (exposure and behaviour features, category affinity, interest embeddings
    when present, user attributes; never the responses to logged impressions,
    see :mod:`adopt.audiences.features`), numbered ``s01..sNN`` stably between
    runs. With `rules`: one segment per rule (rules may read any
    ``user_profiles`` column, user attributes included).

    Parameters
    ----------
    workspace : path
        Workspace whose warehouse has ``user_profiles`` (run ``adopt profiles``).
    k : int
        Number of k-means clusters (at most the number of users).
    min_size : int
        Segments with fewer users are merged into the nearest cluster (k-means)
        or suppressed (rules); both are kept in ``segments``, marked
        ``suppressed``, and left out of ``audiences``.
    rules : path, list of Rule or RuleSet, optional
        A TOML rules file (see :mod:`adopt.audiences.rules`) or rule objects.
    seed : int
        Seed of k-means' sample and starts (a rerun warm-starts from the
        stored centroids, so the seed matters most on a first run).
    exclusive : bool, optional
        Rules only: True puts each user in the first matching rule only;
        default: the rules file's ``exclusive`` (False: overlapping segments).
    attributes : sequence of str, "all", "none" or None
        K-means only: the user attributes to cluster on as well. None (the
        default): all of them when the profiles hold no category affinity and
        no interest vectors (nothing else known before an impression), none
        otherwise.

    Returns
    -------
    SegmentSummary

    Raises
    ------
    ParameterError
        `k`, `min_size` or `seed` out of range, or `exclusive` without rules.
    InputError
        A rule that is not allowed or that DuckDB rejects (names the rule).
    WorkspaceError
        No warehouse, no ``user_profiles``, or no users.
    """
    started = time.perf_counter()
    check_int("segment_workspace", "k", k, 1)
    check_int("segment_workspace", "min_size", min_size, 0)
    check_int("segment_workspace", "seed", seed, 0)
    ruleset = None
    if rules is not None:
        ruleset = load_rules(rules)
        if exclusive is not None:
            ruleset = RuleSet(ruleset.rules, bool(exclusive))
    elif exclusive is not None:
        raise ParameterError("The 'exclusive' parameter of segment_workspace applies to rules "
                             f"only. Got {exclusive!r} without rules.")
    if rules is not None and attributes is not None:
        raise ParameterError("The 'attributes' parameter of segment_workspace applies to "
                             f"k-means only. Got {attributes!r} with rules.")
    if isinstance(attributes, str) and attributes not in ("all", "none"):
        raise ParameterError("The 'attributes' parameter of segment_workspace must be a list "
                             f"of attribute names, 'all', 'none' or None. Got {attributes!r} "
                             "instead.")
    ws = Workspace.of(workspace)
    with ws.connect() as con:
        ws.require("user_profiles", PROFILES_HINT, con)
        users = int(con.execute("select count(*) from user_profiles").fetchall()[0][0])
        if users == 0:
            raise WorkspaceError("user_profiles is empty: there are no users to segment")
        if ruleset is None:
            meta, centroids, notes = _kmeans_members(con, k, min_size, seed, attributes)
            method = "kmeans"
        else:
            meta, notes = _rule_members(con, ruleset, min_size)
            centroids, method = None, "rules"
        segments = _portraits(con, meta, method, min_size)
        store.write_tables(con, segments, centroids)
        assigned = int(con.execute(
            "select count(distinct user_id) from audiences").fetchall()[0][0])
        con.execute(f"drop table if exists {MEMBERS}")
    summary = SegmentSummary(Path(workspace).resolve(), method, segments, users, assigned,
                             time.perf_counter() - started, tuple(notes))
    log.info("segments: %d (%s) in %.1fs", len(segments), method, summary.seconds)
    return summary


def _kmeans_members(con: duckdb.DuckDBPyConnection, k: int, min_size: int, seed: int,
                    attributes: Sequence[str] | str | None = None,
                    ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Cluster, number, merge small clusters; fill the members table; return meta + centroids."""
    notes: list[str] = []
    if attributes == "all":
        attributes = [a.name for a in profile_attributes(con)]
    elif attributes == "none":
        attributes = ()
    features = load_user_features(con, attributes=attributes)
    notes.append(_inputs_note(features, auto=attributes is None))
    n = len(features.user_ids)
    if k > n:
        notes.append(f"k = {k} is more than the {n} users: using k = {n}")
        k = n
    space = fit_space(features, seed=seed)
    Z = space.transform(features.raw)
    previous = store.read_centroids(con)
    prev_ids: list[str] = []
    prev_z = None
    if previous is not None:
        prev_ids, prev_names, prev_raw = previous
        prev_z = _map_previous(space, prev_names, prev_raw)
    model = KMeans(k, seed=seed).fit(Z)
    if prev_z is not None and len(prev_z) <= k:
        warm = KMeans(k, seed=seed).fit(Z, init=prev_z)
        if warm.inertia_ <= (1 + WARM_START_SLACK) * model.inertia_:
            model = warm
            notes.append("warm start from the previous run's centroids")
    labels = model.predict(Z)
    sizes = np.bincount(labels, minlength=k)
    raw_centers = cluster_means(features.raw, labels, k)
    centers = space.transform(raw_centers)
    ids = number_clusters(centers, sizes, prev_z, prev_ids)
    merged_into = _merge_small(centers, sizes, ids, min_size)

    final = np.array([merged_into.get(i, i) for i in range(k)])
    id_arr = np.asarray(ids, dtype=object)
    kept = ~np.isin(np.arange(k), list(merged_into))
    # merged clusters keep their own users in the table, for their (suppressed) portrait
    seg_of_user = id_arr[final[labels]]
    users = np.asarray(features.user_ids, dtype=object)
    small = np.isin(labels, np.flatnonzero(~kept))
    members = pa.table({
        "segment": pa.array(np.concatenate([seg_of_user, id_arr[labels[small]]]), pa.string()),
        "user_id": pa.array(np.concatenate([users, users[small]]), pa.string()),
    })
    _store_members(con, members)
    final_sizes = np.bincount(final[labels], minlength=k)
    # the last cluster left can still be too small; an empty one is never shown
    too_small = kept & (final_sizes < max(min_size, 1))
    meta = pd.DataFrame({
        "segment": ids,
        "suppressed": ~kept | too_small,
        "merged_into": [ids[merged_into[i]] if i in merged_into else None for i in range(k)],
        "rule": None, "params": None,
    })
    for i in sorted(merged_into, key=lambda i: ids[i]):
        notes.append(f"{ids[i]} ({sizes[i]} users, under {min_size}) merged into "
                     f"{ids[merged_into[i]]}")
    centroids = store.centroid_frame(ids, features.names, raw_centers)
    return meta, centroids, notes


def _inputs_note(features: UserFeatures, auto: bool) -> str:
    """Which blocks k-means read, in words."""
    words = {"behaviour": "exposure and behaviours", "affinity": "category affinity",
             "interest": "interest vectors"}
    parts = [words[b] for b in ("behaviour", "affinity", "interest") if b in features.blocks]
    if features.attributes:
        shown = ", ".join(features.attributes[:8])
        more = len(features.attributes) - 8
        parts.append(f"attributes {shown}" + (f" and {more} more" if more > 0 else "")
                     + (" (no category affinity or interest vectors to cluster on)"
                        if auto else ""))
    return ("k-means inputs: " + "; ".join(parts)
            + " (never the clicks or conversions of the logged impressions)")


def _map_previous(space: FeatureSpace, prev_names: list[str], prev_raw: np.ndarray
                  ) -> np.ndarray | None:
    """Previous raw centroids mapped into this run's space; None when no column is shared.

    Columns the previous run lacks sit at this run's mean, so they do not
    move a previous centroid.
    """
    col = {name: i for i, name in enumerate(space.names)}
    common = [(col[name], j) for j, name in enumerate(prev_names) if name in col]
    if not common:
        return None
    full = np.tile(space.center, (len(prev_raw), 1))
    ours, theirs = (np.array(x) for x in zip(*common, strict=True))
    full[:, ours] = prev_raw[:, theirs]
    return space.transform(full)


def _merge_small(centers: np.ndarray, sizes: np.ndarray, ids: list[str], min_size: int
                 ) -> dict[int, int]:
    """Merge the smallest cluster under `min_size` into its nearest one until none is left.

    Returns cluster -> the cluster that finally holds its users.
    """
    centers, sizes = centers.copy(), sizes.astype(np.float64)
    active = set(range(len(ids)))
    into: dict[int, int] = {}
    while len(active) > 1:
        small = [i for i in active if sizes[i] < min_size]
        if not small:
            break
        i = min(small, key=lambda c: (sizes[c], ids[c]))
        active.remove(i)
        j = min(active, key=lambda c: (float(((centers[c] - centers[i]) ** 2).sum()), ids[c]))
        total = sizes[i] + sizes[j]
        if total > 0:
            centers[j] = (sizes[i] * centers[i] + sizes[j] * centers[j]) / total
        sizes[j] = total
        into[i] = j
    for i in into:  # follow chains: a cluster merged into one that merged later
        while into[i] in into:
            into[i] = into[into[i]]
    return into


def _rule_members(con: duckdb.DuckDBPyConnection, ruleset: RuleSet, min_size: int
                  ) -> tuple[pd.DataFrame, list[str]]:
    evaluate_rules(con, ruleset)
    con.execute(f"create or replace temp table {MEMBERS} as "
                f"select segment, user_id from {MEMBERS_TABLE}")
    con.execute(f"drop table if exists {MEMBERS_TABLE}")
    sizes = dict(con.execute(f"select segment, count(*) from {MEMBERS} group by segment"
                             ).fetchall())
    floor = max(min_size, 1)  # an empty segment is never shown
    meta = pd.DataFrame({
        "segment": [r.name for r in ruleset.rules],
        "suppressed": [sizes.get(r.name, 0) < floor for r in ruleset.rules],
        "merged_into": None,
        "label": [r.description for r in ruleset.rules],
        "rule": [r.where for r in ruleset.rules],
        "params": [json.dumps(r.params, default=str, sort_keys=True) for r in ruleset.rules],
    })
    notes = [f"{r.name} ({sizes.get(r.name, 0)} users, under {floor}) suppressed"
             for r in ruleset.rules if sizes.get(r.name, 0) < floor]
    if ruleset.exclusive:
        notes.append("exclusive rules: each user is in the first rule that matches")
    elif len(ruleset.rules) > 1:
        notes.append("rule segments may overlap: summing their reach double-counts users")
    return meta, notes


def _store_members(con: duckdb.DuckDBPyConnection, members: pa.Table) -> None:
    con.register("_adopt_members_arrow", members)
    try:
        con.execute(f"create or replace temp table {MEMBERS} as "
                    "select segment, user_id from _adopt_members_arrow")
    finally:
        con.unregister("_adopt_members_arrow")


def _portraits(con: duckdb.DuckDBPyConnection, meta: pd.DataFrame, method: str, min_size: int
               ) -> pd.DataFrame:
    """Join each segment's stats to its meta and write its description."""
    stats = segment_stats(con)
    out = meta.merge(stats, on="segment", how="left")
    out["size"] = out["size"].fillna(0).astype("int64")
    for col in ("impressions", "clicks", "conversions"):
        out[col] = out[col].fillna(0).astype("int64")
    out["top_categories"] = [list(v) if isinstance(v, list | np.ndarray) else []
                             for v in out["top_categories"]]
    descriptions = []
    floor = max(min_size, 1)
    for row in out.itertuples(index=False):
        # a suppressed segment's line carries no figures: small groups are not described
        if isinstance(row.merged_into, str):
            text = f"merged into {row.merged_into} (under {floor} users)"
        elif row.suppressed:
            text = f"suppressed (under {floor} users)"
        else:
            text = describe(pd.Series(row._asdict()))
            label = getattr(row, "label", None)
            if isinstance(label, str) and label:
                text = f"{label} · {text}"
        descriptions.append(text)
    out["description"] = descriptions
    out = out.drop(columns=["label"], errors="ignore")
    out["method"] = method
    out["created_at"] = datetime.now().replace(microsecond=0)
    if method == "kmeans":  # rules keep their file order (it decides exclusive matches)
        out = out.sort_values("segment", kind="stable")
    return out.reset_index(drop=True)
