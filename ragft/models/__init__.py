"""Model backends: generators (``LLM``) and embedders, the built-in offline models, and the
model registry (``ragft.models.registry``: trained versions with lineage, scores and status)."""

from ragft.models.embedder import Embedder, load_embedder
from ragft.models.llm import LLM, OpenAICompatibleLLM, TransformersLLM, load_llm

__all__ = ["LLM", "Embedder", "OpenAICompatibleLLM", "TransformersLLM", "load_embedder", "load_llm"]
