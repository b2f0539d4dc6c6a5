"""Which approximate-nearest-neighbour library the embedded index uses: measured, not assumed.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ann_choice.py [--rows 20000]

On the real CUAD chunk vectors cached by ``real_vectors.py`` (all-MiniLM-L6-v2, cosine), each
library builds an HNSW graph of the same shape (M=32 links, efConstruction=80), single-threaded,
and answers the held-out vectors' top-10 at a few search depths; recall@10 is against exact
search. Printed per library: build seconds, load seconds (from its saved file), p50 query ms and
recall@10 per depth, and whether it can filter (search only some rows) inside the graph.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_vectors import load_real  # noqa: E402

M, EF_CONSTRUCTION, K = 32, 80, 10
DEPTHS = (32, 64, 128)


def exact_top(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ base.T
    return np.argsort(-scores, axis=1)[:, :K]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def timed_queries(search, queries: np.ndarray) -> tuple[np.ndarray, float]:
    rows, times = [], []
    for q in queries:
        began = time.perf_counter()
        rows.append(search(q))
        times.append((time.perf_counter() - began) * 1000)
    return np.asarray(rows), float(np.percentile(times, 50))


def bench_faiss(base, queries, truth, folder):
    import faiss

    began = time.perf_counter()
    index = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(base)
    build = time.perf_counter() - began
    faiss.write_index(index, str(folder / "faiss.index"))
    began = time.perf_counter()
    index = faiss.read_index(str(folder / "faiss.index"), faiss.IO_FLAG_MMAP)
    load = time.perf_counter() - began
    rows = []
    for ef in DEPTHS:
        params = faiss.SearchParametersHNSW(efSearch=ef)
        found, p50 = timed_queries(lambda q: index.search(q[None], K, params=params)[1][0], queries)
        rows.append((ef, p50, recall(found, truth)))
    return build, load, rows, "yes (IDSelector inside the graph walk)"


def bench_hnswlib(base, queries, truth, folder):
    import hnswlib

    began = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION)
    index.set_num_threads(1)
    index.add_items(base)
    build = time.perf_counter() - began
    index.save_index(str(folder / "hnswlib.bin"))
    began = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.load_index(str(folder / "hnswlib.bin"))
    load = time.perf_counter() - began
    index.set_num_threads(1)
    rows = []
    for ef in DEPTHS:
        index.set_ef(ef)
        found, p50 = timed_queries(lambda q: index.knn_query(q, k=K)[0][0], queries)
        rows.append((ef, p50, recall(found, truth)))
    return build, load, rows, "a Python callback per visited node"


def bench_usearch(base, queries, truth, folder):
    from usearch.index import Index

    began = time.perf_counter()
    index = Index(ndim=base.shape[1], metric="ip", dtype="f32", connectivity=M, expansion_add=EF_CONSTRUCTION)
    index.add(np.arange(len(base)), base, threads=1)
    build = time.perf_counter() - began
    index.save(str(folder / "usearch.bin"))
    began = time.perf_counter()
    index = Index.restore(str(folder / "usearch.bin"), view=True)
    load = time.perf_counter() - began
    rows = []
    for ef in DEPTHS:
        index.expansion_search = ef
        found, p50 = timed_queries(lambda q: index.search(q, K, threads=1).keys, queries)
        rows.append((ef, p50, recall(found, truth)))
    return build, load, rows, "no (not in the Python API)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    _, vectors = load_real(args.rows + args.queries)
    base, queries = np.ascontiguousarray(vectors[args.queries:]), vectors[:args.queries]
    truth = exact_top(base, queries)
    print(f"{len(base):,} real vectors, {len(queries)} held-out queries, HNSW M={M} efConstruction={EF_CONSTRUCTION}")
    print("| library | build s | load s | efSearch | p50 ms | recall@10 | filter |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, bench in (("faiss-cpu", bench_faiss), ("hnswlib", bench_hnswlib), ("usearch", bench_usearch)):
            build, load, rows, filters = bench(base, queries, truth, Path(tmp))
            for ef, p50, r in rows:
                print(f"| {name} | {build:.1f} | {load:.3f} | {ef} | {p50:.2f} | {r:.3f} | {filters} |", flush=True)


if __name__ == "__main__":
    main()
