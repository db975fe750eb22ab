"""Synthetic demo worlds with ground truth.

`generate_world` writes users, ads, placements, campaigns, events and
behaviors in the input contract (`adopt.schema`) plus the hidden truth that
drew them; `load_truth` reads that truth back as an oracle that scores any
impression (`Truth.expected`) or plan (`Truth.true_curves`).

Modules: `vocab` (words, categories, demographic affinities), `response`
(the true response function), `entities` (users, ads, campaigns, placements
and their hidden state), `simulate` (the logging policy and the day-by-day
logs), `writer` (Parquet parts), `truth` (save/load the oracle), `world`
(`generate_world`), `posterior` (what the logs say about each creative's latent
quality: the ceiling of any model, a diagnostic).
"""

from __future__ import annotations

from adopt.synth.truth import Truth, load_truth
from adopt.synth.world import DEMO_ADS, DEMO_DAYS, DEMO_USERS, WorldSummary, generate_world

__all__ = [
    "DEMO_ADS",
    "DEMO_DAYS",
    "DEMO_USERS",
    "Truth",
    "WorldSummary",
    "generate_world",
    "load_truth",
]
