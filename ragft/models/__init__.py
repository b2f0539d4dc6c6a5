"""Model backends: generators (``LLM``) and embedders, plus the built-in offline models."""

from ragft.models.embedder import Embedder, load_embedder
from ragft.models.llm import LLM, OpenAICompatibleLLM, TransformersLLM, load_llm

__all__ = ["LLM", "Embedder", "OpenAICompatibleLLM", "TransformersLLM", "load_embedder", "load_llm"]
