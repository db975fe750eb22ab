"""The BERT cross-encoder response model: p(click) and p(conversion | click) from text + features.

The encoder reads the pair (user interest text, ad creative text) as one
sequence, so attention relates the user's words to the ad's; its pooled
output (CLS or mean) is concatenated with the standardised tabular features
(`Features.dense`), and two heads predict click and conversion-given-click.
`train_bert` (``adopt.response.train_bert``) fits it on Ray Train;
`BertResponse` is the fitted, calibrated predictor it returns and saves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer

from adopt.exceptions import InputError
from adopt.response.calibration import calibrator_from_dict
from adopt.response.features import Features
from adopt.workspace import atomic_path

TEXT_COLUMNS = ("user_text", "ad_text")
POOLINGS = ("cls", "mean")


class CrossEncoder(nn.Module):
    """BERT-family encoder over a text pair, fused with tabular features, two logit heads.

    Parameters
    ----------
    model_dir : a folder in Hugging Face layout (config, weights, tokenizer).
    n_tabular : width of the tabular feature vector fused before the heads.
    pooling : ``"cls"`` (first token) or ``"mean"`` (mask-weighted mean of tokens).
    dropout : dropout before the heads.
    pretrained : load the folder's weights; False builds the architecture from its
        config only (weights then come from a saved state dict).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        n_tabular: int,
        pooling: str = "cls",
        dropout: float = 0.1,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(
                f"The 'pooling' parameter of CrossEncoder must be one of {POOLINGS}. "
                f"Got {pooling!r} instead."
            )
        self.pooling = pooling
        if pretrained:
            self.encoder = AutoModel.from_pretrained(str(model_dir))
        else:
            self.encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(model_dir)))
        hidden = self.encoder.config.hidden_size
        self.fuse = nn.Sequential(
            nn.Linear(hidden + n_tabular, hidden), nn.GELU(), nn.Dropout(dropout)
        )
        self.heads = nn.Linear(hidden, 2)  # column 0: click, column 1: conversion | click
        # a linear path from the tabular features straight to the logits (wide & deep):
        # strong tabular signals are learned in a few steps instead of through the MLP
        self.wide = nn.Linear(n_tabular, 2, bias=False)

    @torch.no_grad()
    def init_prior(self, click_rate: float, conversion_rate: float) -> None:
        """Start both heads at the base rates, so early steps learn signal rather than the bias."""
        rates = torch.tensor([click_rate, conversion_rate], dtype=torch.float64)
        rates = rates.clamp(1e-4, 1 - 1e-4)
        self.heads.bias.copy_(torch.log(rates / (1 - rates)).to(self.heads.bias.dtype))

    def freeze(self, layers: int) -> None:
        """Stop gradients in the embeddings and the lowest ``layers`` encoder layers (0: none)."""
        if layers <= 0:
            return
        blocks = [self.encoder.embeddings, *self.encoder.encoder.layer[:layers]]
        for block in blocks:
            for p in block.parameters():
                p.requires_grad_(False)

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the encoder (trained at the larger head learning rate)."""
        return [*self.fuse.parameters(), *self.heads.parameters(), *self.wide.parameters()]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        tabular: torch.Tensor,
    ) -> torch.Tensor:
        """Logits of shape ``(batch, 2)``: click, conversion given click."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        if self.pooling == "cls":
            pooled = out[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.heads(self.fuse(torch.cat([pooled, tabular], dim=1))) + self.wide(tabular)


def response_loss(
    logits: torch.Tensor, clicked: torch.Tensor, converted: torch.Tensor
) -> torch.Tensor:
    """Click log loss on every row plus conversion log loss on the clicked rows."""
    bce = nn.functional.binary_cross_entropy_with_logits
    loss = bce(logits[:, 0], clicked)
    mask = clicked > 0.5
    if mask.any():
        loss = loss + bce(logits[mask, 1], converted[mask])
    return loss


def encode_examples(
    df: pd.DataFrame, tokenizer: Any, features: Features, max_length: int
) -> dict[str, np.ndarray]:
    """Token ids of the (user text, ad text) pairs, dense tabular features and labels.

    Returns
    -------
    dict
        ``input_ids, attention_mask, token_type_ids`` (int64, padded to
        ``max_length``), ``tabular`` (float32), ``clicked`` and ``converted``
        (float32; zeros where a label column is absent).
    """
    for col in TEXT_COLUMNS:
        if col not in df.columns:
            raise InputError("training_examples", col, "the BERT model needs this text column")
    tokens = tokenizer(
        df["user_text"].fillna("").astype(str).tolist(),
        df["ad_text"].fillna("").astype(str).tolist(),
        padding="max_length", truncation=True, max_length=max_length, return_tensors="np",
    )
    out = {k: np.asarray(tokens[k], dtype=np.int64)
           for k in ("input_ids", "attention_mask", "token_type_ids")}
    out["tabular"] = features.dense(df)
    for label in ("clicked", "converted"):
        values = df[label] if label in df.columns else pd.Series(0, index=df.index)
        out[label] = values.to_numpy(dtype=np.float32)
    return out


@torch.no_grad()
def predict_logits(
    model: CrossEncoder, data: dict[str, np.ndarray], batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Logits ``(n, 2)`` of ``model`` on encoded examples, in eval mode, batch by batch."""
    model.eval()
    outs = []
    n = len(data["input_ids"])
    for start in range(0, n, batch_size):
        batch = {k: torch.tensor(data[k][start:start + batch_size]).to(device)
                 for k in ("input_ids", "attention_mask", "token_type_ids", "tabular")}
        outs.append(model(**batch).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 2), dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class BertResponse:
    """A trained cross-encoder with its features, tokenizer and calibrators.

    Built by `adopt.response.train_bert.train_bert`; saved and loaded as a folder
    holding ``encoder/`` (config + tokenizer), ``cross_encoder.pt`` and ``bert.json``.
    """

    def __init__(
        self, model: CrossEncoder, tokenizer: Any, features: Features,
        settings: dict[str, Any], calibrators: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.features = features
        self.settings = settings
        self.calibrators = calibrators or {}

    def raw(self, df: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities ``(n, 2)``: click, conversion given click."""
        data = encode_examples(df, self.tokenizer, self.features, self.settings["max_length"])
        return _sigmoid(predict_logits(self.model, data))

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """Calibrated ``p_click``, ``p_conversion_given_click`` and ``p_conversion`` per row."""
        raw = self.raw(df)
        out = {}
        for i, (target, name) in enumerate((("click", "p_click"),
                                            ("conversion", "p_conversion_given_click"))):
            p = raw[:, i]
            out[name] = self.calibrators[target].predict(p) if target in self.calibrators else p
        frame = pd.DataFrame(out, index=df.index)
        frame["p_conversion"] = frame["p_click"] * frame["p_conversion_given_click"]
        return frame

    def predict_click(self, df: pd.DataFrame) -> np.ndarray:
        """Calibrated p(click) per row."""
        return self.predict(df)["p_click"].to_numpy()

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write encoder config, tokenizer, weights, features and calibrators under ``folder``."""
        folder = Path(folder)
        (folder / "encoder").mkdir(parents=True, exist_ok=True)
        self.model.encoder.config.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "encoder")
        with atomic_path(folder / "cross_encoder.pt") as tmp:
            torch.save(self.model.state_dict(), tmp)
        state = {
            "settings": self.settings,
            "features": self.features.to_dict(),
            "calibrators": {t: c.to_dict() for t, c in self.calibrators.items()},
        }
        with atomic_path(folder / "bert.json") as tmp:
            tmp.write_text(json.dumps(state, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> BertResponse:
        """Load a model written by `save` (no network: everything is in the folder)."""
        folder = Path(folder)
        state = json.loads((folder / "bert.json").read_text())
        settings = state["settings"]
        features = Features.from_dict(state["features"])
        model = CrossEncoder(folder / "encoder", settings["n_tabular"], settings["pooling"],
                             settings["dropout"], pretrained=False)
        model.load_state_dict(torch.load(folder / "cross_encoder.pt", weights_only=True))
        tokenizer = AutoTokenizer.from_pretrained(str(folder / "encoder"))
        calibrators = {t: calibrator_from_dict(c) for t, c in state["calibrators"].items()}
        return cls(model, tokenizer, features, settings, calibrators)
