"""Benchmark of the embeddings stage on the demo world's texts.

Two comparisons, each run side by side in this one process, in turn, so that
load from other processes hits all alike (medians; the load average is printed
beside the figures):

1. Encoder throughput: adopt's `Encoder.encode` against sentence-transformers'
   `SentenceTransformer.encode` on the same bundled all-MiniLM-L6-v2, the same
   texts (every ad creative and user interest text of the demo world, with
   their natural duplication, or a random sample of them) and the same batch
   size (32, both defaults). adopt at its default precision (bf16 products on
   a CPU with AVX512_BF16/AMX, else fp32) and at ``precision="fp32"``; per-text
   cosine to sentence-transformers' fp32 vectors, min and mean. Target: >= 1.5x.
   ``--int8`` adds adopt's encoder with dynamic int8 Linear layers (speed and
   cosine to sentence-transformers; not offered, see docs/embeddings.md).
2. Pipeline: `embed_workspace` first run (Ray actors, model load, embedding;
   Ray itself started before) against the bare encoder on the same unique
   texts, and against a rerun over unchanged data (cache). Target: >= 50x.

Run: ``.venv/bin/python bench/embeddings_bench.py [--users 6000] [--repeats 3]
[--sample 1000] [--pipeline-repeats 1] [--int8]``. The demo world comes from
`adopt.synth`, ingest and profiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import duckdb  # noqa: E402
import numpy as np  # noqa: E402


def build_workspace(root: Path, users: int, ads: int, seed: int) -> Path:
    """The demo world in a workspace, through the ingest and profiles stages."""
    from adopt.ingest import ingest
    from adopt.profiles import build_profiles
    from adopt.synth import generate_world

    world, ws = root / "world", root / "ws"
    generate_world(world, users=users, ads=ads, seed=seed, show_progress=False)
    ingest(world, ws)
    build_profiles(ws)
    return ws


def read_texts(ws: Path) -> list[str]:
    """The texts the pipeline embeds (non-empty, whitespace-normalised), duplicates kept."""
    from adopt.embeddings.store import stage_texts

    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        stage_texts(con)
        return [row[0] for row in con.execute("select text from _embed_texts").fetchall()]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each function, all run in turn `repeats` times."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
            for name, ts in times.items()}


def cosines(a: np.ndarray, b: np.ndarray) -> str:
    cos = (a * b).sum(axis=1)
    return f"min {cos.min():.6f}, mean {cos.mean():.6f}"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def clear_cache(ws: Path) -> None:
    """Forget every vector, so the next `embed_workspace` is a first run again."""
    from adopt.embeddings.store import ensure_tables

    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        ensure_tables(con)
        con.execute("delete from embeddings")
        con.execute("delete from embedding_cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--ads", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=0,
                        help="encoder comparison on this many texts drawn at random (duplicates "
                        "kept as they come); 0 for all. On a loaded machine a run of all 6,000 "
                        "texts takes minutes")
    parser.add_argument("--pipeline-repeats", type=int, default=0,
                        help="first runs of the pipeline (each after the bare encoder on the same "
                        "texts); 0 for --repeats")
    parser.add_argument("--int8", action="store_true",
                        help="also time adopt's encoder with torch dynamic int8 Linear layers")
    args = parser.parse_args()

    import ray
    import torch
    from sentence_transformers import SentenceTransformer

    from adopt.embeddings import Encoder, default_model_path, embed_workspace

    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, "
          f"cores: {os.cpu_count()}; {load()}")
    with tempfile.TemporaryDirectory(prefix="adopt_embed_bench_") as tmp:
        ws = build_workspace(Path(tmp), args.users, args.ads, args.seed)
        texts = read_texts(ws)
        lengths = [len(t.split()) for t in texts]
        print(f"{len(texts)} texts, {len(set(texts))} unique, "
              f"median {statistics.median(lengths):.0f} words, max {max(lengths)}")
        sample = texts
        if args.sample and args.sample < len(texts):
            rng = np.random.default_rng(args.seed)
            sample = [texts[i] for i in rng.choice(len(texts), args.sample, replace=False)]
            print(f"encoder comparison on {len(sample)} of them ({len(set(sample))} unique)")

        ours = Encoder(device="cpu")
        exact = Encoder(device="cpu", precision="fp32")
        amp = ours.autocast_dtype()
        default = f"adopt, {str(amp).removeprefix('torch.') if amp else 'fp32'} (default)"
        theirs = SentenceTransformer(str(default_model_path()), device="cpu")
        reference = theirs.encode(sample, normalize_embeddings=True, show_progress_bar=False)
        print(f"cosine to sentence-transformers per text, {default}: "
              f"{cosines(ours.encode(sample, show_progress_bar=False), reference)}")
        print(f"cosine to sentence-transformers per text, adopt, fp32: "
              f"{cosines(exact.encode(sample, show_progress_bar=False), reference)}")
        # Each at its defaults (batch 32 both; adopt: parallel single-threaded streams).
        fns = {
            "sentence-transformers": lambda: theirs.encode(
                sample, normalize_embeddings=True, show_progress_bar=False),
            default: lambda: ours.encode(sample, show_progress_bar=False),
            "adopt, fp32": lambda: exact.encode(sample, show_progress_bar=False),
        }
        if args.int8:
            int8 = Encoder(device="cpu", precision="fp32")
            int8.model = torch.ao.quantization.quantize_dynamic(
                int8.model, {torch.nn.Linear}, dtype=torch.qint8)
            print(f"cosine to sentence-transformers per text, adopt, int8: "
                  f"{cosines(int8.encode(sample, show_progress_bar=False), reference)}")
            fns["adopt, int8"] = lambda: int8.encode(sample, show_progress_bar=False)
        medians = paired_medians(fns, args.repeats)
        for name, (wall, cpu) in medians.items():
            print(f"encode  {name:<26} {wall:7.2f}s  {len(sample) / wall:7.0f} texts/s  "
                  f"CPU {cpu:6.1f}s  (median of {args.repeats})")
        base_wall, base_cpu = medians["sentence-transformers"]
        for name, (wall, cpu) in list(medians.items())[1:]:
            print(f"encode  speed-up of {name}: {base_wall / wall:.2f}x wall, "
                  f"{base_cpu / cpu:.2f}x CPU time (target >= 1.5x wall)")
        print(f"encode  {load()}")

        # The pipeline against the bare encoder on the same unique texts, in turn.
        unique = list(dict.fromkeys(texts))
        bare, runs = [], []
        pipeline_repeats = args.pipeline_repeats or args.repeats
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _node_ip_address="127.0.0.1")
        try:
            for _ in range(pipeline_repeats):
                start = time.perf_counter()
                ours.encode(unique, show_progress_bar=False)
                bare.append(time.perf_counter() - start)
                clear_cache(ws)
                runs.append(embed_workspace(ws, show_progress_bar=False))
            t_rerun = median_time(
                lambda: embed_workspace(ws, show_progress_bar=False), args.repeats
            )
        finally:
            ray.shutdown()
        t_bare = statistics.median(bare)
        t_first = statistics.median(run.seconds for run in runs)
        startup = statistics.median(run.startup_seconds for run in runs)
        embedded = runs[0].embedded
        print(f"bare encoder, {len(unique)} unique texts: {t_bare:7.2f}s  "
              f"{len(unique) / t_bare:7.0f} texts/s  (median of {pipeline_repeats})")
        print(f"pipeline first run:  {t_first:7.2f}s  {embedded / t_first:7.0f} texts/s "
              f"embedded  (median of {pipeline_repeats}: "
              f"{', '.join(f'{run.seconds:.1f}s' for run in runs)}), "
              f"{t_bare / t_first:.2f}x the bare encoder's rate, actor start and model "
              f"load included; first vectors after {startup:.1f}s")
        print(f"pipeline first run: {runs[-1]}")
        print(f"pipeline cached rerun: {t_rerun:7.3f}s (median of {args.repeats})")
        print(f"pipeline rerun speed-up: {t_first / t_rerun:.0f}x (target >= 50x)")
        print(f"pipeline {load()}")


if __name__ == "__main__":
    main()
