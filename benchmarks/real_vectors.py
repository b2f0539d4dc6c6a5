"""Real chunks embedded once by the built-in embedder, cached outside the repository, resumable.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_vectors.py [--limit N]

The chunks are windows of one or two consecutive sentences of every CUAD contract in
``../shared/datasets/cuad-dev/contracts`` — short, so that many real vectors can be embedded on a
CPU. They are embedded by all-MiniLM-L6-v2 (ragft's built-in embedder) in slices of ``SLICE``,
each slice saved to ``~/.cache/ragft/bench/real-<hash>/`` (``$RAGFT_CACHE/bench`` when set) as it
finishes, so a killed run resumes where it stopped. ``retrieval_scale.py`` reads the cache through
``load_real``; it never embeds the corpus itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

CONTRACTS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cuad-dev" / "contracts"
SLICE = 2048
MAX_SENTENCES = 2
MAX_CHARS = 400  # a few run-on "sentences" (tables, lists) are pages long; short chunks embed fast


def real_chunks() -> list[tuple[str, str]]:
    """(document id, text) of every window of one to ``MAX_SENTENCES`` consecutive sentences of the
    CUAD contracts (so they overlap, as sentence-window chunks do), in a seeded random order: any
    prefix is a fair sample of the whole, and a partly embedded cache is usable."""
    from ragft.corpus.sentences import split_sentences

    chunks = []
    for path in sorted(CONTRACTS.glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        spans = [(s, e) for s, e in split_sentences(text) if len(text[s:e].strip()) >= 20]
        for i in range(len(spans)):
            for size in range(1, MAX_SENTENCES + 1):
                if i + size <= len(spans):
                    window = spans[i:i + size]
                    chunks.append((path.name, " ".join(text[window[0][0]:window[-1][1]].split())[:MAX_CHARS]))
    random.Random(0).shuffle(chunks)
    return chunks


def cache_dir(chunks: list[tuple[str, str]]) -> Path:
    root = Path(os.environ.get("RAGFT_CACHE", Path.home() / ".cache" / "ragft")) / "bench"
    digest = hashlib.sha256(json.dumps(chunks[:50] + [len(chunks)]).encode()).hexdigest()[:12]
    return root / f"real-{digest}"


def embed_all(chunks: list[tuple[str, str]], limit: int | None) -> Path:
    from ragft.config import EmbedderConfig
    from ragft.models import load_embedder

    folder = cache_dir(chunks)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chunks.json").write_text(json.dumps(chunks), encoding="utf-8")
    embedder = load_embedder(EmbedderConfig())
    total = len(chunks) if limit is None else min(limit, len(chunks))
    for start in range(0, total, SLICE):
        path = folder / f"{start:08d}.npy"
        if path.exists():
            continue
        began = time.perf_counter()
        vectors = embedder.embed([t for _, t in chunks[start:start + SLICE]]).astype(np.float32)
        np.save(folder / f"{start:08d}.tmp.npy", vectors)
        os.replace(folder / f"{start:08d}.tmp.npy", path)
        rate = len(vectors) / (time.perf_counter() - began)
        print(f"{start + len(vectors):,}/{total:,} embedded ({rate:.0f} chunks/s)", flush=True)
    return folder


def load_real(max_rows: int | None = None) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The cached chunks and their vectors, as far as embedding has got (all slices done so far)."""
    chunks = real_chunks()
    folder = cache_dir(chunks)
    parts = []
    for start in range(0, len(chunks), SLICE):
        path = folder / f"{start:08d}.npy"
        if not path.exists():
            break
        parts.append(np.load(path))
    vectors = np.vstack(parts) if parts else np.zeros((0, 384), np.float32)
    n = len(vectors) if max_rows is None else min(max_rows, len(vectors))
    return chunks[:n], vectors[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="embed only the first N chunks")
    args = parser.parse_args()
    if not CONTRACTS.is_dir():
        sys.exit(f"{CONTRACTS}: not found — this benchmark needs ../shared/datasets beside the repository")
    chunks = real_chunks()
    lengths = sorted(len(t) for _, t in chunks)
    print(f"{len(chunks):,} chunks, median {lengths[len(lengths) // 2]} characters, cache {cache_dir(chunks)}")
    embed_all(chunks, args.limit)


if __name__ == "__main__":
    main()
