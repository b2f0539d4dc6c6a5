"""A hybrid BM25 + dense index over chunks, persisted atomically, updated incrementally.

On disk an index is a folder::

    index/
      CURRENT             name of the live version folder (replaced atomically)
      v-<stamp>/
        manifest.json     embedder, chunker, per-document content hashes and chunk ids
        chunks.arrow      the chunks as columns, in row order (ragft.index.chunktable; chunks.jsonl before)
        embeddings.npy    float32 unit vectors, one row per chunk
        bm25/             the BM25 model over the chunk texts, built (see ragft.index.bm25)
        hnsw.faiss        an HNSW graph over the vectors, for large indexes (see ragft.index.ann)

A write builds a complete new version folder, then swaps ``CURRENT`` with ``os.replace``
(atomic on POSIX and Windows). An interrupted ingest therefore leaves the previous version
live and intact; stale version folders are removed after a successful swap.

Dense search is an exact dot product in NumPy for small indexes and an HNSW walk above
``IndexConfig.ann_threshold`` chunks. Opening an index does no per-chunk work: the chunks, the
saved BM25 and the vectors are memory-mapped, the graph is read whole (a writer never rewrites a version in
place, it writes a new folder and unlinks the old one, which an open map outlives on POSIX). A
version saved before ``bm25/`` or ``chunks.arrow`` existed still loads, the missing parts rebuilt
or parsed as then. Another engine (Milvus) stands behind the same interface: ragft.index.backend.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ragft.config import IndexConfig
from ragft.errors import RagftError
from ragft.index import ann, chunktable
from ragft.index import bm25 as lexical
from ragft.index.changes import compare
from ragft.index.embedding import ProgressCallback, embed_texts
from ragft.index.threads import one_blas_thread
from ragft.index.versions import fsync_tree, remove_stale_versions
from ragft.models.embedder import Embedder
from ragft.persist import atomic_write_text
from ragft.types import Chunk, Document, Hit

FORMAT_VERSION = 1
# Indexes built deep inside a pipeline step (sentence windows, hypothetical questions…) report to
# whoever set this around the work (the study), without a callback threaded through every step.
_INDEXING_HOOK: ContextVar[ProgressCallback | None] = ContextVar("ragft_indexing_hook", default=None)


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
    documents: dict[str, dict] = field(default_factory=dict)  # doc_id -> {sha256, source, n_chunks}
    format_version: int = FORMAT_VERSION


class HybridIndex:
    """Chunks with their embeddings and a BM25 model; searched densely, lexically or both."""

    def __init__(self, chunks: Sequence[Chunk], embeddings: np.ndarray, manifest: Manifest, embedder: Embedder | None,
                 bm25=None, settings: IndexConfig | None = None, graph=None):
        """``bm25``: the bm25s model over exactly these chunks (a loaded one); built here when None.
        ``settings``: exact or HNSW dense search (see ragft.index.ann); ``graph``: a loaded HNSW
        graph over exactly these vectors (built on first dense search when wanted and None)."""
        if len(chunks) != len(embeddings):
            raise RagftError(f"index is inconsistent: {len(chunks)} chunks but {len(embeddings)} vectors — re-ingest")
        self.chunks = chunks
        self.embeddings = embeddings
        self.manifest = manifest
        self.embedder = embedder
        self.settings = settings or IndexConfig()
        self._graph = graph
        self._bm25 = bm25 if bm25 is not None or not chunks else lexical.build([c.text for c in chunks])
        self._rows_by_doc: dict[str, np.ndarray] | None = None  # made on first scoped search (a list of chunks)

    # ----------------------------------------------------------------- building
    @classmethod
    def build(cls, documents: list[Document], chunker, chunker_config: dict, embedder: Embedder,
              previous: HybridIndex | None = None, progress: bool = False,
              on_progress: ProgressCallback | None = None,
              checkpoint: Path | None = None) -> tuple[HybridIndex, IngestStats]:
        """Chunk and embed ``documents``, reusing ``previous`` vectors for unchanged documents.

        ``on_progress(stage, done, total)`` reports chunking per document and embedding per slice
        of chunks, for a caller with its own display (the study); ``progress`` is the CLI's bar.
        With ``checkpoint`` (a folder), every embedded slice is saved there by the hash of its
        texts, so a build killed part-way reuses what it had embedded when run again.
        """
        on_progress = on_progress or _INDEXING_HOOK.get()
        started = time.perf_counter()
        stats = IngestStats(documents=len(documents))
        reusable = previous if _compatible(previous, embedder, chunker_config) else None
        old_docs = reusable.manifest.documents if reusable else {}

        chunks: list[Chunk] = []
        vectors: list[np.ndarray | None] = []  # None marks rows still to embed
        manifest = Manifest(embedder=embedder.name, dim=embedder.dim, chunker=chunker_config)
        for doc, unchanged in compare(documents, old_docs, manifest.documents, stats, on_progress):
            if unchanged:
                rows = reusable._doc_rows().get(doc.doc_id, np.asarray([], dtype=int))
                doc_chunks = [reusable.chunks[r] for r in rows]
                vectors.extend(reusable.embeddings[r] for r in rows)
            else:
                doc_chunks = chunker.chunk(doc)
                vectors.extend([None] * len(doc_chunks))
            chunks.extend(doc_chunks)
            manifest.documents[doc.doc_id]["n_chunks"] = len(doc_chunks)

        todo = [i for i, v in enumerate(vectors) if v is None]
        embed_started = time.perf_counter()
        texts = [chunks[i].text for i in todo]
        fresh, stats.resumed_chunks = embed_texts(texts, embedder, progress, on_progress, checkpoint)
        stats.embed_seconds = time.perf_counter() - embed_started
        for i, vector in zip(todo, fresh):
            vectors[i] = vector
        matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, embedder.dim), np.float32)
        stats.chunks, stats.embedded_chunks = len(chunks), len(todo) - stats.resumed_chunks
        stats.seconds = time.perf_counter() - started
        return cls(chunks, matrix, manifest, embedder, settings=reusable.settings if reusable else None), stats

    # ----------------------------------------------------------------- persistence
    def save(self, directory: Path) -> Path:
        """Write a new version folder, then atomically point CURRENT at it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        version = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.perf_counter_ns() % 10**6}"
        staging = directory / (version + ".partial")
        try:
            self._write_version(staging)
        except OSError as err:  # disk full, read-only: the live version is untouched
            shutil.rmtree(staging, ignore_errors=True)
            raise RagftError(f"{directory}: the index could not be saved ({err.strerror or err}) — free space or "
                             "fix the folder's permissions and re-run; the previous index is intact") from None
        staging.rename(directory / version)
        atomic_write_text(directory / "CURRENT", version)
        remove_stale_versions(directory, keep=version)
        return directory / version

    def _write_version(self, staging: Path) -> None:
        staging.mkdir()
        (staging / "manifest.json").write_text(json.dumps(asdict(self.manifest), indent=1), encoding="utf-8")
        chunktable.save(self.chunks, staging)
        np.save(staging / "embeddings.npy", self.embeddings)
        if self._bm25 is not None:
            lexical.save(self._bm25, staging)
        if ann.wanted(self.settings, len(self.chunks)):
            ann.save(self._hnsw(), staging)
        fsync_tree(staging)

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
        pointer = directory / "CURRENT"
        if not pointer.is_file():
            raise RagftError(f"{directory}: no index here — run `ragft ingest PATH` first")
        live = directory / pointer.read_text(encoding="utf-8").strip()
        try:
            manifest = Manifest(**json.loads((live / "manifest.json").read_text(encoding="utf-8")))
            chunks = chunktable.load(live)
            embeddings = np.load(live / "embeddings.npy", mmap_mode="r")
            bm25 = lexical.load(live, len(chunks)) if chunks else None
            graph = ann.load(live, len(chunks)) if ann.wanted(settings or IndexConfig(), len(chunks)) else None
        except FileNotFoundError as err:
            if not last_try and pointer.read_text(encoding="utf-8").strip() != live.name:
                raise _VersionVanished from None  # replaced while reading: read the new one
            raise RagftError(f"{live}: the index cannot be read ({err}) — re-run `ragft ingest`") from None
        except (OSError, ValueError, TypeError) as err:
            raise RagftError(f"{live}: the index cannot be read ({err}) — re-run `ragft ingest`") from None
        if manifest.format_version != FORMAT_VERSION:
            raise RagftError(f"{live}: index format {manifest.format_version}, this ragft reads "
                             f"{FORMAT_VERSION} — re-run `ragft ingest`")
        if embedder is not None and embedder.name != manifest.embedder:
            raise RagftError(f"{live}: built with embedder {manifest.embedder!r} but {embedder.name!r} is "
                             "configured — re-ingest, or configure the same embedder")
        return cls(chunks, embeddings, manifest, embedder, bm25=bm25, settings=settings, graph=graph)

    # ----------------------------------------------------------------- search
    def search(self, query: str, k: int = 5, mode: str = "hybrid", dense_weight: float = 1.0,
               bm25_weight: float = 1.0, rrf_k: int = 60, candidates: int = 50,
               doc_ids: list[str] | None = None) -> list[Hit]:
        """Top-``k`` chunks for ``query``; ``doc_ids`` restricts the search to those documents."""
        if not self.chunks:
            return []
        allowed = self._allowed_rows(doc_ids)
        if allowed is not None and len(allowed) == 0:
            return []
        depth = max(k, candidates)
        if mode == "dense":
            return self._to_hits(self._dense_ranking(query, allowed, k), "dense")
        if mode == "bm25":
            return self._to_hits(self._bm25_ranking(query, allowed, k), "bm25")
        if mode != "hybrid":
            raise RagftError(f"unknown retrieval mode {mode!r} — use dense, bm25 or hybrid")
        fused = reciprocal_rank_fusion(
            [self._dense_ranking(query, allowed, depth), self._bm25_ranking(query, allowed, depth)],
            weights=[dense_weight, bm25_weight], rrf_k=rrf_k,
        )
        return self._to_hits(fused[:k], "hybrid")

    def dense_scores(self, query: str) -> np.ndarray:
        with one_blas_thread():
            return self.embeddings @ self._query_vector(query)

    def bm25_scores(self, query: str) -> np.ndarray:
        return lexical.scores(self._bm25, query, len(self.chunks))

    def _query_vector(self, query: str) -> np.ndarray:
        if self.embedder is None:
            raise RagftError("this index was loaded without an embedder; dense search needs one")
        return self.embedder.embed([query])[0]

    def _dense_ranking(self, query, allowed, depth) -> list[tuple[int, float]]:
        if not ann.wanted(self.settings, len(self.chunks)):
            return _top(self.dense_scores(query), allowed, depth)
        if allowed is not None and len(allowed) <= ann.EXACT_SCOPE_ROWS:  # a small scope: exact, and fast
            rows = np.sort(allowed)
            with one_blas_thread():
                scores = np.asarray(self.embeddings[rows]) @ self._query_vector(query)
            return [(int(rows[i]), s) for i, s in _top(scores, None, depth)]
        return ann.search(self._hnsw(), self._query_vector(query), depth, self.settings.ef_search, allowed)

    def _hnsw(self):
        """The HNSW graph over the vectors: loaded with the version, else built now (in memory)."""
        if self._graph is None:
            self._graph = ann.build(np.asarray(self.embeddings))
        return self._graph

    def _bm25_ranking(self, query, allowed, depth) -> list[tuple[int, float]]:
        return [(row, s) for row, s in _top(self.bm25_scores(query), allowed, depth) if s > 0]

    def _allowed_rows(self, doc_ids: list[str] | None) -> np.ndarray | None:
        if doc_ids is None:
            return None
        by_doc = self._doc_rows()
        rows = [by_doc[d] for d in doc_ids if d in by_doc]
        return np.concatenate(rows) if rows else np.asarray([], dtype=int)

    def _doc_rows(self) -> dict[str, np.ndarray]:
        """Each document's rows, worked out on first use (a scoped search, an incremental build)."""
        if self._rows_by_doc is None:
            if isinstance(self.chunks, chunktable.ChunkTable):
                self._rows_by_doc = self.chunks.rows_by_doc()
            else:
                by_doc: dict[str, list[int]] = {}
                for row, chunk in enumerate(self.chunks):
                    by_doc.setdefault(chunk.doc_id, []).append(row)
                self._rows_by_doc = {d: np.asarray(r) for d, r in by_doc.items()}
        return self._rows_by_doc

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


def _top(scores: np.ndarray, allowed: np.ndarray | None, depth: int) -> list[tuple[int, float]]:
    if allowed is not None:
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        scores = masked
    depth = min(depth, len(scores) if allowed is None else len(allowed))
    if depth <= 0:
        return []
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.lexsort((top, -scores[top]))]  # by score, ties by row for determinism
    return [(int(r), float(scores[r])) for r in top if np.isfinite(scores[r])]


def _compatible(previous: HybridIndex | None, embedder: Embedder, chunker_config: dict) -> bool:
    return (previous is not None and previous.manifest.embedder == embedder.name
            and previous.manifest.chunker == chunker_config)


LOAD_ATTEMPTS = 20  # a reader re-reads CURRENT this often when a writer swaps versions under it


class _VersionVanished(Exception):
    """The version a reader opened was replaced and removed while it was being read."""
