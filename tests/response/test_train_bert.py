"""Fine-tuning on a real local Ray (slow: Ray start-up and Train workers)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from adopt.response.bert import BertResponse
from adopt.response.metrics import score
from adopt.response.run import load_response, train_response
from adopt.response.split import time_split
from adopt.response.train_bert import (
    EXIT_ONCE_ENV,
    BertTrainConfig,
    scaling_for_cluster,
    train_bert,
)
from adopt.response.tune import tune_bert

from .conftest import make_examples
from .tiny_bert import write_tiny_bert

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_world():
    return time_split(make_examples(n=2000, users=100, ads=20, days=5, seed=7))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _config(tiny_dir, **kw) -> BertTrainConfig:
    base = {"model_dir": str(tiny_dir), "epochs": 3, "batch_size": 32, "lr": 1e-3, "head_lr": 3e-2,
            "max_length": 16, "calibration": "platt"}
    return BertTrainConfig(**(base | kw))


def test_scaling_follows_the_cluster(ray_session):
    scaling = scaling_for_cluster()
    assert scaling.use_gpu is False and scaling.num_workers == 1
    assert scaling.resources_per_worker == {"CPU": 1}  # the session fixture's 2 CPUs, less one
    with pytest.raises(ValueError, match="'use_gpu' parameter is True but the Ray cluster has no"):
        scaling_for_cluster(use_gpu=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("ws")


@pytest.fixture(scope="module")
def runs(idle_ray_module, small_world, tiny_dir, workspace):
    """Two epochs whose worker process is killed as epoch 2 starts (Ray restarts it); a rerun
    of the same name to three epochs (as after an interrupted job); then `adopt train` of
    that run id, which finds it finished and only saves the model with its card."""
    storage = workspace / "models" / "ray_results"
    marker = workspace / "worker_exited"
    os.environ[EXIT_ONCE_ENV] = f"1:{marker}"
    try:
        first = train_bert(small_world.train, small_world.valid,
                           _config(tiny_dir, epochs=2, max_failures=1),
                           storage_path=storage, run_name="resume")
    finally:
        del os.environ[EXIT_ONCE_ENV]
    assert marker.exists()  # the worker did exit
    second = train_bert(small_world.train, small_world.valid, _config(tiny_dir, epochs=3),
                        storage_path=storage, run_name="resume")
    examples = pd.concat([small_world.train, small_world.valid, small_world.test])
    bert = _config(tiny_dir, epochs=3).model_dump(exclude={"model_dir"}) | {
        "model_dir": str(tiny_dir)}
    card = train_response(workspace, "bert", examples=examples, run_id="resume", bert=bert)
    return first, second, card


def test_a_killed_worker_resumes_from_the_last_checkpoint(runs):
    first = runs[0]
    # epoch 1 ran in the first worker; the restarted worker found the epoch-1 checkpoint
    # and trained epoch 2 only
    assert first.history["epoch"].tolist() == [1, 2]
    assert first.history["start_epoch"].tolist() == [0, 1]
    assert (first.start_epoch, first.epochs_done) == (1, 2)


def test_rerun_with_the_same_name_resumes_from_the_checkpoint(runs):
    first, second, _ = runs
    # the epoch counter in the checkpoint says two epochs were done: this run trains epoch 3
    assert second.start_epoch == 2
    assert second.epochs_done == 3
    assert second.history["epoch"].tolist() == [1, 2, 3]
    assert second.history["start_epoch"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(second.history.iloc[:2], first.history)
    assert second.best_valid_auc == second.history["valid_auc"].max()


def test_adopt_train_of_a_finished_run_trains_nothing_and_saves_the_best(runs, workspace,
                                                                          small_world):
    _, second, card = runs
    assert card.hyperparameters["epochs_done"] == 3  # no epoch was added
    assert card.hyperparameters["best_epoch"] == second.best_epoch
    assert card.features[:2] == ["user_text", "ad_text"]
    assert set(card.metrics_frame()["target"]) == {"click", "conversion"}
    loaded = load_response(workspace / "models" / "resume")
    assert isinstance(loaded, BertResponse)
    test = small_world.test
    pd.testing.assert_frame_equal(loaded.predict(test), second.model.predict(test))


def test_tiny_bert_beats_the_base_rate(runs, small_world, tmp_path):
    result = runs[1]
    assert result.best_valid_auc > 0.62
    test = small_world.test
    s = score(test["clicked"].to_numpy(), result.model.predict_click(test))
    assert s["auc"] > 0.6
    assert s["ne"] < 1.0
    assert set(result.model.calibrators) == {"click", "conversion"}


def test_bert_search_records_every_trial_and_picks_the_best(idle_ray, small_world,
                                                             tiny_dir, tmp_path):
    base = {"model_dir": str(tiny_dir), "epochs": 1, "head_lr": 3e-2, "max_length": 16,
            "calibration": "platt"}
    result = tune_bert(small_world.train, small_world.valid, base, num_samples=2, seed=0,
                       storage_path=tmp_path)
    assert len(result.records()) == 2
    assert {"lr", "dropout", "valid_auc"} <= set(result.trials.columns)
    best = result.trials.iloc[0]
    assert best["valid_auc"] == result.trials["valid_auc"].max()
    assert result.best == {"lr": best["lr"], "dropout": best["dropout"]}
