"""What the index tests share: a cheap deterministic embedder, and where a saved index keeps its files."""

from __future__ import annotations

import zlib

import numpy as np

from ragft.index import versions

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
