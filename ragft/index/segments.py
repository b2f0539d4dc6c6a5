"""An index as segments: immutable pieces, each written once, so an ingest writes what changed.

A segment holds some documents' chunks (``chunks.arrow``), their vectors (``embeddings.npy``), a
BM25 model over their texts (``bm25/``) and, when large enough, an HNSW graph (``hnsw.faiss``).
A version of the index is a list of segments plus the manifest saying, for every document, which
segment holds its current chunks (``segment``, ``first_row``, ``n_chunks``). Rows of a segment
that no document points at any more (a changed or removed document's old chunks) are dead:
searches skip them, and a segment with too many dead rows is folded into the next ingest's new
segment (see ``HybridIndex.build``). This is how Lucene and the vector engines avoid rewriting
everything on every change, reduced to what one process needs.

``LiveRows`` numbers the live rows of all segments 0..n-1 (segment by segment), the row numbers
the rest of ragft sees through ``HybridIndex.chunks`` and ``HybridIndex.embeddings``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ragft.config import IndexConfig
from ragft.index import ann, chunktable
from ragft.index import bm25 as lexical
from ragft.index.threads import NPY_HEADERS, one_blas_thread
from ragft.types import Chunk

MAX_SEGMENTS = 8  # past this many, an ingest folds every segment but the largest into its new one
DEAD_LIMIT = 0.25  # a segment with more than this share of dead rows is folded into the new one
_NO_ROWS = np.zeros(0, dtype=np.int64)


class Segment:
    """One immutable piece of an index. ``name``: its folder under ``segments/`` once saved."""

    def __init__(self, chunks: Sequence[Chunk], embeddings: np.ndarray, bm25=None, graph=None,
                 name: str | None = None):
        self.chunks = chunks
        self.embeddings = embeddings
        self.bm25 = bm25 if bm25 is not None or not len(chunks) else lexical.build([c.text for c in chunks])
        self.graph = graph
        self.name = name
        self.folder: Path | None = None  # where it was read from

    def __len__(self) -> int:
        return len(self.chunks)

    def write(self, folder: Path, settings: IndexConfig) -> None:
        """Its files into the empty ``folder`` (the caller fsyncs and renames it)."""
        chunktable.save(self.chunks, folder)
        np.save(folder / "embeddings.npy", np.asarray(self.embeddings, dtype=np.float32))
        if self.bm25 is not None:
            lexical.save(self.bm25, folder)
        if ann.wanted(settings, len(self)):
            ann.save(self.hnsw(), folder)

    @classmethod
    def read(cls, folder: Path, settings: IndexConfig, name: str | None) -> Segment:
        """The segment saved in ``folder``, memory-mapped (FileNotFoundError when it vanished).
        When its BM25 had to be rebuilt (missing or unusable), it counts as unsaved (no ``name``),
        so the next save writes it whole again."""
        chunks = chunktable.load(folder)
        with NPY_HEADERS:
            embeddings = np.load(folder / "embeddings.npy", mmap_mode="r")
            bm25 = lexical.load(folder, len(chunks)) if len(chunks) else None
        graph = ann.load(folder, len(chunks)) if ann.wanted(settings, len(chunks)) else None
        segment = cls(chunks, embeddings, bm25, graph, name if bm25 is not None or not len(chunks) else None)
        segment.folder = folder
        return segment

    def hnsw(self):
        """The HNSW graph over the vectors: loaded with the segment (or now, from its folder, when
        it was opened without), else built now (in memory)."""
        if self.graph is None and self.folder is not None:
            self.graph = ann.load(self.folder, len(self))
        if self.graph is None:
            self.graph = ann.build(np.asarray(self.embeddings))
        return self.graph

    def dense_ranking(self, vector: np.ndarray, depth: int, settings: IndexConfig,
                      allowed: np.ndarray | None, dead: np.ndarray | None) -> list[tuple[int, float]]:
        """(row, score) of its ``depth`` nearest rows; only ``allowed`` rows when given, never ``dead`` ones."""
        if not ann.wanted(settings, len(self)):
            with one_blas_thread():
                return top_rows(self.embeddings @ vector, allowed, depth, dead)
        if allowed is not None and len(allowed) <= ann.EXACT_SCOPE_ROWS:  # a small scope: exact, and fast
            rows = np.sort(allowed)
            with one_blas_thread():
                scores = np.asarray(self.embeddings[rows]) @ vector
            return [(int(rows[i]), s) for i, s in top_rows(scores, None, depth)]
        return ann.search(self.hnsw(), vector, depth, settings.ef_search, allowed, dead)

    def bm25_ranking(self, scores: np.ndarray, depth: int, allowed: np.ndarray | None,
                     dead: np.ndarray | None) -> list[tuple[int, float]]:
        return [(row, s) for row, s in top_rows(scores, allowed, depth, dead) if s > 0]


def top_rows(scores: np.ndarray, allowed: np.ndarray | None, depth: int,
             dead: np.ndarray | None = None) -> list[tuple[int, float]]:
    """(row, score) of the ``depth`` best rows, best first, ties by row (deterministic)."""
    if allowed is not None:
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        scores = masked
    elif dead is not None and len(dead):
        scores = np.array(scores)
        scores[dead] = -np.inf
    depth = min(depth, len(scores) if allowed is None else len(allowed))
    if depth <= 0:
        return []
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(r), float(scores[r])) for r in top if np.isfinite(scores[r])]


class LiveRows:
    """The live rows of each segment (sorted local rows, or None when all are live), numbered
    0..n-1 segment by segment."""

    def __init__(self, sizes: list[int], live: list[np.ndarray | None]):
        self.live = live
        counts = [size if rows is None else len(rows) for size, rows in zip(sizes, live)]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.sizes = sizes
        self._dead: dict[int, np.ndarray | None] = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, row: int) -> tuple[int, int]:
        """(segment, local row) of live row ``row``."""
        if not 0 <= row < len(self):
            raise IndexError(row)
        segment = int(np.searchsorted(self.offsets, row, side="right")) - 1
        within = row - int(self.offsets[segment])
        rows = self.live[segment]
        return segment, within if rows is None else int(rows[within])

    def numbered(self, segment: int, local: np.ndarray) -> np.ndarray:
        """The live row numbers of ``local`` rows (all live) of ``segment``."""
        rows = self.live[segment]
        local = np.asarray(local, dtype=np.int64)
        return self.offsets[segment] + (local if rows is None else np.searchsorted(rows, local))

    def dead(self, segment: int) -> np.ndarray | None:
        """The segment's dead rows (None when there are none)."""
        if segment not in self._dead:
            rows = self.live[segment]
            whole = rows is None or len(rows) == self.sizes[segment]
            self._dead[segment] = None if whole else np.flatnonzero(~self.alive(segment))
        return self._dead[segment]

    def alive(self, segment: int) -> np.ndarray:
        """A mask over the segment's rows: True where live."""
        mask = np.zeros(self.sizes[segment], dtype=bool)
        mask[self.local_rows(segment)] = True
        return mask

    def local_rows(self, segment: int) -> np.ndarray:
        rows = self.live[segment]
        return np.arange(self.sizes[segment]) if rows is None else rows


class LiveChunks(Sequence):
    """The live chunks of all segments as one read-only sequence (what ``HybridIndex.chunks`` is)."""

    def __init__(self, segments: list[Segment], rows: LiveRows):
        self._segments, self._rows = segments, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        segment, local = self._rows.locate(row + len(self) if row < 0 else row)
        return self._segments[segment].chunks[local]

    def __iter__(self) -> Iterator[Chunk]:
        for i, (segment, rows) in enumerate(zip(self._segments, self._rows.live)):
            if rows is None:
                yield from segment.chunks
            else:  # in stored order (batched reads), skipping the dead rows: at most a quarter of them
                yield from (chunk for chunk, keep in zip(segment.chunks, self._rows.alive(i)) if keep)


class LiveVectors:
    """The live rows' vectors, indexed like ``LiveChunks`` (what ``HybridIndex.embeddings`` is)."""

    def __init__(self, segments: list[Segment], rows: LiveRows, dim: int):
        self._segments, self._rows = segments, rows
        self.shape = (len(rows), dim)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, row):
        segment, local = self._rows.locate(int(row))
        return self._segments[segment].embeddings[local]

    def __array__(self, dtype=None, copy=None):
        parts = [np.asarray(s.embeddings)[self._rows.local_rows(i)] for i, s in enumerate(self._segments)]
        matrix = np.vstack(parts) if parts else np.zeros(self.shape, np.float32)
        return matrix if dtype is None else matrix.astype(dtype)


def merge(old: list[Segment], kept: dict[str, tuple[int, np.ndarray]], fresh: dict[str, list[Chunk]],
          vectors: np.ndarray | None, documents: dict[str, dict],
          fold_all: bool = False) -> tuple[list[Segment], dict[str, dict]]:
    """The segments of ``documents`` (manifest entries, in order) and their entries placed in them:
    ``kept`` documents (doc → (old segment, rows)) stay in their ``old`` segment, or are copied
    with the ``fresh`` chunks (and their ``vectors``, in order) into one new segment. A segment is
    folded into the new one when unsaved, more than ``DEAD_LIMIT`` dead, or, past ``MAX_SEGMENTS``,
    unless it is the largest; ``fold_all`` folds every one."""
    live = [0] * len(old)
    for segment, rows in kept.values():
        if len(rows):
            live[segment] += len(rows)
    keep = [i for i, s in enumerate(old) if not fold_all and s.name and live[i] and live[i] >= (1 - DEAD_LIMIT) * len(s)]
    if len(keep) >= MAX_SEGMENTS:
        keep = [max(keep, key=lambda i: len(old[i]))]
    position = {old_index: new_index for new_index, old_index in enumerate(keep)}
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    placed: dict[str, dict] = {}
    fresh_row = 0
    for doc_id, entry in documents.items():
        entry = placed[doc_id] = dict(entry)
        segment, rows = kept.get(doc_id, (None, _NO_ROWS))
        if segment in position and len(rows):  # stays where it is
            entry.update(segment=position[segment], first_row=int(rows[0]), n_chunks=len(rows))
            continue
        if len(rows):  # unchanged, in a segment being folded: copied
            doc_chunks = [old[segment].chunks[int(r)] for r in rows]
            parts.append(np.asarray(old[segment].embeddings[rows]))
        else:  # new or changed (or without chunks)
            doc_chunks = fresh.get(doc_id, [])
            if doc_chunks:
                parts.append(vectors[fresh_row:fresh_row + len(doc_chunks)])
                fresh_row += len(doc_chunks)
        entry.update(segment=len(keep), first_row=len(chunks), n_chunks=len(doc_chunks))
        chunks.extend(doc_chunks)
    segments = [old[i] for i in keep]
    if chunks:
        segments.append(Segment(chunks, np.vstack(parts).astype(np.float32)))
    return segments, placed


def placements(documents: dict[str, dict], located: dict[str, tuple[int, np.ndarray]]) -> dict[str, dict] | None:
    """Manifest entries with each document's segment and first row; None when a document's rows
    are not one run."""
    placed = {}
    for doc_id, entry in documents.items():
        segment, rows = located.get(doc_id, (0, _NO_ROWS))
        if len(rows) and not np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            return None
        placed[doc_id] = {**entry, "segment": segment, "first_row": int(rows[0]) if len(rows) else 0,
                          "n_chunks": len(rows)}
    return placed


def live_rows(documents: dict[str, dict], sizes: list[int]) -> list[np.ndarray | None]:
    """Each segment's live rows (sorted), from the manifest's placements; None when all are live."""
    runs: list[list[np.ndarray]] = [[] for _ in sizes]
    for entry in documents.values():
        if entry["n_chunks"]:
            runs[entry["segment"]].append(np.arange(entry["first_row"], entry["first_row"] + entry["n_chunks"]))
    live: list[np.ndarray | None] = []
    for size, rows in zip(sizes, runs):
        total = sum(len(r) for r in rows)
        live.append(None if total == size else np.sort(np.concatenate(rows)) if rows else _NO_ROWS)
    return live
