"""Opening an index: BM25 rebuilt from the chunk texts (before) vs loaded from the version folder (after).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/index_load.py [--chunks 10000] [--repeats 3]

The index is synthetic but realistic text: chunks of 5–10 sentences (about the recursive chunker's
default 1,000 characters) drawn (seeded) from the built-in sample documents' sentences, 20 chunks
per made-up document. Its vectors are random unit vectors (384 dims, as all-MiniLM-L6-v2) and
queries are embedded the same way, so no model is loaded: what is timed is the index, not an
embedder. Dense scores are meaningless, their cost is not.

Rows, all on the same index, in one run:
- before            a version folder without ``bm25/`` (as older ragft wrote them), vectors read
                    into memory: exactly what every load did before BM25 was persisted;
- after, read       ``bm25/`` loaded, its arrays and the vectors read into memory;
- after, mmap       ``bm25/`` loaded, arrays and vectors memory-mapped (what ``HybridIndex.load`` does).
Load times are the best of ``--repeats`` (wall and CPU seconds of this process); then the first
search after the load (it pages mapped data in) and the p50 of a search per mode over the sample
test questions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# This checkout's ragft, not whichever one the interpreter has installed (a script's own folder
# comes first on sys.path, not the working directory).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import ragft  # noqa: E402

from ragft.corpus import load_qa_file  # noqa: E402
from ragft.corpus.loaders import load_folder  # noqa: E402
from ragft.corpus.sentences import split_sentences  # noqa: E402
from ragft.data import sample_docs_dir, sample_qa_path  # noqa: E402
from ragft.index.store import HybridIndex, Manifest  # noqa: E402
from ragft.types import Chunk  # noqa: E402

from latency import search_latencies_ms  # noqa: E402 (beside this script)

DIM = 384
CHUNKS_PER_DOC = 20


class RandomUnitEmbedder:
    """A random unit vector per text, seeded by the text: no model, same cost shape for search."""

    name = "random-unit-384"
    dim = DIM

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=DIM) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def synthetic_index(n: int, embedder: RandomUnitEmbedder) -> tuple[HybridIndex, float]:
    sentences = []
    for doc in load_folder(sample_docs_dir()).documents:
        sentences.extend(doc.text[s:e] for s, e in split_sentences(doc.text))
    rng = random.Random(0)
    chunks = []
    manifest = Manifest(embedder=embedder.name, dim=DIM, chunker={"kind": "synthetic"})
    for i in range(n):
        doc_id = f"synthetic-{i // CHUNKS_PER_DOC:05d}.md"
        text = " ".join(rng.choice(sentences) for _ in range(rng.randint(5, 10)))
        chunks.append(Chunk(f"{doc_id}#{i % CHUNKS_PER_DOC}", doc_id, text, 0, len(text)))
        entry = manifest.documents.setdefault(doc_id, {"sha256": "-", "source": doc_id, "n_chunks": 0, "title": ""})
        entry["n_chunks"] += 1
    vectors = np.random.default_rng(0).normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    index = HybridIndex(chunks, vectors, manifest, embedder)  # builds BM25 in memory
    return index, time.perf_counter() - started


@contextmanager
def read_into_memory():
    """Every ``np.load`` reads its array (ragft's and bm25s's), as ragft did before mapping."""
    original = np.load

    def full(*args, **kwargs):
        kwargs["mmap_mode"] = None
        return original(*args, **kwargs)

    np.load = full
    try:
        yield
    finally:
        np.load = original


def timed_load(folder: Path, embedder, repeats: int) -> tuple[HybridIndex, float, float]:
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        index = HybridIndex.load(folder, embedder)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return index, best_wall, best_cpu


def search_times(index: HybridIndex, questions: list[str]) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    index.search(questions[0], k=5, mode="hybrid")
    first = (time.perf_counter() - started) * 1000
    p50 = {mode: float(np.percentile(search_latencies_ms(index, questions, mode), 50))
           for mode in ("dense", "bm25", "hybrid")}
    return first, p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="loads per row; the best is shown")
    args = parser.parse_args()
    embedder = RandomUnitEmbedder()
    questions = [q.question for q in load_qa_file(sample_qa_path("test"))]
    index, build_seconds = synthetic_index(args.chunks, embedder)
    reference = [[h.chunk.chunk_id for h in index.search(q, k=5, mode="hybrid")] for q in questions]
    print(f"{args.chunks} synthetic chunks ({sum(len(c.text) for c in index.chunks) / 1e6:.1f} M characters), "
          f"random unit vectors ({DIM} dims); BM25 built in memory in {build_seconds:.2f} s; "
          f"{len(questions)} queries; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"ragft from {Path(ragft.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        after, before = Path(tmp) / "after", Path(tmp) / "before"
        started = time.perf_counter()
        live = index.save(after)
        [segment] = json.loads((live / "manifest.json").read_text())["segments"]
        files = after / "segments" / segment["name"]
        print(f"save (with bm25/): {time.perf_counter() - started:.2f} s, bm25/ "
              f"{sum(f.stat().st_size for f in (files / 'bm25').iterdir()) / 1e6:.1f} MB, embeddings.npy "
              f"{(files / 'embeddings.npy').stat().st_size / 1e6:.1f} MB")
        shutil.copytree(after, before)
        shutil.rmtree(before / "segments" / segment["name"] / "bm25")  # as older ragft wrote indexes
        del index
        print(f"\n{'':16} {'load wall s':>11} {'load CPU s':>10} {'1st search ms':>13} "
              f"{'dense p50 ms':>12} {'bm25 p50 ms':>11} {'hybrid p50 ms':>13}")
        rows = [("before", before, True), ("after, read", after, True), ("after, mmap", after, False)]
        for label, folder, in_memory in rows:
            if in_memory:
                with read_into_memory():
                    loaded, wall, cpu = timed_load(folder, embedder, args.repeats)
            else:
                loaded, wall, cpu = timed_load(folder, embedder, args.repeats)
            first, p50 = search_times(loaded, questions)
            same = [[h.chunk.chunk_id for h in loaded.search(q, k=5, mode="hybrid")] for q in questions] == reference
            print(f"{label:16} {wall:11.2f} {cpu:10.2f} {first:13.1f} {p50['dense']:12.2f} {p50['bm25']:11.2f} "
                  f"{p50['hybrid']:13.2f}{'' if same else '   RESULTS DIFFER'}")
            del loaded
    return 0


if __name__ == "__main__":
    sys.exit(main())
