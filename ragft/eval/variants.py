"""Turn a study variant (a recipe in YAML) into something that answers questions.

Every answerer has ``answer_batch(questions, doc_scopes) -> list[Answer]``. A name→builder
table maps variant types to builders; later techniques add a row here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.corpus.chunkers import split_sentences
from ragft.eval.study_config import VariantConfig
from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT, ClosedBook
from ragft.rag.registry import StepContext, build_pipeline
from ragft.rag.steps import RAG_SYSTEM_PROMPT, Retrieve
from ragft.types import Answer, Document


@dataclass
class ExtractiveBaseline:
    """No LLM at all: answer with the retrieved sentence most similar to the question.

    The floor any generator must beat: if a 135M model paraphrasing its context scores below
    simply quoting the best sentence, generation is costing quality, not adding it.
    """

    index: HybridIndex
    embedder: Embedder
    retrieval: RetrievalConfig

    def answer_batch(self, questions: list[str], doc_scopes: list[str | None] | None = None) -> list[Answer]:
        doc_scopes = doc_scopes or [None] * len(questions)
        return [self._answer(q, scope) for q, scope in zip(questions, doc_scopes)]

    def _answer(self, question: str, doc_scope: str | None) -> Answer:
        started = time.perf_counter()
        hits = Retrieve(self.index, self.retrieval).search(question, doc_scope)
        sentences = [hit.chunk.text[s:e] for hit in hits
                     for s, e in split_sentences(hit.chunk.text, hard_newlines=False)]
        best = ""
        if sentences:
            vectors = self.embedder.embed([question] + sentences)
            best = sentences[int(np.argmax(vectors[1:] @ vectors[0]))]
        return Answer(question=question, text=best, hits=hits, llm_calls=0,
                      timings={"retrieve": time.perf_counter() - started})


@dataclass
class StudyResources:
    """Heavy objects a study loads once and shares between variants."""

    embedder: Embedder
    index_for: Callable[[VariantConfig], HybridIndex]  # the index built with the variant's chunker
    llm_for: Callable[[str], LLM]  # models are loaded lazily: a fully cached variant needs none
    index_for_chunker: Callable[[ChunkerConfig], HybridIndex] | None = None
    documents: Callable[[], list[Document]] | None = None
    cache_dir: Path = Path(".ragft-cache")


def _closed_book(variant: VariantConfig, res: StudyResources):
    return ClosedBook(res.llm_for(variant.llm), system_prompt=variant.system_prompt or CLOSED_BOOK_SYSTEM_PROMPT,
                      max_new_tokens=variant.max_new_tokens)


def _rag(variant: VariantConfig, res: StudyResources):
    context = StepContext(
        index=res.index_for(variant), embedder=res.embedder, llm_for=lambda: res.llm_for(variant.llm),
        retrieval=variant.retrieval, index_for_chunker=res.index_for_chunker, documents=res.documents,
        cache_dir=res.cache_dir, system_prompt=variant.system_prompt or RAG_SYSTEM_PROMPT,
        max_new_tokens=variant.max_new_tokens,
    )
    return build_pipeline([step.model_dump() for step in variant.pipeline], context)


def _extractive(variant: VariantConfig, res: StudyResources):
    return ExtractiveBaseline(res.index_for(variant), res.embedder, variant.retrieval)


BUILDERS = {"closed_book": _closed_book, "rag": _rag, "extractive": _extractive}
RETRIEVING_TYPES = {"rag", "extractive"}
USES_LLM = {"closed_book", "rag"}


def build_answerer(variant: VariantConfig, resources: StudyResources):
    return BUILDERS[variant.type](variant, resources)
