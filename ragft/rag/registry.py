"""Name → step, so a YAML pipeline can name any technique.

Technique modules export ``STEPS = {name: StepDef(ParamsModel, build)}`` (see
``ragft.rag.params``); this module merges them. ``step_params`` validates a step's ``params``
dict into its model — an unknown step, an unknown key or a bad value is one ConfigError line
naming the step and the field — and ``build_pipeline`` calls each ``build(params, ctx)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from ragft.config import ChunkerConfig, RetrievalConfig, describe_params_error
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.rag.modular import ModularRAG, Step
from ragft.rag.params import RetrievalOverrides, StepDef, StepParams
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


class GenerateParams(StepParams):
    system_prompt: str | None = None  # None: the variant's system prompt
    max_new_tokens: int | None = Field(None, ge=1)  # None: the variant's max_new_tokens


def _retrieve(params: RetrievalOverrides, ctx: StepContext) -> Step:
    return Retrieve(ctx.index, params.retrieval(ctx.retrieval))


def _generate(params: GenerateParams, ctx: StepContext) -> Step:
    return Generate(ctx.llm_for(), system_prompt=_given(params.system_prompt, ctx.system_prompt),
                    max_new_tokens=_given(params.max_new_tokens, ctx.max_new_tokens))


def _given(value, from_context):
    return from_context if value is None else value


@cache
def all_steps() -> dict[str, StepDef]:
    """Every registered step (technique modules are imported here, lazily, once)."""
    steps: dict[str, StepDef] = {"retrieve": StepDef(RetrievalOverrides, _retrieve),
                                 "generate": StepDef(GenerateParams, _generate)}
    for module_name in TECHNIQUE_MODULES:
        try:
            module = __import__(f"ragft.rag.{module_name}", fromlist=["STEPS"])
        except ModuleNotFoundError as err:
            if err.name != f"ragft.rag.{module_name}":
                raise
            continue
        steps.update(getattr(module, "STEPS", {}))
    return steps


# Modules that contribute technique steps; each exports STEPS = {name: StepDef(params model, build)}.
TECHNIQUE_MODULES = ("query", "examples", "hypothetical", "structure", "rerank", "post", "grounding", "graph",
                     "multihop", "citations")


def step_params(name: Any, params: dict[str, Any] | None, where: str = "") -> StepParams:
    """``params`` validated into step ``name``'s model; a ConfigError naming the step and field.

    ``where`` (e.g. "2 ") is put before the step's name in the message."""
    steps = all_steps()
    if name not in steps:
        raise ConfigError(f"pipeline step {where}{name!r} is not a known step — choose from: "
                          f"{', '.join(sorted(steps))}")
    model = steps[name].params
    try:
        return model.model_validate(params or {})
    except ValidationError as err:
        raise ConfigError(f"pipeline step {where}{name!r} params: {describe_params_error(err, model.model_fields)}") from None


def build_pipeline(step_configs: list[dict[str, Any]], ctx: StepContext) -> ModularRAG:
    """A ModularRAG from ``[{name: ..., params: {...}}, ...]``; default: retrieve then generate."""
    configs = step_configs or [{"name": "retrieve"}, {"name": "generate"}]
    built = []
    for position, config in enumerate(configs):
        name = config.get("name")
        params = step_params(name, config.get("params"), f"{position} ")
        built.append(all_steps()[name].build(params, ctx))
    return ModularRAG(built)
