"""`generate_world`: write a synthetic world in the input contract, with its truth.

The start of the data flow for demos, tests and benchmarks: the tables it
writes (users, ads, placements, campaigns as one Parquet file each; events and
behaviors as folders of part files) are what `adopt ingest` reads, and
``truth/`` (see `adopt.synth.truth`) is what plans are scored against.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adopt.exceptions import ParameterError
from adopt.progress import Progress
from adopt.synth import vocab
from adopt.synth.entities import PLACEMENTS, START, World, draw_world
from adopt.synth.response import FATIGUE_FORMS, ResponseParams
from adopt.synth.simulate import (
    BEHAVIOR_SCHEMA,
    DAY_US,
    EVENT_SCHEMA,
    BehaviorSimulator,
    EventSimulator,
)
from adopt.synth.truth import save_truth
from adopt.synth.writer import PartWriter, ShardedWriter, publish, write_table

# about 400k impressions, generated in a few seconds; 8 weeks of logs hold enough clicks
# and conversions per ad for a plan near the oracle (docs/curves.md, plan quality)
DEMO_USERS = 6_000
DEMO_ADS = 120
DEMO_DAYS = 56
PART_ROWS = 1_000_000
_QUALITY_BOUND = 5.0  # |conversion_quality|: beyond, a creative's quality decides its conversions


@dataclass(frozen=True)
class WorldSummary:
    """What `generate_world` wrote: rows per table, response rates, where."""

    out: Path
    rows: dict[str, int]
    impressions: int
    clicks: int
    conversions: int
    spend: float
    revenue: float
    days: int
    seed: int
    seconds: float

    @property
    def ctr(self) -> float:
        return self.clicks / max(self.impressions, 1)

    @property
    def cvr(self) -> float:
        return self.conversions / max(self.clicks, 1)

    def __str__(self) -> str:
        tables = ", ".join(f"{t} {n:,}" for t, n in self.rows.items())
        return (
            f"synthetic world (seed {self.seed}, {self.days} days) written to {self.out} "
            f"in {self.seconds:.1f}s\n"
            f"  rows: {tables}\n"
            f"  {self.impressions:,} impressions, CTR {self.ctr:.2%}, "
            f"{self.conversions:,} conversions, CVR {self.cvr:.2%} of clicks, "
            f"spend {self.spend:,.0f}, revenue {self.revenue:,.0f}\n"
            f"  ground truth in {self.out / 'truth'}"
        )


def _ts(days: np.ndarray) -> pa.Array:
    return pa.array(START.astype(np.int64) + days.astype(np.int64) * DAY_US, pa.timestamp("us"))


def _small_tables(w: World) -> dict[str, pa.Table]:
    users = pa.table({
        "user_id": w.user_ids,
        "age_band": np.array(vocab.AGE_BANDS)[w.age],
        "gender": np.array(vocab.GENDERS)[w.gender],
        "city_tier": np.array(vocab.CITY_TIERS)[w.tier],
        "signup_ts": pa.array(w.signup_ts.astype(np.int64), pa.timestamp("us")),
    })
    ads = pa.table({
        "ad_id": w.ad_ids, "campaign_id": w.campaign_ids[w.ad_campaign],
        "title": w.ad_title, "description": w.ad_description,
        "category": np.array(vocab.TOP_CATEGORIES)[w.ad_category],
        "brand": w.campaign_advertiser[w.ad_campaign], "price": w.ad_price,
        "advertiser": w.campaign_advertiser[w.ad_campaign],
    })
    placements = pa.table({
        "placement_id": [p[0] for p in PLACEMENTS], "cpm": w.cpm,
        "name": [p[1] for p in PLACEMENTS], "daily_inventory": w.daily_inventory,
        "format": [p[5] for p in PLACEMENTS], "position": [p[6] for p in PLACEMENTS],
    })
    campaigns = pa.table({
        "campaign_id": w.campaign_ids, "advertiser": w.campaign_advertiser,
        "budget": w.campaign_budget, "start": _ts(w.campaign_start), "end": _ts(w.campaign_end),
        "objective": w.campaign_objective,
        "target_cpa": pa.array(w.campaign_target_cpa, from_pandas=True),
        "target_roas": pa.array(w.campaign_target_roas, from_pandas=True),
    })
    return {"users": users, "ads": ads, "placements": placements, "campaigns": campaigns}


def _check_size(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(
            f"The '{name}' parameter of generate_world must be an integer of at least "
            f"{minimum}. Got {value!r} instead."
        )


def generate_world(
    out: str | os.PathLike[str],
    *,
    users: int = DEMO_USERS,
    ads: int = DEMO_ADS,
    days: int = DEMO_DAYS,
    seed: int = 0,
    part_rows: int = PART_ROWS,
    show_progress: bool | None = None,
    fatigue: str = "logit",
    fatigue_rate: float = 0.72,
    conversion_quality: float = 0.8,
    placement_conversion: float = 0.0,
    campaign_quality: float = 0.0,
    creative_audience: float = 0.0,
    shards: int | None = None,
) -> WorldSummary:
    """Write a synthetic world (input contract + hidden truth) under `out`.

    Parameters
    ----------
    out : path
        Folder to write to: ``users.parquet``, ``ads.parquet``,
        ``placements.parquet``, ``campaigns.parquet``, ``events/part-*.parquet``,
        ``behaviors/part-*.parquet`` and ``truth/``. These names are replaced;
        other files in `out` are left alone.
    users, ads, days : int
        Number of users (about 1.2 impressions each a day), ads (2-6 per
        campaign) and days of ad logs (behaviours start 14 days earlier).
    seed : int
        Random seed: the same arguments give the same table contents.
    part_rows : int
        Rows per part file of events and behaviors; memory holds about one
        part plus one day. Table contents do not depend on it.
    show_progress : bool, optional
        Progress bar (default: only on a terminal).
    fatigue : {"logit", "geometric"}
        How the click rate falls with a user's k-th impression of a campaign:
        "logit" subtracts ``1.3 * (1 - exp(-(k - 1) / 3))`` from the click
        logit; "geometric" multiplies the click probability by
        ``fatigue_rate ** (k - 1)`` (see `adopt.synth.response`).
    fatigue_rate : float
        The geometric form's factor per impression, in (0, 1].
    conversion_quality : float
        How much a creative's latent quality moves its conversions per click: the
        conversion logit gains this times the quality the click logit gains once
        (``c_quality``; 0: the quality that draws clicks does not convert them).
    placement_conversion : float
        How much the placement a click came from moves its conversions per click: the
        conversion logit gains this times the placement's click-logit effect
        (``c_placement``; 0, the default: a clicker buys alike wherever they clicked;
        1: a search result's clickers, who click more, buy more too).
    campaign_quality : float
        The sd of a latent quality every creative of a campaign shares (a brand's
        appeal), added to each creative's own (``ResponseParams.campaign_quality``; 0,
        the default: a campaign's creatives are alike only in what their features
        show, and a world drawn with 0 is the same as before the option).
    creative_audience : float
        The sd of each creative's appeal to each age band: quality the creative gains
        (or loses) with the users of that band, in its clicks and conversions alike
        (``ResponseParams.creative_audience``; 0, the default: a creative appeals to
        every age alike, and a world drawn with 0 is the same as before the option).
    shards : int, optional
        Write events and behaviors sharded by user: each part file
        (``shard-<s>-part-<n>.parquet``) holds the rows of one shard's users
        (user ``u<i>`` in shard ``(i - 1) % shards``). Memory still holds
        about two parts plus one day; table contents do not depend on it.

    Returns
    -------
    WorldSummary
        Rows per table, click and conversion rates, where it wrote.
    """
    _check_size("users", users, 1)
    _check_size("ads", ads, 2)
    _check_size("days", days, 2)
    _check_size("part_rows", part_rows, 1)
    if shards is not None:
        _check_size("shards", shards, 1)
    params = _response_params(fatigue, fatigue_rate, conversion_quality, placement_conversion,
                              campaign_quality, creative_audience)
    began = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".generating-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        world = draw_world(users, ads, days, seed, params=params)
        small = _small_tables(world)
        for name, table in small.items():
            write_table(table, staging / f"{name}.parquet")
        ev_sim, bh_sim = EventSimulator(world), BehaviorSimulator(world)
        totals = {"impression": 0, "click": 0, "conversion": 0, "spend": 0.0, "revenue": 0.0}
        def writer(name: str, schema: pa.Schema) -> PartWriter | ShardedWriter:
            if shards is None:
                return PartWriter(staging / name, schema, part_rows)
            return ShardedWriter(staging / name, schema, part_rows, shards)

        with (
            writer("events", EVENT_SCHEMA) as events,
            writer("behaviors", BEHAVIOR_SCHEMA) as behaviors,
            Progress(len(bh_sim.days()), "generate world", "days", show=show_progress) as bar,
        ):
            for day in bh_sim.days():
                behaviors.add(bh_sim.day(day))
                if day >= 0:
                    table = ev_sim.day(day)
                    _tally(totals, table)
                    events.add(table)
                bar.update()
        save_truth(world, staging / "truth", str(START))
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rows = {name: t.num_rows for name, t in small.items()}
    rows.update(events=events.rows, behaviors=behaviors.rows)
    return WorldSummary(
        out=out.resolve(), rows=rows, impressions=totals["impression"], clicks=totals["click"],
        conversions=totals["conversion"], spend=totals["spend"], revenue=totals["revenue"],
        days=days, seed=seed, seconds=time.perf_counter() - began,
    )


def _response_params(fatigue: str, fatigue_rate: float, conversion_quality: float,
                     placement_conversion: float, campaign_quality: float,
                     creative_audience: float) -> ResponseParams:
    if fatigue not in FATIGUE_FORMS:
        raise ParameterError(
            f"The 'fatigue' parameter of generate_world must be one of "
            f"{', '.join(map(repr, FATIGUE_FORMS))}. Got {fatigue!r} instead.")
    if not isinstance(fatigue_rate, (int, float)) or not 0.0 < fatigue_rate <= 1.0:
        raise ParameterError(
            "The 'fatigue_rate' parameter of generate_world must be a number in (0, 1]. "
            f"Got {fatigue_rate!r} instead.")
    for name, value, low in (("conversion_quality", conversion_quality, -_QUALITY_BOUND),
                             ("placement_conversion", placement_conversion, -_QUALITY_BOUND),
                             ("campaign_quality", campaign_quality, 0.0),
                             ("creative_audience", creative_audience, 0.0)):
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not low <= value <= _QUALITY_BOUND):
            raise ParameterError(
                f"The {name!r} parameter of generate_world must be a number in "
                f"[{low:g}, {_QUALITY_BOUND:g}]. Got {value!r} instead.")
    return ResponseParams(fatigue_form=fatigue, fatigue_rate=float(fatigue_rate),
                          c_quality=float(conversion_quality),
                          c_placement=float(placement_conversion),
                          campaign_quality=float(campaign_quality),
                          creative_audience=float(creative_audience))


def _tally(totals: dict[str, float], table: pa.Table) -> None:
    counts = pc.value_counts(table["event"]).to_pylist()
    for c in counts:
        totals[c["values"]] += c["counts"]
    totals["spend"] += pc.sum(table["cost"]).as_py() or 0.0
    totals["revenue"] += pc.sum(table["revenue"]).as_py() or 0.0
