"""A variant — everything that decides how a question is answered — as one typed spec, and the
one function that turns any spec into an answerer.

The study scores ``VariantSpec``s and saves them beside its results; ``ragft deploy`` writes
the chosen one into a workspace; ``ask``, the web app and ``/v1`` serve it; ``improve``
re-scores a candidate model by swapping the spec's generator. All of them build answerers with
``build_answerer(spec, resources)``, so what a study measured is exactly what is served.

``spec.key()`` is a stable hash of what determines the answers (type, models, embedder,
chunker, retrieval, steps, prompt, length) — not the name, the description or where a model
folder happens to live — so caches survive renames and moved run folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ragft.config import ChunkerConfig, EmbedderConfig, LLMConfig, RetrievalConfig, _Strict
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.persist import content_hash
from ragft.rag.modular import ModularRAG, Step
from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT, ClosedBook
from ragft.rag.registry import StepContext, build_pipeline, step_params
from ragft.rag.steps import RAG_SYSTEM_PROMPT, Extract, Retrieve
from ragft.types import Answer, Document, QAExample

VARIANT_TYPES = ("closed_book", "rag", "extractive")
RETRIEVING_TYPES = {"rag", "extractive"}
USES_LLM = {"closed_book", "rag"}
# Task types a variant type cannot answer in kind: it is not eligible when they decide the verdict.
CANNOT_ANSWER = {"extractive": {"classification": "it quotes a sentence and can never answer with a label"}}
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # also path- and URL-safe: names are served as model ids
# LLM settings that change speed, not answers: left out of a spec's key.
RUNTIME_LLM_FIELDS = {"batch_size", "timeout_s", "max_retries"}


class StepConfig(_Strict):
    """One pipeline step by name (see ``ragft.rag.registry``) with its parameters.

    The name and ``params`` are checked against the step's params model when the config (or a
    saved spec) is loaded, so a typo fails there, naming the step and field. ``params`` is kept
    as given — defaults are not filled in — because specs are hashed by their dump.
    """

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_step_with_valid_params(self):
        try:
            step_params(self.name, self.params)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return self


class VariantSpec(_Strict):
    """One way of answering: the pipeline's steps and every model and setting they use, resolved.

    ``llm`` is None for the extractive reader (no generator). ``model_version`` names the registry
    version the generator is (``registry:NAME`` in ``llm.model`` or the version's folder), with
    its data hash, so a retrained version with a reused name is a different spec.
    """

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["closed_book", "rag", "extractive"]
    llm: LLMConfig | None = None
    model_version: str | None = None  # "NAME@<data sha256>" for a registry version
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    chunker: ChunkerConfig = Field(default_factory=ChunkerConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    pipeline: list[StepConfig] = Field(default_factory=list)  # empty: [retrieve, generate] (naive RAG)
    system_prompt: str | None = None
    max_new_tokens: int | None = Field(None, ge=1)
    description: str = ""

    @property
    def retrieves(self) -> bool:
        return self.type in RETRIEVING_TYPES

    @property
    def generates(self) -> bool:
        return self.type in USES_LLM

    def identity(self) -> dict:
        """What determines the answers, with local model folders reduced to their names (a fine-
        tuned embedder's folder is named by the hash of its training; a registry version by its name)."""
        identity = self.model_dump(mode="json", exclude={"name", "description", "llm", "embedder"})
        identity["embedder"] = {**self.embedder.model_dump(mode="json"), "model": model_identity(self.embedder.model)}
        if self.generates and self.llm is not None:
            identity["llm"] = {**self.llm.model_dump(mode="json", exclude=RUNTIME_LLM_FIELDS),
                               "model": model_identity(self.llm.model)}
        if not self.retrieves:  # nothing is retrieved: the index settings cannot change an answer
            for unused in ("embedder", "chunker", "retrieval", "pipeline"):
                identity.pop(unused)
        return identity

    def key(self) -> str:
        """A stable 12-character hash of ``identity()``."""
        return content_hash(self.identity())[:12]

    def with_llm(self, llm: LLMConfig, model_version: str | None) -> VariantSpec:
        """The same pipeline with another generator (``improve``'s candidate, a promoted version)."""
        return self.model_copy(update={"llm": llm, "model_version": model_version})


def model_identity(model: str) -> str:
    """A model as it appears in a key: an absolute local folder by its name, anything else as is."""
    return Path(model).name if Path(model).is_absolute() else model


@dataclass
class AnswerResources:
    """Where an answerer gets its heavy objects; each caller (study, server, improve) loads them
    its own way — once, lazily — and the same spec builds the same pipeline everywhere."""

    embedder_for: Callable[[EmbedderConfig], Embedder]
    llm_for: Callable[[LLMConfig], LLM]
    index_for: Callable[[ChunkerConfig, EmbedderConfig], HybridIndex]  # the corpus cut and embedded so
    documents: Callable[[], list[Document]] | None = None
    train_examples: Callable[[], list[QAExample]] | None = None
    cache_dir: Path = Path(".ragft-cache")  # what steps build once (sentence indexes, graphs, …)


@dataclass
class ExtractiveBaseline:
    """No LLM at all: answer with the retrieved sentence most similar to the question.

    The floor any generator must beat: if a 135M model paraphrasing its context scores below
    simply quoting the best sentence, generation is costing quality, not adding it. Retrieval is
    ``steps`` (default: plain ``retrieve``), so retrieval techniques can be scored without an LLM.
    """

    index: HybridIndex
    embedder: Embedder
    retrieval: RetrievalConfig
    steps: list[Step] = field(default_factory=list)

    def answer_batch(self, questions: list[str], doc_scopes: list[str | None] | None = None,
                     formats: list | None = None) -> list[Answer]:
        # A quoted sentence is never a label: ``formats`` is accepted and ignored (see CANNOT_ANSWER).
        steps = self.steps or [Retrieve(self.index, self.retrieval)]
        return ModularRAG([*steps, Extract(self.embedder)]).answer_batch(questions, doc_scopes)


def build_answerer(spec: VariantSpec, resources: AnswerResources):
    """The answerer for ``spec``: ``answer_batch(questions, doc_scopes, formats) -> list[Answer]``."""
    return BUILDERS[spec.type](spec, resources)


def _closed_book(spec: VariantSpec, res: AnswerResources):
    return ClosedBook(res.llm_for(_needs_llm(spec)), system_prompt=spec.system_prompt or CLOSED_BOOK_SYSTEM_PROMPT,
                      max_new_tokens=spec.max_new_tokens)


def _rag(spec: VariantSpec, res: AnswerResources):
    context = _step_context(spec, res, lambda: res.llm_for(_needs_llm(spec)))
    return build_pipeline([step.model_dump() for step in spec.pipeline], context)


def _extractive(spec: VariantSpec, res: AnswerResources):
    steps = []
    if spec.pipeline:  # retrieval steps only: the answer is extracted, never generated
        def no_llm() -> LLM:
            raise ConfigError(f"variant {spec.name!r} is extractive (no LLM): its pipeline may only "
                              "use steps that need no LLM — use type: rag for the others")
        steps = build_pipeline([step.model_dump() for step in spec.pipeline], _step_context(spec, res, no_llm)).steps
    return ExtractiveBaseline(res.index_for(spec.chunker, spec.embedder), res.embedder_for(spec.embedder),
                              spec.retrieval, steps)


BUILDERS = {"closed_book": _closed_book, "rag": _rag, "extractive": _extractive}


def _needs_llm(spec: VariantSpec) -> LLMConfig:
    if spec.llm is None:
        raise ConfigError(f"variant {spec.name!r} ({spec.type}) has no llm — give it a model")
    return spec.llm


def _step_context(spec: VariantSpec, res: AnswerResources, llm_for: Callable[[], LLM]) -> StepContext:
    return StepContext(
        index=res.index_for(spec.chunker, spec.embedder), embedder=res.embedder_for(spec.embedder), llm_for=llm_for,
        retrieval=spec.retrieval, index_for_chunker=lambda chunker: res.index_for(chunker, spec.embedder),
        documents=res.documents, train_examples=res.train_examples, cache_dir=res.cache_dir,
        system_prompt=spec.system_prompt or RAG_SYSTEM_PROMPT, max_new_tokens=spec.max_new_tokens,
    )
