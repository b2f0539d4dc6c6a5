"""Read and write question/answer datasets (JSONL or CSV) as :class:`~ragft.types.QAExample`.

Accepted fields, per JSONL object or CSV column:

* ``id`` or ``qid`` — optional; defaults to ``"q-<line>"``; must be unique in the file.
* ``question`` — required, non-empty.
* ``answers`` (a list, or one string) or ``answer`` (a string) — at least one non-empty answer.
  In CSV, ``answers`` may be a JSON list string: ``["Paris", "paris, France"]``; a plain cell
  is one answer, even when it holds ``|`` or ``;``. When both are given, ``answers`` wins.
* ``task_type`` — one of :data:`ragft.types.TASK_TYPES`; defaults to ``"short_qa"``.
* ``evidence_doc_ids`` — a list; in CSV a JSON list string, or ids separated by ``|`` or ``;``
  (``a.pdf;b.html``: document ids never contain either).
* ``evidence_texts`` — a list; in CSV a JSON list string, or texts separated by ``|`` only
  (texts often contain ``;``); use the JSON form when a text itself contains ``|``.
* ``doc_scope`` — optional document id that retrieval is restricted to.
* anything else (and a ``metadata`` object) is kept in ``QAExample.metadata``.

Every problem raises :class:`~ragft.errors.RagftError` naming the file, the line and the field,
and saying how to fix it. Each example remembers its file and 1-based line in ``origin``
(``"qa.csv: line 12"``), so later checks (unknown document ids, train/test leaks) cite it too.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ragft.errors import RagftError
from ragft.types import TASK_TYPES, QAExample

JSONL_EXTENSIONS = (".jsonl", ".ndjson")
CSV_EXTENSIONS = (".csv",)
KNOWN_FIELDS = frozenset(
    {"id", "qid", "question", "answer", "answers", "task_type",
     "evidence_doc_ids", "evidence_texts", "doc_scope", "metadata"}
)


class QAFileError(RagftError):
    """A QA dataset file is missing or malformed."""


def load_qa_file(path: Path | str) -> list[QAExample]:
    """Load a JSONL or CSV QA dataset; raises :class:`QAFileError` on any malformed record."""
    path = Path(path)
    numbered = [(line, _example_from_record(record, line, path)) for line, record in _read_records(path)]
    if not numbered:
        raise QAFileError(f"{path}: the file has no questions — add one record per question")
    _check_unique_ids(numbered, path)
    return [example for _, example in numbered]


def save_qa_file(examples: Iterable[QAExample], path: Path | str) -> None:
    """Write examples as JSONL (one object per line, UTF-8), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for example in examples:
            record = dataclasses.asdict(example)
            record.pop("origin", None)  # where it was read from, not part of the question
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# Reading records
# ---------------------------------------------------------------------------------------------


def _read_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, raw record) pairs; CSV values are strings, empty cells dropped."""
    suffix = path.suffix.lower()
    if suffix not in JSONL_EXTENSIONS + CSV_EXTENSIONS:
        raise QAFileError(
            f"{path}: unsupported QA file type {path.suffix or '(none)'!r} — use .jsonl or .csv"
        )
    text = _read_text(path)
    if not text.strip():
        raise QAFileError(f"{path}: the file is empty — add one record per question")
    reader = _jsonl_records if suffix in JSONL_EXTENSIONS else _csv_records
    return list(reader(text, path))


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheet programs often prepend a BOM to exported CSV.
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QAFileError(f"{path}: QA file not found — check the path") from None
    except UnicodeDecodeError:
        raise QAFileError(f"{path}: the file is not UTF-8 text — re-save it as UTF-8") from None
    except OSError as exc:
        raise QAFileError(f"{path}: cannot be read ({exc.strerror or exc}) — check the path") from None


def _jsonl_records(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QAFileError(
                f"{path}: line {line_number}: invalid JSON ({exc.msg} at column {exc.colno}) — "
                "each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise QAFileError(
                f"{path}: line {line_number}: expected a JSON object, got {type(record).__name__} — "
                'write each record as {"question": ..., "answer": ...}'
            )
        yield line_number, record


def _csv_records(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    columns = [name.strip() for name in reader.fieldnames or []]
    if "question" not in columns:
        raise QAFileError(
            f"{path}: line 1: no 'question' column (found: {', '.join(columns) or 'none'}) — "
            "the first row must be a header with at least question and answer columns"
        )
    for row in reader:
        if None in row:  # DictReader's key for cells beyond the header
            raise QAFileError(
                f"{path}: line {reader.line_num}: more cells than header columns — "
                "quote values that contain commas"
            )
        yield reader.line_num, {
            key.strip(): value for key, value in row.items() if value is not None and value.strip()
        }


# ---------------------------------------------------------------------------------------------
# One record → QAExample
# ---------------------------------------------------------------------------------------------


def _example_from_record(record: dict[str, Any], line: int, path: Path) -> QAExample:
    where = f"{path}: line {line}"
    return QAExample(
        qid=_qid(record, line, where),
        question=_question(record, where),
        answers=_answers(record, where),
        task_type=_task_type(record, where),
        evidence_doc_ids=_string_list(record, "evidence_doc_ids", where, separators="|;"),
        evidence_texts=_string_list(record, "evidence_texts", where, separators="|"),
        doc_scope=_optional_string(record, "doc_scope", where),
        metadata=_extra_fields(record, where),
        origin=where,
    )


def _qid(record: dict[str, Any], line: int, where: str) -> str:
    value = record.get("id", record.get("qid"))
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"q-{line}"
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise QAFileError(f"{where}: field 'id' must be a string or an integer, got {value!r}")
    return str(value).strip()


def _question(record: dict[str, Any], where: str) -> str:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QAFileError(f"{where}: field 'question' is missing or empty — every record needs a question")
    return question.strip()


def _answers(record: dict[str, Any], where: str) -> list[str]:
    field = "answers" if "answers" in record else "answer"
    value = record.get(field)
    if isinstance(value, str) and field == "answers":
        value = _maybe_json_list(value, field, where)
    answers = [_scalar_string(item, field, where) for item in _as_list(value)]
    answers = [answer.strip() for answer in answers if answer.strip()]
    if not answers:
        raise QAFileError(
            f"{where}: field '{field}' is missing or empty — give 'answer' (a string) "
            "or 'answers' (a list of acceptable answers)"
        )
    return answers


def _task_type(record: dict[str, Any], where: str) -> str:
    task_type = record.get("task_type", "short_qa")
    if task_type not in TASK_TYPES:
        raise QAFileError(
            f"{where}: field 'task_type' is {task_type!r}, an unknown task type — "
            f"use one of: {', '.join(TASK_TYPES)}"
        )
    return task_type


def _string_list(record: dict[str, Any], field: str, where: str, separators: str) -> list[str]:
    value = record.get(field)
    if isinstance(value, str):
        value = _maybe_json_list(value, field, where)
        if isinstance(value, str):  # the CSV shorthand "a.md|b.md" (ids also "a.md;b.md")
            value = re.split("|".join(map(re.escape, separators)), value)
    items = [_scalar_string(item, field, where).strip() for item in _as_list(value)]
    return [item for item in items if item]


def _optional_string(record: dict[str, Any], field: str, where: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    return _scalar_string(value, field, where).strip() or None


def _extra_fields(record: dict[str, Any], where: str) -> dict[str, Any]:
    """Unknown fields are kept, so a dataset's own columns survive a load/save round trip."""
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise QAFileError(f"{where}: field 'metadata' must be a JSON object, got {metadata!r}")
    extras = {key: value for key, value in record.items() if key not in KNOWN_FIELDS}
    return {**metadata, **extras}


def _maybe_json_list(value: str, field: str, where: str) -> Any:
    """Parse a string that looks like a JSON list (CSV cells); leave other strings alone."""
    if not value.lstrip().startswith("["):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise QAFileError(
            f"{where}: field '{field}' looks like a JSON list but is not valid JSON ({exc.msg}) — "
            'write it as ["first", "second"] with double quotes'
        ) from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _scalar_string(value: Any, field: str, where: str) -> str:
    # Numbers are accepted as text ("answer": 42) — gold answers are compared as strings anyway.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise QAFileError(f"{where}: field '{field}' must hold strings, got {value!r}")


def _check_unique_ids(numbered: list[tuple[int, QAExample]], path: Path) -> None:
    first_line_of: dict[str, int] = {}
    for line, example in numbered:
        if example.qid in first_line_of:
            raise QAFileError(
                f"{path}: line {line}: duplicate id {example.qid!r} (first used on line "
                f"{first_line_of[example.qid]}) — give every question a unique id"
            )
        first_line_of[example.qid] = line
