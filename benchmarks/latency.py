"""Timing retrieval, shared by the benchmark scripts (imported from beside them)."""

from __future__ import annotations

import time


def search_latencies_ms(index, questions: list[str], mode: str, k: int = 5) -> list[float]:
    """Milliseconds of ``index.search`` for each question, one after another."""
    latencies = []
    for question in questions:
        started = time.perf_counter()
        index.search(question, k=k, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies
