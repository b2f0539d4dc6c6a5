"""Sentence embedders (sentence-transformers), loaded once and passed to whoever needs them."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ragft.config import EmbedderConfig
from ragft.errors import BackendError
from ragft.models.builtin import resolve_embedder_path


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, so a dot product is the cosine."""
        ...


class SentenceTransformerEmbedder:
    def __init__(self, config: EmbedderConfig):
        from sentence_transformers import SentenceTransformer

        from ragft.models.llm import pick_device

        self.config = config
        self.name = config.model
        path = resolve_embedder_path(config.model)
        try:
            self.model = SentenceTransformer(path, device=pick_device(config.device))
        except (OSError, ValueError) as err:
            raise BackendError(
                f"cannot load embedder {config.model!r} ({str(err).splitlines()[0]}) — give a local "
                "path or a cached Hugging Face id (ragft works offline)"
            ) from None
        self.dim = int(self.model.get_embedding_dimension())

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.config.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)


    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for these texts (each truncated at its maximum length, as embedded)."""
        limit = self.model.max_seq_length
        ids = self.model.tokenizer(list(texts), truncation=bool(limit), max_length=limit)["input_ids"]
        return sum(len(row) for row in ids)


def load_embedder(config: EmbedderConfig) -> Embedder:
    return SentenceTransformerEmbedder(config)
