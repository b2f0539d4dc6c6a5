"""Checks of a question set against its corpus: warnings that cite the file and line.

These are mistakes that do not stop a study but quietly distort it, so they are warned about,
not refused: a gold ``evidence_doc_ids`` entry naming no document of the corpus makes every
retrieval metric count that question as a miss (a ``doc_scope`` naming none makes retrieval
find nothing at all), and a degenerate gold answer (", 2009", ".", a pasted paragraph for a
short answer) makes the answer metrics meaningless for that question.

Each problem is one line; :func:`say_warnings` prints the first few and counts the rest, so a
dataset with 5,000 bad rows does not bury the run's output.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Iterable, Sequence

from ragft.types import QAExample

MAX_SHORT_ANSWER_CHARS = 300  # longer gold answers for short_qa are almost always pasted passages
LEADING_PUNCTUATION = ",.;:!?)]}"  # a span cut one token too early: ", 2009"
HINTED_IDS = 20  # closest-id hints are computed for this many unknown ids (difflib is O(corpus))
ABSTENTIONS = {"not found in the documents", "not found in the documents."}


def unknown_document_warnings(examples: Sequence[QAExample], doc_ids: Iterable[str]) -> list[str]:
    """One line per unknown ``evidence_doc_ids``/``doc_scope`` value, where it first occurs,
    with how many questions name it and the closest known id; then one summary line."""
    known = set(doc_ids)
    first_seen: dict[tuple[str, str], QAExample] = {}
    affected: dict[tuple[str, str], set[str]] = {}
    questions_hit = set()
    for example in examples:
        named = [("evidence_doc_ids", d) for d in example.evidence_doc_ids]
        named += [("doc_scope", example.doc_scope)] if example.doc_scope else []
        for field, doc_id in named:
            if doc_id in known:
                continue
            first_seen.setdefault((field, doc_id), example)
            affected.setdefault((field, doc_id), set()).add(example.qid)
            questions_hit.add(example.qid)
    lines = []
    sorted_known = sorted(known)
    for n, ((field, doc_id), example) in enumerate(first_seen.items()):
        count = len(affected[(field, doc_id)])
        lines.append(f"{where(example)}: {field} names {doc_id!r}, which is not a document of the corpus"
                     f"{f' ({count} questions name it)' if count > 1 else ''}"
                     f"{_id_hint(doc_id, known, sorted_known) if n < HINTED_IDS else ''}")
    if lines:
        lines.append(f"{len(questions_hit)} of {len(examples)} questions name documents the corpus lacks: "
                     "their retrieval metrics count those documents as never found")
    return lines


def degenerate_answer_warnings(examples: Sequence[QAExample]) -> list[str]:
    """One line per gold answer that is empty once punctuation is removed, starts with
    punctuation, is a single non-digit character, or (short_qa) is longer than 300 characters."""
    lines = []
    for example in examples:
        for answer in example.answers:
            problem = _answer_problem(answer, example.task_type)
            if problem:
                lines.append(f"{where(example)}: gold answer {_clip(answer)!r} {problem} — check the answer")
    return lines


def say_warnings(lines: Sequence[str], say: Callable[[str], None], limit: int = 5) -> None:
    """Print each warning as one line, the first ``limit`` only, then "… and N more"."""
    for line in lines[:limit]:
        say(line)
    if len(lines) > limit:
        say(f"… and {len(lines) - limit} more warnings like these")


def where(example: QAExample) -> str:
    """The example's file and line when known, else its id."""
    return example.origin or f"question {example.qid}"


def _id_hint(doc_id: str, known: set[str], ordered: list[str]) -> str:
    """Why an id may be unknown: several ids run together, or a near-miss of a known one."""
    parts = re.split(r"[,\s]+", doc_id.strip())
    if len(parts) > 1 and any(part in known for part in parts):
        return " — separate several ids with | or ; (in CSV) or write a JSON list"
    close = difflib.get_close_matches(doc_id, ordered, n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else " — check the id against the corpus's file paths"


def _answer_problem(answer: str, task_type: str) -> str:
    core = answer.strip().strip(string.punctuation + " \t\n")
    if not core:
        return "is empty once punctuation and spaces are removed"
    if answer.strip().lower() in ABSTENTIONS:
        return ""
    if answer.strip()[0] in LEADING_PUNCTUATION:
        return "starts with punctuation (a span cut too early?)"
    if len(answer.strip()) == 1 and not answer.strip().isdigit():
        return "is a single character"
    if task_type == "short_qa" and len(answer) > MAX_SHORT_ANSWER_CHARS:
        return f"is {len(answer)} characters long for a short_qa question (a pasted passage? use long_form)"
    return ""


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
