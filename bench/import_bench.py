"""Benchmark of the importers: real public samples end to end, and streaming vs pandas.

Part 1, when ``../shared/datasets`` (or ``--datasets``) exists: each sample goes
the whole way to a plan and a report, the stages of its ``# end to end`` block in
docs/importers.md run in Python: import, ingest, profiles, [embed with
``--embed`` where it has text], ``train_response(ws, "lightgbm")``,
``segment_workspace(ws, k=4, min_size=20)``, ``build_curves(ws)``,
``make_plan(docs/examples/clicks_plan.toml, workspace=ws)`` and
``build_report``. Prints rows, seconds per stage, the test AUC from the model
card beside the base-rate predictor's, and the plan's spend, impressions and
forecast clicks. A stage that refuses the sample is printed with its error and
the next sample runs.

Part 2: a synthetic Taobao set in the publisher's layout (``--rows`` raw_sample
rows) is converted by a pandas baseline (read everything, map, write) and by
``import_dataset`` (streaming DuckDB) side by side in this process; prints the
median times, their ratio, and the peak memory of each in a fresh process.

Run: ``.venv/bin/python bench/import_bench.py [--rows 1000000] [--repeats 3] [--embed]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.importers import import_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
PLAN = HERE.parent / "docs" / "examples" / "clicks_plan.toml"
SAMPLES = (
    ("taobao", "taobao_adclick_fuxictr_tiny", ""),
    ("mind", "mind_small_subset", ""),
    ("criteo", "criteo_avazu_deepctr", "criteo_sample.txt"),
    ("avazu", "criteo_avazu_deepctr", "avazu_sample.txt"),
)


# ---------------------------------------------------------------- part 1: real samples

# Text and users per format: which stages have something to work on.
_HAS_TEXT = {"taobao": "built from category, brand, price band", "mind": "news title + abstract"}


def card_auc(card) -> tuple[float | None, float | None, int | None]:
    """Test AUC of the model and of the base-rate predictor, and the test size, from the card."""
    rows = [m for m in card.metrics
            if m.get("target") == "click" and m.get("slice") == "overall"]
    by = {m["predictor"]: m for m in rows}
    model, base = by.get("model", {}), by.get("base_rate", {})
    n = model.get("n")
    return model.get("auc"), base.get("auc"), int(n) if n is not None else None


def run_samples(datasets: Path, work: Path, embed: bool) -> None:
    import lightgbm  # noqa: F401  (imported here so its import time is not counted as training)

    from adopt.audiences import segment_workspace
    from adopt.curves import build_curves
    from adopt.exceptions import AdoptError
    from adopt.ingest import ingest
    from adopt.plan import make_plan
    from adopt.profiles import build_profiles
    from adopt.report import build_report
    from adopt.response.run import train_response

    print(f"== real samples under {datasets}")
    print("stages: import -> ingest -> profiles -> " + ("embed -> " if embed else "")
          + "train (adopt.response.run.train_response(ws, 'lightgbm'), time split: "
          "train / 1 valid day / 1 test day) -> segment (k=4, min_size=20) -> curves -> "
          f"plan ({PLAN.name}) -> report; AUC on the test day, base rate in brackets")
    head = f"{'sample':<30}{'users':>7}{'ads':>7}{'events':>9}{'import':>8}{'ingest':>8}"
    head += f"{'profile':>8}" + (f"{'embed':>8}" if embed else "") + f"{'train':>8}"
    head += f"{'segment':>8}{'curves':>8}{'plan':>8}{'report':>8}{'total':>8}"
    print(head + "  test AUC (base) [n]")
    for fmt, folder, file in SAMPLES:
        src = datasets / folder / file if file else datasets / folder
        name = f"{fmt}: {src.name}"
        if not src.exists():
            print(f"{name:<30}  not present, skipped")
            continue
        out, ws = work / f"{fmt}_data", work / f"{fmt}_ws"
        times: list[float] = []
        summary, card, failed, notes, plan = None, None, "", [], None
        stages = ["import", "ingest", "profiles", *(["embed"] if embed and fmt in _HAS_TEXT
                                                     else []), "train", "segment", "curves",
                  "plan", "report"]
        for stage in stages:
            t = time.perf_counter()
            try:
                if stage == "import":
                    summary = import_dataset(fmt, src, out)
                elif stage == "ingest":
                    ingest(out, ws)
                elif stage == "profiles":
                    build_profiles(ws)
                elif stage == "embed":
                    from adopt.embeddings import embed_workspace

                    embed_workspace(ws, show_progress_bar=False)
                elif stage == "train":
                    card = train_response(ws, "lightgbm", run_id="bench")
                    if not any(m.get("target") == "conversion" for m in card.metrics):
                        notes.append("no conversions: click model only")
                elif stage == "segment":
                    segment_workspace(ws, k=4, min_size=20)
                elif stage == "curves":
                    build_curves(ws)
                elif stage == "plan":
                    plan_dir = make_plan(PLAN, workspace=ws).folder
                    plan = json.loads((Path(plan_dir) / "plan.json").read_text())
                else:
                    build_report(Path(plan_dir), work / f"{fmt}_report.html", workspace=ws)
            except AdoptError as exc:
                failed = f"{stage} failed: {type(exc).__name__}: {exc}"
                break
            finally:
                times.append(time.perf_counter() - t)
        r = summary.rows if summary else {}
        cells = [f"{s:>8.2f}" for s in times] + ["       -"] * (len(stages) - len(times))
        if embed and "embed" not in stages:
            cells.insert(3, "     n/a")
        cells.append(f"{sum(times):>8.2f}")
        if card is not None:
            auc, base, n = card_auc(card)
            result = (f"{auc:.3f} ({base:.3f}) [{n}]" if auc is not None and auc == auc
                      else f"n/a: test day has one class [{n}]")
        else:
            result = failed
        print(f"{name:<30}{r.get('users', 0):>7,}{r.get('ads', 0):>7,}{r.get('events', 0):>9,}"
              + "".join(cells) + f"  {result}")
        for n_dropped, reason in summary.dropped if summary else ():
            print(f"{'':<30}dropped {n_dropped:,} {reason}")
        if notes:
            print(f"{'':<30}train: " + "; ".join(notes))
        if plan is not None:
            tot = plan["totals"]
            print(f"{'':<30}plan {plan['status']}: spend {tot['spend']:.2f}, "
                  f"{tot['impressions']:,.0f} impressions to {tot['reach']:,.0f} users, "
                  f"{tot['clicks']:,.1f} clicks forecast")
        text = _HAS_TEXT.get(fmt)
        print(f"{'':<30}text: {text}" if text else
              f"{'':<30}no text: embed has nothing to read; LightGBM and k-means read the "
              "user attributes")
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
    parser.add_argument("--embed", action="store_true",
                        help="also run the embeddings stage where the set has text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import_bench_") as tmp:
        work = Path(tmp)
        if args.datasets.exists():
            run_samples(args.datasets, work, args.embed)
        else:
            print(f"no samples at {args.datasets}: part 1 skipped")
        if not args.no_synthetic:
            run_synthetic(work, args.rows, args.repeats)


if __name__ == "__main__":
    main()
