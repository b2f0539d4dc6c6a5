"""The ``rerank`` step: re-score the retrieved hits and keep ``top_k`` (retrieve more, e.g. 15, first).

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
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ragft.errors import ConfigError
from ragft.models.embedder import Embedder
from ragft.rag.modular import RAGState
from ragft.rag.params import StepDef, StepParams
from ragft.rag.structure import renumber, sentence_spans
from ragft.types import Generation, Hit


def _ranked(hits: list[Hit], scores: list[float], top_k: int) -> list[Hit]:
    """The hits re-sorted by ``scores`` (stable), cut to ``top_k``, with new scores and ranks."""
    order = sorted(range(len(hits)), key=lambda i: -scores[i])[:top_k]
    return renumber([replace(hits[i], score=float(scores[i])) for i in order])



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


class RerankParams(StepParams):
    top_k: int | None = Field(None, ge=1)  # None: the variant's retrieval top_k
    method: Literal["embedding", "cross_encoder", "llm"] | None = None  # None: cross_encoder with a model, else embedding
    model: str | None = None  # cross_encoder: a local path or a cached Hugging Face id
    rank_weight: float | None = Field(None, ge=0, le=1)  # None: the method's (0.05 embedding, 0.01 llm)
    scoring: Literal["auto", "probability", "verdict"] = "auto"  # llm only

    @model_validator(mode="after")
    def _cross_encoder_has_a_model(self):
        if self.chosen_method() == "cross_encoder" and not self.model:
            raise ValueError("rerank: method 'cross_encoder' needs model: <local path or cached HF id>")
        return self

    def chosen_method(self) -> str:
        return self.method or ("cross_encoder" if self.model else "embedding")


def _rerank(params: RerankParams, ctx):
    top_k = params.top_k or ctx.retrieval.top_k
    weight = {} if params.rank_weight is None else {"rank_weight": params.rank_weight}
    method = params.chosen_method()
    if method == "embedding":
        return EmbeddingRerank(ctx.embedder, top_k, **weight)
    if method == "cross_encoder":
        return CrossEncoderRerank(load_cross_encoder(params.model), top_k)
    return LLMRerank(ctx.llm_for, top_k, params.scoring, **weight)


STEPS = {"rerank": StepDef(RerankParams, _rerank)}
