"""An index folder on disk: segments written once, versions naming them, one writer at a time::

    index/
      CURRENT                 name of the live version folder (replaced atomically)
      v-<stamp>/manifest.json the segments, and the documents as changes to a table (ragft.index.store)
      segments/s-<stamp>/     one segment's files (ragft.index.segments), never changed once written
      documents/d-<stamp>/    a document table (documents.json), never changed once written
      .lock                   held while a writer saves (ingests, studies sharing an index)

A save writes its new segments, then its version, each staged as ``<name>.partial``, made durable
and renamed, then swaps ``CURRENT`` with ``os.replace`` (atomic on POSIX and Windows): an
interrupted save leaves the previous version live and intact. Under the lock, the save then
removes versions that are not live, and segments and document tables the live version does not
name. Readers are never
disturbed by the removal: they either finished reading, or hold memory maps, which outlive the
unlinked files on POSIX (on Windows the removal of a mapped file fails, is ignored, and the next
save retries it); a reader that finds its version gone reads ``CURRENT`` again.

The manifest's document table (for every document: its hash, title, chunk count and where its
chunks sit) has one entry per document, 2.5 MB at 20,000 documents. Rewriting it on every ingest
would make changing one document cost in proportion to the corpus, so a version names a table
written once and lists only its changes to it (``documents_changed``; ``null`` for a removed
document). A save writes a new table when the changes outgrow ``table_changes_limit``: about
sqrt(2n) entries for n documents, the size that minimises the bytes written per ingest when each
changes a few documents (the changes a version repeats grow by one per ingest, a new table costs n).
Versions saved before format 3 hold the whole table in ``documents``; they are read as they are.

Versions saved by ragft before segments (format 1) hold the files of their one segment in the
version folder itself; they are read as they are and rewritten as a segment by the next ingest.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ragft.persist import atomic_write_text

_PARTIAL_GRACE_SECONDS = 3600  # a staging folder older than this is abandoned, whoever wrote it


def fsync_tree(folder: Path) -> None:
    """Every file under ``folder`` (bm25s writes a subfolder) and, where the OS allows, the folders'
    entries, so the version renamed live is whole on disk even after a power cut."""
    for path in folder.iterdir():
        if path.is_dir():
            fsync_tree(path)
            continue
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; NTFS journals its entries anyway
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


POINTER = "CURRENT"
SEGMENTS = "segments"
DOCUMENTS = "documents"
MANIFEST = "manifest.json"
TABLE = "documents.json"


@contextmanager
def writing(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s write lock (an OS file lock, freed if the holder dies)."""
    import filelock

    directory.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(directory / ".lock")):
        yield


def new_name(prefix: str) -> str:
    """A folder name no other save picks: time, process id and a fine clock."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.perf_counter_ns() % 10**6}"


def segment_folder(directory: Path, name: str) -> Path:
    return directory / SEGMENTS / name


def save_segment(directory: Path, write: Callable[[Path], None]) -> str:
    """A new segment, filled by ``write(folder)``; returns its name."""
    name = new_name("s")
    _staged(segment_folder(directory, name), write)
    return name


def save_version(directory: Path, manifest: dict) -> tuple[str, str]:
    """Write a version of ``manifest`` (its ``documents`` stored as changes to a document table,
    see above), then point ``CURRENT`` at it; returns its name and its table's name."""
    documents = manifest["documents"]
    table_name, table = _live_table(directory)
    changed = {doc_id: entry for doc_id, entry in documents.items() if table.get(doc_id) != entry}
    changed.update({doc_id: None for doc_id in table if doc_id not in documents})
    if table_name is None or len(changed) > table_changes_limit(len(documents)):
        table_name, changed = new_name("d"), {}
        _staged(directory / DOCUMENTS / table_name, lambda folder: (folder / TABLE).write_text(
            json.dumps(documents, separators=(",", ":")), encoding="utf-8"))
    stored = {key: value for key, value in manifest.items() if key != "documents"}
    stored.update(documents_table=table_name, documents_changed=changed)
    name = new_name("v")
    _staged(directory / name, lambda folder: (folder / MANIFEST).write_text(json.dumps(stored, indent=1),
                                                                           encoding="utf-8"))
    atomic_write_text(directory / POINTER, name)
    return name, table_name


def table_changes_limit(n_documents: int) -> int:
    return max(100, math.isqrt(2 * n_documents))


def read_manifest(directory: Path, version: str) -> dict:
    """Version ``version``'s manifest with its whole ``documents`` table (FileNotFoundError when a
    writer removed the version or its table meanwhile)."""
    manifest = _stored_manifest(directory, version)
    if "documents_table" in manifest:
        documents = _read_table(directory, manifest.pop("documents_table"))
        for doc_id, entry in manifest.pop("documents_changed").items():
            if entry is None:
                documents.pop(doc_id, None)
            else:
                documents[doc_id] = entry
        manifest["documents"] = documents
    return manifest


def live_version(directory: Path) -> str:
    """The name of the live version (FileNotFoundError when there is none)."""
    return (directory / POINTER).read_text(encoding="utf-8").strip()


def _live_table(directory: Path) -> tuple[str | None, dict]:
    """The document table the live version names, or (None, {}) when there is none to build on."""
    try:
        name = _stored_manifest(directory, live_version(directory))["documents_table"]
        return name, _read_table(directory, name)
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or an older format: start a table
        return None, {}


def _stored_manifest(directory: Path, version: str) -> dict:
    """The manifest as stored: a format-3 one names its document table instead of holding it."""
    return json.loads((directory / version / MANIFEST).read_text(encoding="utf-8"))


def _read_table(directory: Path, name: str) -> dict:
    return json.loads((directory / DOCUMENTS / name / TABLE).read_text(encoding="utf-8"))


def _staged(final: Path, write: Callable[[Path], None]) -> None:
    """Fill ``final`` as ``<final>.partial``, make it durable, then rename it into place."""
    staging = final.with_name(final.name + ".partial")
    staging.mkdir(parents=True)
    try:
        write(staging)
        fsync_tree(staging)
    except OSError:  # disk full, read-only: leave nothing half-written (an interrupt leaves it to the next save)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(final)


def remove_stale(directory: Path, keep: str, segments: set[str], table: str) -> None:
    """Delete superseded versions, segments and document tables the live version ``keep`` does not
    name, and abandoned half-written folders, but not another process's save in progress (older
    ragft wrote without the lock; studies run side by side can share an index)."""
    for parent, prefix, wanted in ((directory, "v-", {keep}), (directory / SEGMENTS, "s-", segments),
                                   (directory / DOCUMENTS, "d-", {table})):
        for path in parent.iterdir() if parent.is_dir() else ():
            if not (path.is_dir() and path.name.startswith(prefix) and path.name not in wanted):
                continue
            if path.name.endswith(".partial") and _written_by_another_live_process(path):
                continue
            shutil.rmtree(path, ignore_errors=True)


def _written_by_another_live_process(partial: Path) -> bool:
    """A recent staging folder whose writer (its pid is part of the name) is still running."""
    try:
        pid = int(partial.name.split("-")[3])
        if pid == os.getpid() or time.time() - partial.stat().st_mtime > _PARTIAL_GRACE_SECONDS:
            return False
        os.kill(pid, 0)  # signal 0 only checks that the process exists
    except PermissionError:
        return True  # it exists, under another user
    except (ValueError, IndexError, OSError):
        return False
    return True
