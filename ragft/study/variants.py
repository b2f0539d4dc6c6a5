"""Turn a study variant (a recipe in YAML) into something that answers questions.

Every answerer has ``answer_batch(questions, doc_scopes) -> list[Answer]``. A name→builder
table maps variant types to builders; later techniques add a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.errors import ConfigError
from ragft.study.study_config import VariantConfig
from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT, ClosedBook
from ragft.rag.modular import ModularRAG, Step
from ragft.rag.registry import StepContext, build_pipeline
from ragft.rag.steps import RAG_SYSTEM_PROMPT, Extract, Retrieve
from ragft.types import Answer, Document, QAExample


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


@dataclass
class StudyResources:
    """Heavy objects a study loads once and shares between variants."""

    embedder: Embedder
    index_for: Callable[[VariantConfig], HybridIndex]  # the index built with the variant's chunker
    llm_for: Callable[[str], LLM]  # models are loaded lazily: a fully cached variant needs none
    index_for_chunker: Callable[[ChunkerConfig], HybridIndex] | None = None
    documents: Callable[[], list[Document]] | None = None
    train_examples: Callable[[], list[QAExample]] | None = None
    cache_dir: Path = Path(".ragft-cache")


def _closed_book(variant: VariantConfig, res: StudyResources):
    return ClosedBook(res.llm_for(variant.llm), system_prompt=variant.system_prompt or CLOSED_BOOK_SYSTEM_PROMPT,
                      max_new_tokens=variant.max_new_tokens)


def _step_context(variant: VariantConfig, res: StudyResources, llm_for: Callable[[], LLM]) -> StepContext:
    return StepContext(
        index=res.index_for(variant), embedder=res.embedder, llm_for=llm_for,
        retrieval=variant.retrieval, index_for_chunker=res.index_for_chunker, documents=res.documents,
        train_examples=res.train_examples,
        cache_dir=res.cache_dir, system_prompt=variant.system_prompt or RAG_SYSTEM_PROMPT,
        max_new_tokens=variant.max_new_tokens,
    )


def _rag(variant: VariantConfig, res: StudyResources):
    context = _step_context(variant, res, lambda: res.llm_for(variant.llm))
    return build_pipeline([step.model_dump() for step in variant.pipeline], context)


def _extractive(variant: VariantConfig, res: StudyResources):
    steps = []
    if variant.pipeline:  # retrieval steps only: the answer is extracted, never generated
        def no_llm() -> LLM:
            raise ConfigError(f"variant {variant.name!r} is extractive (no LLM): its pipeline may only "
                              "use steps that need no LLM — use type: rag for the others")
        steps = build_pipeline([step.model_dump() for step in variant.pipeline],
                               _step_context(variant, res, no_llm)).steps
    return ExtractiveBaseline(res.index_for(variant), res.embedder, variant.retrieval, steps)


BUILDERS = {"closed_book": _closed_book, "rag": _rag, "extractive": _extractive}
RETRIEVING_TYPES = {"rag", "extractive"}
USES_LLM = {"closed_book", "rag"}
# Task types a variant type cannot answer in kind: it is not eligible when they decide the verdict.
CANNOT_ANSWER = {"extractive": {"classification": "it quotes a sentence and can never answer with a label"}}


def build_answerer(variant: VariantConfig, resources: StudyResources):
    return BUILDERS[variant.type](variant, resources)
