"""Post-retrieval steps: they thin, shrink or reorder ``state.hits`` before generation.

(``rerank``, which re-scores them, is in :mod:`ragft.rag.rerank`.)

- ``mmr`` — maximal marginal relevance (``lambda_`` 0.7) over hit embeddings, after dropping
  exact duplicates (same whitespace-normalised text) and near-duplicates (cosine >
  ``duplicate_threshold``, 0.95) of a better-ranked hit; keeps ``top_k``. Relevance is the
  cosine between question and hit, so MMR's first pick is the densest match.
- ``compress`` — keep only the sentences most similar to the question (embedding cosine) that
  fit in ``max_tokens`` (300), in their original order; each run of consecutive kept
  sentences becomes its own hit with exact document offsets (``f"{doc_id}@{start}-{end}"``),
  so evidence metrics stay exact; hits left with no sentence disappear. Tokens are counted
  with the LLM's tokenizer when it has ``count_tokens`` (``tokenizer: auto``, the default,
  loads the generator), else as ⌈words × 4/3⌉ (``tokenizer: whitespace``). If even the best
  sentence exceeds the budget, that one sentence is kept anyway.
- ``reorder`` — "lost in the middle" ordering (Liu et al., 2023): the best hits at both ends
  of the prompt, the weakest in the middle: ranks 1, 3, 5, …, 4, 2. Hit ranks keep the
  relevance order, the list is the prompt order. (Note: the study's doc MRR reads the list
  order, so it drops under ``reorder`` although the same hits are shown.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.rag.modular import RAGState
from ragft.rag.params import StepDef, StepParams
from ragft.rag.structure import renumber, sentence_spans, span_chunk
from ragft.types import Hit


# ---------------------------------------------------------------------------------------------
# mmr
# ---------------------------------------------------------------------------------------------


class HitVectors:
    """Unit vectors of hit chunks: taken from an index when it holds the same chunk, else embedded."""

    def __init__(self, embedder: Embedder, index: HybridIndex | None = None):
        self.embedder = embedder
        self.index = index
        self._rows = {c.chunk_id: row for row, c in enumerate(index.chunks)} if index is not None else {}

    def __call__(self, hits: list[Hit]) -> np.ndarray:
        vectors: list[np.ndarray | None] = []
        for hit in hits:
            row = self._rows.get(hit.chunk.chunk_id)
            same = row is not None and self.index.chunks[row].text == hit.chunk.text
            vectors.append(self.index.embeddings[row] if same else None)
        todo = [i for i, v in enumerate(vectors) if v is None]
        if todo:
            for i, vector in zip(todo, self.embedder.embed([hits[i].chunk.text for i in todo])):
                vectors[i] = vector
        return np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, self.embedder.dim), np.float32)


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class MMR:
    """Drop duplicates, then pick ``top_k`` by maximal marginal relevance."""

    vectors: HitVectors
    top_k: int = 5
    lambda_: float = 0.7
    duplicate_threshold: float = 0.95
    name: str = "mmr"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        questions = self.vectors.embedder.embed([state.question for state in states])
        for state, question in zip(states, questions):
            if not state.hits:
                state.trace[self.name] = {"duplicates": [], "selected": []}
                continue
            matrix = self.vectors(state.hits)
            kept, duplicates, seen = [], [], set()
            for i, hit in enumerate(state.hits):
                text = _normalised(hit.chunk.text)
                if text in seen or any(float(matrix[i] @ matrix[j]) > self.duplicate_threshold for j in kept):
                    duplicates.append(hit.chunk.chunk_id)
                    continue
                seen.add(text)
                kept.append(i)
            relevance = {i: float(matrix[i] @ question) for i in kept}
            selected: list[int] = []
            candidates = list(kept)
            while candidates and len(selected) < self.top_k:
                def marginal(i: int) -> float:
                    redundancy = max((float(matrix[i] @ matrix[j]) for j in selected), default=0.0)
                    return self.lambda_ * relevance[i] - (1 - self.lambda_) * redundancy
                best = max(candidates, key=marginal)  # max keeps the first (better-ranked) on ties
                selected.append(best)
                candidates.remove(best)
            state.hits = renumber([state.hits[i] for i in selected])
            state.trace[self.name] = {"duplicates": duplicates, "selected": [h.chunk.chunk_id for h in state.hits]}
        return states


class MMRParams(StepParams):
    top_k: int | None = Field(None, ge=1)  # None: the variant's retrieval top_k
    lambda_: float = Field(0.7, ge=0, le=1)
    duplicate_threshold: float = Field(0.95, ge=0, le=1)


def _mmr(params: MMRParams, ctx):
    return MMR(HitVectors(ctx.embedder, ctx.index), params.top_k or ctx.retrieval.top_k, params.lambda_,
               params.duplicate_threshold)


# ---------------------------------------------------------------------------------------------
# compress
# ---------------------------------------------------------------------------------------------


def whitespace_tokens(text: str) -> int:
    """⌈words × 4/3⌉: about what BPE tokenizers give for English prose."""
    return math.ceil(len(text.split()) * 4 / 3)


@dataclass
class Compress:
    """Keep the question's most similar sentences within ``max_tokens``, as exact-offset hits."""

    embedder: Embedder
    max_tokens: int = 300
    count_tokens: Callable[[str], int] | None = None  # None: resolved on first run from ``llm_for``
    llm_for: Callable[[], Any] | None = None
    name: str = "compress"

    def _counter(self) -> Callable[[str], int]:
        if self.count_tokens is None:
            llm = self.llm_for() if self.llm_for is not None else None
            self.count_tokens = getattr(llm, "count_tokens", None) or whitespace_tokens
        return self.count_tokens

    def run(self, states: list[RAGState]) -> list[RAGState]:
        count = self._counter()
        # Every distinct sentence of every hit: (state, hit position, sentence position, start, end),
        # offsets relative to the chunk text.
        units: list[tuple[int, int, int, int, int]] = []
        for s, state in enumerate(states):
            seen = set()
            for h, hit in enumerate(state.hits):
                for i, (start, end) in enumerate(sentence_spans(hit.chunk)):
                    key = (hit.chunk.doc_id, hit.chunk.start + start, hit.chunk.start + end)
                    if key not in seen:  # overlapping hits repeat sentences; score and keep each once
                        seen.add(key)
                        units.append((s, h, i, start, end))
        texts = [states[s].hits[h].chunk.text[a:b] for s, h, _, a, b in units]
        vectors = self.embedder.embed([state.question for state in states] + texts)
        questions, unit_vectors = vectors[:len(states)], vectors[len(states):]
        similarity = [float(v @ questions[unit[0]]) for unit, v in zip(units, unit_vectors)]
        by_state: dict[int, list[int]] = {}
        for u, unit in enumerate(units):
            by_state.setdefault(unit[0], []).append(u)
        for s, state in enumerate(states):
            mine = by_state.get(s, [])
            kept, used = [], 0
            for u in sorted(mine, key=lambda u: -similarity[u]):
                cost = count(texts[u])
                if used + cost <= self.max_tokens or not kept:  # the best sentence is kept even if too long
                    kept.append(u)
                    used += cost
            before_tokens = sum(count(hit.chunk.text) for hit in state.hits)
            state.hits = renumber(self._runs(state.hits, [units[u] for u in sorted(kept)],
                                             [similarity[u] for u in sorted(kept)]))
            state.trace[self.name] = {"tokens_before": before_tokens, "tokens_after": used,
                                      "sentences_before": len(mine), "sentences_kept": len(kept),
                                      "hits": [h.chunk.chunk_id for h in state.hits]}
        return states

    @staticmethod
    def _runs(hits: list[Hit], kept: list[tuple[int, int, int, int, int]], similarity: list[float]) -> list[Hit]:
        """Each run of consecutive kept sentences of a hit → one exact-offset hit, in the old order.

        ``kept`` is in (hit, sentence) order, as units were created."""
        out: list[Hit] = []
        run: list[int] = []  # indices into kept
        for k in range(len(kept) + 1):
            continues = (k < len(kept) and run and kept[k][1] == kept[run[-1]][1]
                         and kept[k][2] == kept[run[-1]][2] + 1)
            if run and not continues:
                hit = hits[kept[run[0]][1]]
                a, b = kept[run[0]][3], kept[run[-1]][4]
                chunk = span_chunk(hit.chunk.doc_id, hit.chunk.text[a:b], hit.chunk.start + a, hit.chunk.start + b,
                                   {**hit.chunk.metadata, "compressed_from": hit.chunk.chunk_id})
                out.append(Hit(chunk=chunk, score=max(similarity[x] for x in run), rank=0, retriever=hit.retriever))
                run = []
            if k < len(kept):
                run.append(k)
        return out


class CompressParams(StepParams):
    max_tokens: int = Field(300, ge=1)
    tokenizer: Literal["auto", "llm", "whitespace"] = "auto"  # auto and llm: the generator's, if it counts


def _compress(params: CompressParams, ctx):
    if params.tokenizer == "whitespace":
        return Compress(ctx.embedder, params.max_tokens, whitespace_tokens)
    return Compress(ctx.embedder, params.max_tokens, None, ctx.llm_for)


# ---------------------------------------------------------------------------------------------
# reorder
# ---------------------------------------------------------------------------------------------


def lost_in_the_middle_order(n: int) -> list[int]:
    """Positions 0..n-1 (best first) arranged best-at-both-ends: 0, 2, 4, …, 3, 1."""
    return list(range(0, n, 2)) + list(range(1, n, 2))[::-1]


@dataclass
class Reorder:
    """Most relevant hits at the start and end of the prompt, least relevant in the middle."""

    name: str = "reorder"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        for state in states:
            state.hits = [state.hits[i] for i in lost_in_the_middle_order(len(state.hits))]
            state.trace[self.name] = {"ranks": [hit.rank for hit in state.hits]}
        return states


class ReorderParams(StepParams):
    pass  # no params


def _reorder(params: ReorderParams, ctx):
    return Reorder()


STEPS = {"mmr": StepDef(MMRParams, _mmr), "compress": StepDef(CompressParams, _compress),
         "reorder": StepDef(ReorderParams, _reorder)}
