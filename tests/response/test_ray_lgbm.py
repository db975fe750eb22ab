"""LightGBM on Ray Train's LightGBMTrainer, and training examples read from Parquet files."""

from __future__ import annotations

import numpy as np
import pytest

from adopt.exceptions import WorkspaceError
from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import roc_auc
from adopt.response.ray_lgbm import shard_of
from adopt.response.run import read_example_files
from adopt.response.split import time_split

from .conftest import make_examples

FAST = {"num_threads": 1, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def split():
    return time_split(make_examples(n=12_000, days=5, seed=4))


def test_shards_follow_the_user_and_are_stable():
    users = np.array(["u1", "u2", "u1", "u3", "u2"] * 20, dtype=object)
    shards = shard_of(users, len(users), 3)
    for u in ("u1", "u2", "u3"):
        assert len(set(shards[users == u])) == 1  # a user's rows share one worker
    np.testing.assert_array_equal(shards, shard_of(users.copy(), len(users), 3))
    assert set(shard_of(None, 7, 2)) == {0, 1}


@pytest.mark.slow
def test_ray_train_fits_as_the_local_engine_and_repeats_itself(split, idle_ray, tmp_path):
    test, y = split.test, split.test["clicked"].to_numpy()
    kwargs = {"features": Features(vectors=()), "params": FAST, "conversion": False,
              "min_valid_positives": 0, "seed": 0}
    local = LightGBMResponse(engine="local", **kwargs).fit(split.train, split.valid)
    runs = [LightGBMResponse(engine="ray", num_workers=2, storage_path=tmp_path, **kwargs
                             ).fit(split.train, split.valid) for _ in range(2)]
    click = runs[0].stopping_["click"]
    assert click["method"] == "valid" and click["engine"] == "ray" and click["workers"] == 2
    # the same seed and workers: the same booster
    np.testing.assert_array_equal(runs[0].predict_click(test), runs[1].predict_click(test))
    # the same trees as one process (next test); the valid loss is flat, so the stopping
    # round can differ
    auc_local, auc_ray = roc_auc(y, local.predict_click(test)), roc_auc(y, runs[0].predict_click(
        test))
    assert auc_ray == pytest.approx(auc_local, abs=0.01)
    # categoricals reach the booster with the learned categories
    assert runs[0].boosters_["click"].pandas_categorical == [
        local.features_.categories_[c] for c in local.features_.categorical_]
    loaded = LightGBMResponse.load(runs[0].save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict_click(test), runs[0].predict_click(test))


@pytest.mark.slow
def test_ray_train_grows_the_trees_one_process_grows(split, idle_ray, tmp_path):
    """Two workers bin every feature from the same rows one process bins, so their
    histograms add up to the local ones: the same trees, not merely a close model."""
    import lightgbm as lgb

    from adopt.response.ray_lgbm import train_on_ray

    model = LightGBMResponse(engine="local", features=Features(vectors=()), params=FAST,
                             conversion=False, min_valid_positives=0, seed=0)
    model.fit(split.train, split.valid)
    x, y = model.features_.frame(split.train), split.train["clicked"].to_numpy(float)
    init = np.full(len(y), -2.0)
    cats, params = model.features_.categorical_, model.stopping_["click"]["params"]
    local = lgb.train(params, lgb.Dataset(x, y, init_score=init, categorical_feature=cats),
                      num_boost_round=10)
    ray_booster, workers = train_on_ray(
        params, x, y, init, cats, num_boost_round=10, early_stopping_rounds=None,
        num_workers=2, shard_key=split.train["user_id"].to_numpy(), storage_path=tmp_path)
    assert workers == 2
    x_test = model.features_.frame(split.test)
    np.testing.assert_allclose(ray_booster.predict(x_test, raw_score=True),
                               local.predict(x_test, raw_score=True), atol=1e-9)


def test_examples_from_parquet_files_match_the_frame(tmp_path):
    df = make_examples(n=3_000, days=3, seed=5).drop(columns=["user_vec", "ad_vec"])
    df["impression_key"] = np.arange(len(df))
    shards = shard_of(df["user_id"].to_numpy(), len(df), 3)
    folder = tmp_path / "training_examples"
    folder.mkdir()
    for r in range(3):  # user-hash partitions, each in its own order
        df[shards == r].sample(frac=1.0, random_state=r).to_parquet(folder / f"part-{r}.parquet")
    read = read_example_files([folder])
    assert read.equals(df.sort_values(["ts", "impression_key"], ignore_index=True))
    assert read_example_files(sorted(folder.glob("*.parquet"))[::-1]).equals(read)
    with pytest.raises(WorkspaceError, match="No training examples at"):
        read_example_files([tmp_path / "nowhere"])


@pytest.mark.slow
def test_examples_from_parquet_files_through_ray_data(tmp_path, idle_ray):
    df = make_examples(n=2_000, days=3, seed=6).drop(columns=["user_vec", "ad_vec"])
    df["impression_key"] = np.arange(len(df))
    for r in range(2):
        df[df["user_id"] % 2 == r].to_parquet(tmp_path / f"part-{r}.parquet")
    read = read_example_files([tmp_path], ray_data=True)
    local = read_example_files([tmp_path])
    assert len(read) == len(df)
    np.testing.assert_array_equal(read["impression_key"], local["impression_key"])
    np.testing.assert_array_equal(read["clicked"], local["clicked"])


def test_auto_engine_joins_a_cluster_named_by_ray_address(monkeypatch):
    import sys

    from adopt.response.ray_lgbm import joined_cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not joined_cluster()  # no Ray, or this session's one-node local Ray
    assert LightGBMResponse()._engine_for(1_000) == "local"
    assert LightGBMResponse()._engine_for(10**8) == "ray"
    assert LightGBMResponse(num_workers=2)._engine_for(1_000) == "ray"
    assert LightGBMResponse(engine="local")._engine_for(10**8) == "local"
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    running = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    # not yet connected: a submitted job will join that cluster; connected: the nodes count
    assert joined_cluster() is (not running)
    assert LightGBMResponse()._engine_for(1_000) == ("local" if running else "ray")


def test_cli_names_missing_example_files_in_one_line(tmp_path, capsys):
    from adopt.cli import main

    code = main(["train", "--workspace", str(tmp_path / "ws"), "--examples",
                 str(tmp_path / "partitions")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"adopt: error: No training examples at {tmp_path / 'partitions'}: not a " \
                  "file or a folder."
