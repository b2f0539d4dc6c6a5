"""Timing retrieval, shared by the benchmark scripts (imported from beside them)."""

from __future__ import annotations

import time


def search_latencies_ms(index, questions: list[str], mode: str, k: int = 5,
                        found: list[list[str]] | None = None) -> list[float]:
    """Milliseconds of ``index.search`` for each question, one after another; with ``found``, each
    search's chunk ids are appended to it (for recall against another index)."""
    latencies = []
    for question in questions:
        started = time.perf_counter()
        hits = index.search(question, k=k, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        if found is not None:
            found.append([hit.chunk.chunk_id for hit in hits])
    return latencies
