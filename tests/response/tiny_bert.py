"""A tiny random BERT (hidden 32, 2 layers) and WordPiece vocab written to a folder: no download."""

from __future__ import annotations

from pathlib import Path

from transformers import BertConfig, BertModel, BertTokenizer

WORDS = ["likes", "shoes", "books", "phones", "games", "garden", "today", "often", "new",
         "cheap", "deal", "acme", "zeta", "nova"]


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Write config, random weights and tokenizer of a tiny BERT under ``folder``."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder
