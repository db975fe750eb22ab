from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

from adopt.exceptions import InputError
from adopt.response.bert import BertResponse, CrossEncoder, encode_examples, response_loss
from adopt.response.features import Features

from .tiny_bert import write_tiny_bert


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def rows(examples):
    return examples.iloc[:64]


def test_pair_encoding_and_tabular_block(tiny_dir, rows):
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    feats = Features().fit(rows)
    data = encode_examples(rows, tok, feats, max_length=16)
    assert data["input_ids"].shape == (64, 16)
    # the ad text is the second segment of every pair
    assert data["token_type_ids"][:, 1:].max() == 1
    assert tok.decode(data["input_ids"][0], skip_special_tokens=True) == (
        rows["user_text"].iloc[0] + " " + rows["ad_text"].iloc[0])
    assert data["tabular"].shape[0] == 64 and data["tabular"].dtype == np.float32
    with pytest.raises(InputError, match="column 'ad_text': the BERT model needs this text"):
        encode_examples(rows.drop(columns="ad_text"), tok, feats, max_length=16)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_two_heads_and_masked_conversion_loss(tiny_dir, rows, pooling):
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    feats = Features().fit(rows)
    data = encode_examples(rows, tok, feats, max_length=16)
    model = CrossEncoder(tiny_dir, data["tabular"].shape[1], pooling=pooling)
    t = {k: torch.as_tensor(v) for k, v in data.items()}
    logits = model(t["input_ids"], t["attention_mask"], t["token_type_ids"], t["tabular"])
    assert logits.shape == (64, 2)
    no_clicks = torch.zeros(64)
    # without clicks the conversion head gets no loss, whatever the conversion labels say
    a = response_loss(logits, no_clicks, torch.ones(64))
    b = response_loss(logits, no_clicks, torch.zeros(64))
    assert torch.equal(a, b)
    assert response_loss(logits, torch.ones(64), torch.ones(64)) != response_loss(
        logits, torch.ones(64), torch.zeros(64))


def test_unknown_pooling_is_refused(tiny_dir):
    with pytest.raises(ValueError, match=r"'pooling' parameter of CrossEncoder must be one of"):
        CrossEncoder(tiny_dir, 3, pooling="max")


def test_save_and_load_round_trip(tiny_dir, rows, tmp_path):
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    feats = Features().fit(rows)
    n_tab = feats.dense(rows).shape[1]
    settings = {"n_tabular": n_tab, "pooling": "mean", "dropout": 0.1, "max_length": 16}
    response = BertResponse(CrossEncoder(tiny_dir, n_tab, "mean"), tok, feats, settings)
    response.save(tmp_path / "bert")
    loaded = BertResponse.load(tmp_path / "bert")
    pd.testing.assert_frame_equal(loaded.predict(rows), response.predict(rows))


def test_freezing_keeps_embeddings_and_lower_layers_fixed(tiny_dir, rows):
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    feats = Features().fit(rows)
    data = encode_examples(rows, tok, feats, max_length=16)
    model = CrossEncoder(tiny_dir, data["tabular"].shape[1], pooling="mean")
    model.freeze(1)  # of the tiny BERT's 2 layers
    t = {k: torch.as_tensor(v) for k, v in data.items()}
    logits = model(t["input_ids"], t["attention_mask"], t["token_type_ids"], t["tabular"])
    response_loss(logits, t["clicked"], t["converted"]).backward()
    enc = model.encoder
    assert all(p.grad is None for p in enc.embeddings.parameters())
    assert all(p.grad is None for p in enc.encoder.layer[0].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in enc.encoder.layer[1].parameters())
    assert model.heads.weight.grad is not None
