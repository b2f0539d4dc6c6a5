"""Retrieval at scale: the embedded index (exact and HNSW) and the Milvus backend side by side.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/retrieval_scale.py --sizes 10000,100000,1000000

Chunks and vectors: the real CUAD chunks embedded by all-MiniLM-L6-v2, cached by
``real_vectors.py`` (run it first). A size larger than the cache is filled with *mixed* rows,
labelled so in the output: each the normalised sum of two random real vectors, its text the two
texts joined — real vocabulary and a realistic vector distribution, but not an embedded text.
Queries: the KDD 2024 tutorial's CUAD questions (``../shared/datasets/kdd24-lab/*_qa.csv``),
embedded once by the real embedder and then served from memory, so latency is the index's own
(embedding a question adds the figure printed first). Top-10; recall@10 is against the embedded
index's exact search in the same mode. Memory is the growth of this process's RSS while the index
is opened. Milvus runs embedded (Milvus Lite), in a server process of its own: its RSS is not counted.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from latency import search_latencies_ms  # noqa: E402 (beside this script)
from real_vectors import load_real  # noqa: E402 (beside this script)
from ragft.config import EmbedderConfig, IndexConfig  # noqa: E402
from ragft.index import milvus  # noqa: E402
from ragft.index.store import HybridIndex, Manifest  # noqa: E402
from ragft.types import Chunk  # noqa: E402

QA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "kdd24-lab"
K, MODES = 10, ("bm25", "dense", "hybrid")


class Remembered:
    """The real embedder's vectors for the benchmark questions, looked up instead of recomputed."""

    def __init__(self, name: str, vectors: dict[str, np.ndarray]):
        self.name, self.dim, self.vectors = name, 384, vectors

    def embed(self, texts, progress=False):
        return np.asarray([self.vectors[t] for t in texts], dtype=np.float32)


def corpus(n: int, chunks: list, vectors: np.ndarray) -> tuple[list[Chunk], np.ndarray, int]:
    """``n`` rows: the real ones first, then mixed ones (see the module's docstring)."""
    real = min(n, len(chunks))
    by_document = sorted(range(real), key=lambda i: chunks[i][0])  # an index keeps a document's chunks together
    rows = [Chunk(f"{chunks[i][0]}#{i}", chunks[i][0], chunks[i][1], 0, len(chunks[i][1])) for i in by_document]
    matrix = [vectors[by_document]]
    rng = np.random.default_rng(0)
    for start in range(real, n, 100_000):
        count = min(100_000, n - start)
        a, b = rng.integers(0, real, count), rng.integers(0, real, count)
        mixed = vectors[a] + vectors[b]
        matrix.append(mixed / np.linalg.norm(mixed, axis=1, keepdims=True))
        rows.extend(Chunk(f"mixed-{(start + i) // 50}#{start + i}", f"mixed-{(start + i) // 50}",
                          f"{chunks[x][1]} {chunks[y][1]}", 0, 0) for i, (x, y) in enumerate(zip(a, b)))
    return rows, np.vstack(matrix).astype(np.float32), real


def manifest_of(rows: list[Chunk], chunker: dict | None = None) -> Manifest:
    """A manifest for ``rows``; every document's content hash is "-" (give a Document that
    ``content_sha256`` to have an ingest take it as unchanged)."""
    manifest = Manifest(embedder="builtin:all-minilm-l6-v2", dim=384, chunker=chunker or {"kind": "bench"})
    for chunk in rows:
        entry = manifest.documents.setdefault(chunk.doc_id, {"sha256": "-", "source": "", "n_chunks": 0, "title": ""})
        entry["n_chunks"] += 1
    return manifest


def latencies(index, questions: list[str], mode: str) -> tuple[list[list[str]], float, float]:
    found: list[list[str]] = []
    times = search_latencies_ms(index, questions, mode, K, found)
    return found, float(np.percentile(times, 50)), float(np.percentile(times, 95))


def embedded(folder: Path, rows, matrix, embedder, ann: str, ef_search: int = 128):
    settings = IndexConfig(ann=ann, ef_search=ef_search)
    began = time.perf_counter()
    HybridIndex(rows, matrix, manifest_of(rows), embedder, settings=settings).save(folder)
    built = time.perf_counter() - began
    gc.collect()
    return built, lambda: HybridIndex.load(folder, embedder, settings)


def engine(folder: Path, rows, matrix, embedder):
    folder.mkdir(parents=True, exist_ok=True)
    client = milvus.client_for(str(folder / "milvus.db"))
    began = time.perf_counter()
    milvus._create_collection(client, "bench", 384)
    milvus._insert(client, "bench", rows, matrix)
    client.flush("bench")
    client.load_collection("bench")
    built = time.perf_counter() - began
    return built, lambda: milvus.MilvusIndex(client, "bench", manifest_of(rows), embedder, IndexConfig(backend="milvus"))


def bench_size(n: int, chunks, vectors, embedder, questions, root: Path, efs: list[int], with_engine: bool) -> None:
    rows, matrix, real = corpus(n, chunks, vectors)
    label = f"{n:,} chunks ({real:,} real" + (f" + {n - real:,} mixed)" if n > real else ")")
    truth: dict[str, list[list[str]]] = {}
    indexes = [("embedded, exact", lambda f: embedded(f, rows, matrix, embedder, "exact"))]
    indexes += [(f"embedded, HNSW ef {ef}", lambda f, ef=ef: embedded(f, rows, matrix, embedder, "hnsw", ef))
                for ef in efs]
    if with_engine:
        indexes.append(("Milvus Lite", lambda f: engine(f, rows, matrix, embedder)))
    for number, (name, make) in enumerate(indexes):
        built, opener = make(root / f"{n}-{number}")
        rss = psutil.Process().memory_info().rss
        began = time.perf_counter()
        index = opener()
        loaded = time.perf_counter() - began
        memory = (psutil.Process().memory_info().rss - rss) / 2**20
        cells = []
        for mode in MODES:
            found, p50, p95 = latencies(index, questions, mode)
            truth.setdefault(mode, found)
            hit = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth[mode])])
            cells.append(f"{p50:.1f} / {p95:.1f} ms, recall {hit:.3f}")
        print(f"| {label} | {name} | {built:.1f} | {loaded:.2f} | {memory:.0f} | " + " | ".join(cells) + " |", flush=True)
        del index
        gc.collect()


def questions_and_vectors() -> tuple[list[str], dict[str, np.ndarray], float]:
    from ragft.models import load_embedder

    questions = []
    for path in sorted(QA.glob("*_qa.csv")):
        with open(path, encoding="utf-8") as handle:
            questions.extend(row["question"] for row in csv.DictReader(handle))
    questions = list(dict.fromkeys(questions))[:100]
    real = load_embedder(EmbedderConfig())
    real.embed(questions[:2])
    began = time.perf_counter()
    vectors = real.embed(questions)
    per_question = (time.perf_counter() - began) * 1000 / len(questions)
    return questions, dict(zip(questions, vectors)), per_question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--ef", default="128", help="HNSW efSearch values to measure, comma-separated ('' for none)")
    parser.add_argument("--no-engine", action="store_true", help="skip the Milvus Lite rows")
    args = parser.parse_args()
    chunks, vectors = load_real()
    if len(vectors) == 0:
        sys.exit("no cached real vectors — run benchmarks/real_vectors.py first")
    questions, query_vectors, embed_ms = questions_and_vectors()
    embedder = Remembered("builtin:all-minilm-l6-v2", query_vectors)
    print(f"{len(vectors):,} real vectors cached; {len(questions)} questions; embedding a question: {embed_ms:.1f} ms")
    print("| size | index | build s | load s | memory MB | BM25 p50 / p95 | dense p50 / p95 | hybrid p50 / p95 |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            bench_size(n, chunks, vectors, embedder, questions, Path(tmp), [int(e) for e in args.ef.split(",") if e],
                       not args.no_engine)


if __name__ == "__main__":
    main()
