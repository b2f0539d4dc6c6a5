"""Post-retrieval steps: they reorder, thin or shrink ``state.hits`` before generation.

- ``rerank`` — re-score the retrieved hits and keep ``top_k`` (retrieve more, e.g. 15, first):

  * ``method: embedding`` (the default) — each hit scores the highest cosine between the
    question and any one of its sentences, plus ``rank_weight / original_position``
    (``rank_weight`` 0.05 by default: a small prior for the first retriever's order that
    breaks near-ties, too small to outvote a clearly better sentence match). Sentence-level
    matching finds the one answer-bearing sentence that a whole-chunk embedding dilutes.
  * ``model: <path or HF id>`` (``method: cross_encoder``) — a sentence-transformers
    ``CrossEncoder`` scores every (question, passage) pair. ragft works offline, so the model
    must be a local path or already in the Hugging Face cache; otherwise a ConfigError.
  * ``method: llm`` — the generator judges each (question, passage) pair "yes"/"no" in one
    batched call. With a local transformers model the score is P(yes) / (P(yes) + P(no)) of
    the first answer token (one forward pass, no sampling); with other backends the generated
    verdict is parsed (yes 1, no 0, unclear 0.5). ``scoring: probability | verdict`` forces
    one. Every pair is charged as one LLM call.
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
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.models.embedder import Embedder
from ragft.rag.modular import RAGState
from ragft.rag.structure import check_params, renumber, sentence_spans, span_chunk
from ragft.types import Generation, Hit


def _positive_int(step: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{step}: {name} must be an integer >= 1, got {value!r}")
    return value


def _number(step: str, name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{step}: {name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _ranked(hits: list[Hit], scores: list[float], top_k: int) -> list[Hit]:
    """The hits re-sorted by ``scores`` (stable), cut to ``top_k``, with new scores and ranks."""
    order = sorted(range(len(hits)), key=lambda i: -scores[i])[:top_k]
    return renumber([replace(hits[i], score=float(scores[i])) for i in order])


# ---------------------------------------------------------------------------------------------
# rerank
# ---------------------------------------------------------------------------------------------


@dataclass
class EmbeddingRerank:
    """Score = max cosine(question, sentence of hit) + rank_weight / original position."""

    embedder: Embedder
    top_k: int = 5
    rank_weight: float = 0.05
    name: str = "rerank"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        sentences, owners = [], []  # owners[i] = (state, hit position) of sentence i
        for s, state in enumerate(states):
            for h, hit in enumerate(state.hits):
                for start, end in sentence_spans(hit.chunk):
                    sentences.append(hit.chunk.text[start:end])
                    owners.append((s, h))
        vectors = self.embedder.embed([state.question for state in states] + sentences)
        questions, sentence_vectors = vectors[:len(states)], vectors[len(states):]
        best = [[-1.0] * len(state.hits) for state in states]
        for (s, h), vector in zip(owners, sentence_vectors):
            best[s][h] = max(best[s][h], float(vector @ questions[s]))
        for s, state in enumerate(states):
            scores = [sim + self.rank_weight / position for position, sim in enumerate(best[s], start=1)]
            before = [hit.chunk.chunk_id for hit in state.hits]
            state.hits = _ranked(state.hits, scores, self.top_k)
            state.trace[self.name] = {"method": "embedding", "before": before,
                                      "after": [hit.chunk.chunk_id for hit in state.hits]}
        return states


@dataclass
class CrossEncoderRerank:
    """A sentence-transformers CrossEncoder scores every (question, passage) pair."""

    model: Any  # sentence_transformers.CrossEncoder
    top_k: int = 5
    name: str = "rerank"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        pairs = [(state.question, hit.chunk.text) for state in states for hit in state.hits]
        scores = [float(x) for x in np.ravel(self.model.predict(pairs, show_progress_bar=False))] if pairs else []
        offset = 0
        for state in states:
            mine = scores[offset:offset + len(state.hits)]
            offset += len(state.hits)
            before = [hit.chunk.chunk_id for hit in state.hits]
            state.hits = _ranked(state.hits, mine, self.top_k)
            state.trace[self.name] = {"method": "cross_encoder", "before": before, "scores": mine}
        return states


def load_cross_encoder(model: str):
    """A CrossEncoder from a local path or a cached Hugging Face id, or a ConfigError naming it."""
    try:
        from sentence_transformers import CrossEncoder

        path = Path(model).expanduser()
        return CrossEncoder(str(path) if path.exists() else model)
    except Exception as err:  # noqa: BLE001 — hub, IO and config errors all mean "cannot load"
        first_line = (str(err).splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"rerank: cannot load cross-encoder model {model!r} ({first_line}) — give a local "
                          "path or a Hugging Face id already in the local cache (ragft works offline)") from None


RELEVANCE_SYSTEM_PROMPT = ("You check whether a passage helps answer a question. "
                           "Reply with one word: yes or no.")


def relevance_messages(question: str, passage: str) -> list[dict]:
    user = (f"Passage:\n{passage.strip()}\n\nQuestion: {question}\n\n"
            "Does the passage contain the answer to the question? Answer yes or no.")
    return [{"role": "system", "content": RELEVANCE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_verdict(text: str) -> float:
    """1.0 for a yes, 0.0 for a no (the first one said counts), 0.5 when neither is said."""
    match = _VERDICT.search(text)
    if match is None:
        return 0.5
    return 1.0 if match.group(1).lower() == "yes" else 0.0


def supports_probabilities(llm) -> bool:
    """Whether ``llm`` is a local transformers model whose next-token distribution we can read."""
    return all(hasattr(llm, attribute) for attribute in ("model", "tokenizer", "render"))


def yes_probabilities(llm, conversations: list[list[dict]], batch_size: int = 8) -> list[Generation]:
    """For each conversation, P(yes) / (P(yes) + P(no)) of the first answer token, in ``text``."""
    import torch

    tokenizer = llm.tokenizer
    yes_ids = _first_token_ids(tokenizer, ("yes", "Yes", "YES", " yes", " Yes"))
    no_ids = _first_token_ids(tokenizer, ("no", "No", "NO", " no", " No"))
    prompts = [llm.render(c) for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    device = next(llm.model.parameters()).device
    for begin in range(0, len(order), batch_size):
        batch = order[begin:begin + batch_size]
        encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True,
                            add_special_tokens=False)
        encoded = {k: v.to(device) for k, v in encoded.items()}
        mask = encoded["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: real tokens count from 0
        with torch.inference_mode():
            try:  # only the last position's logits: the vocabulary projection dominates otherwise
                output = llm.model(**encoded, position_ids=positions, logits_to_keep=1)
            except TypeError:  # a model class without logits_to_keep
                output = llm.model(**encoded, position_ids=positions)
            logits = output.logits[:, -1, :].float()
        probabilities = torch.softmax(logits, dim=-1)
        p_yes = probabilities[:, yes_ids].sum(-1)
        p_no = probabilities[:, no_ids].sum(-1)
        share = (p_yes / (p_yes + p_no).clamp(min=1e-12)).tolist()
        for i, p, n_tokens in zip(batch, share, mask.sum(-1).tolist()):
            results[i] = Generation(text=f"{p:.4f}", prompt_tokens=int(n_tokens), completion_tokens=1)
    return results  # type: ignore[return-value]


def _first_token_ids(tokenizer, words: tuple[str, ...]) -> list[int]:
    ids = [tokenizer.encode(word, add_special_tokens=False) for word in words]
    return sorted({tokens[0] for tokens in ids if tokens})


@dataclass
class LLMRerank:
    """The generator judges each (question, passage) pair; its yes-score re-sorts the hits."""

    llm_for: Callable[[], Any]
    top_k: int = 5
    scoring: str = "auto"  # auto | probability | verdict
    rank_weight: float = 0.01  # tie-breaker: earlier retriever rank wins among equal verdicts
    name: str = "rerank"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        llm = self.llm_for()
        use_probability = self.scoring == "probability" or (self.scoring == "auto" and supports_probabilities(llm))
        if use_probability and not supports_probabilities(llm):
            raise ConfigError(f"rerank: scoring 'probability' needs a local transformers model, not {llm.name!r}")
        owners = [(s, h) for s, state in enumerate(states) for h in range(len(state.hits))]
        conversations = [relevance_messages(states[s].question, states[s].hits[h].chunk.text) for s, h in owners]
        if not conversations:
            return states
        if use_probability:
            generations = yes_probabilities(llm, conversations, getattr(getattr(llm, "config", None), "batch_size", 8))
        else:
            generations = llm.generate(conversations, max_new_tokens=3)
        relevance = [[0.0] * len(state.hits) for state in states]
        for (s, h), generation in zip(owners, generations):
            states[s].charge(generation)
            relevance[s][h] = float(generation.text) if use_probability else parse_verdict(generation.text)
        for s, state in enumerate(states):
            scores = [r + self.rank_weight / position for position, r in enumerate(relevance[s], start=1)]
            before = [hit.chunk.chunk_id for hit in state.hits]
            state.hits = _ranked(state.hits, scores, self.top_k)
            state.trace[self.name] = {"method": "llm", "scoring": "probability" if use_probability else "verdict",
                                      "before": before, "relevance": relevance[s]}
        return states


def _rerank(params: dict, ctx):
    check_params("rerank", params, ("top_k", "method", "model", "rank_weight", "scoring"))
    top_k = _positive_int("rerank", "top_k", params.get("top_k", ctx.retrieval.top_k))
    method = params.get("method", "cross_encoder" if params.get("model") else "embedding")
    if method == "embedding":
        rank_weight = _number("rerank", "rank_weight", params.get("rank_weight", 0.05), 0, 1)
        return EmbeddingRerank(ctx.embedder, top_k, rank_weight)
    if method == "cross_encoder":
        if not params.get("model"):
            raise ConfigError("rerank: method 'cross_encoder' needs model: <local path or cached HF id>")
        return CrossEncoderRerank(load_cross_encoder(params["model"]), top_k)
    if method == "llm":
        scoring = params.get("scoring", "auto")
        if scoring not in ("auto", "probability", "verdict"):
            raise ConfigError(f"rerank: scoring must be auto, probability or verdict, got {scoring!r}")
        rank_weight = _number("rerank", "rank_weight", params.get("rank_weight", 0.01), 0, 1)
        return LLMRerank(ctx.llm_for, top_k, scoring, rank_weight)
    raise ConfigError(f"rerank: unknown method {method!r} — use embedding, cross_encoder (with model) or llm")


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


def _mmr(params: dict, ctx):
    check_params("mmr", params, ("top_k", "lambda_", "duplicate_threshold"))
    top_k = _positive_int("mmr", "top_k", params.get("top_k", ctx.retrieval.top_k))
    return MMR(HitVectors(ctx.embedder, ctx.index), top_k,
               _number("mmr", "lambda_", params.get("lambda_", 0.7), 0, 1),
               _number("mmr", "duplicate_threshold", params.get("duplicate_threshold", 0.95), 0, 1))


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


def _compress(params: dict, ctx):
    check_params("compress", params, ("max_tokens", "tokenizer"))
    max_tokens = _positive_int("compress", "max_tokens", params.get("max_tokens", 300))
    tokenizer = params.get("tokenizer", "auto")
    if tokenizer == "whitespace":
        return Compress(ctx.embedder, max_tokens, whitespace_tokens)
    if tokenizer in ("auto", "llm"):
        return Compress(ctx.embedder, max_tokens, None, ctx.llm_for)
    raise ConfigError(f"compress: tokenizer must be auto, llm or whitespace, got {tokenizer!r}")


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


def _reorder(params: dict, ctx):
    check_params("reorder", params, ())
    return Reorder()


STEPS = {"rerank": _rerank, "mmr": _mmr, "compress": _compress, "reorder": _reorder}
