"""Answering a question set with one variant, the study's way: batch by batch, timed, each
batch's records appended to a JSONL file that doubles as the answer cache.

``answer_questions(spec, questions, resources, path)`` is what the study runs per variant and
what ``ragft improve`` runs to score a candidate against the current model — one answer cache,
one record format, one code path. A record is reused while its ``question_hash`` matches; an
interrupted run resumes from the last saved batch.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.console import Console

from ragft.index.store import on_indexing
from ragft.models.progress import on_generated
from ragft.rag.tasks import DEFAULT_LABELS, answer_format
from ragft.rag.variant import AnswerResources, VariantSpec, build_answerer
from ragft.study.progress import StudyProgress
from ragft.study.records import append_records, make_record, question_hash, read_records
from ragft.study.timing import BatchTimer
from ragft.types import QAExample


def answer_questions(spec: VariantSpec, questions: list[QAExample], resources: AnswerResources, path: Path,
                     labels: tuple[str, ...] = DEFAULT_LABELS, batch_size: int = 16,
                     console: Console | None = None) -> list[dict]:
    """``spec``'s records for ``questions`` (in order): cached ones from ``path``, the rest answered now."""
    console = console or Console(stderr=True)
    done = read_records(path)
    formats = {q.qid: answer_format(q.task_type, labels) for q in questions}
    todo = [q for q in questions if done.get(q.qid, {}).get("question_hash") != question_hash(q, formats[q.qid])]
    if not todo:
        console.print(f"{spec.name}: all {len(questions)} answers cached")
        return [done[q.qid] for q in questions]
    with StudyProgress(console) as progress, on_indexing(progress.stages()):
        # A step may index the corpus once here (sentence windows, hypothetical questions…): minutes.
        answerer = build_answerer(spec, resources)
    path.parent.mkdir(parents=True, exist_ok=True)
    with StudyProgress(console) as progress, on_indexing(progress.stages()):
        task = progress.add(spec.name, total=len(questions), completed=len(questions) - len(todo))
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            timer = BatchTimer()
            with on_generated(_within_batch(task, len(batch))):  # the bar moves per generation
                answers = answerer.answer_batch([q.question for q in batch], [q.doc_scope for q in batch],
                                                [formats[q.qid] for q in batch])
            timing = timer.stop(len(batch))
            fresh = [make_record(q, a, formats[q.qid], timing) for q, a in zip(batch, answers)]
            append_records(path, fresh)  # saved per batch: an interruption loses one batch at most
            done.update({r["qid"]: r for r in fresh})
            task.update(len(questions) - len(todo) + start + len(batch))
    return [done[q.qid] for q in questions]


def _within_batch(task, size: int):
    """A generation hook that moves ``task`` through the current batch: one step per finished
    generation, stopping one short of the batch's end (only the saved batch completes it). A
    pipeline that calls the LLM several times per question moves through its first call."""
    lock, base, seen = threading.Lock(), task.completed, [0]

    def advance(n: int) -> None:
        with lock:  # an API backend reports from its worker threads
            seen[0] += n
            task.update(base + min(seen[0], size - 1))

    return advance
