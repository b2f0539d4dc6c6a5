"""Answering questions: naive RAG (retrieve, then generate) and the closed-book baseline.

Both expose ``answer_batch(questions, doc_scopes=None) -> list[Answer]`` so the study treats
every variant alike and batches generation (far faster on CPU than one question at a time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ragft.config import RetrievalConfig
from ragft.index.store import HybridIndex
from ragft.models.llm import LLM
from ragft.types import Answer, Hit

RAG_SYSTEM_PROMPT = (
    "You answer questions about an organisation's documents. Use only the numbered context "
    "passages. Reply with the short answer first, then cite the passages you used, like [1]. "
    "If the passages do not contain the answer, reply: Not found in the documents."
)
CLOSED_BOOK_SYSTEM_PROMPT = "Answer the question briefly and precisely."


def format_context(hits: list[Hit]) -> str:
    """Numbered passages with their source document, as the model (and the user) see them."""
    return "\n\n".join(f"[{hit.rank}] (from {hit.chunk.doc_id})\n{hit.chunk.text.strip()}" for hit in hits)


def rag_messages(question: str, hits: list[Hit], system_prompt: str = RAG_SYSTEM_PROMPT) -> list[dict]:
    user = f"Context:\n{format_context(hits)}\n\nQuestion: {question}"
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]


@dataclass
class NaiveRAG:
    """Retrieve the top-k chunks (dense, BM25 or hybrid), put them in the prompt, generate."""

    index: HybridIndex
    llm: LLM
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    system_prompt: str = RAG_SYSTEM_PROMPT
    max_new_tokens: int | None = None

    def retrieve(self, question: str, doc_scope: str | None = None) -> list[Hit]:
        r = self.retrieval
        return self.index.search(question, k=r.top_k, mode=r.mode, dense_weight=r.dense_weight,
                                 bm25_weight=r.bm25_weight, rrf_k=r.rrf_k, candidates=r.candidates,
                                 doc_ids=[doc_scope] if doc_scope else None)

    def answer_batch(self, questions: list[str], doc_scopes: list[str | None] | None = None) -> list[Answer]:
        doc_scopes = doc_scopes or [None] * len(questions)
        hits_per_question, retrieve_seconds = [], []
        for question, scope in zip(questions, doc_scopes):
            started = time.perf_counter()
            hits_per_question.append(self.retrieve(question, scope))
            retrieve_seconds.append(time.perf_counter() - started)
        conversations = [rag_messages(q, hits, self.system_prompt) for q, hits in zip(questions, hits_per_question)]
        generations = self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)
        return [
            Answer(question=q, text=g.text, hits=hits, prompt_tokens=g.prompt_tokens,
                   completion_tokens=g.completion_tokens, llm_calls=1,
                   timings={"retrieve": t, "generate": g.latency_s})
            for q, hits, g, t in zip(questions, hits_per_question, generations, retrieve_seconds)
        ]

    def answer(self, question: str, doc_scope: str | None = None) -> Answer:
        return self.answer_batch([question], [doc_scope])[0]


@dataclass
class ClosedBook:
    """The model alone, no retrieval: the baseline every RAG-vs-fine-tuning study needs."""

    llm: LLM
    system_prompt: str = CLOSED_BOOK_SYSTEM_PROMPT
    max_new_tokens: int | None = None

    def answer_batch(self, questions: list[str], doc_scopes: list[str | None] | None = None) -> list[Answer]:
        conversations = [[{"role": "system", "content": self.system_prompt}, {"role": "user", "content": q}]
                         for q in questions]
        generations = self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)
        return [Answer(question=q, text=g.text, prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens,
                       llm_calls=1, timings={"generate": g.latency_s})
                for q, g in zip(questions, generations)]

    def answer(self, question: str, doc_scope: str | None = None) -> Answer:
        return self.answer_batch([question])[0]
