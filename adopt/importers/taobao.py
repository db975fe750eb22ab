"""Importer for Alibaba's "Ad Display/Click Data on Taobao.com" (Tianchi data set 56).

Reads the publisher's four files (raw_sample.csv, ad_feature.csv, and the
optional user_profile.csv and behavior_log.csv) or the joined FuxiCTR layout
(one CSV per split with clk, time_stamp, userid, adgroup_id, pid, the ad fields
and the profile fields) and writes adopt's input contract; `adopt ingest` reads
the result. The set has no creative text and no costs: ad titles are built
from category, brand and price band, and every placement gets one CPM.
"""

from __future__ import annotations

from pathlib import Path

from adopt.exceptions import InputError
from adopt.importers.common import (
    TS_FROM_EPOCH,
    Check,
    ImportSummary,
    find_file,
    guard,
    not_null,
    read_header,
    require_columns,
)
from adopt.importers.stream import Scratch

RAW_SAMPLE = ("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk")
AD_FEATURE = ("adgroup_id", "cate_id", "campaign_id", "customer", "brand", "price")
USER_PROFILE = (
    "userid",
    "cms_segid",
    "cms_group_id",
    "final_gender_code",
    "age_level",
    "pvalue_level",
    "shopping_level",
    "occupation",
    "new_user_class_level",
)
BEHAVIOR_LOG = ("user", "time_stamp", "btag", "cate", "brand")
FUXICTR = ("clk", "time_stamp", "userid", "adgroup_id", "pid") + AD_FEATURE[1:] + USER_PROFILE[1:]
_MAX_EPOCH = 4_102_444_800  # 2100-01-01
BTAG_ACTIONS = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}

# The publisher writes a missing brand as the text NULL.
_BRAND = "nullif(nullif(trim(brand), 'NULL'), '')"
_PRICE_OK = Check(
    "price",
    "price is not null and coalesce(try_cast(price as double) < 0, true)",
    "price must be a number >= 0 or empty",
)
_CLK = Check("clk", "clk not in ('0', '1')", "clk must be 0 or 1")
_PROFILE_SELECT = """
    userid as user_id,
    case final_gender_code when '1' then 'male' when '2' then 'female' end as gender,
    age_level as age_band,
    new_user_class_level as city_tier,
    cms_segid, cms_group_id, pvalue_level, shopping_level, occupation"""
_AD_SELECT = f"""
    adgroup_id as ad_id, campaign_id, cate_id as category, {_BRAND} as brand,
    customer as advertiser, cast(price as double) as price"""


def _time_check(column: str = "time_stamp") -> Check:
    return Check(
        column,
        f"coalesce(try_cast({column} as bigint) not between 0 and {_MAX_EPOCH}, true)",
        f"{column} must be unix seconds (an integer from 0 to {_MAX_EPOCH})",
    )


def _columns(path: Path, required: tuple[str, ...]) -> list[str]:
    """The file's columns in order; names we do not read become placeholders."""
    header = read_header(path)
    require_columns(path, header, required)
    return [name if name in required else f"_x{i}" for i, name in enumerate(header)]


def _duplicate(s: Scratch, table: str, key: str, path: Path, column: str) -> None:
    # The first row, in file order, that repeats an earlier row's id.
    hit = s.first(
        f"""select {key}, _row, first_row from (
            select {key}, _row, min(_row) over (partition by {key}) as first_row from {table}
        ) where _row > first_row order by _row limit 1"""
    )
    if hit is not None:
        raise InputError(
            path.name,
            column,
            f"duplicate id {hit[0]!r} (first on row {hit[2]}); ids must be unique",
            int(hit[1]),
        )


def import_taobao(s: Scratch, src: Path, summary: ImportSummary, cpm: float) -> None:
    """Convert a Taobao folder (publisher's files or FuxiCTR layout) into `s`'s output."""
    raw = find_file(src, "raw_sample.csv") if src.is_dir() else None
    if raw is not None:
        _stage_raw(s, src, raw, summary)
    else:
        _stage_fuxictr(s, _fuxictr_files(src), summary)
    _write(s, summary, cpm)
    behaviors = find_file(src, "behavior_log.csv") if src.is_dir() else None
    if behaviors is not None:
        _write_behaviors(s, behaviors, summary)
    else:
        summary.assumptions.append("no behavior_log.csv: no behaviours written")
    summary.assumptions += [
        "no creative text in this data set: each ad's title is built from its category id, "
        "brand id and price band (e.g. 'Taobao ad: category 6406, brand 95471, price 100-500')",
        f"no costs in this data set: every placement gets cpm={cpm:g} and each impression "
        f"costs cpm/1000 (set --cpm to change)",
        "impression and click share the raw row's time stamp and impression_id",
    ]
    summary.can_run += ["ingest, profiles, embeddings (built titles), LightGBM response, curves"]


def _fuxictr_files(src: Path) -> list[Path]:
    if src.is_file():
        files = [src]
    else:
        files = sorted(p for p in src.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    # A FuxiCTR folder may hold other CSVs; the splits are those with its key columns.
    good = [p for p in files if {"clk", "userid", "adgroup_id"} <= set(read_header(p))]
    if not good:
        raise InputError(
            src.name,
            None,
            "not a Taobao source: expected raw_sample.csv + ad_feature.csv, or FuxiCTR CSVs "
            f"with columns {', '.join(FUXICTR[:5])}, ...",
        )
    return good


def _stage_raw(s: Scratch, src: Path, raw: Path, summary: ImportSummary) -> None:
    checks = [
        not_null("user", "user"),
        _time_check(),
        not_null("adgroup_id", "adgroup_id"),
        not_null("pid", "pid"),
        _CLK,
        Check(
            "nonclk",
            "clk in ('0', '1') and nonclk is distinct from if(clk = '1', '0', '1')",
            "nonclk must be 1 - clk",
        ),
    ]
    source = s.scan(raw, _columns(raw, RAW_SAMPLE), delim=",", header=True)
    s.stage(
        "raw",
        f"""user as user_id, {TS_FROM_EPOCH.format(col="time_stamp")} as ts,
            adgroup_id as ad_id, pid as placement_id, cast(clk as integer) as clk,
            cast(_row as varchar) as impression_id""",
        source,
        raw,
        checks,
    )
    ads = find_file(src, "ad_feature.csv")
    if ads is None:
        raise InputError("ad_feature.csv", None, f"missing from {src}: the ads come from it")
    source = s.scan(ads, _columns(ads, AD_FEATURE), delim=",", header=True)
    checks = [not_null("adgroup_id", "adgroup_id"), not_null("campaign_id", "campaign_id")]
    s.stage("ad_feature", f"{_AD_SELECT}, _row", source, ads, [*checks, _PRICE_OK])
    _duplicate(s, "ad_feature", "ad_id", ads, "adgroup_id")
    profile = find_file(src, "user_profile.csv")
    if profile is None:
        summary.assumptions.append("no user_profile.csv: users have no attributes")
        s.con.execute(
            "create table profile as select user_id, null::varchar as gender, "
            "null::varchar as age_band, null::varchar as city_tier from raw limit 0"
        )
        return
    source = s.scan(profile, _columns(profile, USER_PROFILE), delim=",", header=True)
    s.stage("profile", f"{_PROFILE_SELECT}, _row", source, profile, [not_null("userid", "userid")])
    _duplicate(s, "profile", "user_id", profile, "userid")
    s.con.execute("alter table profile drop column _row")


def _stage_fuxictr(s: Scratch, files: list[Path], summary: ImportSummary) -> None:
    checks = [
        not_null("userid", "userid"),
        Check(
            "time_stamp",
            "coalesce(try_cast(time_stamp as bigint)::varchar, "
            "try_cast(time_stamp as timestamp)::varchar) is null",
            "time_stamp must be unix seconds or a 'YYYY-MM-DD hh:mm:ss' time",
        ),
        not_null("adgroup_id", "adgroup_id"),
        not_null("pid", "pid"),
        not_null("campaign_id", "campaign_id"),
        _CLK,
        _PRICE_OK,
    ]
    select = f"""cast(clk as integer) as clk,
        coalesce({TS_FROM_EPOCH.format(col="try_cast(time_stamp as bigint)")},
                 cast(time_stamp as timestamp)) as ts,
        pid as placement_id, {_AD_SELECT}, {_PROFILE_SELECT}"""
    for i, path in enumerate(files):
        source = s.scan(path, _columns(path, FUXICTR), delim=",", header=True)
        if i == 0:
            s.stage("fuxi", select, source, path, checks)
        else:
            sql = f"insert into fuxi select {select} from {source} as s where {guard(checks)}"
            s.run(sql, path, source, checks)
    total = s.count("fuxi")
    s.con.execute(
        """create table raw as
        select user_id, ts, ad_id, placement_id, max(clk) as clk,
               concat_ws('|', user_id, ad_id, placement_id, epoch(ts)::bigint) as impression_id
        from fuxi group by user_id, ts, ad_id, placement_id"""
    )
    summary.drop(total - s.count("raw"), "duplicate FuxiCTR rows (same user, time, ad, pid)")
    s.con.execute(
        """create table ad_feature as select ad_id, any_value(campaign_id) as campaign_id,
            any_value(category) as category, any_value(brand) as brand,
            any_value(advertiser) as advertiser, any_value(price) as price
        from fuxi group by ad_id"""
    )
    s.con.execute(
        """create table profile as select user_id, any_value(gender) as gender,
            any_value(age_band) as age_band, any_value(city_tier) as city_tier,
            any_value(cms_segid) as cms_segid, any_value(cms_group_id) as cms_group_id,
            any_value(pvalue_level) as pvalue_level, any_value(shopping_level) as shopping_level,
            any_value(occupation) as occupation
        from fuxi group by user_id"""
    )
    summary.assumptions.append(
        "FuxiCTR layout: ads and user profiles come from the joined rows; "
        "click_sequence has no times and is not converted to behaviours"
    )


def _write(s: Scratch, summary: ImportSummary, cpm: float) -> None:
    rows = summary.rows
    rows["placements"] = s.write(
        "placements",
        "select placement_id, $cpm::double as cpm, placement_id as name "
        "from raw group by placement_id order by placement_id",
        {"cpm": cpm},
    )
    rows["campaigns"] = s.write(
        "campaigns",
        "select campaign_id, any_value(advertiser) as advertiser from ad_feature "
        "group by campaign_id order by campaign_id",
    )
    rows["ads"] = s.write(
        "ads",
        """select ad_id, campaign_id,
            concat('Taobao ad: category ', category, ', brand ' || brand, ', ', case
                when price is null then 'price unknown' when price < 10 then 'price under 10'
                when price < 50 then 'price 10-50' when price < 100 then 'price 50-100'
                when price < 500 then 'price 100-500' when price < 1000 then 'price 500-1000'
                else 'price over 1000' end) as title,
            category, brand, price, advertiser
        from ad_feature order by ad_id""",
    )
    rows["users"] = s.write(
        "users",
        """select * from (
            select * from profile
            union all
            by name select distinct user_id from raw anti join profile using (user_id)
        ) order by user_id""",
    )
    unknown = s.scalar("select count(*) from raw anti join ad_feature using (ad_id)")
    summary.drop(unknown, "impressions whose adgroup_id has no ad_feature row")
    rows["events"] = s.write(
        "events",
        """select ts, user_id, ad_id, placement_id,
            unnest(if(clk = 1, ['impression', 'click'], ['impression'])) as event,
            $cpm::double / 1000 as cost, impression_id
        from raw semi join ad_feature using (ad_id)
        order by ts, impression_id, event desc""",
        {"cpm": cpm},
    )


def _write_behaviors(s: Scratch, path: Path, summary: ImportSummary) -> None:
    actions = ", ".join(f"'{k}': '{v}'" for k, v in BTAG_ACTIONS.items())
    source = s.scan(path, _columns(path, BEHAVIOR_LOG), delim=",", header=True)
    checks = [
        not_null("user", "user"),
        _time_check(),
        Check(
            "btag",
            f"btag not in ({', '.join(repr(k) for k in BTAG_ACTIONS)})",
            "btag must be one of pv, cart, fav, buy",
        ),
    ]
    s.con.execute(
        "create table user_ids as select user_id from profile union select user_id from raw"
    )
    # One pass over the (very large) log: unknown users are counted while streaming.
    sql = f"""select {TS_FROM_EPOCH.format(col="time_stamp")} as ts, user as user_id,
            map {{{actions}}}[btag] as action, cate as category, {_BRAND} as brand,
            user in (select user_id from user_ids) as _known
        from {source} as s where {guard(checks)}"""
    summary.rows["behaviors"] = s.write(
        "behaviors", sql, keep="_known", source=(path, source, checks)
    )
    summary.drop(s.filtered, "behaviour rows of users outside raw_sample and user_profile")
