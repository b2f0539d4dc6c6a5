"""Housekeeping of an index's version folders: a staged version made durable before it goes live,
superseded and abandoned versions removed after. Readers are never disturbed by the removal: they
either finished reading, or hold memory maps, which outlive the unlinked files on POSIX (on
Windows the removal of a mapped file fails, is ignored, and the next save retries it)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

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


def remove_stale_versions(directory: Path, keep: str) -> None:
    """Delete superseded versions and abandoned half-written ones, but not another process's
    save in progress (studies run side by side can share an index)."""
    for path in directory.iterdir():
        if not (path.is_dir() and path.name.startswith("v-") and path.name != keep):
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
