"""What each campaign's curve level rests on: the clicks and conversions logged for it.

A curve's level comes from the response model, and the model learns a
campaign's appeal from that campaign's own outcomes in the logs. A level can
be no surer than those outcomes: on generated worlds, most of the gap between
a plan's forecast and its delivery came from the levels of the few campaigns
the plan spent on, each known from a few dozen conversions (docs/curves.md).
The curve stage records these counts (``curves.json``'s ``level_evidence``)
and the plan's forecast interval draws each campaign's level from their
sampling error (`adopt.optimize.forecast`).
"""

from __future__ import annotations

import os

from adopt.workspace import PROFILES_HINT, Workspace

_COUNTS_SQL = """
select
    campaign_id::varchar as campaign_id,
    count(*) filter (where clicked) as clicks,
    count(*) filter (where clicked and converted) as conversions,
from training_examples
group by 1
order by 1
"""


def campaign_evidence(workspace: str | os.PathLike[str], campaigns: list[str]
                      ) -> dict[str, dict[str, int]]:
    """Clicks and conversions ``training_examples`` holds per campaign of `campaigns`.

    Returns
    -------
    dict
        ``{campaign_id: {"clicks": n, "conversions": n}}`` for every campaign of
        `campaigns` with a logged impression.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("training_examples", PROFILES_HINT, con)
        rows = con.execute(_COUNTS_SQL).fetchall()
    wanted = set(campaigns)
    return {campaign: {"clicks": int(clicks), "conversions": int(conversions)}
            for campaign, clicks, conversions in rows if campaign in wanted}


def evidence_line(evidence: dict[str, dict[str, int]]) -> str:
    """The record in one line for plan.json and the report (min, median, max per campaign)."""
    if not evidence:
        return "no campaign of these curves has logged outcomes"
    parts = []
    for name in ("clicks", "conversions"):
        values = sorted(entry[name] for entry in evidence.values())
        median = values[len(values) // 2]
        parts.append(f"{name} min {values[0]:,}, median {median:,}, max {values[-1]:,}")
    return (f"logged outcomes behind each campaign's level over {len(evidence)} campaigns: "
            + "; ".join(parts))
