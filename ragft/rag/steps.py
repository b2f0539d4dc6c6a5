"""The core pipeline steps — retrieve and generate (the name → step table is ``ragft.rag.registry``).

Technique steps (query rewriting, HyDE, reranking, compression, …) live in their own modules
(``ragft.rag.query``, ``ragft.rag.post``, …) and register themselves in ``ragft.rag.registry``, so a
config can name any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ragft.config import RetrievalConfig
from ragft.corpus.sentences import split_sentences
from ragft.index.store import HybridIndex, reciprocal_rank_fusion
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.rag.modular import RAGState
from ragft.rag.tasks import answer_with_formats
from ragft.types import Hit

RAG_SYSTEM_PROMPT = (
    "You answer questions about an organisation's documents. Use only the numbered context "
    "passages. Reply with the short answer first, then cite the passages you used, like [1]. "
    "If the passages do not contain the answer, reply: Not found in the documents."
)


def format_context(hits: list[Hit]) -> str:
    """Numbered passages with their source document, as the model (and the user) see them."""
    return "\n\n".join(f"[{i}] (from {hit.chunk.doc_id})\n{hit.chunk.text.strip()}" for i, hit in enumerate(hits, 1))


def rag_messages(question: str, hits: list[Hit], system_prompt: str = RAG_SYSTEM_PROMPT, note: str = "") -> list[dict]:
    context = format_context(hits) + (f"\n\n{note}" if note else "")
    user = f"Context:\n{context}\n\nQuestion: {question}"
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]


@dataclass
class Retrieve:
    """Search the index with every query of the state; several queries are merged by RRF."""

    index: HybridIndex
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    name: str = "retrieve"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        for state in states:
            state.hits = self.search_all(state.queries or [state.question], state.doc_scope)
        return states

    def search(self, query: str, doc_scope: str | None, k: int | None = None) -> list[Hit]:
        r = self.retrieval
        return self.index.search(query, k=k or r.top_k, mode=r.mode, dense_weight=r.dense_weight,
                                 bm25_weight=r.bm25_weight, rrf_k=r.rrf_k, candidates=r.candidates,
                                 doc_ids=[doc_scope] if doc_scope else None)

    def search_all(self, queries: list[str], doc_scope: str | None, k: int | None = None) -> list[Hit]:
        k = k or self.retrieval.top_k
        if len(queries) == 1:
            return self.search(queries[0], doc_scope, k)
        rankings = [self.search(q, doc_scope, max(k, self.retrieval.candidates)) for q in queries]
        return fuse_hits(rankings, k, self.retrieval.rrf_k)


def fuse_hits(rankings: list[list[Hit]], k: int, rrf_k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of several hit lists (by chunk id) into one top-k list."""
    by_id = {hit.chunk.chunk_id: hit.chunk for ranking in rankings for hit in ranking}
    ids = list(by_id)
    position = {chunk_id: i for i, chunk_id in enumerate(ids)}
    fused = reciprocal_rank_fusion([[(position[h.chunk.chunk_id], h.score) for h in r] for r in rankings],
                                   weights=[1.0] * len(rankings), rrf_k=rrf_k)
    return [Hit(chunk=by_id[ids[row]], score=score, rank=rank, retriever="fused")
            for rank, (row, score) in enumerate(fused[:k], start=1)]


@dataclass
class Generate:
    """Answer each question from its hits in one batched LLM call."""

    llm: LLM
    system_prompt: str = RAG_SYSTEM_PROMPT
    max_new_tokens: int | None = None
    name: str = "generate"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        conversations = [rag_messages(s.question, s.hits, self.system_prompt, s.context_note) for s in states]
        replies = answer_with_formats(self.llm, conversations, [s.answer_format for s in states], self.max_new_tokens)
        for state, (generation, label_scores) in zip(states, replies):
            state.answer = generation.text
            state.charge(generation)
            if label_scores is not None:
                state.trace["label_log_probs"] = label_scores
        return states


@dataclass
class Extract:
    """No LLM: answer with the retrieved sentence most similar to the question (or its queries).

    The extractive baseline's "generator". Sentences of every question in the batch are embedded
    in one call.
    """

    embedder: Embedder
    name: str = "extract"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        candidates = [[hit.chunk.text[s:e] for hit in state.hits
                       for s, e in split_sentences(hit.chunk.text, hard_newlines=False)] for state in states]
        texts = [t for state, sentences in zip(states, candidates) for t in [state.question, *sentences]]
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, 0))
        row = 0
        for state, sentences in zip(states, candidates):
            question, sentence_vectors = vectors[row], vectors[row + 1:row + 1 + len(sentences)]
            row += 1 + len(sentences)
            state.answer = sentences[int(np.argmax(sentence_vectors @ question))] if sentences else ""
        return states
