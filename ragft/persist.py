"""Small file primitives every layer shares: atomic writes, append-only JSONL, content hashes.

- ``atomic_write_text``: write to ``<name>.<pid>.tmp`` beside the target (per process, so two
  writers never share a temporary file), fsync, then ``os.replace`` — a reader sees the old file
  or the new one, never half of one, and a crash leaves the previous file intact.
- ``append_jsonl`` / ``read_jsonl``: append-only caches, one JSON value a line, fsynced per batch;
  reading skips a torn line (a crash mid-write) instead of failing.
- ``content_hash``: SHA-256 of canonical JSON (sorted keys, ``str`` for anything else). Cache keys
  are built from it, so its output must never change.

This module imports nothing from ragft: it sits in the lowest layer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Replace ``path``'s content with ``text`` (UTF-8) atomically; creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


def append_jsonl(path: Path | str, records: Iterable[Any], default: Callable[[Any], Any] | None = None) -> None:
    """Append one JSON line per record in a single write, then fsync (not ASCII-escaped)."""
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(json.dumps(r, ensure_ascii=False, default=default) + "\n" for r in records))
        out.flush()
        os.fsync(out.fileno())


def read_jsonl(path: Path | str) -> list[Any]:
    """The JSON values of a JSONL file, in order; [] when it does not exist; unreadable lines skipped."""
    path = Path(path)
    values = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                values.append(json.loads(line))
            except ValueError:
                continue
    return values


def text_sha256(text: str) -> str:
    """Hex SHA-256 of ``text``'s UTF-8 bytes: a document's or chunk's content hash."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(value: Any) -> str:
    """Hex SHA-256 of ``value`` as canonical JSON (sorted keys; ``str()`` for non-JSON values)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
