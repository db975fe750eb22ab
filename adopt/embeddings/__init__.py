"""BERT embeddings of ad creatives and user interests, on Ray Data, cached in the warehouse.

Stage between the SQL profiles and the response models: `embed_workspace` fills
the warehouse tables ``embedding_cache`` / ``embeddings`` (view
``embedding_vectors``), `load_embeddings` reads them back as matrices, and
`Encoder` embeds any texts directly.
"""

from __future__ import annotations

from adopt.embeddings.actors import ActorConfig, actor_config
from adopt.embeddings.encoder import Encoder
from adopt.embeddings.models import default_model_path, model_id, resolve_model
from adopt.embeddings.pipeline import EmbedSummary, embed_workspace, load_embeddings

__all__ = [
    "ActorConfig",
    "EmbedSummary",
    "Encoder",
    "actor_config",
    "default_model_path",
    "embed_workspace",
    "load_embeddings",
    "model_id",
    "resolve_model",
]
