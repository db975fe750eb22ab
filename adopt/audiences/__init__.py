"""Audiences: segments of users from profiles and interest embeddings, or from SQL rules.

The stage between the profiles / embeddings and the response curves.
`segment_workspace` writes the warehouse tables ``audiences`` (user_id,
segment) and ``segments`` (one portrait per segment); `read_audiences` and
`read_segments` read them back. Modules: `features` (the user feature matrix),
`kmeans` (k-means and stable ids), `rules` (rule segments), `describe`
(portraits), `store` (the tables), `segment` (the stage).
"""

from __future__ import annotations

from adopt.audiences.kmeans import KMeans
from adopt.audiences.rules import Rule, RuleSet, load_rules
from adopt.audiences.segment import SegmentSummary, segment_workspace
from adopt.audiences.store import read_audiences, read_segments

__all__ = [
    "KMeans",
    "Rule",
    "RuleSet",
    "SegmentSummary",
    "load_rules",
    "read_audiences",
    "read_segments",
    "segment_workspace",
]
