"""Multi-document reasoning: iterative retrieval (answers citing their sources per claim are in
:mod:`ragft.rag.citations`).

- ``iterative`` (:class:`IterativeRetrieve`, IRCoT-like; sets ``state.hits`` and
  ``state.context_note``) — round 1 retrieves with the question. Then, while rounds remain,
  the LLM reads the hits gathered so far and replies either ``ANSWER: …`` (the state stops
  searching) or ``SEARCH: …`` — what is still missing, e.g. the person who holds a role that
  a policy names. The next round retrieves with that query *and* with the entities newly
  found in the previous round's best-matching sentences (roles, people, vessels, codes — a
  policy's "Chief Financial Officer" becomes a search; see :func:`ragft.rag.graph.find_mentions`),
  adding up to ``top_k`` chunks not seen before. A reply that is neither (small models often
  ignore the format) continues the search unless ``continue_on_unclear: false``. Hits
  accumulate in round order, at most ``max_hits`` (default ``top_k × max_rounds``). Every LLM
  call is one batched call over the states still searching, charged to those states; the
  rounds, decisions and queries are in ``state.trace["iterative"]``. Follow with ``generate``
  or ``cited_generate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ragft.config import RetrievalConfig
from ragft.corpus.sentences import split_sentences
from ragft.index.store import HybridIndex
from ragft.rag.graph import (
    ATTRIBUTE_TYPES, KnowledgeGraph, NameMatcher, PatternExtractor, find_mentions, graph_for_index, normalise,
)
from ragft.rag.modular import RAGState
from ragft.rag.params import RetrievalOverrides, StepDef
from ragft.rag.steps import Retrieve, format_context, fuse_hits
from ragft.types import Hit


ITERATIVE_SYSTEM_PROMPT = (
    "You help answer a question from numbered passages of an organisation's documents. Read the "
    "passages. If they contain the answer, reply with one line: ANSWER: <the short answer>. If "
    "something is still missing — for example a policy names a job role but not the person who holds "
    "it — reply with one line: SEARCH: <what to look up next>."
)
ITERATIVE_QUESTION = "Question: {question}\nWhat do we still need to find? Reply ANSWER: … or SEARCH: …"

_DECISION = re.compile(r"\b(SEARCH|ANSWER)\s*(?:QUERY)?\s*[:\-–]\s*(.*)", re.IGNORECASE)
# Entity types worth a search of their own: names that another document may explain.
_SEARCHABLE = ("role", "person", "vessel", "code", "org", "name")
_TYPE_ORDER = {"role": 0, "person": 1, "vessel": 1, "code": 1, "org": 2, "name": 3}


def parse_decision(text: str) -> tuple[str, str]:
    """("search", query) | ("answer", answer) | ("unclear", text) from the model's reply.

    The first ``SEARCH:`` or ``ANSWER:`` (any case, ``-`` also accepted) wins; the rest of
    its line, stripped of quotes and brackets, is the query or answer.
    """
    match = _DECISION.search(text or "")
    if not match:
        return "unclear", (text or "").strip()
    kind = match.group(1).lower()
    value = match.group(2).strip().splitlines()[0] if match.group(2).strip() else ""
    value = value.strip().strip("\"'`“”<>[]*").strip()
    if kind == "search":
        value = value.rstrip("?.!").strip()
    if not value:
        return "unclear", text.strip()
    return kind, value


@dataclass
class IterativeRetrieve:
    """Retrieve, let the model say what is missing, retrieve that, up to ``max_rounds``."""

    index: HybridIndex
    llm: Any
    embedder: Any = None
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    max_rounds: int = 2
    max_hits: int | None = None  # default top_k * max_rounds
    entity_queries: int = 2  # entities of the last round's hits searched per round (0: none)
    entity_sentences: int = 4  # how many best-matching sentences those entities come from
    continue_on_unclear: bool = True
    note: bool = True  # tell the generator which follow-up searches were made (context_note)
    max_new_tokens: int = 48
    system_prompt: str = ITERATIVE_SYSTEM_PROMPT
    graph: KnowledgeGraph | None = None  # where follow-up entities are recognised (else patterns)
    name: str = "iterative"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        retriever = Retrieve(self.index, self.retrieval)
        k = self.retrieval.top_k
        cap = self.max_hits or k * self.max_rounds
        traces = []
        last_round: list[list[Hit]] = []
        for state in states:
            hits = retriever.search_all(state.queries or [state.question], state.doc_scope, k)
            state.hits = hits[:cap]
            last_round.append(list(hits))
            trace = {"rounds": [{"round": 1, "queries": list(state.queries or [state.question]),
                                 "new_hits": [h.chunk.chunk_id for h in hits]}],
                     "stopped": "max_rounds", "draft_answer": None}
            state.trace[self.name] = trace
            traces.append(trace)
        active = list(range(len(states)))
        for round_number in range(2, self.max_rounds + 1):
            if not active:
                break
            conversations = [self.messages(states[i]) for i in active]
            generations = self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)
            entities = self._new_entities([states[i] for i in active], [last_round[i] for i in active])
            still = []
            for i, generation, found in zip(active, generations, entities):
                state, trace = states[i], traces[i]
                state.charge(generation)
                kind, value = parse_decision(generation.text)
                record = {"round": round_number, "decision": kind, "reply": generation.text.strip()[:300]}
                trace["rounds"].append(record)
                if kind == "answer" or (kind == "unclear" and not self.continue_on_unclear):
                    trace["stopped"] = "answered" if kind == "answer" else "unclear"
                    trace["draft_answer"] = value if kind == "answer" else None
                    continue
                searched = {normalise(q) for r in trace["rounds"] for q in r.get("queries", ())}
                queries = [value] if kind == "search" and normalise(value) not in searched else []
                limit = len(queries) + self.entity_queries
                for name in found:
                    if len(queries) >= limit:
                        break
                    if normalise(name) not in searched and name not in queries:
                        queries.append(name)
                record["queries"] = queries
                new = self._retrieve_new(retriever, state, queries, k)
                room = max(cap - len(state.hits), 0)
                new = new[:room]
                state.hits = [Hit(h.chunk, h.score, rank, h.retriever)
                              for rank, h in enumerate(state.hits + new, start=1)]
                record["new_hits"] = [h.chunk.chunk_id for h in new]
                last_round[i] = new
                if not new or not queries:
                    trace["stopped"] = "nothing_new"
                    continue
                still.append(i)
            active = still
        for state, trace in zip(states, traces):
            follow_ups = [q for r in trace["rounds"][1:] for q in r.get("queries", ())]
            if self.note and follow_ups:
                note = "Follow-up searches: " + "; ".join(follow_ups) + "."
                state.context_note = f"{state.context_note}\n{note}".strip() if state.context_note else note
        return states

    def messages(self, state: RAGState) -> list[dict]:
        user = f"Passages:\n{format_context(state.hits)}\n\n" + ITERATIVE_QUESTION.format(question=state.question)
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": user}]

    def _retrieve_new(self, retriever: Retrieve, state: RAGState, queries: list[str], k: int) -> list[Hit]:
        """Chunks found by the follow-up queries (fused by RRF) that the state does not have yet."""
        if not queries:
            return []
        seen = {h.chunk.chunk_id for h in state.hits}
        depth = max(k, self.retrieval.candidates)
        rankings = [[h for h in retriever.search(q, state.doc_scope, depth) if h.chunk.chunk_id not in seen]
                    for q in queries]
        return fuse_hits([r[:2 * k] for r in rankings], k, self.retrieval.rrf_k)

    def _new_entities(self, states: list[RAGState], hits: list[list[Hit]]) -> list[list[str]]:
        """Per state: names in the sentences of its latest hits most similar to the question that
        the question does not already contain — roles first (a policy names the role, another
        document the person)."""
        if self.entity_queries <= 0:
            return [[] for _ in states]
        per_state, texts = [], []
        for state, state_hits in zip(states, hits):
            sentences = [h.chunk.text[s:e] for h in state_hits
                         for s, e in split_sentences(h.chunk.text, h.chunk.metadata.get("format") != "pdf")]
            per_state.append((len(texts), sentences))
            texts.extend([state.question] + sentences)
        vectors = self.embedder.embed(texts) if self.embedder is not None and texts else None
        matcher = NameMatcher(self.graph) if self.graph is not None else None
        out = []
        for state, (start, sentences) in zip(states, per_state):
            if not sentences:
                out.append([])
                continue
            if vectors is not None:
                similarity = vectors[start + 1:start + 1 + len(sentences)] @ vectors[start]
                order = [int(i) for i in np.argsort(-similarity)[:self.entity_sentences]]
            else:
                order = list(range(min(self.entity_sentences, len(sentences))))
            in_question = {m.key for m in find_mentions(state.question)}
            if matcher is not None:
                in_question |= {key for key, _, _ in matcher.match(state.question)}
            question_words = set(normalise(state.question).split())
            candidates: dict[str, tuple] = {}
            for rank, i in enumerate(order):
                for key, type_, text, df in self._mentions(sentences[i], matcher):
                    if type_ in ATTRIBUTE_TYPES or type_ not in _SEARCHABLE:
                        continue
                    if key in in_question or set(key.split()) <= question_words:
                        continue
                    order_key = (_TYPE_ORDER.get(type_, 4), rank, df, text)
                    if key not in candidates or order_key < candidates[key]:
                        candidates[key] = order_key
            out.append([item[-1] for item in sorted(candidates.values())])
        return out

    def _mentions(self, sentence: str, matcher) -> list[tuple[str, str, str, int]]:
        """(key, type, label, number of chunks naming it) of the names in a sentence: the
        corpus graph's nodes when there is a graph (cleaner: its extractor saw the whole
        corpus), else the pattern extractor's mentions."""
        if matcher is None:
            return [(m.key, m.type, m.text, 0) for m in find_mentions(sentence)]
        out = []
        for key, _, _ in matcher.match(sentence):
            node = self.graph.nodes[key]
            out.append((key, node.type, node.label, len(node.chunk_ids)))
        return out


class IterativeParams(RetrievalOverrides):
    max_rounds: int = Field(2, ge=1)
    max_hits: int | None = Field(None, ge=1)  # None: top_k × max_rounds
    entity_queries: int = Field(2, ge=0)  # entities searched per round (0: none)
    entity_sentences: int = Field(4, ge=1)
    continue_on_unclear: bool = True
    note: bool = True
    max_new_tokens: int = Field(48, ge=1)
    system_prompt: str = ITERATIVE_SYSTEM_PROMPT
    entity_source: Literal["graph", "pattern"] = "graph"  # where follow-up entities are recognised


def _iterative(params: IterativeParams, ctx) -> IterativeRetrieve:
    own = params.own()
    source = own.pop("entity_source")
    graph = graph_for_index(ctx.index, PatternExtractor(), ctx.cache_dir)[0] \
        if source == "graph" and params.entity_queries else None
    return IterativeRetrieve(ctx.index, ctx.llm_for(), ctx.embedder, params.retrieval(ctx.retrieval), graph=graph,
                             **own)


STEPS = {"iterative": StepDef(IterativeParams, _iterative)}
