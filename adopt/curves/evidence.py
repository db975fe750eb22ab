"""What each curve level rests on: the clicks and conversions logged for it.

A curve's level comes from the response model, and the model learns a
campaign's appeal, and how it differs among segments, from that campaign's
own outcomes in the logs. A level can be no surer than those outcomes: on
generated worlds, most of the gap between a plan's forecast and its delivery
came from the levels of the few campaigns the plan spent on, each known from
a few dozen conversions, and from how those split among the segments the
plan bought (docs/curves.md, sessions 9 and 21). The curve stage records the
counts per campaign and per campaign x segment (``curves.json``'s
``level_evidence``) and the plan's forecast interval draws the levels from
their sampling error (`adopt.optimize.forecast`).

Within a campaign, the creative a cell shows is known from its own logs as far as
they go (`adopt.curves.creatives`); one never logged is the model's read of its
features alone. The curve stage records each chosen creative's own logged
impressions, clicks and conversions (``creative_evidence``), and the plan says
how much of its forecast rests on creatives with none (`adopt.plan.evidence`).
"""

from __future__ import annotations

import os

from adopt.workspace import PROFILES_HINT, SEGMENT_HINT, Workspace

COUNTS = ("clicks", "conversions")

_COUNTS_SQL = """
select
    campaign_id::varchar as campaign_id,
    count(*) filter (where clicked) as clicks,
    count(*) filter (where clicked and converted) as conversions,
from training_examples
group by 1
order by 1
"""
# a user may sit in several segments (rules that overlap): their outcomes count in each
_SEGMENT_COUNTS_SQL = """
select
    training_examples.campaign_id::varchar as campaign_id,
    audiences.segment::varchar as segment,
    count(*) filter (where training_examples.clicked) as clicks,
    count(*) filter (where training_examples.clicked and training_examples.converted)
        as conversions,
from training_examples
inner join audiences on audiences.user_id = training_examples.user_id
group by 1, 2
order by 1, 2
"""


def campaign_evidence(workspace: str | os.PathLike[str], campaigns: list[str]
                      ) -> dict[str, dict]:
    """Clicks and conversions ``training_examples`` holds per campaign of `campaigns`,
    in all and per segment of the users who logged them (``audiences``).

    Returns
    -------
    dict
        ``{campaign_id: {"clicks": n, "conversions": n, "segments": {segment:
        {"clicks": n, "conversions": n}}}}`` for every campaign of `campaigns` with
        a logged impression; a segment the campaign never reached is not listed.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("training_examples", PROFILES_HINT, con)
        ws.require("audiences", SEGMENT_HINT, con)
        totals = con.execute(_COUNTS_SQL).fetchall()
        cells = con.execute(_SEGMENT_COUNTS_SQL).fetchall()
    wanted = set(campaigns)
    out = {campaign: {"clicks": int(clicks), "conversions": int(conversions), "segments": {}}
           for campaign, clicks, conversions in totals if campaign in wanted}
    for campaign, segment, clicks, conversions in cells:
        if campaign in out:
            out[campaign]["segments"][segment] = {"clicks": int(clicks),
                                                  "conversions": int(conversions)}
    return out

_CREATIVE_COUNTS_SQL = """
select
    ad_id::varchar as ad_id,
    count(*) as impressions,
    count(*) filter (where clicked) as clicks,
    count(*) filter (where clicked and converted) as conversions,
from training_examples
where ad_id::varchar in (select unnest($ad_ids))
group by 1
order by 1
"""


def creative_evidence(workspace: str | os.PathLike[str], ad_ids: list[str]
                      ) -> dict[str, dict[str, int]]:
    """Impressions, clicks and conversions ``training_examples`` holds per creative of
    `ad_ids` (zeros for one never logged).

    Returns
    -------
    dict
        ``{ad_id: {"impressions": n, "clicks": n, "conversions": n}}``, every id of
        `ad_ids` in sorted order.
    """
    ws = Workspace.of(workspace)
    wanted = sorted({str(a) for a in ad_ids})
    with ws.connect(read_only=True) as con:
        ws.require("training_examples", PROFILES_HINT, con)
        rows = con.execute(_CREATIVE_COUNTS_SQL, {"ad_ids": wanted}).fetchall()
    logged = {ad: {"impressions": int(n), "clicks": int(c), "conversions": int(v)}
              for ad, n, c, v in rows}
    zero = {"impressions": 0, "clicks": 0, "conversions": 0}
    return {ad: logged.get(ad, dict(zero)) for ad in wanted}


def evidence_line(evidence: dict[str, dict]) -> str:
    """The record in one line for plan.json and the report (min, median, max per campaign,
    and per campaign x segment)."""
    if not evidence:
        return "no campaign of these curves has logged outcomes"

    def spread(entries: list[dict], name: str) -> str:
        values = sorted(entry[name] for entry in entries)
        return (f"{name} min {values[0]:,}, median {values[len(values) // 2]:,}, "
                f"max {values[-1]:,}")

    campaigns = list(evidence.values())
    cells = [cell for entry in campaigns for cell in entry.get("segments", {}).values()]
    line = (f"logged outcomes behind each campaign's level over {len(campaigns)} campaigns: "
            + "; ".join(spread(campaigns, name) for name in COUNTS))
    if cells:
        line += (f"; per campaign x segment ({len(cells)} logged): "
                 + spread(cells, "conversions"))
    return line
