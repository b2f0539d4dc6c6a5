"""Feedback files in and out: CSV or JSONL, one self-contained record per line.

Any tool can produce these. A record is either an interaction with optional feedback on it, or a
pairwise choice between two answers:

    kind         "interaction" (default) or "pairwise" (default when `choice` is given)
    question     required
    answer       required (for pairwise: answer A)
    context      the retrieved text the answer was written from ("" for closed-book)
    sources      a JSON list (in CSV: a JSON string), e.g. ["policy.md#3"]
    model_version, variant, variant_hash   (what answered: the served spec's key, ragft.rag.variant)
    asked, conversation, turn   a chat follow-up as typed (question: the standalone question answered)
    vote         up | down              (interaction)
    rating       1–5                    (interaction)
    corrected_answer                    (interaction: the human edit)
    answer_b, variant_b, variant_hash_b, choice a|b|tie (pairwise)
    created_at   seconds since the epoch or an ISO 8601 date-time

Every record is validated before anything is stored; the first problem is a ConfigError naming
the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, RagftError
from ragft.feedback.validate import check_choice, check_rating, check_vote
from ragft.persist import atomic_write_text

FIELDS = ["kind", "question", "answer", "context", "sources", "model_version", "variant", "variant_hash", "asked",
          "conversation", "turn", "vote", "rating", "corrected_answer", "answer_b", "variant_b", "variant_hash_b",
          "choice", "created_at"]
ALIASES = {"answer_a": "answer", "variant_a": "variant", "variant_hash_a": "variant_hash"}
KINDS = ("interaction", "pairwise")


# ------------------------------------------------------------------------------------------ writing
def interaction_record(row: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "interaction", "question": row["question"], "answer": row["answer"], "context": row["context"],
            "sources": row["sources"], "model_version": row["model_version"], "variant": row["variant"],
            "variant_hash": row.get("variant_hash") or "", "asked": row.get("asked") or "",
            "conversation": row.get("conversation") or "", "turn": row.get("turn") or 0, "vote": row.get("vote") or "",
            "rating": row.get("rating") or "", "corrected_answer": row.get("corrected_answer") or "", "answer_b": "",
            "variant_b": "", "variant_hash_b": "", "choice": "", "created_at": row["created_at"]}


def pairwise_record(row: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "pairwise", "question": row["question"], "answer": row["answer_a"], "context": row["context"],
            "sources": [], "model_version": "", "variant": row["variant_a"],
            "variant_hash": row.get("variant_hash_a") or "", "asked": "", "conversation": "", "turn": 0, "vote": "",
            "rating": "", "corrected_answer": "",
            "answer_b": row["answer_b"], "variant_b": row["variant_b"], "variant_hash_b": row.get("variant_hash_b") or "",
            "choice": row["choice"], "created_at": row["created_at"]}


def write_records(path: Path, records: list[dict[str, Any]]) -> int:
    """Write records as CSV or JSONL (chosen by the extension), atomically."""
    fmt = _format(path)
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "sources": json.dumps(record.get("sources") or [], ensure_ascii=False)})
    else:
        for record in records:
            buffer.write(json.dumps(record, ensure_ascii=False) + "\n")
    atomic_write_text(path, buffer.getvalue())
    return len(records)


# ------------------------------------------------------------------------------------------ reading
def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a feedback file, validated; raises ConfigError at the first bad one."""
    fmt = _format(path)
    if not path.is_file():
        raise ConfigError(f"{path}: feedback file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text — save it as UTF-8") from None
    raw = _csv_rows(path, text) if fmt == "csv" else _jsonl_rows(path, text)
    records = [_validated(path, line, row) for line, row in raw]
    if not records:
        raise ConfigError(f"{path}: no feedback records in the file")
    return records


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ConfigError(f"{path}: feedback files must be .csv or .jsonl, not {suffix or '(no extension)'!r}")


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        for row in reader:
            if None in row:  # more cells than header columns
                raise ConfigError(f"{path}: line {reader.line_num}: more cells than the header has columns")
            rows.append((reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}))
    except csv.Error as err:
        raise ConfigError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from None
    return rows


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise ConfigError(f"{path}: line {number}: not valid JSON ({err.args[0] if err.args else err})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}")
        rows.append((number, {k: v for k, v in row.items() if v not in (None, "")}))
    return rows


def _validated(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    def fail(field: str, problem: str):
        raise ConfigError(f"{path}: line {line}: field {field!r}: {problem}")

    row = {ALIASES.get(k, k): v for k, v in row.items()}
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        fail(unknown[0], f"unknown field — use: {', '.join(FIELDS)}")
    kind = str(row.get("kind") or ("pairwise" if "choice" in row else "interaction")).strip().lower()
    if kind not in KINDS:
        fail("kind", f"must be interaction or pairwise, got {kind!r}")
    record: dict[str, Any] = {"kind": kind}
    for field in ("question", "answer"):
        value = row.get(field)
        if not isinstance(value, str) or not value.strip():
            fail(field, "required, non-empty text")
        record[field] = value
    for field in ("context", "model_version", "variant", "variant_hash", "asked", "conversation", "corrected_answer",
                  "answer_b", "variant_b", "variant_hash_b"):
        if field in row:
            if not isinstance(row[field], str):
                fail(field, f"must be text, got {type(row[field]).__name__}")
            record[field] = row[field]
    record["sources"] = _sources(row.get("sources"), fail)
    record["created_at"] = _timestamp(row.get("created_at"), fail)
    turn = row.get("turn")
    if turn not in (None, ""):
        if not str(turn).isdigit():
            fail("turn", f"must be a whole number from 0, got {turn!r}")
        record["turn"] = int(turn)
    _feedback_fields(kind, row, record, fail)
    return record


def _feedback_fields(kind: str, row: dict, record: dict, fail) -> None:
    def checked(field, check):
        try:
            return check(row[field])
        except RagftError as err:
            fail(field, str(err))

    if kind == "pairwise":
        if not str(row.get("answer_b") or "").strip():
            fail("answer_b", "required for a pairwise record")
        if "choice" not in row:
            fail("choice", "required for a pairwise record (a, b or tie)")
        record["choice"] = checked("choice", check_choice)
        for field in ("vote", "rating", "corrected_answer"):
            if field in row:
                fail(field, "not allowed on a pairwise record")
        return
    if "choice" in row:
        fail("choice", "only allowed on a pairwise record")
    if "vote" in row:
        record["vote"] = checked("vote", check_vote)
    if "rating" in row:
        record["rating"] = checked("rating", check_rating)


def _sources(value, fail) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            fail("sources", "must be a JSON list, e.g. [\"doc.md#1\"]")
    if not isinstance(value, list):
        fail("sources", f"must be a list, got {type(value).__name__}")
    return value


def _timestamp(value, fail) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        fail("created_at", f"must be seconds since the epoch or an ISO 8601 date-time, got {value!r}")
