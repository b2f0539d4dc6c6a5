"""Which index a workspace uses, chosen by its ``index:`` settings: the one place that knows both.

Both backends answer the calls the RAG steps, the study and the server make — ``search(query, k,
mode, dense_weight, bm25_weight, rrf_k, candidates, doc_ids)``, ``doc_ids``, ``chunks``,
``embeddings``, ``manifest``, ``embedder`` — so a pipeline never asks which one it was given:

- ``embedded`` (``HybridIndex``, ragft.index.store): version folders in the workspace, BM25 (bm25s)
  and exact or HNSW dense search in this process;
- ``milvus`` (``MilvusIndex``, ragft.index.milvus): a Milvus collection, local (Milvus Lite) or on
  a server or cluster.
"""

from __future__ import annotations

from pathlib import Path

from ragft.config import IndexConfig
from ragft.index import milvus, versions
from ragft.index.embedding import ProgressCallback
from ragft.index.store import HybridIndex, IngestStats
from ragft.types import Document


def has_index(directory: Path, settings: IndexConfig) -> bool:
    if settings.backend == "milvus":
        return milvus.has_index(directory)
    return (Path(directory) / versions.POINTER).is_file()


def open_index(directory: Path, settings: IndexConfig, embedder):
    """The live index in ``directory`` (RagftError when there is none, or it cannot be read)."""
    if settings.backend == "milvus":
        return milvus.MilvusIndex.load(directory, embedder, settings)
    return HybridIndex.load(directory, embedder, settings)


def update_index(directory: Path, documents: list[Document], chunker, chunker_config: dict, embedder,
                 settings: IndexConfig, previous=None, progress: bool = False,
                 on_progress: ProgressCallback | None = None, checkpoint: Path | None = None) -> IngestStats:
    """Make the index in ``directory`` hold exactly ``documents``, embedding only what changed.
    ``previous``: the live embedded index (vectors to reuse); the engine keeps its own."""
    if settings.backend == "milvus":
        return milvus.MilvusIndex.ingest(directory, documents, chunker, chunker_config, embedder, settings,
                                         progress=progress, on_progress=on_progress, checkpoint=checkpoint)[1]
    index, stats = HybridIndex.build(documents, chunker, chunker_config, embedder, previous=previous,
                                     progress=progress, on_progress=on_progress, checkpoint=checkpoint)
    index.settings = settings
    if not _index_is_current(previous, stats):
        index.save(directory)
    return stats


def _index_is_current(previous: HybridIndex | None, stats: IngestStats) -> bool:
    """True when the build reused every document of ``previous`` as it was: nothing to write.

    Skipping the write keeps studies that share an index (run side by side) from racing to save it.
    """
    if previous is None or stats.embedded_chunks or stats.added or stats.changed or stats.removed:
        return False
    return stats.unchanged == stats.documents == len(previous.manifest.documents)
