"""What the index tests share: a cheap deterministic embedder, a small corpus ingested with it, and
where a saved index keeps its files."""

from __future__ import annotations

import zlib

import numpy as np

from ragft.corpus import make_chunker
from ragft.index import versions
from ragft.index.store import HybridIndex
from ragft.types import Document

DIM = 32


class BagOfWords:
    """Each word a fixed random direction, a text their normalised sum — texts sharing words are
    near, so dense rankings mean something, and no model loads."""

    name, dim = "bag-of-words-32", DIM

    def embed(self, texts, progress=False):
        rows = [sum((np.random.default_rng(zlib.crc32(w.encode())).normal(size=DIM) for w in t.split()),
                    np.zeros(DIM)) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def live_manifest(folder) -> dict:
    """The manifest of the index in ``folder``'s live version, its document table whole."""
    return versions.read_manifest(folder, versions.live_version(folder))


def segment_of(folder):
    """The folder of the live version's only segment."""
    [segment] = live_manifest(folder)["segments"]
    return folder / "segments" / segment["name"]


CHUNKER = {"kind": "sentence", "params": {"max_chars": 40}}
WORDS = [f"w{i}" for i in range(300)]


def corpus(n_docs: int, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {f"doc{d:03d}": " ".join(" ".join(rng.choice(WORDS, size=4)) + "." for _ in range(6))
            for d in range(n_docs)}


def build(texts: dict[str, str], previous=None) -> HybridIndex:
    documents = [Document(doc_id=d, text=t, source=d) for d, t in texts.items()]
    chunker = make_chunker(CHUNKER["kind"], **CHUNKER["params"])
    return HybridIndex.build(documents, chunker, CHUNKER, BagOfWords(), previous=previous)[0]


def ingest(folder, texts: dict[str, str]) -> HybridIndex:
    previous = HybridIndex.load(folder, BagOfWords()) if (folder / "CURRENT").exists() else None
    build(texts, previous).save(folder)
    return HybridIndex.load(folder, BagOfWords())
