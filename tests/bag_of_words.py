"""A cheap deterministic embedder for index tests: each word a fixed random direction, a text
their normalised sum — texts sharing words are near, so dense rankings mean something, and no
model loads."""

from __future__ import annotations

import zlib

import numpy as np

DIM = 32


class BagOfWords:
    name, dim = "bag-of-words-32", DIM

    def embed(self, texts, progress=False):
        rows = [sum((np.random.default_rng(zlib.crc32(w.encode())).normal(size=DIM) for w in t.split()),
                    np.zeros(DIM)) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
