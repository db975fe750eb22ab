"""Fixtures of the embeddings tests: a tiny BERT folder and warehouses (Ray: tests/conftest.py)."""

from __future__ import annotations

import string
from pathlib import Path

import duckdb
import pytest

WORDS = (
    "running shoes trail marathon lightweight cushion yoga mat kitchen knife pan steel "
    "nonstick phone case wireless earbuds free shipping off sale new best for the and with"
).split()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BertModel with a small WordPiece vocab, saved once per session."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    letters = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters,
             *(f"##{c}" for c in letters), *WORDS]
    vocab_ids = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    BertTokenizerFast(vocab=vocab_ids, do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab_ids), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def make_warehouse(
    root: Path, ads: list[tuple[str, str, str | None]], users: list[tuple[str, str]]
) -> Path:
    """A workspace folder whose warehouse holds `ads` and `user_profiles` as given."""
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("create or replace table ads "
                    "(ad_id varchar, campaign_id varchar, title varchar, description varchar)")
        con.execute(
            "create or replace table user_profiles (user_id varchar, interest_text varchar)"
        )
        if ads:
            con.executemany("insert into ads values (?, 'c1', ?, ?)", ads)
        if users:
            con.executemany("insert into user_profiles values (?, ?)", users)
    return root
