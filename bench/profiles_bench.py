"""Benchmark: the SQL profile marts on DuckDB against the same figures in pandas.

Generates (once, cached under bench/_out/) a synthetic world with
`adopt.synth.generate_world`, ingests it with `adopt.ingest.ingest`, then in
one process times:

- ours, like for like: the sql/ models that user_profiles and ad_history need;
- ours, everything: `build_profiles` (adds the per-impression training_examples);
- pandas: the core user_profiles columns (counts, spend, revenue, smoothed
  CTR/CVR, RFM, top categories) and ad_history, from input tables already in
  memory (their loading is not timed);
- with `--baseline-sql DIR`, the same two DuckDB builds from another version
  of the models (e.g. the last commit's), run in turn with ours.

It first checks that DuckDB and pandas give the same values, then prints
medians of `--repeats` runs (`--full-repeats` for the full builds), the ratios
and events per second.

    python bench/profiles_bench.py                    # demo-size world, quick
    python bench/profiles_bench.py --users 300000     # ~10 million events
    git archive HEAD sql | tar -x -C /tmp/base        # the last commit's models
    python bench/profiles_bench.py --baseline-sql /tmp/base/sql
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.profiles import ProfileParams, build_profiles, model_parameters
from adopt.progress import setup_logging
from adopt.warehouse import discover_models, models_for, run_models
from adopt.workspace import Workspace

OUT = Path(__file__).resolve().parent / "_out"
PARAMS = ProfileParams()  # build_profiles' defaults
PRIOR = PARAMS.prior_strength
HALF_LIFE = PARAMS.affinity_half_life_days
# Columns that user_profiles and ad_history both have, compared to pandas'.
TOTALS = ("impressions", "clicks", "conversions", "spend", "revenue")
RATES = ("ctr_smoothed", "cvr_smoothed")
ACTION_WEIGHT = {"purchase": 5.0, "cart": 3.0, "favorite": 2.0, "view": 1.0, "search": 1.0}


def prepare(users: int, ads: int, days: int, seed: int) -> Path:
    """Return a workspace holding the ingested world, generating it on first use."""
    from adopt.ingest import ingest
    from adopt.synth import generate_world

    name = f"u{users}_a{ads}_d{days}_s{seed}"
    world, ws = OUT / f"world_{name}", OUT / f"ws_{name}"
    if not (world / ".complete").exists():
        print(f"generating the world into {world} ...", flush=True)
        print(generate_world(world, users=users, ads=ads, days=days, seed=seed))
        (world / ".complete").touch()
    if not (ws / ".complete").exists():
        print(f"ingesting into {ws} ...", flush=True)
        (ws / "warehouse.duckdb").unlink(missing_ok=True)
        print(ingest(world, ws))
        (ws / ".complete").touch()
    return ws


def load_inputs(ws: Path) -> dict[str, pd.DataFrame]:
    with Workspace(ws).connect(read_only=True) as con:
        return {
            t: con.execute(f"select * from {t}").df()
            for t in ("users", "ads", "placements", "events", "behaviors")
        }


def pandas_profiles(t: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """user_profiles (core columns) and ad_history, the way the SQL models define them."""
    ev = t["events"][t["events"]["ts"] <= as_of]
    beh = t["behaviors"][t["behaviors"]["ts"] <= as_of]
    ads, placements = t["ads"], t["placements"]
    imp = ev[ev["event"] == "impression"].merge(
        placements[["placement_id", "cpm"]], on="placement_id"
    )
    imp = imp.assign(cost=imp["cost"].fillna(imp["cpm"] / 1000.0))
    resp = ev[ev["event"] != "impression"]
    is_click, is_conv = resp["event"] == "click", resp["event"] == "conversion"

    # user_profiles
    up = pd.DataFrame(index=pd.Index(t["users"]["user_id"], name="user_id"))
    up["impressions"] = imp.groupby("user_id").size()
    up["clicks"] = resp[is_click].groupby("user_id").size()
    up["conversions"] = resp[is_conv].groupby("user_id").size()
    up["spend"] = imp.groupby("user_id")["cost"].sum()
    up["revenue"] = resp[is_conv].groupby("user_id")["revenue"].sum()
    up = up.fillna(0)
    pop_ctr = up["clicks"].sum() / max(len(imp), 1)
    pop_cvr = min(up["conversions"].sum() / max(up["clicks"].sum(), 1), 1.0)
    up["ctr_smoothed"] = ((up["clicks"] + PRIOR * pop_ctr) / (up["impressions"] + PRIOR)).clip(
        upper=1
    )
    up["cvr_smoothed"] = ((up["conversions"] + PRIOR * pop_cvr) / (up["clicks"] + PRIOR)).clip(
        upper=1
    )
    purchases = beh[beh["action"] == "purchase"].groupby("user_id")
    last = pd.concat([resp.groupby("user_id")["ts"].max(), purchases["ts"].max()], axis=1).max(
        axis=1
    )
    up["recency_days"] = (as_of - last).dt.total_seconds() / 86400.0
    up["frequency"] = purchases.size().reindex(up.index, fill_value=0) + up["conversions"]
    up["monetary"] = (
        purchases["amount"].sum().reindex(up.index, fill_value=0.0).fillna(0) + up["revenue"]
    )
    up["r_score"] = _score(-up["recency_days"], up["recency_days"].notna())
    up["f_score"] = _score(up["frequency"], up["frequency"] > 0)
    up["m_score"] = _score(up["monetary"], up["monetary"] > 0)
    up["top_categories"] = _top_categories(beh, resp[is_click], ads, as_of).reindex(up.index)

    # ad_history
    keys = ["ad_id", "placement_id"]
    ah = imp.groupby(keys).agg(
        campaign_id=("ad_id", "size"),
        impressions=("ad_id", "size"),
        spend=("cost", "sum"),
        first_seen=("ts", "min"),
        last_seen=("ts", "max"),
    )
    ah["campaign_id"] = (
        ads.set_index("ad_id")["campaign_id"].reindex(ah.index.get_level_values("ad_id")).to_numpy()
    )
    ah["clicks"] = resp[is_click].groupby(keys).size()
    ah["conversions"] = resp[is_conv].groupby(keys).size()
    ah["revenue"] = resp[is_conv].groupby(keys)["revenue"].sum()
    ah[["clicks", "conversions", "revenue"]] = ah[["clicks", "conversions", "revenue"]].fillna(0)
    per_placement = ah.groupby("placement_id")[["impressions", "clicks", "conversions"]].sum()
    p_ctr = per_placement["clicks"] / per_placement["impressions"]
    p_cvr = (per_placement["conversions"] / per_placement["clicks"].clip(lower=1)).clip(upper=1)
    placement = ah.index.get_level_values("placement_id")
    ah["ctr_smoothed"] = (
        (ah["clicks"] + PRIOR * p_ctr.reindex(placement).to_numpy()) / (ah["impressions"] + PRIOR)
    ).clip(upper=1)
    ah["cvr_smoothed"] = (
        (ah["conversions"] + PRIOR * p_cvr.reindex(placement).to_numpy()) / (ah["clicks"] + PRIOR)
    ).clip(upper=1)
    return {"user_profiles": up, "ad_history": ah}


def _score(value: pd.Series, active: pd.Series) -> pd.Series:
    """Tie-aware quintile 1 + floor(5 * percent_rank) among active rows; 1 elsewhere."""
    v = value[active]
    n = len(v)
    pct = (v.rank(method="min") - 1) / (n - 1) if n > 1 else v * 0
    score = np.minimum(5, 1 + np.floor(5 * pct)).astype(int)
    return score.reindex(value.index, fill_value=1)


def _top_categories(
    beh: pd.DataFrame, clicks: pd.DataFrame, ads: pd.DataFrame, as_of: pd.Timestamp
) -> pd.Series:
    b = beh[beh["category"].notna()]
    b = pd.DataFrame(
        {
            "user_id": b["user_id"],
            "category": b["category"].str.strip().str.lower(),
            "ts": b["ts"],
            "weight": b["action"].map(ACTION_WEIGHT),
        }
    )
    c = clicks.merge(ads[["ad_id", "category"]], on="ad_id")
    c = c[c["category"].notna()]
    c = pd.DataFrame(
        {
            "user_id": c["user_id"],
            "category": c["category"].str.strip().str.lower(),
            "ts": c["ts"],
            "weight": 2.0,
        }
    )
    interest = pd.concat([b, c], ignore_index=True)
    age_days = (as_of - interest["ts"]).dt.total_seconds() / 86400.0
    interest["affinity"] = interest["weight"] * 0.5 ** (age_days / HALF_LIFE)
    aff = interest.groupby(["user_id", "category"], as_index=False)["affinity"].sum()
    aff = aff.sort_values(["user_id", "affinity", "category"], ascending=[True, False, True])
    top = aff.groupby("user_id").head(3)
    return top.groupby("user_id", sort=False)["category"].agg(list)


def check_agreement(ws: Path, ours: dict[str, pd.DataFrame]) -> None:
    """Fail loudly unless DuckDB and pandas agree on the compared columns."""
    with Workspace(ws).connect(read_only=True) as con:
        up = con.execute("select * from user_profiles").df().set_index("user_id")
        ah = con.execute("select * from ad_history").df().set_index(["ad_id", "placement_id"])
    theirs_up = ours["user_profiles"].reindex(up.index)
    for col in (*TOTALS, *RATES, "recency_days", "frequency", "monetary"):
        a, b = up[col].to_numpy(float), theirs_up[col].to_numpy(float)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True), f"user_profiles.{col}"
    for col in ("r_score", "f_score", "m_score"):
        assert (up[col].to_numpy() == theirs_up[col].to_numpy()).all(), f"user_profiles.{col}"
    theirs_top = theirs_up["top_categories"].apply(lambda x: list(x) if isinstance(x, list) else [])
    same = np.mean([list(a) == b for a, b in zip(up["top_categories"], theirs_top, strict=True)])
    assert same > 0.999, f"user_profiles.top_categories agree on {same:.2%} of users"
    theirs_ah = ours["ad_history"].reindex(ah.index)
    assert len(theirs_ah) == len(ours["ad_history"])
    for col in (*TOTALS, *RATES):
        a, b = ah[col].to_numpy(float), theirs_ah[col].to_numpy(float)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9), f"ad_history.{col}"
    assert (ah["campaign_id"] == theirs_ah["campaign_id"]).all(), "ad_history.campaign_id"
    print(
        f"agreement: {len(up):,} user profiles and {len(ah):,} ad x placement rows match "
        f"(top categories: {same:.2%} of users)"
    )


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeats` calls (CPU: all threads of this process).

    CPU time shows the work done even when other jobs share the cores.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def build(ws: Path, as_of: pd.Timestamp, limit: str, sql: Path | None, targets: list[str]) -> None:
    """Build `targets` (all models if empty) from the models in `sql` (default: ours)."""
    models = discover_models(sql)
    models = models_for(targets, models) if targets else models
    with Workspace(ws).connect(memory_limit=limit) as con:
        run_models(con, model_parameters(as_of.to_pydatetime(), PARAMS), models)


SUBSET = ["user_profiles", "ad_history"]
PARTS = {"subset": "user_profiles + ad_history", "all": "all marts (+ training_examples)"}


def run_in_turn(
    ws: Path,
    tables: dict[str, pd.DataFrame],
    as_of: pd.Timestamp,
    args: argparse.Namespace,
) -> dict[tuple[str, str], tuple[float, float]]:
    """Median (wall, CPU) per (contender, part), the contenders run in turn.

    Taking turns spreads the load of a shared host over every contender alike.
    """
    versions = {"ours": None} if args.baseline_sql is None else {"baseline": args.baseline_sql}
    versions.setdefault("ours", None)
    full_repeats = args.repeats if args.full_repeats is None else args.full_repeats
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for i in range(max(args.repeats, full_repeats)):
        jobs: list[tuple[str, str, Callable[[], object]]] = []
        if i < args.repeats:
            jobs.append(("pandas", "subset", lambda: pandas_profiles(tables, as_of)))
        for name, sql in versions.items():
            if i < args.repeats:
                jobs.append(
                    (name, "subset", lambda s=sql: build(ws, as_of, args.memory_limit, s, SUBSET))
                )
            if i < full_repeats:
                jobs.append((name, "all", lambda s=sql: build(ws, as_of, args.memory_limit, s, [])))
        for name, part, fn in jobs:
            runs.setdefault((name, part), []).append(median_time(fn, 1))
    return {k: tuple(statistics.median(x) for x in zip(*v, strict=True)) for k, v in runs.items()}


def report(medians: dict[tuple[str, str], tuple[float, float]], n_events: int) -> None:
    """Print the medians, pandas / DuckDB for each DuckDB version, and baseline / ours."""
    print(f"\nmedians, {n_events:,} events (wall s, CPU s, events/s of wall)")
    for (name, part), (wall, cpu) in medians.items():
        print(f"  {name:<9} {PARTS[part]:<34} {wall:8.2f} {cpu:8.2f} {n_events / wall:12,.0f}")
    pandas = medians["pandas", "subset"]
    for name in ("baseline", "ours"):
        if (name, "subset") in medians:
            wall, cpu = medians[name, "subset"]
            print(
                f"  {name}: speed-up like for like (pandas / duckdb): "
                f"wall {pandas[0] / wall:.2f}x, CPU {pandas[1] / cpu:.2f}x"
            )
    for part in PARTS:
        if ("baseline", part) in medians:
            (bw, bc), (ow, oc) = medians["baseline", part], medians["ours", part]
            print(f"  baseline / ours, {PARTS[part]}: wall {bw / ow:.2f}x, CPU {bc / oc:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6_000, help="users (300000: ~10M events)")
    parser.add_argument("--ads", type=int, default=120)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-repeats", type=int, default=None, help="default: --repeats")
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory limit (shared hosts)")
    parser.add_argument("--baseline-sql", type=Path, default=None, help="other models to time")
    args = parser.parse_args()
    setup_logging()

    ws = prepare(args.users, args.ads, args.days, args.seed)
    build_profiles(ws, memory_limit=args.memory_limit)
    with Workspace(ws).connect(read_only=True) as con:
        as_of = pd.Timestamp(con.execute("select as_of from build_params").fetchone()[0])
    tables = load_inputs(ws)
    n_events = len(tables["events"])
    print(
        f"world: {n_events:,} events, {len(tables['behaviors']):,} behaviours, "
        f"{len(tables['users']):,} users"
    )
    check_agreement(ws, pandas_profiles(tables, as_of))
    report(run_in_turn(ws, tables, as_of, args), n_events)


if __name__ == "__main__":
    main()
