"""Answering questions: naive RAG (retrieve, then generate) and the closed-book baseline.

Both expose ``answer_batch(questions, doc_scopes=None) -> list[Answer]`` so the study treats
every variant alike and batches generation (far faster on CPU than one question at a time).
Naive RAG is the simplest ``ModularRAG``: one retrieve step and one generate step; advanced
techniques add steps around them (see ``ragft.rag.modular``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragft.config import RetrievalConfig
from ragft.index.store import HybridIndex
from ragft.models.llm import LLM
from ragft.rag.modular import ModularRAG
from ragft.rag.steps import RAG_SYSTEM_PROMPT, Generate, Retrieve
from ragft.rag.tasks import answer_with_formats
from ragft.types import Answer

CLOSED_BOOK_SYSTEM_PROMPT = "Answer the question briefly and precisely."


def naive_rag(index: HybridIndex, llm: LLM, retrieval: RetrievalConfig | None = None,
              system_prompt: str = RAG_SYSTEM_PROMPT, max_new_tokens: int | None = None) -> ModularRAG:
    """Retrieve the top-k chunks (dense, BM25 or hybrid), put them in the prompt, generate."""
    return ModularRAG([Retrieve(index, retrieval or RetrievalConfig()),
                       Generate(llm, system_prompt=system_prompt, max_new_tokens=max_new_tokens)])


@dataclass
class ClosedBook:
    """The model alone, no retrieval: the baseline every RAG-vs-fine-tuning study needs."""

    llm: LLM
    system_prompt: str = CLOSED_BOOK_SYSTEM_PROMPT
    max_new_tokens: int | None = None

    def answer_batch(self, questions: list[str], doc_scopes: list[str | None] | None = None,
                     formats: list | None = None) -> list[Answer]:
        conversations = [[{"role": "system", "content": self.system_prompt}, {"role": "user", "content": q}]
                         for q in questions]
        replies = answer_with_formats(self.llm, conversations, formats or [None] * len(questions), self.max_new_tokens)
        return [Answer(question=q, text=g.text, prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens,
                       llm_calls=1, timings={"generate": g.latency_s},
                       trace={"label_log_probs": labels} if labels is not None else {})
                for q, (g, labels) in zip(questions, replies)]

    def answer(self, question: str, doc_scope: str | None = None) -> Answer:
        return self.answer_batch([question])[0]
