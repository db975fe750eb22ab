"""The encoder: mechanics on a tiny random BERT, semantics and parity on the bundled MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from adopt.embeddings.encoder import Encoder, cpu_has_fast_bf16
from adopt.exceptions import InputError, ParameterError, WorkspaceError

from .conftest import WORDS


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> Encoder:
    # fp32: the mechanics tests compare rows to 1e-5, which bf16 products need not keep.
    return Encoder(tiny_model, device="cpu", precision="fp32")


def random_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 40))) for _ in range(n)]


def test_unit_float32_rows_in_input_order(tiny: Encoder) -> None:
    texts = random_texts(50)
    vectors = tiny.encode(texts, batch_size=8)
    assert vectors.shape == (50, tiny.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Batching and padding change nothing: each text alone gives the same row.
    alone = np.vstack([tiny.encode(text) for text in texts[:10]])
    np.testing.assert_allclose(vectors[:10], alone, atol=1e-5)
    reversed_rows = tiny.encode(texts[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(vectors, reversed_rows, atol=1e-5)


def test_parallel_streams_give_the_rows_of_one_stream(tiny_model: Path) -> None:
    texts = random_texts(90, seed=3)
    one = Encoder(tiny_model, device="cpu", threads=1, precision="fp32").encode(texts, batch_size=8)
    before = torch.get_num_threads()
    three = Encoder(tiny_model, device="cpu", threads=3, precision="fp32").encode(
        texts, batch_size=8
    )
    assert torch.get_num_threads() == before  # the process-wide setting is restored
    np.testing.assert_allclose(three, one, atol=1e-5)
    with pytest.raises(ParameterError, match="'threads' parameter of Encoder"):
        Encoder(tiny_model, threads=0)


def test_precision_picks_the_autocast_dtype(tiny_model: Path) -> None:
    fast = torch.bfloat16 if cpu_has_fast_bf16() else None
    assert Encoder(tiny_model, device="cpu").autocast_dtype() == fast
    assert Encoder(tiny_model, device="cpu", precision="fp32").autocast_dtype() is None
    assert Encoder(tiny_model, device="cpu", precision="bf16").autocast_dtype() == torch.bfloat16
    with pytest.raises(ParameterError, match=r"'precision' parameter of Encoder must be one of "
                       r"\['auto', 'fp32', 'bf16', 'fp16'\]. Got 'float32' instead."):
        Encoder(tiny_model, precision="float32")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_stays_close_to_fp32(tiny_model: Path, precision: str) -> None:
    texts = random_texts(40, seed=5)
    exact = Encoder(tiny_model, device="cpu", precision="fp32").encode(texts, batch_size=8)
    reduced = Encoder(tiny_model, device="cpu", precision=precision).encode(texts, batch_size=8)
    assert reduced.dtype == np.float32
    cosine = (exact * reduced).sum(axis=1)
    assert cosine.min() > 0.99
    assert not np.array_equal(exact, reduced)  # the products did run in the lower precision


def test_duplicates_share_one_row(tiny: Encoder) -> None:
    texts = ["yoga mat", "running shoes", "yoga mat", "yoga mat"]
    vectors = tiny.encode(texts)
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[0], vectors[3])
    assert not np.allclose(vectors[0], vectors[1])


def test_unnormalised_and_empty_inputs(tiny: Encoder) -> None:
    raw = tiny.encode(["kitchen knife set"], normalize_embeddings=False)
    assert not np.isclose(np.linalg.norm(raw), 1.0)
    assert tiny.encode([]).shape == (0, tiny.dim)
    assert tiny.encode("").shape == (1, tiny.dim)


def test_long_texts_are_truncated_to_the_model_limit(tiny: Encoder) -> None:
    long_text = " ".join(["marathon"] * 500)
    assert np.isfinite(tiny.encode(long_text)).all()


def test_bad_arguments_are_refused(tiny: Encoder) -> None:
    with pytest.raises(ParameterError, match="'batch_size' parameter of Encoder.encode"):
        tiny.encode(["a"], batch_size=0)
    with pytest.raises(InputError, match="row 2: Encoder.encode takes strings; got int"):
        tiny.encode(["a", 3])  # type: ignore[list-item]
    with pytest.raises(WorkspaceError, match="not a folder"):
        Encoder("bert-base-uncased")


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return Encoder(device="cpu")


@pytest.mark.slow
def test_matches_sentence_transformers(minilm: Encoder) -> None:
    from sentence_transformers import SentenceTransformer

    texts = random_texts(64, seed=1) + ["Trail running shoes. Free shipping!", " ".join(WORDS * 20)]
    reference = SentenceTransformer(str(minilm.path), device="cpu").encode(
        texts, normalize_embeddings=True, batch_size=16
    )
    # The default path (bf16 products where the CPU has them) and exact fp32.
    ours = minilm.encode(texts, batch_size=7)
    assert (ours * reference).sum(axis=1).min() >= 0.999
    exact = Encoder(minilm.path, device="cpu", precision="fp32").encode(texts, batch_size=7)
    assert (exact * reference).sum(axis=1).min() >= 0.99999


@pytest.mark.slow
def test_running_creative_is_nearest_a_running_fan(minilm: Encoder) -> None:
    creative = minilm.encode(
        "Lightweight running shoes with responsive cushioning for your next marathon"
    )[0]
    users = minilm.encode([
        "jogging, trail runs, marathon training, running socks",
        "kitchenware, nonstick frying pans, chef knives, baking trays",
    ])
    runner, cook = users @ creative
    assert runner > cook + 0.2
