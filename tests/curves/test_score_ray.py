"""Counterfactual rows scored on Ray Data (`adopt.curves.score_ray`): the same values as in
one process, and the curve stage's output unchanged by the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.curves import PairState, build_curves
from adopt.curves.pairs import load_response_model, predict_rows, text_feature_hook
from adopt.curves.score_ray import SCORED, predict_rows_on_ray
from adopt.exceptions import ParameterError

from .conftest import RUN_ID

SMALL = {"run_id": RUN_ID, "max_k": 3, "users_per_segment": 20, "shape_users": 8,
         "n_boot": 5, "top_creatives": 2}


@pytest.mark.slow
def test_ray_data_scores_every_row_as_one_process_does(small_ws, idle_ray) -> None:
    state = PairState.load(small_ws)
    model, _ = load_response_model(small_ws, RUN_ID)
    attach = text_feature_hook(small_ws, model)
    rng = np.random.default_rng(0)
    n = 2_500
    u = rng.integers(len(state.users), size=n)
    a = rng.integers(len(state.ads), size=n)
    p = rng.integers(len(state.placements), size=n)
    k = rng.integers(1, 6, size=n)
    local = predict_rows(state, model, u, a, p, k, attach=attach)
    # blocks of 600 rows on two actors: five blocks, back in any order
    ray_out = predict_rows_on_ray(state, model, u, a, p, k, attach=attach, batch_rows=600,
                                  actors=2)
    for name in (*SCORED, "expected_revenue"):
        np.testing.assert_array_equal(ray_out[name], local[name])
    empty = predict_rows_on_ray(state, model, u[:0], a[:0], p[:0], k[:0], actors=2)
    assert all(len(v) == 0 for v in empty.values())


@pytest.mark.slow
def test_the_curves_do_not_depend_on_the_engine(small_ws, tmp_path, idle_ray) -> None:
    import shutil

    frames = {}
    for engine in ("local", "ray"):
        ws = tmp_path / engine
        shutil.copytree(small_ws, ws, ignore=shutil.ignore_patterns("curves", "plans"))
        summary = build_curves(ws, engine=engine, actors=2, **SMALL)
        assert summary.engines == [engine]
        frames[engine] = pd.read_parquet(summary.curves_path)
    pd.testing.assert_frame_equal(frames["ray"], frames["local"])


def test_an_unknown_engine_is_refused(ws_copy) -> None:
    with pytest.raises(ParameterError, match="'engine' parameter of build_curves"):
        build_curves(ws_copy, engine="dask", **SMALL)
