"""Fine-tuning on a real local Ray (slow: Ray start-up and Train workers)."""

from __future__ import annotations

import pandas as pd
import pytest

from adopt.response.bert import BertResponse
from adopt.response.metrics import score
from adopt.response.run import load_response, train_response
from adopt.response.split import time_split
from adopt.response.train_bert import BertTrainConfig, scaling_for_cluster, train_bert

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
def runs(ray_session, small_world, tiny_dir, tmp_path_factory):
    """One epoch; a rerun of the same name to three epochs (as after an interruption); again."""
    storage = tmp_path_factory.mktemp("ray_results")
    first = train_bert(small_world.train, small_world.valid, _config(tiny_dir, epochs=1),
                       storage_path=storage, run_name="resume")
    second = train_bert(small_world.train, small_world.valid, _config(tiny_dir, epochs=3),
                        storage_path=storage, run_name="resume")
    third = train_bert(small_world.train, small_world.valid, _config(tiny_dir, epochs=3),
                       storage_path=storage, run_name="resume")
    return first, second, third


def test_rerun_with_the_same_name_resumes_from_the_checkpoint(runs):
    first, second, _ = runs
    assert (first.start_epoch, first.epochs_done) == (0, 1)
    # the epoch counter in the checkpoint says one epoch was done: this run trains epochs 2-3
    assert second.start_epoch == 1
    assert second.epochs_done == 3
    assert second.history["epoch"].tolist() == [1, 2, 3]
    assert second.history["start_epoch"].tolist() == [0, 1, 1]
    assert second.best_valid_auc == second.history["valid_auc"].max()


def test_rerun_of_a_finished_run_trains_nothing_and_keeps_the_best(runs):
    _, second, third = runs
    assert third.epochs_done == 3
    pd.testing.assert_frame_equal(third.history, second.history)  # no epoch was added
    assert third.best_valid_auc == second.best_valid_auc
    assert third.checkpoint_path == second.checkpoint_path


def test_tiny_bert_beats_the_base_rate(runs, small_world, tmp_path):
    result = runs[1]
    assert result.best_valid_auc > 0.62
    test = small_world.test
    s = score(test["clicked"].to_numpy(), result.model.predict_click(test))
    assert s["auc"] > 0.6
    assert s["ne"] < 1.0
    assert set(result.model.calibrators) == {"click", "conversion"}


def test_workspace_run_tunes_trains_and_writes_a_card(ray_session, small_world, tiny_dir,
                                                      tmp_path):
    examples = pd.concat([small_world.train, small_world.valid, small_world.test])
    bert = {"model_dir": str(tiny_dir), "epochs": 1, "head_lr": 3e-2, "max_length": 16,
            "calibration": "platt"}
    card = train_response(tmp_path, "bert", examples=examples, run_id="bert-a", tune=True,
                          num_trials=2, bert=bert)
    assert len(card.tuning) == 2
    assert {"lr", "dropout", "valid_auc"} <= set(card.tuning[0])
    best = max(card.tuning, key=lambda t: t["valid_auc"])
    assert card.hyperparameters["lr"] == best["lr"]
    assert card.features[:2] == ["user_text", "ad_text"]
    m = card.metrics_frame()
    assert set(m["target"]) == {"click", "conversion"}
    loaded = load_response(tmp_path / "models" / "bert-a")
    assert isinstance(loaded, BertResponse)
    assert loaded.predict(small_world.test)["p_click"].between(0, 1).all()
