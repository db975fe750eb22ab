"""Bench: LightGBM click model on all negatives (baseline) vs negatives downsampled (ours).

Runs both side by side in one process on the same synthetic examples and
prints median fit times over a few repeats, their ratio, and the test NE and
calibration ratio of each (downsampling must not cost calibration: its
predictions are corrected exactly, then calibrated on valid).

    .venv/bin/python bench/bench_response_downsampling.py [--rows 200000] [--rate 0.1]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import score
from adopt.response.split import time_split


def _make_examples():
    # the seeded world of the response tests (adopt.synth will replace it)
    path = Path(__file__).resolve().parents[1] / "tests" / "response" / "conftest.py"
    spec = importlib.util.spec_from_file_location("response_world", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=0.1, help="fraction of negatives kept")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    df = _make_examples()(n=args.rows, users=5000, ads=300, days=7, seed=0)
    split = time_split(df)
    y = split.test["clicked"].to_numpy()
    results = {}
    for name, rate in (("baseline (all negatives)", None), (f"ours (rate {args.rate})", args.rate)):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model = LightGBMResponse(downsample_rate=rate, conversion=False,
                                     params={"learning_rate": 0.1}).fit(split.train, split.valid)
            times.append(time.perf_counter() - start)
        s = score(y, model.predict_click(split.test))
        results[name] = statistics.median(times)
        print(f"{name:28s} fit {results[name]:7.2f}s  test NE {s['ne']:.4f}  "
              f"AUC {s['auc']:.4f}  calibration ratio {s['calibration_ratio']:.3f}")
    base, ours = results.values()
    print(f"speed-up (baseline / ours): {base / ours:.2f}x")


if __name__ == "__main__":
    main()
