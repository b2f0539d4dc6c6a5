"""A hybrid BM25 + dense index over chunks, persisted atomically, updated incrementally.

On disk an index is a folder::

    index/
      CURRENT             name of the live version folder (replaced atomically)
      v-<stamp>/
        manifest.json     embedder, chunker, per-document content hashes and chunk ids
        chunks.jsonl      one Chunk per line, in row order
        embeddings.npy    float32 unit vectors, one row per chunk
        bm25/             the BM25 model over chunks.jsonl, built (see ragft.index.bm25)

A write builds a complete new version folder, then swaps ``CURRENT`` with ``os.replace``
(atomic on POSIX and Windows). An interrupted ingest therefore leaves the previous version
live and intact; stale version folders are removed after a successful swap.

Dense search is an exact dot product in NumPy: exact, dependency-free and fast enough for
hundreds of thousands of chunks on a laptop. Opening an index does no per-chunk BM25 work: the
saved BM25 and the vectors are memory-mapped (a writer never rewrites a version in place, it
writes a new folder and unlinks the old one, which an open map outlives on POSIX). A version
saved before ``bm25/`` existed still loads, its BM25 rebuilt from ``chunks.jsonl`` as then.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ragft.errors import RagftError
from ragft.index import bm25 as lexical
from ragft.index.versions import fsync_tree, remove_stale_versions
from ragft.models.embedder import Embedder
from ragft.persist import atomic_write_text
from ragft.types import Chunk, Document, Hit

FORMAT_VERSION = 1
EMBED_SLICE = 512  # texts per embed call when a caller follows progress (one call otherwise)
ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)
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

    def __init__(self, chunks: list[Chunk], embeddings: np.ndarray, manifest: Manifest, embedder: Embedder | None,
                 bm25=None):
        """``bm25``: the bm25s model over exactly these chunks (a loaded one); built here when None."""
        if len(chunks) != len(embeddings):
            raise RagftError(f"index is inconsistent: {len(chunks)} chunks but {len(embeddings)} vectors — re-ingest")
        self.chunks = chunks
        self.embeddings = embeddings
        self.manifest = manifest
        self.embedder = embedder
        self._bm25 = bm25 if bm25 is not None or not chunks else lexical.build([c.text for c in chunks])
        self._rows_by_doc: dict[str, np.ndarray] = {}
        for row, chunk in enumerate(chunks):
            self._rows_by_doc.setdefault(chunk.doc_id, []).append(row)  # type: ignore[arg-type]
        self._rows_by_doc = {d: np.asarray(r) for d, r in self._rows_by_doc.items()}

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
        first_with: dict[str, str] = {}  # content hash -> the first document with that text
        manifest = Manifest(embedder=embedder.name, dim=embedder.dim, chunker=chunker_config)
        for done, doc in enumerate(documents, start=1):
            if on_progress is not None:
                on_progress("chunking", done - 1, len(documents))
            sha = doc.metadata.get("content_sha256") or _sha256(doc.text)
            if sha in first_with:  # indexed anyway (its id may be what a question cites), but said
                stats.duplicates.append((doc.doc_id, first_with[sha]))
            first_with.setdefault(sha, doc.doc_id)
            old = old_docs.get(doc.doc_id)
            if old and old["sha256"] == sha:
                stats.unchanged += 1
                rows = reusable._rows_by_doc.get(doc.doc_id, np.asarray([], dtype=int))
                doc_chunks = [reusable.chunks[r] for r in rows]
                vectors.extend(reusable.embeddings[r] for r in rows)
            else:
                stats.changed += bool(old)
                stats.added += not old
                doc_chunks = chunker.chunk(doc)
                vectors.extend([None] * len(doc_chunks))
            chunks.extend(doc_chunks)
            manifest.documents[doc.doc_id] = {"sha256": sha, "source": doc.source, "n_chunks": len(doc_chunks),
                                              "title": doc.metadata.get("title", "")}
        stats.removed = len(set(old_docs) - set(manifest.documents))
        if on_progress is not None:
            on_progress("chunking", len(documents), len(documents))

        todo = [i for i, v in enumerate(vectors) if v is None]
        embed_started = time.perf_counter()
        texts = [chunks[i].text for i in todo]
        fresh, stats.resumed_chunks = _embed(texts, embedder, progress, on_progress, checkpoint)
        stats.embed_seconds = time.perf_counter() - embed_started
        for i, vector in zip(todo, fresh):
            vectors[i] = vector
        matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, embedder.dim), np.float32)
        stats.chunks, stats.embedded_chunks = len(chunks), len(todo) - stats.resumed_chunks
        stats.seconds = time.perf_counter() - started
        return cls(chunks, matrix, manifest, embedder), stats

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
        with open(staging / "chunks.jsonl", "w", encoding="utf-8") as out:
            for chunk in self.chunks:
                out.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        np.save(staging / "embeddings.npy", self.embeddings)
        if self._bm25 is not None:
            lexical.save(self._bm25, staging)
        fsync_tree(staging)

    @classmethod
    def load(cls, directory: Path, embedder: Embedder | None = None) -> HybridIndex:
        """The live version. A writer may replace it (and delete the old folder) while this reads:
        then the new ``CURRENT`` is read again, so a load during an ingest never fails."""
        directory = Path(directory)
        for attempt in range(LOAD_ATTEMPTS):
            try:
                return cls._load_version(directory, embedder)
            except _VersionVanished:
                time.sleep(0.01 * (attempt + 1))
        return cls._load_version(directory, embedder, last_try=True)

    @classmethod
    def _load_version(cls, directory: Path, embedder: Embedder | None, last_try: bool = False) -> HybridIndex:
        pointer = directory / "CURRENT"
        if not pointer.is_file():
            raise RagftError(f"{directory}: no index here — run `ragft ingest PATH` first")
        live = directory / pointer.read_text(encoding="utf-8").strip()
        try:
            manifest = Manifest(**json.loads((live / "manifest.json").read_text(encoding="utf-8")))
            with open(live / "chunks.jsonl", encoding="utf-8") as lines:
                chunks = [Chunk(**json.loads(line)) for line in lines if line.strip()]
            embeddings = np.load(live / "embeddings.npy", mmap_mode="r")
            bm25 = lexical.load(live, len(chunks)) if chunks else None
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
        return cls(chunks, embeddings, manifest, embedder, bm25=bm25)

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
        if self.embedder is None:
            raise RagftError("this index was loaded without an embedder; dense search needs one")
        return self.embeddings @ self.embedder.embed([query])[0]

    def bm25_scores(self, query: str) -> np.ndarray:
        return lexical.scores(self._bm25, query, len(self.chunks))

    def _dense_ranking(self, query, allowed, depth) -> list[tuple[int, float]]:
        return _top(self.dense_scores(query), allowed, depth)

    def _bm25_ranking(self, query, allowed, depth) -> list[tuple[int, float]]:
        return [(row, s) for row, s in _top(self.bm25_scores(query), allowed, depth) if s > 0]

    def _allowed_rows(self, doc_ids: list[str] | None) -> np.ndarray | None:
        if doc_ids is None:
            return None
        rows = [self._rows_by_doc[d] for d in doc_ids if d in self._rows_by_doc]
        return np.concatenate(rows) if rows else np.asarray([], dtype=int)

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


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


LOAD_ATTEMPTS = 20  # a reader re-reads CURRENT this often when a writer swaps versions under it


class _VersionVanished(Exception):
    """The version a reader opened was replaced and removed while it was being read."""


def _embed(texts: list[str], embedder: Embedder, progress: bool, on_progress: ProgressCallback | None,
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
    return folder / f"{_sha256(json.dumps([embedder.name, piece]))[:24]}.npy"


def _checkpointed(piece: list[str], embedder: Embedder, folder: Path) -> np.ndarray | None:
    try:
        return np.load(_checkpoint_path(piece, embedder, folder))
    except (OSError, ValueError):  # not there yet, or torn by the crash: embed it
        return None


def _save_checkpoint(piece: list[str], embedder: Embedder, folder: Path, vectors: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    saved = _checkpoint_path(piece, embedder, folder)
    tmp = saved.with_name(f"{saved.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, saved)
