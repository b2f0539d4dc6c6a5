"""Plain data records that flow through ragft.

Every layer (corpus → index → rag → eval) speaks in these types; none of them holds a model
or does I/O, so they are cheap to create, compare and serialise (``dataclasses.asdict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Task types a QA dataset can declare; the study picks its metrics from them.
TASK_TYPES = ("short_qa", "span_qa", "classification", "long_form", "multi_hop")


@dataclass
class Document:
    """One source document after loading: its full text plus where it came from."""

    doc_id: str  # stable id: the path relative to the ingested folder, e.g. "policies/travel.md"
    text: str
    source: str = ""  # absolute path or URL it was read from
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A piece of a document; ``text == document.text[start:end]`` always holds."""

    chunk_id: str  # f"{doc_id}#{index}"
    doc_id: str
    text: str
    start: int
    end: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    """A retrieved chunk with its score and 1-based rank for one query."""

    chunk: Chunk
    score: float
    rank: int
    retriever: str = ""  # "dense", "bm25", "hybrid", …


@dataclass
class Generation:
    """One LLM completion with what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@dataclass
class Answer:
    """What a pipeline returns for one question: the answer, its sources and its costs."""

    question: str
    text: str
    hits: list[Hit] = field(default_factory=list)  # the chunks shown to the model, in prompt order
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: retrieve, generate…
    trace: dict[str, Any] = field(default_factory=dict)  # what each pipeline step did (queries, verdicts…)


@dataclass
class QAExample:
    """A question with one or more acceptable gold answers and, optionally, its evidence."""

    qid: str
    question: str
    answers: list[str]  # aliases: any of them counts as correct
    task_type: str = "short_qa"
    evidence_doc_ids: list[str] = field(default_factory=list)
    evidence_texts: list[str] = field(default_factory=list)  # exact supporting text, if known
    doc_scope: str | None = None  # restrict retrieval to this document id (CUAD-style)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Where it was read from ("qa.csv: line 12"), for messages that cite it. Not compared and
    # not saved: the same question read from two files is the same question.
    origin: str = field(default="", compare=False, repr=False)

    @property
    def answer(self) -> str:
        """The first (canonical) gold answer."""
        return self.answers[0] if self.answers else ""


@dataclass
class Preference:
    """A preference pair: for this question (and context), ``chosen`` is better than ``rejected``.

    Built from human feedback (edits, pairwise choices, votes) or AI feedback (a judge ranking
    sampled answers); consumed by the DPO/ORPO trainers. ``context`` is the retrieved text the
    answers were written from ("" for closed-book), so training sees the same prompt as serving.
    """

    question: str
    chosen: str
    rejected: str
    context: str = ""
    source: str = ""  # "edit", "pairwise", "vote", "ai_judge", "auto_score", "file"
    reason: str = ""  # why chosen beat rejected (a judge's reasons, "human edit", …)
    metadata: dict[str, Any] = field(default_factory=dict)
