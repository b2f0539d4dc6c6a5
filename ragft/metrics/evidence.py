"""Is the gold evidence in what was retrieved? Character spans, not string luck.

Gold evidence is given as text (a CUAD clause, a sentence of a policy). We locate it in its
document once, as a character span, and then ask how much of that span the retrieved chunks
cover. Span coverage is robust to chunk boundaries and to white-space differences, unlike a
substring test on the concatenated context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragft.types import Hit

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class EvidenceSpan:
    doc_id: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def locate(document_text: str, evidence: str) -> tuple[int, int] | None:
    """Span of ``evidence`` in ``document_text``, ignoring differences in white space and case."""
    words = evidence.split()
    if not words:
        return None
    found = document_text.find(evidence)
    if found >= 0:
        return found, found + len(evidence)
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(pattern, document_text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def locate_all(documents: dict[str, str], doc_ids: list[str], evidence_texts: list[str]) -> list[EvidenceSpan]:
    """Spans of each evidence text in the first of ``doc_ids`` (or any document) that contains it."""
    spans = []
    for text in evidence_texts:
        for doc_id in doc_ids or list(documents):
            where = locate(documents.get(doc_id, ""), text)
            if where:
                spans.append(EvidenceSpan(doc_id, *where))
                break
    return spans


def coverage(span: EvidenceSpan, hits: list[Hit]) -> float:
    """Share of the span's characters that lie inside at least one retrieved chunk."""
    intervals = sorted((max(h.chunk.start, span.start), min(h.chunk.end, span.end))
                       for h in hits if h.chunk.doc_id == span.doc_id)
    covered, reach = 0, span.start
    for start, end in intervals:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered / len(span) if len(span) else 0.0


def best_coverage(spans: list[EvidenceSpan], hits: list[Hit]) -> float:
    """How well the best-covered gold span is covered (0 when there is no gold span)."""
    return max((coverage(s, hits) for s in spans), default=0.0)


def evidence_hit(spans: list[EvidenceSpan], hits: list[Hit], min_coverage: float = 0.5) -> bool:
    """True when some gold span is at least ``min_coverage`` inside the retrieved chunks.

    Half, not all: a clause longer than a chunk can never be fully inside one, and a chunk that
    holds most of the clause gives the model what it needs.
    """
    return best_coverage(spans, hits) >= min_coverage
