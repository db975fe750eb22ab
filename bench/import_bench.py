"""Benchmark of the importers: real public samples end to end, and streaming vs pandas.

Part 1, when ``../shared/datasets`` (or ``--datasets``) exists: each sample is
imported, ingested and profiled, then a baseline LightGBM is trained on a time
split of the impression events (raw columns; not ``adopt train``, which does
not exist yet). Prints rows, seconds per stage and the test AUC.

Part 2: a synthetic Taobao set in the publisher's layout (``--rows`` raw_sample
rows) is converted by a pandas baseline (read everything, map, write) and by
``import_dataset`` (streaming DuckDB) side by side in this process; prints the
median times, their ratio, and the peak memory of each in a fresh process.

Run: ``.venv/bin/python bench/import_bench.py [--rows 1000000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from adopt.importers import import_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
SAMPLES = (
    ("taobao", "taobao_adclick_fuxictr_tiny", ""),
    ("mind", "mind_small_subset", ""),
    ("criteo", "criteo_avazu_deepctr", "criteo_sample.txt"),
    ("avazu", "criteo_avazu_deepctr", "avazu_sample.txt"),
)
# Event columns that are ids, labels or money rather than features.
_NOT_FEATURES = {"ts", "user_id", "ad_id", "event", "cost", "revenue", "impression_id"}


# ---------------------------------------------------------------- part 1: real samples


def baseline_auc(warehouse: Path) -> tuple[float | None, int, int]:
    """Baseline LightGBM on raw columns of the impression events, on a 70/30 time split.

    Returns the test AUC (None when the test part has one class) and the
    train / test sizes. A stand-in until the project's training stage lands.
    """
    import lightgbm as lgb

    con = duckdb.connect(str(warehouse), read_only=True)
    ev_cols = [r[0] for r in con.sql("describe events").fetchall()]
    user_cols = [r[0] for r in con.sql("describe users").fetchall()]
    ad_cols = {r[0] for r in con.sql("describe ads").fetchall()}
    features = [f"e.{c}" for c in ev_cols if c not in _NOT_FEATURES]
    features += [f'u."{c}" as "u_{c}"' for c in user_cols if c not in ("user_id", "signup_ts")]
    features += [f"a.{c} as ad_{c}" for c in ("category", "brand", "price") if c in ad_cols]
    df = con.sql(
        f"""with clicks as (select distinct impression_id from events where event = 'click')
        select {", ".join(features)}, (c.impression_id is not null)::int as label
        from events e join users u using (user_id) join ads a using (ad_id)
        left join clicks c using (impression_id)
        where e.event = 'impression' order by e.ts, e.impression_id"""
    ).df()
    con.close()
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].astype("category")
    cut = int(len(df) * 0.7)
    train, test = df.iloc[:cut], df.iloc[cut:]
    if train.label.nunique() < 2 or test.label.nunique() < 2:
        return None, len(train), len(test)
    model = lgb.LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=5,
        n_jobs=1, verbose=-1,
    )  # fmt: skip
    x = [c for c in df.columns if c != "label"]
    model.fit(train[x], train.label)
    return _auc(test.label.to_numpy(), model.predict_proba(test[x])[:, 1]), len(train), len(test)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def run_samples(datasets: Path, work: Path) -> None:
    import lightgbm  # noqa: F401  (imported here so its import time is not counted as training)

    from adopt.ingest import ingest
    from adopt.profiles import build_profiles

    print(f"== real samples under {datasets}")
    print("AUC: baseline LightGBM on raw columns, not adopt train (70/30 time split)")
    head = f"{'sample':<34}{'users':>8}{'ads':>7}{'events':>9}"
    print(head + f"{'import s':>10}{'ingest s':>10}{'profile s':>10}{'train s':>9}  AUC (test n)")
    for fmt, folder, file in SAMPLES:
        src = datasets / folder / file if file else datasets / folder
        if not src.exists():
            print(f"{folder + '/' + file:<34}  not present, skipped")
            continue
        out, ws = work / f"{fmt}_data", work / f"{fmt}_ws"
        t0 = time.perf_counter()
        summary = import_dataset(fmt, src, out)
        t1 = time.perf_counter()
        ingest(out, ws)
        t2 = time.perf_counter()
        build_profiles(ws)
        t3 = time.perf_counter()
        auc, _, n_test = baseline_auc(ws / "warehouse.duckdb")
        t4 = time.perf_counter()
        r = summary.rows
        auc_text = f"{auc:.3f} ({n_test})" if auc is not None else f"n/a, one class ({n_test})"
        print(
            f"{fmt + ': ' + src.name:<34}{r['users']:>8,}{r['ads']:>7,}{r['events']:>9,}"
            f"{t1 - t0:>10.2f}{t2 - t1:>10.2f}{t3 - t2:>10.2f}{t4 - t3:>9.2f}  {auc_text}"
        )
        for n, reason in summary.dropped:
            print(f"{'':<34}dropped {n:,} {reason}")
    print(
        "not run: taobao_alimama_dmr_paddlerec (PaddleRec's preprocessed DMR layout: no times "
        "or ids per impression; not a publisher layout)"
    )


# ---------------------------------------------------------------- part 2: streaming vs pandas


def write_taobao(src: Path, rows: int, seed: int = 0) -> None:
    """A synthetic Taobao set in the publisher's layout: `rows` raw_sample and behaviour rows."""
    rng = np.random.default_rng(seed)
    src.mkdir(parents=True, exist_ok=True)
    n_users, n_ads = max(rows // 20, 1), max(rows // 30, 1)
    clk = (rng.random(rows) < 0.05).astype(int)
    pd.DataFrame(
        {
            "user": rng.integers(1, n_users + 1, rows),
            "time_stamp": 1494000000 + rng.integers(0, 8 * 86400, rows),
            "adgroup_id": rng.integers(1, n_ads + 1, rows),
            "pid": np.where(rng.random(rows) < 0.5, "430548_1007", "430539_1007"),
            "nonclk": 1 - clk,
            "clk": clk,
        }
    ).to_csv(src / "raw_sample.csv", index=False)
    ads = np.arange(1, n_ads + 1)
    pd.DataFrame(
        {
            "adgroup_id": ads,
            "cate_id": rng.integers(1, 6000, n_ads),
            "campaign_id": ads // 3 + 1,
            "customer": ads // 10 + 1,
            "brand": rng.integers(1, 400000, n_ads),
            "price": rng.gamma(2.0, 100.0, n_ads).round(1),
        }
    ).to_csv(src / "ad_feature.csv", index=False)
    pd.DataFrame(
        {
            "user": rng.integers(1, n_users + 1, rows),
            "time_stamp": 1493000000 + rng.integers(0, 22 * 86400, rows),
            "btag": rng.choice(["pv", "pv", "pv", "cart", "fav", "buy"], rows),
            "cate": rng.integers(1, 6000, rows),
            "brand": rng.integers(1, 400000, rows),
        }
    ).to_csv(src / "behavior_log.csv", index=False)


def pandas_baseline(src: Path, out: Path) -> None:
    """Convert raw_sample + ad_feature the obvious way: all in memory with pandas."""
    out.mkdir(parents=True, exist_ok=True)
    raw = pd.read_csv(src / "raw_sample.csv", dtype=str)
    ads = pd.read_csv(src / "ad_feature.csv", dtype=str)
    raw = raw[raw.adgroup_id.isin(ads.adgroup_id)]
    imp = pd.DataFrame(
        {
            "ts": pd.to_datetime(raw.time_stamp.astype("int64"), unit="s"),
            "user_id": raw.user,
            "ad_id": raw.adgroup_id,
            "placement_id": raw.pid,
            "event": "impression",
            "cost": 0.002,
            "impression_id": raw.index.astype(str),
        }
    )
    clicks = imp[raw.clk == "1"].assign(event="click")
    pd.concat([imp, clicks]).to_parquet(out / "events.parquet")
    pd.DataFrame({"user_id": raw.user.unique()}).to_parquet(out / "users.parquet")
    price = ads.price.astype(float)
    ads.assign(
        title="Taobao ad: category " + ads.cate_id + ", brand " + ads.brand,
        price=price,
    ).rename(columns={"adgroup_id": "ad_id", "cate_id": "category"}).to_parquet(out / "ads.parquet")
    pd.DataFrame({"placement_id": raw.pid.unique(), "cpm": 2.0}).to_parquet(
        out / "placements.parquet"
    )
    log = pd.read_csv(src / "behavior_log.csv", dtype=str)
    log = log[log.user.isin(raw.user)]
    actions = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}
    pd.DataFrame(
        {
            "ts": pd.to_datetime(log.time_stamp.astype("int64"), unit="s"),
            "user_id": log.user,
            "action": log.btag.map(actions),
            "category": log.cate,
            "brand": log.brand,
        }
    ).to_parquet(out / "behaviors.parquet")


def imports_only(src: Path, out: Path) -> None:
    """Nothing: the peak memory of a process that has only imported the libraries."""


def adopt_import(src: Path, out: Path) -> None:
    import_dataset("taobao", src, out)


def _peak_rss_child(func: Callable[[Path, Path], None], src: Path, out: Path, q) -> None:
    func(src, out)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next(line for line in status if line.startswith("VmHWM:"))
    q.put(int(hwm.split()[1]) / 1024)


def peak_rss_mb(func: Callable[[Path, Path], None], src: Path, out: Path) -> float:
    """Peak resident memory (MiB) of `func(src, out)` run alone in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_rss_child, args=(func, src, out, q))
    p.start()
    value = q.get()
    p.join()
    return value


def run_synthetic(work: Path, rows: int, repeats: int) -> None:
    src = work / "synthetic_taobao"
    write_taobao(src, rows)
    size = sum(p.stat().st_size for p in src.iterdir()) / 2**20
    print(
        f"\n== synthetic Taobao set: {rows:,} raw_sample + {rows:,} behavior_log rows "
        f"({size:.0f} MiB CSV), {repeats} repeats"
    )
    times: dict[str, list[float]] = {"pandas (in memory)": [], "adopt import (streaming)": []}
    funcs = dict(zip(times, (pandas_baseline, adopt_import), strict=True))
    for _ in range(repeats):
        for name, func in funcs.items():
            out = work / "synthetic_out"
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            func(src, out)
            times[name].append(time.perf_counter() - t)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, func in funcs.items():
        rss = peak_rss_mb(func, src, work / "rss_out")
        shutil.rmtree(work / "rss_out", ignore_errors=True)
        print(f"  {name:<26} median {medians[name]:7.2f} s   peak RSS {rss:8.0f} MiB")
    base, ours = medians.values()
    print(f"  ratio pandas / adopt: {base / ours:.2f}x time")
    floor = peak_rss_mb(imports_only, src, work / "rss_out")
    print(f"  (a process that only imports the libraries peaks at {floor:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=HERE.parent.parent / "shared" / "datasets")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic raw_sample rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-synthetic", action="store_true", help="only the real samples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import_bench_") as tmp:
        work = Path(tmp)
        if args.datasets.exists():
            run_samples(args.datasets, work)
        else:
            print(f"no samples at {args.datasets}: part 1 skipped")
        if not args.no_synthetic:
            run_synthetic(work, args.rows, args.repeats)


if __name__ == "__main__":
    main()
