"""Bench: the impression's cost as a model feature (baseline) vs not a feature (ours).

An impression's `cost` is known only after it was sold: in auction logs it is
the clearing price. `Features` no longer reads it (`AFTER_IMPRESSION`). This
bench builds a generated world (ingest -> profiles -> training_examples, no
embeddings), trains LightGBM twice on the same time split, once with `cost`
added back to the numeric features (the behaviour before) and once with the
default features, and prints the click and conversion test AUC of each:

- on the test rows as logged (what a model card reports), and
- "as planned": the same rows with cost = cpm / 1000, what the curve stage
  feeds a model for an impression it has not bought yet.

Two worlds: the generator's own log (cost = cpm / 1000, no leak: the two
models should match), and the same log with a simulated clearing price
(cost = cpm / 1000 * exp(0.4 * clicked + 0.3 * e), e ~ N(0, 1): the price
carries what happened after the auction, as clearing prices do when bidders
value users who click).

    PYTHONPATH=. .venv/bin/python bench/cost_feature_bench.py [--users 6000 --ads 120 --days 56]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.ingest import ingest
from adopt.profiles import build_profiles
from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import roc_auc
from adopt.response.run import load_examples
from adopt.response.split import TimeSplit, time_split
from adopt.synth import DEMO_ADS, DEMO_DAYS, DEMO_USERS, generate_world


def _examples(root: Path, users: int, ads: int, days: int, seed: int) -> pd.DataFrame:
    world = root / "world"
    generate_world(world, users=users, ads=ads, days=days, seed=seed, show_progress=False)
    ingest(world, root / "ws")
    build_profiles(root / "ws")
    return load_examples(root / "ws", text_features=False)


def _aucs(model: LightGBMResponse, test: pd.DataFrame) -> dict[str, float]:
    pred = model.predict(test)
    out = {"click": roc_auc(test["clicked"].to_numpy(), pred["p_click"].to_numpy())}
    if "p_conversion_given_click" in pred:
        clicked = test["clicked"].to_numpy() == 1
        out["conversion"] = roc_auc(test["converted"].to_numpy()[clicked],
                                    pred["p_conversion_given_click"].to_numpy()[clicked])
    return out


def _compare(name: str, split: TimeSplit, seed: int) -> None:
    planned = split.test.assign(cost=split.test["cpm"] / 1000.0)
    ours = Features(vectors=()).fit(split.train)
    baseline = Features(numeric=[*ours.numeric_, "cost"], categorical=ours.categorical_,
                        vectors=())
    rows = {}
    for label, features in (("baseline (cost a feature)", baseline), ("ours (cost not)", ours)):
        start = time.perf_counter()
        model = LightGBMResponse(features=features.clone(), seed=seed,
                                 params={"num_threads": 2}).fit(split.train, split.valid)
        seconds = time.perf_counter() - start
        logged, plan = _aucs(model, split.test), _aucs(model, planned)
        rows[label] = logged
        cells = "  ".join(f"{t} AUC {logged[t]:.4f} (as planned {plan[t]:.4f})" for t in logged)
        print(f"  {label:26s} {cells}  fit {seconds:.1f}s")
    (_, base), (_, mine) = rows.items()
    print("  " + "  ".join(f"{t}: ours/baseline {mine[t] / base[t]:.4f}" for t in mine))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=DEMO_USERS)
    parser.add_argument("--ads", type=int, default=DEMO_ADS)
    parser.add_argument("--days", type=int, default=DEMO_DAYS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        df = _examples(Path(tmp), args.users, args.ads, args.days, args.seed)
    split = time_split(df)
    print(f"examples {len(df):,}; test rows {len(split.test):,}, "
          f"test clicks {int(split.test['clicked'].sum()):,}")
    print("generated log (cost = cpm / 1000):")
    _compare("logged", split, args.seed)
    rng = np.random.default_rng(args.seed)
    clearing = df.assign(cost=df["cpm"] / 1000.0 * np.exp(
        0.4 * df["clicked"].astype(float) + 0.3 * rng.standard_normal(len(df))))
    print("simulated clearing prices (cost = cpm / 1000 * exp(0.4 clicked + 0.3 e)):")
    _compare("clearing", time_split(clearing), args.seed)


if __name__ == "__main__":
    main()
