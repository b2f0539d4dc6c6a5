"""Multi-document reasoning: iterative retrieval, and answers that cite their sources per claim.

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
- ``cited_generate`` (:class:`CitedGenerate`) — the model answers and tags each part with the
  passages supporting it, ``[n]``. The answer is split into claims (sentences); each claim's
  ``[n]`` are mapped to the hits' chunk and document ids. A claim the model left uncited gets
  the best-matching passage by embedding similarity (max cosine over the passage's sentences),
  marked ``inferred: true``. ``state.answer`` is the plain answer (citation markers removed,
  unless ``strip_citations: false``); the structure is in ``state.trace["cited_generate"]``::

      {"raw": "...", "abstained": false, "invalid_citations": [7],
       "claims": [{"claim": "...", "sources": [1, 2], "doc_ids": [...], "chunk_ids": [...],
                   "inferred": false}, ...]}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragft.config import RetrievalConfig
from ragft.corpus.sentences import split_sentences
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag.graph import (
    ATTRIBUTE_TYPES, KnowledgeGraph, NameMatcher, PatternExtractor, find_mentions, graph_for_index, normalise,
)
from ragft.rag.modular import RAGState
from ragft.rag.tasks import with_format
from ragft.rag.steps import Retrieve, format_context, fuse_hits
from ragft.rag.structure import RETRIEVAL_PARAMS, check_params, retrieval_from
from ragft.types import Hit

# ---------------------------------------------------------------------------------------------
# iterative
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# cited_generate
# ---------------------------------------------------------------------------------------------

CITED_SYSTEM_PROMPT = (
    "You answer questions about an organisation's documents. Use only the numbered context passages. "
    "Give the short answer, and end each sentence with the numbers of the passages that support it in "
    "square brackets, like [1] or [1][3]. If the passages do not contain the answer, reply: Not found "
    "in the documents."
)
_CITATION = re.compile(r"\[\s*(?:(?:passage|source|doc(?:ument)?|ref)\s*)?(\d+(?:\s*(?:[,;&]|and|[-–])\s*\d+)*)\s*\]",
                       re.IGNORECASE)
_ABSTAIN = re.compile(r"\bnot found in the (?:documents|context|passages)\b|\bi (?:do not|don't) know\b",
                      re.IGNORECASE)


def parse_citations(text: str) -> tuple[list[tuple[str, list[int]]], str]:
    """(claims, plain answer): each claim is (sentence without markers, cited numbers in order).

    Markers after a sentence's full stop ("… days. [2]") and marker-only lines belong to the
    sentence before them; ranges ``[1-3]`` and lists ``[1, 2]`` are expanded.
    """
    text = text or ""
    pieces = [text[s:e] for s, e in split_sentences(text, hard_newlines=True)]
    claims: list[tuple[str, list[int]]] = []
    for piece in pieces:
        numbers = _numbers_in(piece)
        plain = _CITATION.sub("", piece)
        plain = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", plain)).strip()
        leading = re.match(r"^\s*((?:\[[^\]]*\]\s*)+)", piece)
        if claims and leading and _numbers_in(leading.group(1)):
            # "[2] Next sentence" after "… days." — the leading marker closes the previous claim.
            head = _numbers_in(leading.group(1))
            claims[-1] = (claims[-1][0], _unique(claims[-1][1] + head))
            numbers = _numbers_in(piece[leading.end():])
        if not re.search(r"\w", plain):
            if claims:  # a marker-only piece
                claims[-1] = (claims[-1][0], _unique(claims[-1][1] + numbers))
            continue
        claims.append((plain, numbers))
    plain_answer = " ".join(c for c, _ in claims)
    return claims, plain_answer


def _numbers_in(text: str) -> list[int]:
    numbers: list[int] = []
    for match in _CITATION.finditer(text):
        for part in re.split(r"\s*(?:[,;&]|and)\s*", match.group(1)):
            bounds = re.split(r"\s*[-–]\s*", part)
            if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit() and \
                    0 <= int(bounds[1]) - int(bounds[0]) <= 20:
                numbers.extend(range(int(bounds[0]), int(bounds[1]) + 1))
            elif part.strip().isdigit():
                numbers.append(int(part))
    return _unique(numbers)


def _unique(numbers: list[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


@dataclass
class CitedGenerate:
    """Generate an answer whose claims cite the passages that support them."""

    llm: Any
    embedder: Any = None
    system_prompt: str = CITED_SYSTEM_PROMPT
    max_new_tokens: int | None = None
    strip_citations: bool = True
    infer: bool = True  # attach the best-matching passage to uncited claims (inferred: true)
    name: str = "cited_generate"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        from ragft.rag.steps import rag_messages

        conversations = [with_format(rag_messages(s.question, s.hits, self.system_prompt, s.context_note),
                                     s.answer_format) for s in states]
        generations = self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)
        parsed = []
        for state, generation in zip(states, generations):
            state.charge(generation)
            claims, plain = parse_citations(generation.text)
            parsed.append((generation.text, claims, plain))
        inferred = self._infer(states, parsed) if self.infer else [{} for _ in states]
        for state, (raw, claims, plain), guesses in zip(states, parsed, inferred):
            abstained = bool(_ABSTAIN.search(raw))
            invalid: list[int] = []
            records = []
            for position, (claim, numbers) in enumerate(claims):
                valid = [n for n in numbers if 1 <= n <= len(state.hits)]
                invalid.extend(n for n in numbers if n not in valid)
                record: dict[str, Any] = {"claim": claim, "sources": valid, "inferred": False}
                if not valid and position in guesses:
                    number, similarity = guesses[position]
                    record.update(sources=[number], inferred=True, similarity=round(similarity, 4))
                hits = [state.hits[n - 1] for n in record["sources"]]
                record["doc_ids"] = list(dict.fromkeys(h.chunk.doc_id for h in hits))
                record["chunk_ids"] = [h.chunk.chunk_id for h in hits]
                records.append(record)
            state.answer = plain if self.strip_citations else raw.strip()
            state.trace[self.name] = {"raw": raw, "claims": records, "abstained": abstained,
                                      "invalid_citations": _unique(invalid),
                                      "cited": sum(1 for r in records if r["sources"] and not r["inferred"]),
                                      "inferred": sum(1 for r in records if r["inferred"])}
        return states

    def _infer(self, states: list[RAGState], parsed: list) -> list[dict[int, tuple[int, float]]]:
        """For every claim without a valid citation: (1-based passage number, cosine) of the
        passage with the most similar sentence, all states embedded in one call."""
        if self.embedder is None:
            return [{} for _ in states]
        texts: list[str] = []
        jobs = []  # (state index, claim positions, claim offset, [(hit number, sentence offset, n sentences)])
        for index, (state, (raw, claims, _)) in enumerate(zip(states, parsed)):
            if not state.hits or _ABSTAIN.search(raw):
                continue
            todo = [p for p, (_, numbers) in enumerate(claims)
                    if not any(1 <= n <= len(state.hits) for n in numbers)]
            if not todo:
                continue
            claim_offset = len(texts)
            texts.extend(claims[p][0] for p in todo)
            passages = []
            for number, hit in enumerate(state.hits, start=1):
                sentences = [hit.chunk.text[s:e] for s, e in
                             split_sentences(hit.chunk.text, hit.chunk.metadata.get("format") != "pdf")] or [hit.chunk.text]
                passages.append((number, len(texts), len(sentences)))
                texts.extend(sentences)
            jobs.append((index, todo, claim_offset, passages))
        out: list[dict[int, tuple[int, float]]] = [{} for _ in states]
        if not jobs:
            return out
        vectors = self.embedder.embed(texts)
        for index, todo, claim_offset, passages in jobs:
            for j, position in enumerate(todo):
                claim = vectors[claim_offset + j]
                best = max(((float(np.max(vectors[start:start + count] @ claim)), number)
                            for number, start, count in passages), key=lambda item: (item[0], -item[1]))
                out[index][position] = (best[1], best[0])
        return out


# ---------------------------------------------------------------------------------------------
# Step builders
# ---------------------------------------------------------------------------------------------


def _int(step: str, params: dict, name: str, default, low: int = 0):
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{step}: {name} must be an integer >= {low}, got {value!r}")
    return value


def _bool(step: str, params: dict, name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{step}: {name} must be true or false, got {value!r}")
    return value


def _iterative(params: dict, ctx) -> IterativeRetrieve:
    accepted = ("max_rounds", "max_hits", "entity_queries", "entity_sentences", "continue_on_unclear", "note",
                "max_new_tokens", "system_prompt", "entity_source", *RETRIEVAL_PARAMS)
    check_params("iterative", params, accepted)
    source = params.get("entity_source", "graph")
    if source not in ("graph", "pattern"):
        raise ConfigError(f"iterative: entity_source must be 'graph' or 'pattern', got {source!r}")
    entity_queries = _int("iterative", params, "entity_queries", 2)
    graph = graph_for_index(ctx.index, PatternExtractor(), ctx.cache_dir)[0] \
        if source == "graph" and entity_queries else None
    return IterativeRetrieve(
        ctx.index, ctx.llm_for(), ctx.embedder, retrieval_from(params, ctx.retrieval),
        max_rounds=_int("iterative", params, "max_rounds", 2, low=1),
        max_hits=_int("iterative", params, "max_hits", None, low=1),
        entity_queries=entity_queries, graph=graph,
        entity_sentences=_int("iterative", params, "entity_sentences", 4, low=1),
        continue_on_unclear=_bool("iterative", params, "continue_on_unclear", True),
        note=_bool("iterative", params, "note", True),
        max_new_tokens=_int("iterative", params, "max_new_tokens", 48, low=1),
        system_prompt=params.get("system_prompt", ITERATIVE_SYSTEM_PROMPT),
    )


def _cited_generate(params: dict, ctx) -> CitedGenerate:
    check_params("cited_generate", params, ("system_prompt", "max_new_tokens", "strip_citations", "infer"))
    return CitedGenerate(
        ctx.llm_for(), ctx.embedder, system_prompt=params.get("system_prompt", CITED_SYSTEM_PROMPT),
        max_new_tokens=_int("cited_generate", params, "max_new_tokens", ctx.max_new_tokens, low=1),
        strip_citations=_bool("cited_generate", params, "strip_citations", True),
        infer=_bool("cited_generate", params, "infer", True),
    )


STEPS: dict[str, Callable] = {"iterative": _iterative, "cited_generate": _cited_generate}
