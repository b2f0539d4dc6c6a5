"""Embedding an index's chunk texts: in one call, slice by slice for a progress display, or
checkpointed slice by slice so that an ingest killed part-way resumes from what it had embedded."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ragft.index.threads import NPY_HEADERS
from ragft.models.embedder import Embedder
from ragft.persist import text_sha256

EMBED_SLICE = 512  # texts per embed call when a caller follows progress (one call otherwise)
ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


def embed_texts(texts: list[str], embedder: Embedder, progress: bool, on_progress: ProgressCallback | None,
           checkpoint: Path | None = None) -> tuple[np.ndarray, int]:
    """The vectors of ``texts`` and how many were reused from ``checkpoint``.

    In one call when nobody follows progress and there is no checkpoint; else slice by slice, so a
    caller can show how far embedding has got (a 1,000-document corpus took minutes with nothing on
    screen) and, with ``checkpoint`` (a folder), each slice is saved under the hash of (embedder,
    texts): after a crash the rerun loads the slices already done instead of embedding them again.
    """
    if not texts:
        return np.zeros((0, embedder.dim), np.float32), 0
    if on_progress is None and checkpoint is None:
        return embedder.embed(texts, progress=progress), 0
    parts, reused = [], 0
    starts = range(0, len(texts), EMBED_SLICE)
    if on_progress is not None:
        on_progress("embedding chunks", 0, len(texts))
    elif progress:  # the CLI's bar, one step per slice
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"embedding {len(texts)} chunks", unit="slice")
    for start in starts:
        piece = texts[start:start + EMBED_SLICE]
        vectors = _checkpointed(piece, embedder, checkpoint) if checkpoint is not None else None
        if vectors is None:
            vectors = embedder.embed(piece, progress=False)
            if checkpoint is not None:
                _save_checkpoint(piece, embedder, checkpoint, vectors)
        else:
            reused += len(piece)
        parts.append(vectors)
        if on_progress is not None:
            on_progress("embedding chunks", min(start + EMBED_SLICE, len(texts)), len(texts))
    return np.vstack(parts), reused


def _checkpoint_path(piece: list[str], embedder: Embedder, folder: Path) -> Path:
    return folder / f"{text_sha256(json.dumps([embedder.name, piece]))[:24]}.npy"


def _checkpointed(piece: list[str], embedder: Embedder, folder: Path) -> np.ndarray | None:
    try:
        with NPY_HEADERS:
            return np.load(_checkpoint_path(piece, embedder, folder))
    except (OSError, ValueError):  # not there yet, or torn by the crash: embed it
        return None


def _save_checkpoint(piece: list[str], embedder: Embedder, folder: Path, vectors: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    saved = _checkpoint_path(piece, embedder, folder)
    tmp = saved.with_name(f"{saved.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, saved)
