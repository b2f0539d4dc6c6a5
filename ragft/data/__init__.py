"""Data shipped with ragft: the built-in sample domain (see data/sample/README.md)."""

from __future__ import annotations

from pathlib import Path

from ragft.errors import RagftError

SAMPLE_DIR = Path(__file__).parent / "sample"


def sample_docs_dir() -> Path:
    return SAMPLE_DIR / "docs"


def sample_qa_path(split: str) -> Path:
    """``train`` or ``test`` gold QA of the sample (JSONL)."""
    return SAMPLE_DIR / f"{split}.jsonl"


def resolve_corpus_path(path: str) -> Path:
    """A user path, or the built-in sample for ``builtin:sample``; a missing path is a clear error."""
    resolved = sample_docs_dir() if path == "builtin:sample" else Path(path).expanduser()
    if not resolved.exists():
        raise RagftError(f"{path}: no such file or folder — give the folder of documents to ingest")
    return resolved
