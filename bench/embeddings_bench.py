"""Benchmark of the embeddings stage on the demo world's texts.

Two comparisons, each run side by side in this one process:

1. Encoder throughput: adopt's `Encoder.encode` against sentence-transformers'
   `SentenceTransformer.encode` on the same bundled all-MiniLM-L6-v2, the same
   texts (every ad creative and user interest text of the demo world, with
   their natural duplication) and the same batch size. Target: >= 1.5x.
2. Pipeline cache: `embed_workspace` first run (Ray actors, model load,
   embedding) against a rerun over unchanged data. Target: >= 50x.

Run: ``.venv/bin/python bench/embeddings_bench.py [--users 6000] [--repeats 3]``.
The demo world comes from `adopt.synth`, ingest and profiles; if those stages
fail, user interest texts are built from the world's behaviours directly.
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

_FALLBACK_SQL = """
create or replace table ads as select * from read_parquet($ads);
create or replace table user_profiles as
with recent as (
    select user_id, text,
        row_number() over (partition by user_id order by ts desc) as recency,
    from read_parquet($behaviors)
    where text is not null
),
final as (
    select u.user_id, coalesce(string_agg(r.text, ' ' order by r.recency), '') as interest_text,
    from read_parquet($users) as u
    left join recent as r on r.user_id = u.user_id and r.recency <= 10
    group by u.user_id
)
select * from final
"""


def build_workspace(root: Path, users: int, ads: int, seed: int) -> Path:
    """The demo world in a workspace: real stages if they run, else the fallback."""
    from adopt.synth import generate_world

    world, ws = root / "world", root / "ws"
    generate_world(world, users=users, ads=ads, seed=seed, show_progress=False)
    try:
        from adopt.ingest import ingest
        from adopt.profiles import build_profiles

        ingest(world, ws)
        build_profiles(ws)
        print("texts: demo world through ingest + profiles")
    except Exception as exc:  # the other stages may still be in progress
        print(f"texts: ingest/profiles failed ({type(exc).__name__}: {exc}); "
              "interest texts built from the 10 latest behaviours")
        ws.mkdir(parents=True, exist_ok=True)
        (ws / "warehouse.duckdb").unlink(missing_ok=True)
        with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
            con.execute(_FALLBACK_SQL, {
                "ads": str(world / "ads.parquet"), "users": str(world / "users.parquet"),
                "behaviors": str(world / "behaviors" / "*.parquet"),
            })
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


def paired_medians(baseline, candidate, repeats: int) -> tuple[float, float]:
    """Median times of `baseline` and `candidate`, run alternately `repeats` times."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in zip((baseline, candidate), times, strict=True):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--ads", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both encoders (0: torch's default); on a "
                        "machine shared with other jobs, 1 avoids OpenMP spin-wait stalls")
    args = parser.parse_args()

    import ray
    import torch
    from sentence_transformers import SentenceTransformer

    from adopt.embeddings import Encoder, default_model_path, embed_workspace

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="adopt_embed_bench_") as tmp:
        ws = build_workspace(Path(tmp), args.users, args.ads, args.seed)
        texts = read_texts(ws)
        lengths = [len(t.split()) for t in texts]
        print(f"{len(texts)} texts, {len(set(texts))} unique, "
              f"median {statistics.median(lengths):.0f} words, max {max(lengths)}")

        ours = Encoder(device="cpu")
        theirs = SentenceTransformer(str(default_model_path()), device="cpu")
        a = ours.encode(texts[:256], batch_size=args.batch_size, show_progress_bar=False)
        b = theirs.encode(texts[:256], batch_size=args.batch_size, normalize_embeddings=True)
        print(f"min cosine adopt vs sentence-transformers: {(a * b).sum(axis=1).min():.6f}")
        # Alternate the two so load from other processes hits both alike.
        t_st, t_ours = paired_medians(
            lambda: theirs.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                                  show_progress_bar=False),
            lambda: ours.encode(texts, batch_size=args.batch_size, show_progress_bar=False),
            args.repeats,
        )
        print(f"encode  sentence-transformers: {t_st:7.2f}s  {len(texts) / t_st:8.0f} texts/s")
        print(f"encode  adopt Encoder:         {t_ours:7.2f}s  {len(texts) / t_ours:8.0f} texts/s")
        print(f"encode  speed-up: {t_st / t_ours:.2f}x (target >= 1.5x)")

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _node_ip_address="127.0.0.1")
        try:
            start = time.perf_counter()
            first = embed_workspace(ws, batch_size=args.batch_size, show_progress_bar=False)
            t_first = time.perf_counter() - start
            t_rerun = median_time(
                lambda: embed_workspace(ws, show_progress_bar=False), args.repeats
            )
        finally:
            ray.shutdown()
        print(f"pipeline first run:  {t_first:7.2f}s  ({first})")
        print(f"pipeline cached rerun: {t_rerun:7.3f}s (median of {args.repeats})")
        print(f"pipeline rerun speed-up: {t_first / t_rerun:.0f}x (target >= 50x)")
        assert np.isfinite(t_rerun)


if __name__ == "__main__":
    main()
