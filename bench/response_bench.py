"""Bench: response models on the demo world, overall and on cold-start ads.

Side by side on one time split of the demo workspace (train on the early days,
valid = the next 3 days, test = the last 7, which hold the ads launched late:
the cold-start ads): the base-rate predictor, LightGBM without embeddings
(the baseline: it reads none of the text columns, not even the cosine), LightGBM
with the text features (the behaviour-text match ``text_match_user_ad`` and the
cosine; and those + 8 PCA components per side), and the BERT cross-encoder (bundled MiniLM, lower
layers frozen, fine-tuned on a subsample sized to a CPU). Every model is
scored on the same test rows: every cold-start row plus a seeded sample of the
others. Prints AUC, NE, calibration ratio and ECE overall and on cold-start
ads, a paired bootstrap interval of each model's cold-start AUC gain over the
baseline, training time and peak memory.

Each model runs in its own spawned process: peak memory is that process's
``ru_maxrss`` plus, sampled from /proc, the peak total RSS of its process tree
(for BERT this includes the local Ray: GCS, raylet, the Train worker).

    .venv/bin/python bench/response_bench.py [--source /tmp/demo_ws] [--workspace /tmp/rb_ws]
        [--bert-train 12000] [--bert-epochs 2] [--freeze 4] [--test-rows 10000]
        [--models lgbm_noemb,lgbm_cos,lgbm_pca8,bert] [--holdout-ads 0.25] [--seeds 0,1,2]

With ``--seeds`` the holdout is repeated per seed (a table each), then each model's
AUC gain over ``lgbm_noemb``, overall and on cold-start ads, is pooled: the mean
over seeds with a paired bootstrap interval.

``lgbm_nomatch`` (not run by default) is ``lgbm_cos`` without ``text_match_user_ad``
and ``topic_share_user_ad``: the embedding cosine alone, to see what each text feature
adds.

With ``--holdout-ads F`` a seeded share F of the ads is left out of train and
valid, and their test rows get the history features of a new ad: the demo
world launches only ~9 ads late (a few dozen cold-start clicks in the test
week), too few to tell models apart on cold start.

The source workspace is copied, never written.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adopt.response.text_features import TEXT_MATCH, TOPIC_SHARE

MODELS = ("lgbm_noemb", "lgbm_cos", "lgbm_pca8", "bert")  # the default run
ABLATIONS = ("lgbm_nomatch",)


def _tree_rss_kib(root: int) -> int:
    """Total VmRSS (KiB) of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


class PeakSampler:
    """Samples the process tree's total RSS twice a second; ``peak_mib`` is the maximum."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _tree_rss_kib(os.getpid()))
            self._stop.wait(0.5)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


# What a test row of a held-out ad looks like when the ad is new: no history.
NEW_AD = {"ad_prior_impressions": 0, "ad_prior_clicks": 0, "ad_placement_prior_impressions": 0,
          "ad_placement_prior_clicks": 0}


def hold_out_ads(split, fraction: float, seed: int):
    """Leave a seeded share of the ads out of train and valid, and make their test rows look
    new (no ad history; smoothed CTRs at the value genuinely new ads get), so the test has
    many cold-start ads rather than the few the demo world launches late."""
    from adopt.response.split import TimeSplit

    rng = np.random.default_rng(seed)
    ads = np.sort(split.train["ad_id"].unique())
    held = set(rng.choice(ads, int(round(fraction * len(ads))), replace=False))
    test = split.test.copy()
    rows = test["ad_id"].isin(held).to_numpy()
    new = pd.concat([split.train, split.valid])
    new = new[new["ad_prior_impressions"] == 0]
    for col, value in NEW_AD.items():
        test.loc[rows, col] = value
    for col in ("ad_ctr_smoothed", "ad_placement_ctr_smoothed"):
        test.loc[rows, col] = float(new[col].mean())
    keep = {name: part[~part["ad_id"].isin(held)] for name, part in
            (("train", split.train), ("valid", split.valid))}
    return TimeSplit(train=keep["train"], valid=keep["valid"], test=test), len(held)


def _data(args: argparse.Namespace):
    from adopt.response.run import load_examples
    from adopt.response.split import cold_start_flag, time_split

    test_rows, seed = args.test_rows, args.seed
    df = load_examples(args.workspace, text_features=True, texts=True)
    split = time_split(df, valid_days=args.valid_days, test_days=args.test_days)
    if args.holdout_ads:
        split, _ = hold_out_ads(split, args.holdout_ads, seed)
    test = split.test
    cold = cold_start_flag(pd.concat([split.train, split.valid]), test)
    rng = np.random.default_rng(seed)
    warm = np.flatnonzero(~cold)
    cold_rows = np.flatnonzero(cold)
    if args.cold_rows is not None and args.cold_rows < len(cold_rows):
        cold_rows = rng.choice(cold_rows, args.cold_rows, replace=False)
    n_warm = min(len(warm), max(0, test_rows - len(cold_rows)))
    keep = np.sort(np.concatenate([cold_rows, rng.choice(warm, n_warm, replace=False)]))
    return df.attrs["embedding_model_id"], split, test.iloc[keep], cold[keep]


def _fit_lgbm(name: str, split, mid: str) -> Any:
    from adopt.response.features import Features
    from adopt.response.lgbm import LightGBMResponse

    feats = {"lgbm_noemb": Features(vectors=()),
             "lgbm_cos": Features(vector_components=0, embedding_model_id=mid),
             "lgbm_nomatch": Features(vector_components=0, embedding_model_id=mid),
             "lgbm_pca8": Features(vector_components=8, embedding_model_id=mid)}[name]
    train, valid = split.train, split.valid
    if name == "lgbm_nomatch":
        train, valid = (part.drop(columns=[TEXT_MATCH, TOPIC_SHARE]) for part in (train, valid))
    return LightGBMResponse(features=feats, params={"num_threads": 2, "learning_rate": 0.1},
                            conversion=False).fit(train, valid)


def _start_ray(tries: int = 3) -> None:
    """A local 2-CPU Ray; retried, since on a loaded machine the raylet may miss Ray's 30 s."""
    import ray

    for attempt in range(tries):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, _node_ip_address="127.0.0.1")
            return
        except Exception:
            ray.shutdown()
            if attempt == tries - 1:
                raise


def _fit_bert(split, args: argparse.Namespace, mid: str) -> tuple[Any, dict[str, Any]]:
    import ray

    from adopt.response.features import Features
    from adopt.response.run import default_bert_dir
    from adopt.response.train_bert import BertTrainConfig, train_bert

    rng = np.random.default_rng(args.seed)
    train = split.train
    pos = np.flatnonzero(train["clicked"].to_numpy() == 1)
    neg = np.flatnonzero(train["clicked"].to_numpy() == 0)
    if len(pos) > args.bert_train // 2:  # at most half clicks: both classes well represented
        pos = np.sort(rng.choice(pos, args.bert_train // 2, replace=False))
    n_neg = min(len(neg), max(0, args.bert_train - len(pos)))
    rows = np.sort(np.concatenate([pos, rng.choice(neg, n_neg, replace=False)]))
    # negatives are downsampled for training; the calibrators fitted on the natural
    # valid sample put the probabilities back on the true scale
    sub = train.iloc[rows]
    valid = split.valid.iloc[np.sort(rng.choice(len(split.valid),
                                                min(args.bert_valid, len(split.valid)),
                                                replace=False))]
    config = BertTrainConfig(model_dir=default_bert_dir(), epochs=args.bert_epochs,
                             batch_size=32, lr=5e-5, head_lr=1e-3, pooling="mean",
                             max_length=64, freeze_layers=args.freeze, calibration="platt",
                             seed=args.seed)
    features = Features(vector_components=8, embedding_model_id=mid)
    info = {"train_pairs": len(sub), "train_clicks": len(pos), "valid_pairs": len(valid),
            "runner": args.bert_runner}
    if args.bert_runner == "local":
        model, history = _fit_bert_local(sub, valid, config, features)
        return model, info | {"history": history}
    _start_ray()
    storage = Path(args.workspace) / "models" / "ray_results"
    shutil.rmtree(storage / "bench_bert", ignore_errors=True)
    result = train_bert(sub, valid, config, storage_path=storage, run_name="bench_bert",
                        features=features)
    ray.shutdown()
    return result.model, info | {"best_epoch": result.best_epoch,
                                 "history": result.history.to_dict(orient="records")}


def _fit_bert_local(train, valid, config, features) -> tuple[Any, list[dict[str, Any]]]:
    """The same cross-encoder, loss, optimiser, checkpoint choice (best valid AUC) and
    calibration as `train_bert`, in this process without Ray: for machines too loaded for
    Ray's start-up timeout. Measures the model, not Ray Train."""
    import torch
    from transformers import AutoTokenizer

    from adopt.response.bert import (
        BertResponse,
        CrossEncoder,
        encode_examples,
        predict_logits,
        response_loss,
    )
    from adopt.response.metrics import roc_auc
    from adopt.response.train_bert import _calibrate, _loader

    torch.manual_seed(config.seed)
    feats = features.clone().fit(train)
    tok = AutoTokenizer.from_pretrained(config.model_dir)
    data = encode_examples(train, tok, feats, config.max_length)
    vdata = encode_examples(valid, tok, feats, config.max_length)
    model = CrossEncoder(config.model_dir, data["tabular"].shape[1], config.pooling,
                         config.dropout)
    clicked = data["clicked"] == 1
    model.init_prior(float(data["clicked"].mean()), float(data["converted"][clicked].mean()))
    model.freeze(config.freeze_layers)
    opt = torch.optim.AdamW(
        [{"params": [p for p in model.encoder.parameters() if p.requires_grad],
          "lr": config.lr}, {"params": model.head_parameters(), "lr": config.head_lr}],
        weight_decay=config.weight_decay)
    best, best_auc, history = None, -1.0, []
    for epoch in range(config.epochs):
        start = time.perf_counter()
        model.train()
        for ids, mask, types, tab, y, conv in _loader(data, config.batch_size, True,
                                                       config.seed + epoch):
            loss = response_loss(model(ids, mask, types, tab), y, conv)
            opt.zero_grad()
            loss.backward()
            opt.step()
        auc = roc_auc(vdata["clicked"], 1 / (1 + np.exp(-predict_logits(model, vdata)[:, 0])))
        history.append({"epoch": epoch + 1, "valid_auc": auc,
                        "seconds": time.perf_counter() - start})
        print(f"bert epoch {epoch + 1}: valid AUC {auc:.4f}", flush=True)
        if auc > best_auc:
            best_auc, best = auc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best)
    settings = {"n_tabular": int(data["tabular"].shape[1]), "pooling": config.pooling,
                "dropout": config.dropout, "max_length": config.max_length}
    response = BertResponse(model, tok, feats, settings)
    response.calibrators = _calibrate(response, valid, vdata, config.calibration)
    return response, history


def _child(name: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    try:
        with PeakSampler() as sampler:
            mid, split, test, cold = _data(args)
            start = time.perf_counter()
            extra: dict[str, Any] = {}
            if name == "bert":
                model, extra = _fit_bert(split, args, mid)
            else:
                model = _fit_lgbm(name, split, mid)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            p = model.predict(test)["p_click"].to_numpy()
            predict_s = time.perf_counter() - start
        queue.put({"model": name, "p": p.tolist(), "y": test["clicked"].astype(int).tolist(),
                   "cold": cold.tolist(), "base_rate": float(split.train["clicked"].mean()),
                   "fit_s": fit_s, "predict_s": predict_s, "predict_rows": len(test),
                   "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "tree_peak_mib": sampler.peak_mib, **extra})
    except BaseException as exc:  # the parent prints it beside the other models
        queue.put({"model": name, "error": repr(exc)})
        raise


def run_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fit and score one model in a fresh spawned process; its result dict."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _bootstrap_gain(y, cold, p, p_base, reps: int = 500, seed: int = 0) -> tuple[float, float]:
    """95% paired bootstrap interval of AUC(p) - AUC(p_base) on the rows where ``cold``."""
    lo, hi, _ = pooled_gain([(y, cold, p, p_base)], reps=reps, seed=seed)
    return lo, hi


def _weighted_auc(y: np.ndarray, p: np.ndarray):
    """A function of row weights ``w`` giving the AUC of ``p`` (ties count one half): a
    bootstrap resample as multinomial counts, in O(n) since the rows are sorted once."""
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    group = np.concatenate([[0], np.cumsum(np.diff(ps) != 0)])

    def auc(w: np.ndarray) -> float:
        ws = w[order]
        pos = np.bincount(group, ws * ys)
        neg = np.bincount(group, ws * (1 - ys))
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))

    return auc


def pooled_gain(runs, reps: int = 500, seed: int = 0) -> tuple[float, float, float]:
    """Mean over runs of AUC(p) - AUC(p_base) on each run's masked rows, with a 95% paired
    bootstrap interval (rows resampled within each run): ``(lo, hi, mean)``.

    ``runs``: ``(y, mask, p, p_base)`` per run (one per holdout seed).
    """
    rng = np.random.default_rng(seed)
    runs = [(np.asarray(y, float)[m], _weighted_auc(np.asarray(y, float)[m], np.asarray(p)[m]),
             _weighted_auc(np.asarray(y, float)[m], np.asarray(q)[m])) for y, m, p, q in runs]
    mean = float(np.mean([p(np.ones(len(y))) - q(np.ones(len(y))) for y, p, q in runs]))
    draws = []
    for _ in range(reps):
        gains = []
        for y, p, q in runs:
            w = np.bincount(rng.integers(len(y), size=len(y)), minlength=len(y)).astype(float)
            if (w * y).sum() == 0 or (w * (1 - y)).sum() == 0:
                break
            gains.append(p(w) - q(w))
        else:
            draws.append(np.mean(gains))
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)), mean


def pooled_report(per_seed: list[list[dict[str, Any]]], seeds: list[int]) -> str:
    """Each model's AUC gain over lgbm_noemb, overall and on cold-start ads, averaged over
    the holdout seeds, with paired bootstrap intervals and the per-seed gains."""
    from adopt.response.metrics import roc_auc

    lines = [f"pooled over holdout seeds {seeds}: AUC gain vs lgbm_noemb, mean [95% CI] "
             "(per-seed gains)", "",
             "| model | overall gain | cold gain | cold gains per seed |", "|---|---|---|---|"]
    names = [r["model"] for r in per_seed[0] if "error" not in r and r["model"] != "lgbm_noemb"]
    for name in names:
        cells = []
        for slice_ in ("overall", "cold"):
            runs = []
            for results in per_seed:
                by = {r["model"]: r for r in results if "error" not in r}
                if name not in by or "lgbm_noemb" not in by:
                    continue
                y = np.array(by[name]["y"])
                mask = (np.array(by[name]["cold"], dtype=bool) if slice_ == "cold"
                        else np.ones(len(y), dtype=bool))
                runs.append((y, mask, np.array(by[name]["p"]), np.array(by["lgbm_noemb"]["p"])))
            lo, hi, mean = pooled_gain(runs)
            cells.append(f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        each = [roc_auc(y[m], p[m]) - roc_auc(y[m], q[m]) for y, m, p, q in runs]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | "
                     + " ".join(f"{g:+.3f}" for g in each) + " |")
    return "\n".join(lines)


def report(results: list[dict[str, Any]]) -> str:
    """The side-by-side table (markdown) of every model and the base rate."""
    from adopt.response.metrics import evaluate, roc_auc

    ok = [r for r in results if "error" not in r]
    first = ok[0]
    y, cold = np.array(first["y"]), np.array(first["cold"], dtype=bool)
    base_p = {r["model"]: np.array(r["p"]) for r in ok}
    rows = []
    for r in ok:
        table = evaluate(y, np.array(r["p"]), {"cold_start": cold}, base_rate=r["base_rate"])
        if r is first:
            base = table[table["predictor"] == "base_rate"]
            rows += _rows("base_rate", base, {})
        gain = ""
        if r["model"] != "lgbm_noemb" and "lgbm_noemb" in base_p:
            d = roc_auc(y[cold], base_p[r["model"]][cold]) - roc_auc(y[cold],
                                                                     base_p["lgbm_noemb"][cold])
            lo, hi = _bootstrap_gain(y, cold, base_p[r["model"]], base_p["lgbm_noemb"])
            gain = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        rows += _rows(r["model"], table[table["predictor"] == "model"], {
            "cold AUC gain vs lgbm_noemb [95% CI]": gain, "fit s": round(r["fit_s"], 1),
            "predict s": round(r["predict_s"], 1), "maxrss MiB": round(r["maxrss_mib"]),
            "tree peak MiB": round(r["tree_peak_mib"])})
    frame = pd.DataFrame(rows)
    lines = [f"test rows scored: {len(y)} ({int(cold.sum())} cold-start, "
             f"{int(y[cold].sum())} cold-start clicks, {int(y.sum())} clicks)", ""]
    lines += _markdown(frame)
    for r in results:
        if "error" in r:
            lines.append(f"\n{r['model']} failed: {r['error']}")
    return "\n".join(lines)


def _markdown(frame: pd.DataFrame) -> list[str]:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))

    out = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return out + ["| " + " | ".join(fmt(v) for v in row) + " |"
                  for row in frame.itertuples(index=False)]


def _rows(name: str, table, extra: dict[str, Any]) -> list[dict[str, Any]]:
    overall = table[table["slice"] == "overall"].iloc[0]
    cold = table[(table["slice"] == "cold_start") & (table["group"].astype(str) == "True")]
    row = {"model": name, "AUC": overall["auc"], "NE": overall["ne"],
           "cal. ratio": overall["calibration_ratio"], "ECE": overall["ece"]}
    if len(cold):
        c = cold.iloc[0]
        row |= {"cold AUC": c["auc"], "cold NE": c["ne"], "cold cal. ratio":
                c["calibration_ratio"], "cold ECE": c["ece"]}
    return [row | extra]


def parser() -> argparse.ArgumentParser:
    """The bench's options (shared with bench/mind_text_bench.py)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/tmp/demo_ws", help="demo workspace (read only)")
    parser.add_argument("--workspace", default="/tmp/response_bench_ws", help="working copy")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--test-rows", type=int, default=10_000,
                        help="test rows scored: the cold-start ones, then a sample of others")
    parser.add_argument("--cold-rows", type=int, default=None,
                        help="score at most this many (sampled) cold-start rows")
    parser.add_argument("--bert-train", type=int, default=12_000)
    parser.add_argument("--bert-valid", type=int, default=5_000)
    parser.add_argument("--bert-epochs", type=int, default=2)
    parser.add_argument("--freeze", type=int, default=4, help="frozen MiniLM layers (of 6)")
    parser.add_argument("--bert-runner", choices=("ray", "local"), default="ray",
                        help="ray: train_bert on Ray Train; local: the same model and loop "
                        "in-process (when Ray cannot start in time on a loaded machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None,
                        help="comma-separated holdout seeds: a table per seed, then the "
                        "gains over lgbm_noemb pooled across them")
    parser.add_argument("--holdout-ads", type=float, default=0.0,
                        help="share of ads left out of train/valid, made new in test")
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument("--combine", nargs="+", default=None,
                        help="only print one table from the --json files of earlier runs "
                        "(made with the same split options)")
    parser.add_argument("--valid-days", type=int, default=3)
    parser.add_argument("--test-days", type=int, default=7,
                        help="the last days; the demo world launches its late ads in them")
    return parser


def run_all(args: argparse.Namespace) -> list[list[dict[str, Any]]]:
    """Run every model of ``args.models`` one after another, for each holdout seed of
    ``args.seeds`` (default: ``args.seed``); print a table per seed, then the pooled gains."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    per_seed = []
    for seed in seeds:
        args.seed = seed
        results = []
        for name in args.models.split(","):
            start = time.perf_counter()
            results.append(run_model(name, args))
            print(f"seed {seed} {name}: done in {time.perf_counter() - start:.0f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
        print(f"\n## seed {seed}\n\n{report(results)}\n", flush=True)
        per_seed.append(results)
        if args.json:  # predictions included, so runs can be combined with --combine
            path = Path(args.json)
            if len(seeds) > 1:
                path = path.with_name(f"{path.stem}_seed{seed}{path.suffix}")
            path.write_text(json.dumps(results))
    if len(seeds) > 1:
        print(pooled_report(per_seed, seeds))
    return per_seed


def main() -> None:
    args = parser().parse_args()
    if args.combine:
        results = [r for path in args.combine for r in json.loads(Path(path).read_text())]
        print(report(sorted(results, key=lambda r: r["model"] != "lgbm_noemb")))
        return
    if not Path(args.workspace, "warehouse.duckdb").exists():
        shutil.copytree(args.source, args.workspace, dirs_exist_ok=True)
    run_all(args)


if __name__ == "__main__":
    main()
