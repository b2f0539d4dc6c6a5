"""A study's per-question records: one JSON line per answered question, appended batch by batch.

Records are what a study caches and resumes from (``runs/<name>/records/<variant>-<key>.jsonl``):
a torn last line from a crash is skipped, and a record is reused while its ``question_hash``
matches (the question, its scope and, for classification, the answer format asked for).
"""

from __future__ import annotations

from pathlib import Path

from ragft.persist import append_jsonl, content_hash, read_jsonl
from ragft.rag.tasks import AnswerFormat
from ragft.types import Answer, QAExample

RECORD_FORMAT = 1  # bump when a record's meaning changes, to invalidate caches


def make_record(question: QAExample, answer: Answer, answer_format: AnswerFormat | None = None,
            timing: dict | None = None) -> dict:
    return {
        **(timing or {}),
        "qid": question.qid, "question_hash": question_hash(question, answer_format), "question": question.question,
        "golds": question.answers, "answer": answer.text,
        "retrieved": [{"chunk_id": h.chunk.chunk_id, "doc_id": h.chunk.doc_id, "start": h.chunk.start,
                       "end": h.chunk.end, "score": round(h.score, 6), "text": h.chunk.text} for h in answer.hits],
        "latency_s": sum(answer.timings.values()), "timings": answer.timings,
        "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
        "llm_calls": answer.llm_calls, "trace": answer.trace,
    }


def question_hash(question: QAExample, answer_format: AnswerFormat | None = None) -> str:
    """What a cached answer depends on besides the variant: the question, its scope and — only
    when there is one — the answer format asked for (so older caches of other tasks stay valid)."""
    parts = [question.question, question.doc_scope]
    if answer_format is not None:
        parts.append(answer_format.fingerprint())
    return content_hash(parts)[:16]


def read_records(path: Path) -> dict[str, dict]:
    """Saved records by qid; a torn last line (a crash mid-write) is ignored, not fatal."""
    records = {}
    for record in read_jsonl(path):
        try:
            records[record["qid"]] = record
        except (KeyError, TypeError):
            continue
    return records


def append_records(path: Path, records: list[dict]) -> None:
    append_jsonl(path, records, default=str)
