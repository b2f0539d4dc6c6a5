"""The Documents page's work: upload, list, remove, re-index — with the CLI's loaders and rules.

Uploaded files live in ``<workspace>/uploads/`` and are indexed as ``uploads/<name>``.
Documents ingested earlier with ``ragft ingest`` stay in the index untouched: re-indexing
carries their chunks and vectors over (same content hash → nothing re-read or re-embedded).

Safety: a file name is a plain name (no folders, no ``..``, no leading dot), so nothing is
written outside ``uploads/``; the size is checked before anything touches the disk; the type
is checked by extension *and* by actually loading it with the ingest loaders (a binary file
renamed ``.txt`` or a corrupt PDF is refused with the loader's reason). Only text is ever
extracted from an upload — nothing in it is executed or unpickled.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ragft.corpus import SUPPORTED_EXTENSIONS, LoadError, load_document, load_folder, make_chunker
from ragft.errors import RagftError
from ragft.index import versions
from ragft.index.store import HybridIndex, IngestStats
from ragft.types import Document
from ragft.workspace import Workspace

UPLOADS = "uploads"  # uploaded documents' ids start "uploads/" (their folder: Workspace.uploads_dir)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,150}$")


class UploadError(RagftError):
    """An upload was refused; the message names the file and why."""


@dataclass
class DocumentInfo:
    doc_id: str
    title: str
    chunks: int | None  # None: uploaded but not indexed yet
    uploaded: bool  # removable from the web page (ingested ones are managed with `ragft ingest`)
    size_bytes: int | None = None


def uploads_dir(workspace: Workspace) -> Path:
    return workspace.uploads_dir


def check_upload(filename: str, size: int, max_bytes: int) -> str:
    """The safe file name to store an upload under, or UploadError with the reason."""
    name = (filename or "").strip()
    if not name or "/" in name or "\\" in name or ".." in name or not _SAFE_NAME.match(name):
        raise UploadError(f"file name {filename!r} is not allowed — use a plain name of letters, digits, "
                          "spaces, '.', '-', '_' (no folders)")
    if Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise UploadError(f"{name}: unsupported type {Path(name).suffix or '(none)'!r} — upload one of "
                          f"{', '.join(SUPPORTED_EXTENSIONS)}")
    if size > max_bytes:
        raise UploadError(f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB upload limit")
    if size == 0:
        raise UploadError(f"{name}: the file is empty")
    return name


def save_upload(workspace: Workspace, filename: str, data: bytes, max_bytes: int) -> Path:
    """Validate and store an upload in ``uploads/``; a file the loaders cannot read is refused."""
    name = check_upload(filename, len(data), max_bytes)
    folder = uploads_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / name).resolve()
    if target.parent != folder.resolve():  # defence in depth: the name check already ensures this
        raise UploadError(f"file name {filename!r} is not allowed")
    staging = folder / f".incoming-{secrets.token_hex(6)}{Path(name).suffix.lower()}"  # hidden: never ingested
    staging.write_bytes(data)
    try:
        load_document(staging)  # the ingest loaders decide whether this really is a document
    except LoadError as err:
        staging.unlink(missing_ok=True)
        raise UploadError(f"{name}: {err.reason} — {err.hint}") from None
    os.replace(staging, target)
    return target


def remove_upload(workspace: Workspace, doc_id: str) -> None:
    if not doc_id.startswith(f"{UPLOADS}/"):
        raise UploadError(f"{doc_id!r} was ingested with `ragft ingest`, not uploaded — remove it from its folder "
                          "and re-run ingest")
    name = doc_id.split("/", 1)[1]
    check_upload(name, 1, 1)
    path = uploads_dir(workspace) / name
    if not path.is_file():
        raise UploadError(f"{doc_id!r} is not among the uploaded documents")
    path.unlink()


def list_documents(workspace: Workspace) -> list[DocumentInfo]:
    indexed = _manifest_documents(workspace)
    infos = {doc_id: DocumentInfo(doc_id, meta.get("title") or doc_id, meta.get("n_chunks"),
                                  doc_id.startswith(f"{UPLOADS}/")) for doc_id, meta in indexed.items()}
    folder = uploads_dir(workspace)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                doc_id = f"{UPLOADS}/{path.name}"
                info = infos.setdefault(doc_id, DocumentInfo(doc_id, path.stem, None, True))
                info.size_bytes = path.stat().st_size
    return sorted(infos.values(), key=lambda d: d.doc_id)


def reindex(workspace: Workspace, embedder, config) -> tuple[IngestStats, list[str]]:
    """Rebuild the index from the uploads plus the documents ingested earlier; returns the
    stats and one line per skipped file. Saved atomically under the workspace's write lock, like
    ``ragft ingest``."""
    with workspace.writing():
        return _reindex(workspace, embedder, config)


def _reindex(workspace: Workspace, embedder, config) -> tuple[IngestStats, list[str]]:
    if config.index.backend != "embedded":
        raise RagftError(f"the Documents page re-indexes the embedded index; this workspace's index is on "
                         f"{config.index.backend} (index.backend in ragft.yaml) — add the files with `ragft ingest`")
    previous = HybridIndex.load(workspace.index_dir, embedder=None) if workspace.has_index() else None
    chunker_config = config.chunker.model_dump()
    report = load_folder(uploads_dir(workspace)) if uploads_dir(workspace).is_dir() else None
    uploaded = [_as_upload(doc) for doc in report.documents] if report else []
    notes = [f"{s.path.name}: {s.reason}" for s in report.skipped] if report else []
    carried, more_notes = _carried_documents(previous, embedder, chunker_config)
    if not carried and not uploaded:  # nothing left: no index at all (RAG variants say so)
        (workspace.index_dir / versions.POINTER).unlink(missing_ok=True)
        return IngestStats(removed=len(previous.manifest.documents) if previous else 0), notes + more_notes
    chunker = make_chunker(config.chunker.kind, **config.chunker.params)
    index, stats = HybridIndex.build(carried + uploaded, chunker, chunker_config, embedder, previous=previous)
    index.save(workspace.index_dir)
    workspace.save_config(config)
    return stats, notes + more_notes


def _as_upload(doc: Document) -> Document:
    doc.doc_id = f"{UPLOADS}/{doc.doc_id}"
    return doc


def _carried_documents(previous: HybridIndex | None, embedder, chunker_config: dict) -> tuple[list[Document], list[str]]:
    """Documents from ``ragft ingest`` kept as they are. With the same embedder and chunker their
    chunks are reused by content hash (the text is not needed); otherwise they are re-read."""
    if previous is None:
        return [], []
    reusable = previous.manifest.embedder == embedder.name and previous.manifest.chunker == chunker_config
    documents, notes = [], []
    for doc_id, meta in previous.manifest.documents.items():
        if doc_id.startswith(f"{UPLOADS}/"):
            continue  # uploads come from the folder: a removed upload leaves the index
        if reusable:
            documents.append(Document(doc_id=doc_id, text="", source=meta.get("source", ""),
                                      metadata={"content_sha256": meta["sha256"], "title": meta.get("title", "")}))
            continue
        try:
            document = load_document(Path(meta.get("source", "")))
            document.doc_id = doc_id
            documents.append(document)
        except LoadError as err:
            notes.append(f"{doc_id}: dropped — {err.reason}")
    return documents, notes


def _manifest_documents(workspace: Workspace) -> dict[str, dict]:
    """The live index's document table, read from its manifest alone (no BM25 rebuild)."""
    if not workspace.has_index():
        return {}
    if workspace.load_config().index.backend != "embedded":
        return dict(workspace.load_index(None).manifest.documents)
    try:
        return versions.read_manifest(workspace.index_dir, versions.live_version(workspace.index_dir)).get("documents", {})
    except (OSError, ValueError, KeyError, TypeError):
        return {}
