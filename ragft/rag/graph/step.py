"""The ``graph`` pipeline step: its params, checked, and the retriever they configure.

Params: ``extractor`` (pattern | llm), ``hops``, ``also_chunks``, ``seed_hits``,
``seed_sentences``, ``link_threshold``, ``decay``, ``max_neighbours``, ``cover_discount``,
``llm_batch_size``, ``llm_max_new_tokens``, ``vocabulary`` (a domain's extra words, see
:mod:`ragft.rag.graph.vocabulary`) and the retrieval keys (``top_k``, ``mode``, …).
"""

from __future__ import annotations

from collections.abc import Callable

from ragft.errors import ConfigError
from ragft.rag.graph.extract import Extractor, PatternExtractor
from ragft.rag.graph.llm_extractor import LLMExtractor
from ragft.rag.graph.retrieve import GraphRetrieve
from ragft.rag.graph.vocabulary import Vocabulary, default_vocabulary, load_vocabulary
from ragft.rag.structure import RETRIEVAL_PARAMS, check_params, retrieval_from

_GRAPH_PARAMS = ("extractor", "hops", "also_chunks", "seed_hits", "seed_sentences", "link_threshold", "decay",
                 "max_neighbours", "cover_discount", "llm_batch_size", "llm_max_new_tokens", "vocabulary",
                 *RETRIEVAL_PARAMS)


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


def _positive(params: dict, name: str, default, kind=int, low=0):
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ConfigError(f"graph: {name} must be a number >= {low}, got {value!r}")
    return kind(value)


def _graph(params: dict, ctx) -> GraphRetrieve:
    check_params("graph", params, _GRAPH_PARAMS)
    also_chunks = params.get("also_chunks", False)
    if not isinstance(also_chunks, bool):
        raise ConfigError(f"graph: also_chunks must be true or false, got {also_chunks!r}")
    extractor = make_extractor(params.get("extractor", "pattern"), ctx, _positive(params, "llm_batch_size", 8, low=1),
                               _positive(params, "llm_max_new_tokens", 256, low=1),
                               load_vocabulary(params.get("vocabulary")))
    step = GraphRetrieve(
        ctx.index, ctx.embedder, retrieval_from(params, ctx.retrieval), extractor, ctx.cache_dir,
        hops=_positive(params, "hops", 1), also_chunks=also_chunks, seed_hits=_positive(params, "seed_hits", 3),
        seed_sentences=_positive(params, "seed_sentences", 4, low=1),
        cover_discount=_positive(params, "cover_discount", 0.3, float),
        link_threshold=_positive(params, "link_threshold", 0.8, float), decay=_positive(params, "decay", 0.5, float),
        max_neighbours=_positive(params, "max_neighbours", 40, low=1),
    )
    step.ensure_graph()  # built (or loaded) now, so its cost is not in the first batch's latency
    return step


STEPS: dict[str, Callable] = {"graph": _graph}
