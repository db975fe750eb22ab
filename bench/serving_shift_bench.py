"""Bench: how far the response model moves between a logged row and its serving-state twin.

The curves score counterfactual rows built from the feature state at the start of
the plan period (`adopt.curves.state.PairState`); the model learned from logged
rows, each with the state at its own impression. A feature whose value grows with
time (a running total) sits at its largest in the serving state, where the trees
read values they saw only for the heaviest users. This bench takes the logged
first impressions of a campaign (k = 1, a seeded sample), predicts them as logged
and rebuilt in the serving state (same user, ad, placement, k), and compares both
with the truth's expectation of those very impressions, on a generated world.

Side by side, on one time split of the same workspace:

- ``with user totals`` (the baseline, the default before): the default features
  plus the user's running totals (`adopt.response.features.USER_TOTALS`);
- ``default``: `Features()` as `adopt train` fits it.

Per model it prints clicks and conversions predicted / truth on the logged rows
and on their serving twins, serving / logged (the shift: 1 is none), and the
features whose serving value moves the prediction most when swapped in one at a
time. Then the ratio of the two models' shifts.

    .venv/bin/python bench/serving_shift_bench.py --workspace /tmp/pq/world_14_logit/ws
        [--rows 40000] [--seed 0]

The workspace must be a generated world's (``world/truth``), built through
``adopt profiles`` (keep one with ``bench/plan_quality_bench.py --keep DIR``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def _fit(split, numeric: list[str] | None, embedding_model_id: str | None):
    from adopt.response.features import Features
    from adopt.response.lgbm import LightGBMResponse
    from adopt.response.text_features import VECTOR_COLUMNS

    features = Features(numeric=numeric, vectors=VECTOR_COLUMNS,
                        embedding_model_id=embedding_model_id)
    return LightGBMResponse(features=features).fit(split.train, split.valid)


def _totals(model, attach, rows: pd.DataFrame) -> np.ndarray:
    p = model.predict(attach(rows) if attach is not None else rows)
    return np.array([p["p_click"].sum(), p["p_conversion"].sum()])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", required=True)
    p.add_argument("--rows", type=int, default=40_000, help="logged k = 1 rows sampled")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from adopt.curves.pairs import text_feature_hook
    from adopt.curves.state import PairState
    from adopt.response.features import USER_TOTALS, Features
    from adopt.response.run import load_examples
    from adopt.response.split import time_split
    from adopt.synth import load_truth
    from adopt.warehouse import examples_order
    from adopt.workspace import Workspace

    ws = Path(args.workspace)
    with Workspace.of(ws).connect(read_only=True) as con:
        logged = con.execute("select * from training_examples where k_campaign = 1 "
                             f"order by {examples_order(con)}").df()
    logged = logged.sample(min(len(logged), args.rows), random_state=args.seed)
    logged = logged.reset_index(drop=True)
    truth = load_truth(ws / "world")
    t = truth.expected(logged["user_id"], logged["ad_id"], logged["placement_id"], 1)
    true = np.array([t["p_click"].sum(), t["p_conversion"].sum()])
    state = PairState.load(ws)
    serving = state.rows(state.user_index(logged["user_id"]), state.ad_index(logged["ad_id"]),
                         state.placement_index(logged["placement_id"]),
                         np.ones(len(logged), dtype=np.int64))

    examples = load_examples(ws, text_features=True)  # as `adopt train` reads them
    split = time_split(examples, 1, 1)
    default_numeric = Features().fit(split.train).numeric_
    models = {"with user totals": default_numeric + sorted(USER_TOTALS - set(default_numeric)),
              "default": None}
    print(f"{ws}: {len(logged):,} logged k = 1 impressions; truth's expectation "
          f"{true[0]:.1f} clicks, {true[1]:.1f} conversions\n")
    print(f"{'model':18s} {'logged/truth':>20s} {'serving/truth':>20s} {'serving/logged':>20s}")
    print(f"{'':18s} {'clicks':>10s}{'conv':>10s} {'clicks':>10s}{'conv':>10s} "
          f"{'clicks':>10s}{'conv':>10s}")
    shifts, swaps = {}, {}
    for name, numeric in models.items():
        model = _fit(split, numeric, examples.attrs.get("embedding_model_id"))
        attach = text_feature_hook(ws, model)
        at_logged, at_serving = _totals(model, attach, logged), _totals(model, attach, serving)
        shifts[name] = at_serving / at_logged
        print(f"{name:18s} {at_logged[0] / true[0]:10.3f}{at_logged[1] / true[1]:10.3f} "
              f"{at_serving[0] / true[0]:10.3f}{at_serving[1] / true[1]:10.3f} "
              f"{shifts[name][0]:10.3f}{shifts[name][1]:10.3f}", flush=True)
        moved = []
        for col in model.features_.numeric_ + model.features_.categorical_:
            if col in serving.columns:
                swapped = _totals(model, attach, logged.assign(**{col: serving[col].to_numpy()}))
                moved.append((col, *(swapped / at_logged - 1)))
        swaps[name] = sorted(moved, key=lambda m: -abs(m[1]) - abs(m[2]))[:4]
    for name, moved in swaps.items():
        print(f"\n{name}: the serving value of one feature at a time (clicks, conversions)")
        for col, c, v in moved:
            print(f"  {col:34s} {c:+.3f} {v:+.3f}")
    base, ours = shifts["with user totals"], shifts["default"]
    print(f"\n|log shift| default / with user totals: clicks "
          f"{abs(np.log(ours[0])) / max(abs(np.log(base[0])), 1e-9):.2f}, conversions "
          f"{abs(np.log(ours[1])) / max(abs(np.log(base[1])), 1e-9):.2f}")


if __name__ == "__main__":
    main()
