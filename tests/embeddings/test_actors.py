"""Choosing the encoder actors from the cluster's resources (the GPU path, tested on CPU)."""

from __future__ import annotations

import pytest

from adopt.embeddings.actors import actor_config
from adopt.exceptions import InputError


def test_gpus_get_one_gpu_actor_each_with_large_batches() -> None:
    config = actor_config({"CPU": 32.0, "GPU": 4.0})
    assert (config.device, config.actors, config.num_gpus) == ("cuda", 4, 1.0)
    assert config.batch_size == 256 and config.ray_batch_size > config.batch_size


def test_more_actors_than_gpus_share_them() -> None:
    config = actor_config({"CPU": 8.0, "GPU": 2.0}, actors=4, batch_size=64)
    assert (config.actors, config.num_gpus, config.batch_size) == (4, 0.5, 64)


@pytest.mark.parametrize("resources", [{"CPU": 2.0}, {"CPU": 2.0, "GPU": 0.0}])
def test_no_gpu_means_cpu_actors_that_never_ask_for_one(resources: dict[str, float]) -> None:
    config = actor_config(resources)
    assert (config.device, config.num_gpus, config.actors) == ("cpu", 0, 1)
    assert config.threads == 2 and config.num_cpus == 1  # one CPU left for Ray Data
    assert config.batch_size == 32


def test_cpu_actors_are_capped_at_the_cpus() -> None:
    config = actor_config({"CPU": 4.0}, actors=16)
    assert (config.actors, config.threads, config.num_cpus) == (4, 1, 1)
    assert actor_config({"CPU": 64.0}).actors == 16


@pytest.mark.parametrize("bad", [{"actors": 0}, {"batch_size": -1}, {"batch_size": 2.5}])
def test_bad_sizes_are_refused(bad: dict[str, object]) -> None:
    name = next(iter(bad))
    with pytest.raises(InputError, match=f"'{name}' parameter of embed_workspace"):
        actor_config({"CPU": 2.0}, **bad)
