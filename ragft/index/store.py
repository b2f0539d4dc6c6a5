"""A hybrid BM25 + dense index over chunks, persisted atomically, updated incrementally.

An index is a list of segments (ragft.index.segments: chunks, vectors, BM25, maybe an HNSW graph,
each written once) and a manifest saying which segment holds each document's current chunks. An
ingest that changes one document embeds and writes only that document's chunks, as a new segment,
plus a new manifest; the old chunks become dead rows that searches skip (see ``build`` for when
segments are folded together). The folder layout, the lock and the atomic swap of versions are
ragft.index.versions.

Dense search is an exact dot product in NumPy for small segments and an HNSW walk above
``IndexConfig.ann_threshold`` chunks. Opening an index does no per-chunk work: the chunks, the
saved BM25 and the vectors are memory-mapped, a graph is read whole. A version saved before
segments, ``bm25/`` or ``chunks.arrow`` existed still loads, the missing parts rebuilt or parsed as
then. Another engine (Milvus) stands behind the same interface: ragft.index.backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ragft.config import IndexConfig
from ragft.errors import RagftError
from ragft.index import bm25 as lexical
from ragft.index import chunktable, versions
from ragft.index.changes import compare
from ragft.index.embedding import ProgressCallback, embed_texts
from ragft.index.segments import (
    LiveChunks,
    LiveRows,
    LiveVectors,
    Segment,
    live_rows,
    merge,
    placements,
)
from ragft.models.embedder import Embedder
from ragft.types import Chunk, Document, Hit

FORMAT_VERSION = 3  # 3: documents as changes to a table (ragft.index.versions); 2: segments; 1: one folder
READABLE_FORMATS = (1, 2, 3)
# Indexes built deep inside a pipeline step (sentence windows, hypothetical questions…) report to
# whoever set this around the work (the study), without a callback threaded through every step.
_INDEXING_HOOK: ContextVar[ProgressCallback | None] = ContextVar("ragft_indexing_hook", default=None)
_NO_ROWS = np.zeros(0, dtype=np.int64)  # a document without chunks


@contextmanager
def on_indexing(callback: ProgressCallback) -> Iterator[None]:
    """Every ``HybridIndex.build`` inside this block without its own ``on_progress`` reports here."""
    token = _INDEXING_HOOK.set(callback)
    try:
        yield
    finally:
        _INDEXING_HOOK.reset(token)


@dataclass
class IngestStats:
    """What an ingest did, for the CLI summary and the study's cost side."""

    documents: int = 0
    unchanged: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (document, the earlier one with its text)
    resumed_chunks: int = 0  # vectors an interrupted ingest had already computed, reused from its checkpoint


@dataclass
class Manifest:
    embedder: str
    dim: int
    chunker: dict
    # doc_id -> {sha256, source, title, n_chunks, and once saved in segments: segment, first_row}
    documents: dict[str, dict] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    segments: list[dict] = field(default_factory=list)  # [{name, rows}], in row order


class HybridIndex:
    """Chunks with their embeddings and a BM25 model; searched densely, lexically or both."""

    def __init__(self, chunks: Sequence[Chunk], embeddings: np.ndarray, manifest: Manifest, embedder: Embedder | None,
                 bm25=None, settings: IndexConfig | None = None, graph=None):
        """An index over exactly these chunks (one segment, in memory until saved). ``bm25``: the
        bm25s model over them (built here when None); ``settings``: exact or HNSW dense search
        (see ragft.index.ann); ``graph``: an HNSW graph over exactly these vectors."""
        if len(chunks) != len(embeddings):
            raise RagftError(f"index is inconsistent: {len(chunks)} chunks but {len(embeddings)} vectors — re-ingest")
        segments = [Segment(chunks, embeddings, bm25, graph)] if len(chunks) else []
        self._assemble(segments, [None] * len(segments), manifest, embedder, settings, located=False)
        if not segments:
            self.chunks, self.embeddings = chunks, embeddings

    @classmethod
    def of_segments(cls, segments: list[Segment], manifest: Manifest, embedder: Embedder | None,
                    settings: IndexConfig | None) -> HybridIndex:
        """An index over ``segments`` whose manifest places every document (segment, first_row)."""
        index = cls.__new__(cls)
        index._assemble(segments, live_rows(manifest.documents, [len(s) for s in segments]), manifest, embedder, settings,
                        located=True)
        return index

    def _assemble(self, segments, live, manifest, embedder, settings, located: bool) -> None:
        self.segments: list[Segment] = segments
        self.rows = LiveRows([len(s) for s in segments], live)
        self.manifest = manifest
        self.embedder = embedder
        self.settings = settings or IndexConfig()
        self._located = located  # the manifest places each document; else found by scanning the one segment
        self._locations: dict[str, tuple[int, np.ndarray]] | None = None
        if len(segments) == 1 and live[0] is None:
            self.chunks, self.embeddings = segments[0].chunks, segments[0].embeddings
        else:
            self.chunks = LiveChunks(segments, self.rows)
            self.embeddings = LiveVectors(segments, self.rows, manifest.dim)

    # ----------------------------------------------------------------- building
    @classmethod
    def build(cls, documents: list[Document], chunker, chunker_config: dict, embedder: Embedder,
              previous: HybridIndex | None = None, progress: bool = False,
              on_progress: ProgressCallback | None = None,
              checkpoint: Path | None = None) -> tuple[HybridIndex, IngestStats]:
        """Chunk and embed ``documents``, reusing ``previous`` chunks and vectors for unchanged documents.

        The result keeps ``previous``'s saved segments and adds one segment with the changed and
        new documents, so saving it writes only those. A segment is folded into the new one
        (its live rows copied, not re-embedded) when it is unsaved, when more than ``DEAD_LIMIT``
        of its rows are dead, or when there would be more than ``MAX_SEGMENTS``: then every
        segment but the largest. Writes stay proportional to what changed, amortised.

        ``on_progress(stage, done, total)`` reports chunking per document and embedding per slice
        of chunks, for a caller with its own display (the study); ``progress`` is the CLI's bar.
        With ``checkpoint`` (a folder), every embedded slice is saved there by the hash of its
        texts, so a build killed part-way reuses what it had embedded when run again.
        """
        on_progress = on_progress or _INDEXING_HOOK.get()
        started = time.perf_counter()
        stats = IngestStats(documents=len(documents))
        reusable = previous if _compatible(previous, embedder, chunker_config) else None
        located = reusable._doc_locations() if reusable else {}

        kept: dict[str, tuple[int, np.ndarray]] = {}  # unchanged document -> (old segment, its rows there)
        fresh: dict[str, list[Chunk]] = {}
        manifest = Manifest(embedder=embedder.name, dim=embedder.dim, chunker=chunker_config)
        for doc, unchanged in compare(documents, reusable.manifest.documents if reusable else {},
                                      manifest.documents, stats, on_progress):
            if unchanged:
                kept[doc.doc_id] = located.get(doc.doc_id, (0, _NO_ROWS))
            else:
                fresh[doc.doc_id] = chunker.chunk(doc)

        texts = [chunk.text for chunks in fresh.values() for chunk in chunks]
        embed_started = time.perf_counter()
        vectors, stats.resumed_chunks = embed_texts(texts, embedder, progress, on_progress, checkpoint)
        stats.embed_seconds = time.perf_counter() - embed_started
        vectors = np.asarray(vectors, np.float32).reshape(len(texts), embedder.dim)
        index = _merged(reusable.segments if reusable else [], kept, fresh, vectors,
                        manifest, embedder, reusable.settings if reusable else None)
        stats.chunks, stats.embedded_chunks = len(index.chunks), len(texts) - stats.resumed_chunks
        stats.seconds = time.perf_counter() - started
        return index, stats

    # ----------------------------------------------------------------- persistence
    def save(self, directory: Path) -> Path:
        """Write this index's unsaved segments and a new version, then atomically point CURRENT at it."""
        directory = Path(directory)
        try:
            with versions.writing(directory):
                return self._save_locked(directory)
        except OSError as err:  # disk full, read-only: the live version is untouched
            raise RagftError(f"{directory}: the index could not be saved ({err.strerror or err}) — free space or "
                             "fix the folder's permissions and re-run; the previous index is intact") from None

    def _save_locked(self, directory: Path) -> Path:
        if not self._located:  # one segment, its documents found by scanning: place them for the manifest
            located = self._doc_locations()
            unlisted = {d: {"sha256": "", "source": "", "title": "", "n_chunks": len(rows)}
                        for d, (_, rows) in located.items() if d not in self.manifest.documents}
            self.manifest = replace(self.manifest, documents={**self.manifest.documents, **unlisted})
            placed = placements(self.manifest.documents, located)
            if placed is not None:
                self.manifest, self._located = replace(self.manifest, documents=placed), True
        vanished = any(s.name and not versions.segment_folder(directory, s.name).is_dir() for s in self.segments)
        if vanished or not self._located:
            # a segment this index shares was removed by another writer since (or lives in another
            # folder), or documents' chunks are interleaved: write everything anew, from memory
            folded = _merged(self.segments, self._doc_locations(), {}, None, self.manifest, self.embedder,
                             self.settings, fold_all=True)
            self._assemble(folded.segments, folded.rows.live, folded.manifest, self.embedder, self.settings,
                           located=True)
        for segment in self.segments:
            if segment.name is None:
                segment.name = versions.save_segment(directory, lambda folder: segment.write(folder, self.settings))
        names = [segment.name for segment in self.segments]
        manifest = replace(self.manifest, format_version=FORMAT_VERSION,
                           segments=[{"name": n, "rows": len(s)} for n, s in zip(names, self.segments)])
        version, table = versions.save_version(directory, asdict(manifest))
        versions.remove_stale(directory, keep=version, segments=set(names), table=table)
        return directory / version

    @classmethod
    def load(cls, directory: Path, embedder: Embedder | None = None, settings: IndexConfig | None = None) -> HybridIndex:
        """The live version. A writer may replace it (and delete the old folder) while this reads:
        then the new ``CURRENT`` is read again, so a load during an ingest never fails."""
        directory = Path(directory)
        for attempt in range(LOAD_ATTEMPTS):
            try:
                return cls._load_version(directory, embedder, settings)
            except _VersionVanished:
                time.sleep(0.01 * (attempt + 1))
        return cls._load_version(directory, embedder, settings, last_try=True)

    @classmethod
    def _load_version(cls, directory: Path, embedder: Embedder | None, settings: IndexConfig | None,
                      last_try: bool = False) -> HybridIndex:
        if not (directory / versions.POINTER).is_file():
            raise RagftError(f"{directory}: no index here — run `ragft ingest PATH` first")
        live = directory / versions.live_version(directory)
        settings = settings or IndexConfig()
        try:
            manifest = Manifest(**versions.read_manifest(directory, live.name))
            _check(manifest, live, embedder)
            if manifest.format_version == 1:
                legacy = Segment.read(live, settings, name=None)
                return cls(legacy.chunks, legacy.embeddings, manifest, embedder, legacy.bm25, settings, legacy.graph)
            segments = [Segment.read(versions.segment_folder(directory, entry["name"]), settings, entry["name"])
                        for entry in manifest.segments]
            return cls.of_segments(segments, manifest, embedder, settings)
        except FileNotFoundError as err:
            if not last_try and versions.live_version(directory) != live.name:
                raise _VersionVanished from None  # replaced while reading: read the new one
            raise RagftError(f"{live}: the index cannot be read ({err}) — re-run `ragft ingest`") from None
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise RagftError(f"{live}: the index cannot be read ({err}) — re-run `ragft ingest`") from None

    # ----------------------------------------------------------------- search
    def search(self, query: str, k: int = 5, mode: str = "hybrid", dense_weight: float = 1.0,
               bm25_weight: float = 1.0, rrf_k: int = 60, candidates: int = 50,
               doc_ids: list[str] | None = None) -> list[Hit]:
        """Top-``k`` chunks for ``query``; ``doc_ids`` restricts the search to those documents."""
        if not len(self.chunks):
            return []
        scope = self._scope(doc_ids)
        if scope is not None and not any(len(rows) for rows in scope):
            return []
        depth = max(k, candidates)
        if mode == "dense":
            return self._to_hits(self._dense_ranking(query, scope, k), "dense")
        if mode == "bm25":
            return self._to_hits(self._bm25_ranking(query, scope, k), "bm25")
        if mode != "hybrid":
            raise RagftError(f"unknown retrieval mode {mode!r} — use dense, bm25 or hybrid")
        fused = reciprocal_rank_fusion(
            [self._dense_ranking(query, scope, depth), self._bm25_ranking(query, scope, depth)],
            weights=[dense_weight, bm25_weight], rrf_k=rrf_k,
        )
        return self._to_hits(fused[:k], "hybrid")

    def _query_vector(self, query: str) -> np.ndarray:
        if self.embedder is None:
            raise RagftError("this index was loaded without an embedder; dense search needs one")
        return self.embedder.embed([query])[0]

    def _dense_ranking(self, query, scope, depth) -> list[tuple[int, float]]:
        vector = self._query_vector(query)
        return self._across(lambda i, segment, allowed, dead: segment.dense_ranking(
            vector, depth, self.settings, allowed, dead), scope, depth)

    def _bm25_ranking(self, query, scope, depth) -> list[tuple[int, float]]:
        scores = lexical.scores_across([segment.bm25 for segment in self.segments], query)
        return self._across(lambda i, segment, allowed, dead: segment.bm25_ranking(
            scores[i], depth, allowed, dead), scope, depth)

    def _across(self, rank, scope, depth) -> list[tuple[int, float]]:
        """Each segment's ranking of its live (and scoped) rows, numbered as ``chunks`` and merged."""
        merged: list[tuple[int, float]] = []
        for i, segment in enumerate(self.segments):
            allowed = None if scope is None else scope[i]
            if allowed is not None and not len(allowed):
                continue
            ranking = rank(i, segment, allowed, self.rows.dead(i) if allowed is None else None)
            rows = self.rows.numbered(i, np.asarray([row for row, _ in ranking], dtype=np.int64))
            merged.extend((int(row), score) for row, (_, score) in zip(rows, ranking))
        if len(self.segments) > 1:
            merged.sort(key=lambda item: (-item[1], item[0]))
        return merged[:depth]

    def _scope(self, doc_ids: list[str] | None) -> list[np.ndarray] | None:
        """Per segment, the rows of ``doc_ids``; None for no scope."""
        if doc_ids is None:
            return None
        located = self._doc_locations()
        per_segment: list[list[np.ndarray]] = [[] for _ in self.segments]
        for doc_id in doc_ids:
            if doc_id in located:
                segment, rows = located[doc_id]
                per_segment[segment].append(rows)
        return [np.concatenate(rows) if rows else _NO_ROWS for rows in per_segment]

    def _doc_locations(self) -> dict[str, tuple[int, np.ndarray]]:
        """Each document's (segment, rows there), worked out on first use (a scoped search, a build)."""
        if self._locations is None:
            if self._located:
                self._locations = {doc_id: (entry["segment"], np.arange(entry["first_row"],
                                                                        entry["first_row"] + entry["n_chunks"]))
                                   for doc_id, entry in self.manifest.documents.items() if entry["n_chunks"]}
            elif self.segments and isinstance(self.chunks, chunktable.ChunkTable):
                self._locations = {d: (0, rows) for d, rows in self.chunks.rows_by_doc().items()}
            else:
                by_doc: dict[str, list[int]] = {}
                for row, chunk in enumerate(self.chunks):
                    by_doc.setdefault(chunk.doc_id, []).append(row)
                self._locations = {d: (0, np.asarray(rows)) for d, rows in by_doc.items()}
        return self._locations

    def _to_hits(self, ranking: list[tuple[int, float]], retriever: str) -> list[Hit]:
        return [Hit(chunk=self.chunks[row], score=float(score), rank=rank, retriever=retriever)
                for rank, (row, score) in enumerate(ranking, start=1)]

    @property
    def doc_ids(self) -> list[str]:
        return list(self.manifest.documents)


def reciprocal_rank_fusion(rankings: list[list[tuple[int, float]]], weights: list[float],
                           rrf_k: int = 60) -> list[tuple[int, float]]:
    """Weighted RRF: score(d) = Σ w_i / (rrf_k + rank_i(d)); robust to incomparable score scales."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (rrf_k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def _merged(old: list[Segment], kept: dict[str, tuple[int, np.ndarray]], fresh: dict[str, list[Chunk]],
            vectors: np.ndarray | None, manifest: Manifest, embedder, settings, fold_all: bool = False) -> HybridIndex:
    """The index of ``manifest``'s documents, laid out by ragft.index.segments.merge."""
    segments, documents = merge(old, kept, fresh, vectors, manifest.documents, fold_all)
    placed = replace(manifest, documents=documents, format_version=FORMAT_VERSION, segments=[])
    return HybridIndex.of_segments(segments, placed, embedder, settings)


def _check(manifest: Manifest, live: Path, embedder: Embedder | None) -> None:
    if manifest.format_version not in READABLE_FORMATS:
        raise RagftError(f"{live}: index format {manifest.format_version}, this ragft reads "
                         f"{', '.join(map(str, READABLE_FORMATS))} — re-run `ragft ingest`")
    if embedder is not None and embedder.name != manifest.embedder:
        raise RagftError(f"{live}: built with embedder {manifest.embedder!r} but {embedder.name!r} is "
                         "configured — re-ingest, or configure the same embedder")


def _compatible(previous: HybridIndex | None, embedder: Embedder, chunker_config: dict) -> bool:
    return (previous is not None and previous.manifest.embedder == embedder.name
            and previous.manifest.chunker == chunker_config)


LOAD_ATTEMPTS = 20  # a reader re-reads CURRENT this often when a writer swaps versions under it


class _VersionVanished(Exception):
    """The version a reader opened was replaced and removed while it was being read."""
