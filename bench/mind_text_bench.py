"""Bench: a text model against a no-text baseline on real clicks (the MIND news sample).

Imports ``../shared/datasets/mind_small_subset`` (Microsoft News: impression lists
of news titles with clicks) with ``adopt import mind``, ingests it, builds the
profiles and embeds the titles and user interests, then, on one time split
(valid = the 5th day, test = the 6th, train = the days before), fits side by
side: LightGBM without embeddings (the no-text baseline), LightGBM with the
embedding features, and the BERT cross-encoder over (user interest text, news
title + abstract). Prints AUC, NE, calibration and ECE of each beside the base
rate, training time and peak memory (see bench/response_bench.py, which does
the model runs). Skips with a message when the sample is absent.

    .venv/bin/python bench/mind_text_bench.py [--src ../shared/datasets/mind_small_subset]
        [--workspace /tmp/mind_bench_ws] [--models lgbm_noemb,lgbm_cos,lgbm_pca8,bert]
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import response_bench  # noqa: E402  (the sibling bench script, for its model runs)

DEFAULT_SRC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mind_small_subset"


def prepare(src: Path, workspace: Path) -> None:
    """import -> ingest -> profiles -> embed into ``workspace`` (skipped when already there)."""
    from adopt.embeddings import embed_workspace
    from adopt.importers import import_dataset
    from adopt.ingest import ingest
    from adopt.profiles import build_profiles

    if (workspace / "warehouse.duckdb").exists():
        return
    shutil.rmtree(workspace, ignore_errors=True)
    def embed() -> object:
        import ray

        try:
            response_bench._start_ray()  # retried: Ray's start-up timeout is fixed at 30 s
        except Exception as exc:
            print(f"Ray did not start ({exc}); embedding in this process instead", flush=True)
            return embed_in_process(workspace)
        try:
            return embed_workspace(workspace, show_progress_bar=False)
        finally:
            ray.shutdown()

    steps = (("import", lambda: import_dataset("mind", src, workspace / "data")),
             ("ingest", lambda: ingest(workspace / "data", workspace)),
             ("profiles", lambda: build_profiles(workspace)),
             ("embed", embed))
    for name, step in steps:
        start = time.perf_counter()
        print(f"{name}: {step()}".splitlines()[0][:200], flush=True)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)


def embed_in_process(workspace: Path) -> str:
    """The embedding stage's cache and key map filled by adopt's encoder in this process
    (same model, texts and tables as ``adopt embed``, without Ray Data)."""
    import duckdb

    from adopt.embeddings import Encoder, default_model_path, model_id, store

    path = default_model_path()
    mid = model_id(path)
    with duckdb.connect(str(workspace / "warehouse.duckdb")) as con:
        store.ensure_tables(con)
        store.stage_texts(con)
        todo = store.uncached_texts(con, mid)
        texts = todo.column("text").to_pylist()
        vectors = Encoder(path).encode(texts, show_progress_bar=False)
        store.insert_vectors(con, mid, todo.column("text_hash").to_numpy(zero_copy_only=False),
                             vectors)
        store.replace_key_map(con, mid)
    return f"embedded {len(texts)} distinct texts in-process with {mid}"


def main() -> None:
    parser = response_bench.parser()
    parser.add_argument("--src", default=str(DEFAULT_SRC), help="MIND sample folder")
    parser.set_defaults(workspace="/tmp/mind_bench_ws", valid_days=1, test_days=1,
                        test_rows=1_000_000, bert_train=1_000_000, bert_valid=1_000_000,
                        bert_epochs=3, models="lgbm_noemb,lgbm_cos,lgbm_pca8,bert")
    args = parser.parse_args()
    src = Path(args.src)
    if not (src / "behaviors.tsv").exists() or not (src / "news.tsv").exists():
        print(f"MIND sample not found at {src}: skipped.")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    prepare(src, Path(args.workspace))
    response_bench.run_all(args)


if __name__ == "__main__":
    main()
