"""Name → step builder, so a YAML pipeline can name any technique.

A builder is ``build(params: dict, ctx: StepContext) -> Step``. Technique modules export a
``STEPS`` dict of their builders; this module merges them. An unknown name or parameter is a
ConfigError listing what is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.rag.modular import ModularRAG, Step
from ragft.rag.steps import RAG_SYSTEM_PROMPT, Generate, Retrieve
from ragft.types import Document, QAExample


@dataclass
class StepContext:
    """What steps may use; heavy things are loaded lazily by whoever builds the context."""

    index: HybridIndex  # the variant's main chunk index
    embedder: Embedder
    llm_for: Callable[[], LLM]  # the variant's generator, loaded on first use
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    index_for_chunker: Callable[[ChunkerConfig], HybridIndex] | None = None  # e.g. a sentence-level index
    documents: Callable[[], list[Document]] | None = None
    train_examples: Callable[[], list[QAExample]] | None = None  # labelled training questions, if any
    cache_dir: Path = Path(".ragft-cache")  # where steps keep expensive artefacts (generated questions, graphs)
    system_prompt: str = RAG_SYSTEM_PROMPT
    max_new_tokens: int | None = None


def _retrieve(params: dict, ctx: StepContext) -> Step:
    retrieval = ctx.retrieval.model_copy(update=params) if params else ctx.retrieval
    return Retrieve(ctx.index, RetrievalConfig.model_validate(retrieval.model_dump()))


def _generate(params: dict, ctx: StepContext) -> Step:
    return Generate(ctx.llm_for(), system_prompt=params.get("system_prompt", ctx.system_prompt),
                    max_new_tokens=params.get("max_new_tokens", ctx.max_new_tokens))


def all_steps() -> dict[str, Callable[[dict, StepContext], Step]]:
    """Every registered step builder (technique modules are imported here, lazily)."""
    steps: dict[str, Callable[[dict, StepContext], Step]] = {"retrieve": _retrieve, "generate": _generate}
    for module_name in TECHNIQUE_MODULES:
        try:
            module = __import__(f"ragft.rag.{module_name}", fromlist=["STEPS"])
        except ModuleNotFoundError as err:
            if err.name != f"ragft.rag.{module_name}":
                raise
            continue
        steps.update(getattr(module, "STEPS", {}))
    return steps


# Modules that contribute technique steps; each exports STEPS = {name: builder}.
TECHNIQUE_MODULES = ("query", "examples", "hypothetical", "structure", "post", "grounding", "graph", "multihop")


def build_pipeline(step_configs: list[dict[str, Any]], ctx: StepContext) -> ModularRAG:
    """A ModularRAG from ``[{name: ..., params: {...}}, ...]``; default: retrieve then generate."""
    steps = all_steps()
    configs = step_configs or [{"name": "retrieve"}, {"name": "generate"}]
    built = []
    for position, config in enumerate(configs):
        name, params = config.get("name"), dict(config.get("params") or {})
        if name not in steps:
            raise ConfigError(f"pipeline step {position} {name!r} is not a known step — choose from: "
                              f"{', '.join(sorted(steps))}")
        try:
            built.append(steps[name](params, ctx))
        except TypeError as err:  # an unexpected keyword in params
            raise ConfigError(f"pipeline step {name!r}: {err} — check its params") from None
    return ModularRAG(built)

