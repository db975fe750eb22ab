"""Importer for Microsoft MIND (behaviors.tsv + news.tsv, one split per import).

Sits before ingest. News become ads (title + abstract as the creative text,
category as category and campaign); every candidate of an impression list
becomes an impression event (and a click event when labelled 1) on one
placement; each user's click history becomes 'view' behaviours. Candidates
whose news id has no news.tsv row are counted and dropped.
"""

from __future__ import annotations

from pathlib import Path

from adopt.exceptions import InputError
from adopt.importers.common import Check, ImportSummary, find_file, not_null
from adopt.importers.stream import Scratch

NEWS = (
    "news_id",
    "category",
    "subcategory",
    "title",
    "abstract",
    "url",
    "title_entities",
    "abstract_entities",
)
BEHAVIORS = ("impression_id", "user_id", "time", "history", "impressions")
PLACEMENT = "mind_news_feed"
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"

# One candidate per row: the list is split once, then unnested with its 1-based position.
_CANDIDATES = """
    with lists as (
        select ts, user_id, impression_id, string_split(impressions, ' ') as cands from beh
    ),
    cand as (
        select ts, user_id, impression_id,
            unnest(cands) as cand, unnest(range(1, len(cands) + 1)) as pos
        from lists
    )
    select ts, user_id, impression_id || '-' || pos as impression_id,
        left(cand, length(cand) - 2) as ad_id, right(cand, 1) = '1' as clicked
    from cand"""


def _files(src: Path) -> tuple[Path, Path]:
    if not src.is_dir():
        raise InputError(
            src.name, None, "a MIND source is a folder with behaviors.tsv and news.tsv"
        )
    found = [find_file(src, name) for name in ("behaviors.tsv", "news.tsv")]
    for name, path in zip(("behaviors.tsv", "news.tsv"), found, strict=True):
        if path is None:
            raise InputError(
                name, None, f"missing from {src}: MIND needs behaviors.tsv and news.tsv"
            )
    return found[0], found[1]  # type: ignore[return-value]


def import_mind(s: Scratch, src: Path, summary: ImportSummary, cpm: float) -> None:
    """Convert a MIND split folder into `s`'s output."""
    behaviors, news = _files(src)
    source = s.scan(news, NEWS, delim="\t", header=False)
    s.stage("news_all", "*", source, news, [not_null("news_id", "news_id")])
    s.con.execute(
        "create table news as select * from news_all "
        "qualify row_number() over (partition by news_id order by _row) = 1"
    )
    summary.drop(s.count("news_all") - s.count("news"), "news.tsv rows repeating a news id")

    checks = [
        not_null("impression_id", "impression_id"),
        not_null("user_id", "user_id"),
        Check(
            "time",
            f"try_strptime(time, '{TIME_FORMAT}') is null",
            "time must look like '11/15/2019 8:55:22 AM'",
        ),
        Check(
            "impressions",
            r"impressions is null or not regexp_full_match(impressions, '\S+-[01]( \S+-[01])*')",
            "impressions must be space-separated candidates with a click label, like "
            "'N123-0 N456-1' (the MIND test split has no labels: import train or dev)",
        ),
    ]
    source = s.scan(behaviors, BEHAVIORS, delim="\t", header=False)
    select = f"impression_id, user_id, strptime(time, '{TIME_FORMAT}') as ts, history, impressions"
    s.stage("beh", select, source, behaviors, checks)
    s.con.execute(f"create table cand as {_CANDIDATES}")
    _write(s, summary, cpm)


def _write(s: Scratch, summary: ImportSummary, cpm: float) -> None:
    rows = summary.rows
    rows["placements"] = s.write(
        "placements",
        "select $placement as placement_id, $cpm::double as cpm, "
        "'MIND news impression list' as name",
        {"placement": PLACEMENT, "cpm": cpm},
    )
    rows["campaigns"] = s.write(
        "campaigns",
        "select distinct coalesce(category, 'uncategorized') as campaign_id from news order by 1",
    )
    rows["ads"] = s.write(
        "ads",
        """select news_id as ad_id, coalesce(category, 'uncategorized') as campaign_id,
            coalesce(title, abstract, news_id) as title, abstract as description,
            category, subcategory, url
        from news order by _row""",
    )
    rows["users"] = s.write("users", "select distinct user_id from beh order by user_id")
    missing, missing_clicks = s.first(
        "select count(*), count(*) filter (where clicked) from cand anti join news "
        "on news.news_id = cand.ad_id"
    )
    summary.drop(
        missing, f"impression candidates ({missing_clicks:,} of them clicked) with no news.tsv row"
    )
    rows["events"] = s.write(
        "events",
        """select ts, user_id, ad_id, $placement as placement_id,
            unnest(if(clicked, ['impression', 'click'], ['impression'])) as event,
            $cpm::double / 1000 as cost, impression_id
        from cand semi join news on news.news_id = cand.ad_id
        order by ts, impression_id, event desc""",
        {"placement": PLACEMENT, "cpm": cpm},
    )
    rows["behaviors"] = s.write("behaviors", _HISTORY)
    history = (
        "the click history becomes 'view' behaviours; it has no times, so each user's history "
        "is placed just before their first impression, one second apart, in history order"
    )
    if rows["behaviors"]:
        no_news = s.scalar(
            "select count(*) from read_parquet($files) anti join news on news.news_id = item_id",
            {"files": str(s.work / "out" / "behaviors" / "*.parquet")},
        )
        history += f" ({no_news:,} history items have no news.tsv row: kept, without text)"
    summary.assumptions += [
        "news become ads: title + abstract are the creative text, the category is both "
        "the category and the campaign (MIND has no advertisers or campaigns)",
        f"every impression list is one placement '{PLACEMENT}' with cpm={cpm:g} "
        "(MIND has no costs; set --cpm to change); impression_id = <impression id>-<position>",
        history,
    ]
    summary.can_run += [
        "ingest, profiles, embeddings (news titles), LightGBM and BERT response, curves"
    ]


# Each user's history of their earliest impression (MIND repeats it on every impression).
_HISTORY = """
    with per_user as (
        select user_id, arg_min(history, ts) as history, min(ts) as first_ts
        from beh where history is not null group by user_id
    ),
    lists as (select user_id, first_ts, string_split(history, ' ') as items from per_user),
    h as (
        select user_id, first_ts, len(items) as n,
            unnest(items) as item_id, unnest(range(1, len(items) + 1)) as pos
        from lists
    )
    select first_ts - to_seconds(n - pos + 1) as ts, h.user_id, 'view' as action,
        h.item_id, news.category, news.title as text
    from h left join news on news.news_id = h.item_id"""
