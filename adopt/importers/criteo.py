"""Importers for the Kaggle display-ads layouts: Criteo (train.txt) and Avazu (train.csv).

Sits before ingest. Neither set has creative text; Criteo has no users, ads,
placements or times either, Avazu has anonymised ones. The mapping (documented
in ``docs/importers.md`` and repeated in each summary):

- Criteo: one impression per row (plus a click when label = 1); one pseudo
  user per row carrying I1..I13 and C1..C26 as user attributes (model
  features, k-means inputs, rule columns); one pseudo ad; the
  placement is the value of C6; times are synthetic, spread in file order
  over 7 days.
- Avazu: user = device_id, or device_ip + device_model where device_id is the
  set's null value; placement = site (or app) id + banner_pos; ad = C14 in
  campaign C17; time = hour; the other columns stay as event attributes.
"""

from __future__ import annotations

from pathlib import Path

from adopt.exceptions import InputError
from adopt.importers.common import (
    Check,
    ImportSummary,
    find_file,
    not_null,
    read_header,
    require_columns,
)
from adopt.importers.stream import Scratch

CRITEO = ("label", *(f"I{i}" for i in range(1, 14)), *(f"C{i}" for i in range(1, 27)))
CRITEO_PLACEMENT = "C6"
CRITEO_DAYS = 7
AVAZU = (
    "id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category",
    "app_id", "app_domain", "app_category", "device_id", "device_ip", "device_model",
    "device_type", "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)  # fmt: skip
# Avazu's placeholder values: a missing device id, and the site id of app traffic.
AVAZU_NO_DEVICE = "a99f214a"
AVAZU_NO_SITE = "85f751fd"
_AVAZU_EVENT_ATTRS = (
    "C1", "banner_pos", "site_domain", "site_category", "app_domain", "app_category",
    "device_conn_type", "C18", "C19", "C20", "C21",
)  # fmt: skip

_NO_TEXT = "no creative text in this data set: ad titles are placeholders"
_CANNOT = [
    "embeddings / BERT response: no creative text (titles are placeholders)",
    "behaviour-based profiles (RFM, category affinity, interest text): no behaviours",
]


def _label_check(column: str) -> Check:
    return Check(column, f"{column} not in ('0', '1')", f"{column} must be 0 or 1")


def _source_file(src: Path, *names: str) -> Path:
    if src.is_file():
        return src
    found = find_file(src, *names)
    if found is None:
        raise InputError(src.name, None, f"expected one of {', '.join(names)} in the folder")
    return found


def _write_common(s: Scratch, summary: ImportSummary, cpm: float, ads_sql: str) -> None:
    rows = summary.rows
    rows["placements"] = s.write(
        "placements",
        "select placement_id, $cpm::double as cpm, placement_id as name "
        "from staged group by placement_id order by placement_id",
        {"cpm": cpm},
    )
    rows["ads"] = s.write("ads", ads_sql)
    rows["campaigns"] = s.write(
        "campaigns",
        "select distinct campaign_id from read_parquet($ads) order by 1",
        {"ads": str(s.work / "out" / "ads" / "*.parquet")},
    )


def import_criteo(s: Scratch, src: Path, summary: ImportSummary, cpm: float) -> None:
    """Convert a Criteo display-ads file (Kaggle train.txt, or with a header) into `s`'s output."""
    path = _source_file(src, "train.txt", "criteo_sample.txt")
    delim = "\t" if "\t" in _first_line(path) else ","
    first = read_header(path, delim)
    header = first[0] == "label"
    if header:
        require_columns(path, first, CRITEO)
    elif len(first) != len(CRITEO):
        raise InputError(
            path.name, None,
            f"expected {len(CRITEO)} fields (label, I1..I13, C1..C26), found {len(first)}; "
            "the Kaggle test.txt has no label and cannot be imported", 1,
        )  # fmt: skip
    columns = [c if c in CRITEO else f"_x{i}" for i, c in enumerate(first)] if header else CRITEO
    checks = [_label_check("label")] + [
        Check(c, f"{c} is not null and try_cast({c} as double) is null", f"{c} must be a number")
        for c in CRITEO[1:14]
    ]
    source = s.scan(path, columns, delim=delim, header=header)
    typed = ", ".join(f"cast({c} as double) as {c}" for c in CRITEO[1:14])
    n = s.stage(
        "staged",
        f"""_row, cast(label as integer) as clk, {typed}, {", ".join(CRITEO[14:])},
            'C6=' || coalesce({CRITEO_PLACEMENT}, 'none') as placement_id""",
        source, path, checks,
    )  # fmt: skip
    _write_common(
        s, summary, cpm,
        "select 'criteo_ad' as ad_id, 'criteo' as campaign_id, "
        "'Criteo display ad (no creative text in this data set)' as title",
    )  # fmt: skip
    summary.rows["users"] = s.write(
        "users", f"select 'u' || _row as user_id, {', '.join(CRITEO[1:])} from staged"
    )
    step_us = CRITEO_DAYS * 86_400 * 1_000_000 // max(n, 1)
    summary.rows["events"] = s.write(
        "events",
        """select timestamp '2014-01-01' + to_microseconds((_row - 1) * $step) as ts,
            'u' || _row as user_id, 'criteo_ad' as ad_id, placement_id,
            unnest(if(clk = 1, ['impression', 'click'], ['impression'])) as event,
            $cpm::double / 1000 as cost, _row::varchar as impression_id
        from staged""",
        {"step": step_us, "cpm": cpm},
    )
    summary.assumptions += [
        _NO_TEXT,
        "no users: one pseudo user per row ('u<row>') carrying I1..I13 (numbers) and C1..C26 "
        "(text) as user attributes: response model features, k-means inputs (the only signal "
        "known before the impression) and columns segment rules can read",
        "no ads or campaigns: one pseudo ad 'criteo_ad' in campaign 'criteo'",
        f"no placements: the placement is the value of {CRITEO_PLACEMENT} ('C6=<value>')",
        f"no times: synthetic times from 2014-01-01, spread in file order over {CRITEO_DAYS} days",
        f"no costs: every placement gets cpm={cpm:g} (set --cpm to change)",
    ]
    summary.can_run += [
        "ingest, profiles, LightGBM response on the user attributes, k-means or rule "
        "segments on them, curves per segment x placement, plans and reports",
    ]
    summary.cannot_run += [
        *_CANNOT,
        "frequency curves and caps: every user is seen exactly once",
        "per-ad or per-campaign plans: there is one pseudo ad",
    ]


def import_avazu(s: Scratch, src: Path, summary: ImportSummary, cpm: float) -> None:
    """Convert an Avazu CTR file (Kaggle train.csv / train.gz) into `s`'s output."""
    path = _source_file(src, "train.csv", "train.gz", "avazu_sample.txt")
    header = read_header(path)
    if "click" not in header and "id" in header:
        raise InputError(
            path.name, "click",
            "missing: the Kaggle test file has no click label and cannot be imported",
        )  # fmt: skip
    require_columns(path, header, AVAZU)
    columns = [c if c in AVAZU else f"_x{i}" for i, c in enumerate(header)]
    checks = [
        not_null("id", "id"),
        _label_check("click"),
        Check("hour", "try_strptime(hour, '%y%m%d%H') is null", "hour must be YYMMDDHH"),
        not_null("C14", "C14 (the ad)"),
        not_null("device_ip", "device_ip"),
    ]
    source = s.scan(path, columns, delim=",", header=True)
    s.stage(
        "staged",
        f"""_row, id, cast(click as integer) as clk, strptime(hour, '%y%m%d%H') as ts,
            case when device_id is null or device_id = $no_device
                then 'ip:' || device_ip || ':' || coalesce(device_model, '')
                else 'dev:' || device_id end as user_id,
            case when site_id is null or site_id = $no_site
                then 'app:' || coalesce(app_id, '') else 'site:' || site_id end
                || ':' || coalesce(banner_pos, '') as placement_id,
            C14, C15, C16, C17, device_type, device_model, {", ".join(_AVAZU_EVENT_ATTRS)}""",
        source, path, checks, {"no_device": AVAZU_NO_DEVICE, "no_site": AVAZU_NO_SITE},
    )  # fmt: skip
    _write_common(
        s, summary, cpm,
        """select C14 as ad_id, min(C17) as campaign_id,
            concat('Mobile ad ', C14, ', banner ', min(C15), 'x', min(C16)) as title,
            min(C15) as width, min(C16) as height
        from staged group by C14 order by C14""",
    )  # fmt: skip
    summary.rows["users"] = s.write(
        "users",
        "select user_id, any_value(device_type) as device_type, "
        "any_value(device_model) as device_model from staged group by user_id order by user_id",
    )
    summary.rows["events"] = s.write(
        "events",
        f"""select ts, user_id, C14 as ad_id, placement_id,
            unnest(if(clk = 1, ['impression', 'click'], ['impression'])) as event,
            $cpm::double / 1000 as cost, id as impression_id, {", ".join(_AVAZU_EVENT_ATTRS)}
        from staged""",
        {"cpm": cpm},
    )
    summary.assumptions += [
        _NO_TEXT,
        f"user = device_id, or device_ip + device_model where device_id is {AVAZU_NO_DEVICE} "
        "(the set's missing value)",
        f"placement = site_id (app_id where site_id is {AVAZU_NO_SITE}) + banner_pos",
        "ad = C14, its campaign = C17 (anonymised ad fields; the first C17 when an ad has several)",
        "device_type and device_model are user attributes (model features, k-means inputs, "
        "rule columns); the other columns are kept as event attributes, which no stage reads "
        "yet; times are hours",
        f"no costs: every placement gets cpm={cpm:g} (set --cpm to change)",
    ]
    summary.can_run += [
        "ingest, profiles (impression/click history only), LightGBM response, k-means or "
        "rule segments on the device attributes, curves per segment x placement, frequency "
        "per device, plans and reports",
    ]
    summary.cannot_run += _CANNOT


def _first_line(path: Path) -> str:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.readline()
