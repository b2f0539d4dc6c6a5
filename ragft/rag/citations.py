"""Answers that cite their sources per claim: the ``cited_generate`` step (:class:`CitedGenerate`).

The model answers and tags each part with the passages supporting it, ``[n]``. The answer is
split into claims (sentences); each claim's ``[n]`` are mapped to the hits' chunk and document
ids. A claim the model left uncited gets the best-matching passage by embedding similarity (max
cosine over the passage's sentences), marked ``inferred: true``. ``state.answer`` is the plain answer (citation markers removed,
unless ``strip_citations: false``); the structure is in ``state.trace["cited_generate"]``::

    {"raw": "...", "abstained": false, "invalid_citations": [7],
     "claims": [{"claim": "...", "sources": [1, 2], "doc_ids": [...], "chunk_ids": [...],
                 "inferred": false}, ...]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from ragft.corpus.sentences import split_sentences
from ragft.rag.modular import RAGState
from ragft.rag.params import StepDef, StepParams
from ragft.rag.steps import rag_messages
from ragft.rag.tasks import with_format

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


class CitedGenerateParams(StepParams):
    system_prompt: str = CITED_SYSTEM_PROMPT
    max_new_tokens: int | None = Field(None, ge=1)  # None: the variant's max_new_tokens
    strip_citations: bool = True
    infer: bool = True  # attach the best-matching passage to uncited claims


def _cited_generate(params: CitedGenerateParams, ctx) -> CitedGenerate:
    values = params.model_dump()
    if values["max_new_tokens"] is None:
        values["max_new_tokens"] = ctx.max_new_tokens
    return CitedGenerate(ctx.llm_for(), ctx.embedder, **values)


STEPS = {"cited_generate": StepDef(CitedGenerateParams, _cited_generate)}
