"""Approximate dense search for large indexes: an HNSW graph (faiss), saved with each version.

Exact search costs one dot product per chunk: about 100 ms a query at 100 k chunks and over a
second at 1 M. Above ``IndexConfig.ann_threshold`` chunks (or always, with ``ann: hnsw``) a version
carries an HNSW graph (``hnsw.faiss``), read on load with faiss's mmap flag, and dense search walks
it instead. (For this index type faiss still reads the graph into memory: 1.7 GB and 1.2 s at 1 M
chunks, benchmarks/retrieval_scale.py.)

Why faiss: measured against hnswlib and usearch on the same real vectors
(``benchmarks/ann_choice.py``, docs/performance.md "Retrieval at scale"), and the only one of the
three whose Python API filters *inside* the graph walk (``IDSelector``), which document scope
needs.

Document scope: a scope of at most ``EXACT_SCOPE_ROWS`` chunks is searched exactly (a few
milliseconds, and exact); a larger one walks the graph with only its rows allowed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ragft.config import IndexConfig

FILE = "hnsw.faiss"
LINKS = 32  # HNSW M: links per node; 32 keeps recall@10 ≥ 0.98 on real MiniLM vectors (ann_choice.py)
EF_CONSTRUCTION = 80
EXACT_SCOPE_ROWS = 20_000  # a scoped search over this many rows or fewer is exact (~2 ms single-threaded)


def wanted(settings: IndexConfig, n_rows: int) -> bool:
    """Whether an index of ``n_rows`` chunks searches densely through HNSW."""
    if settings.ann == "auto":
        return n_rows >= settings.ann_threshold
    return settings.ann == "hnsw"


def build(vectors: np.ndarray):
    """An HNSW graph over unit ``vectors`` (inner product = cosine)."""
    import faiss

    graph = faiss.IndexHNSWFlat(vectors.shape[1], LINKS, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = EF_CONSTRUCTION
    graph.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return graph


def save(graph, version: Path) -> None:
    import faiss

    faiss.write_index(graph, str(version / FILE))


def load(version: Path, n_rows: int):
    """The graph saved in ``version`` for its ``n_rows`` chunks; None when there is
    none (small index, or saved by a ragft without ANN) or it does not match: then it is built."""
    import faiss

    path = version / FILE
    if not path.is_file():
        return None
    try:
        graph = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:  # torn or foreign file: derived data, rebuilt
        return None
    return graph if graph.ntotal == n_rows else None


def search(graph, query: np.ndarray, depth: int, ef_search: int, allowed: np.ndarray | None,
           dead: np.ndarray | None = None) -> list[tuple[int, float]]:
    """(row, score) of the ``depth`` nearest rows, best first; only ``allowed`` rows when given,
    else any row but the ``dead`` ones (a segment's superseded chunks, see ragft.index.segments)."""
    import faiss

    params = faiss.SearchParametersHNSW(efSearch=max(ef_search, depth))
    # Selectors must outlive the search: kept alive by these locals.
    if allowed is not None:
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        params.sel = selector
    elif dead is not None and len(dead):
        excluded = faiss.IDSelectorBatch(np.ascontiguousarray(dead, dtype=np.int64))
        selector = faiss.IDSelectorNot(excluded)
        params.sel = selector
    scores, rows = graph.search(np.ascontiguousarray(query[None], dtype=np.float32), depth, params=params)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
