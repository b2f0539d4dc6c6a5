"""Retrieval metrics over ranked id lists, with binary relevance."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ragft.errors import ConfigError, RagftError


def _check_retrieval_inputs(relevant_ids: Iterable[str], k: int | None = None) -> set[str]:
    relevant = set(relevant_ids)
    if not relevant:
        raise RagftError("retrieval metrics need at least one relevant id; skip questions without evidence")
    if k is not None and k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    return relevant


def _unique_in_order(ranked_ids: Iterable[str]) -> list[str]:
    """Drop repeats, so a chunk retrieved twice is not counted twice."""
    return list(dict.fromkeys(ranked_ids))


def recall_at_k(ranked_ids: Sequence[str], relevant_ids: Iterable[str], k: int) -> float:
    """Share of the relevant ids found in the top k."""
    relevant = _check_retrieval_inputs(relevant_ids, k)
    found = relevant.intersection(_unique_in_order(ranked_ids)[:k])
    return len(found) / len(relevant)


def hit_at_k(ranked_ids: Sequence[str], relevant_ids: Iterable[str], k: int) -> float:
    """1.0 when any relevant id is in the top k, else 0.0."""
    relevant = _check_retrieval_inputs(relevant_ids, k)
    return float(any(doc_id in relevant for doc_id in _unique_in_order(ranked_ids)[:k]))


def mrr(ranked_ids: Sequence[str], relevant_ids: Iterable[str]) -> float:
    """Reciprocal rank of the first relevant id (0.0 when none is retrieved)."""
    relevant = _check_retrieval_inputs(relevant_ids)
    for rank, doc_id in enumerate(_unique_in_order(ranked_ids), start=1):
        if doc_id in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked_ids: Sequence[str], relevant_ids: Iterable[str], k: int) -> float:
    """Normalised discounted cumulative gain in the top k with 0/1 relevance."""
    relevant = _check_retrieval_inputs(relevant_ids, k)
    gains = [doc_id in relevant for doc_id in _unique_in_order(ranked_ids)[:k]]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1) if gain)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal

