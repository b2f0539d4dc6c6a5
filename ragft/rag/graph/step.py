"""The ``graph`` pipeline step: its params model and the retriever they configure.

Params (:class:`GraphParams`): ``extractor`` (pattern | llm), ``hops``, ``also_chunks``,
``seed_hits``, ``seed_sentences``, ``link_threshold``, ``decay``, ``max_neighbours``,
``cover_discount``, ``llm_batch_size``, ``llm_max_new_tokens``, ``vocabulary`` (a domain's extra
words, see :mod:`ragft.rag.graph.vocabulary`) and the retrieval keys (``top_k``, ``mode``, …).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ragft.errors import ConfigError
from ragft.rag.graph.extract import Extractor, PatternExtractor
from ragft.rag.graph.llm_extractor import LLMExtractor
from ragft.rag.graph.retrieve import GraphRetrieve
from ragft.rag.graph.vocabulary import Vocabulary, default_vocabulary, load_vocabulary
from ragft.rag.params import RetrievalOverrides, StepDef


def make_extractor(kind: str, ctx=None, batch_size: int = 8, max_new_tokens: int = 256,
                   vocabulary: Vocabulary | None = None) -> Extractor:
    """``pattern`` or ``llm`` (the variant's model, via ``ctx.llm_for()``)."""
    vocabulary = vocabulary or default_vocabulary()
    if kind == "pattern":
        return PatternExtractor(vocabulary=vocabulary)
    if kind == "llm":
        if ctx is None:
            raise ConfigError("the llm extractor needs a model")
        return LLMExtractor(ctx.llm_for(), getattr(ctx, "cache_dir", None), batch_size, max_new_tokens,
                            vocabulary=vocabulary)
    raise ConfigError(f"graph: extractor must be 'pattern' or 'llm', got {kind!r}")


class GraphParams(RetrievalOverrides):
    extractor: Literal["pattern", "llm"] = "pattern"
    hops: int = Field(1, ge=0)
    also_chunks: bool = Field(False)
    seed_hits: int = Field(3, ge=0)
    seed_sentences: int = Field(4, ge=1)
    link_threshold: float = Field(0.8, ge=0)
    decay: float = Field(0.5, ge=0)
    max_neighbours: int = Field(40, ge=1)
    cover_discount: float = Field(0.3, ge=0)
    llm_batch_size: int = Field(8, ge=1)
    llm_max_new_tokens: int = Field(256, ge=1)
    vocabulary: dict[str, list[str]] | None = None  # extra domain words, keys from vocabulary.EXTENSIBLE

    @field_validator("vocabulary", mode="before")
    @classmethod
    def _known_vocabulary(cls, value):
        try:
            load_vocabulary(value)
        except ConfigError as err:
            raise ValueError(str(err).removeprefix("graph: ")) from None
        return value


def _graph(params: GraphParams, ctx) -> GraphRetrieve:
    extractor = make_extractor(params.extractor, ctx, params.llm_batch_size, params.llm_max_new_tokens,
                               load_vocabulary(params.vocabulary))
    step = GraphRetrieve(
        ctx.index, ctx.embedder, params.retrieval(ctx.retrieval), extractor, ctx.cache_dir,
        hops=params.hops, also_chunks=params.also_chunks, seed_hits=params.seed_hits,
        seed_sentences=params.seed_sentences, cover_discount=params.cover_discount,
        link_threshold=params.link_threshold, decay=params.decay, max_neighbours=params.max_neighbours,
    )
    step.ensure_graph()  # built (or loaded) now, so its cost is not in the first batch's latency
    return step


STEPS = {"graph": StepDef(GraphParams, _graph)}
