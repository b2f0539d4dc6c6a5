"""What to report for each task type: the per-answer metrics by name, and which ones each task gets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ragft.errors import ConfigError
from ragft.metrics.answers import (
    best_over_golds,
    exact_match,
    rouge_l,
    rouge_l_precision,
    rouge_l_recall,
    span_overlap,
    token_f1,
    token_precision,
    token_recall,
)
from ragft.metrics.tutorial import (
    tutorial_rouge_l_f1,
    tutorial_rouge_l_precision,
    tutorial_rouge_l_recall,
    tutorial_token_overlap_f1,
    tutorial_token_overlap_precision,
    tutorial_token_overlap_recall,
)

# Per-answer metrics with the (prediction, golds) signature, by name.
ANSWER_METRICS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "exact_match": exact_match,
    "token_precision": token_precision,
    "token_recall": token_recall,
    "token_f1": token_f1,
    "rouge_l_precision": rouge_l_precision,
    "rouge_l_recall": rouge_l_recall,
    "rouge_l": rouge_l,
    "span_overlap": lambda prediction, golds: best_over_golds(span_overlap, prediction, golds),
    "tutorial_token_overlap_precision": tutorial_token_overlap_precision,
    "tutorial_token_overlap_recall": tutorial_token_overlap_recall,
    "tutorial_token_overlap_f1": tutorial_token_overlap_f1,
    "tutorial_rouge_l_precision": tutorial_rouge_l_precision,
    "tutorial_rouge_l_recall": tutorial_rouge_l_recall,
    "tutorial_rouge_l_f1": tutorial_rouge_l_f1,
}

# Recall metrics always travel with their precision and F1: a long answer that pastes the whole
# context scores high recall and is still a bad answer. "semantic_similarity" needs vectors and
# "accuracy"/"macro_f1" are computed over the whole set of parsed labels, not per answer.
_TOKEN_PRF = ("token_precision", "token_recall", "token_f1")
_ROUGE_PRF = ("rouge_l_precision", "rouge_l_recall", "rouge_l")
_TUTORIAL_PRF = (
    "tutorial_token_overlap_precision",
    "tutorial_token_overlap_recall",
    "tutorial_token_overlap_f1",
    "tutorial_rouge_l_precision",
    "tutorial_rouge_l_recall",
    "tutorial_rouge_l_f1",
)
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "short_qa": ("exact_match", *_TOKEN_PRF, "semantic_similarity"),
    "span_qa": ("span_overlap", *_TOKEN_PRF, *_ROUGE_PRF, *_TUTORIAL_PRF, "semantic_similarity"),
    "classification": ("accuracy", "macro_f1"),
    "long_form": (*_ROUGE_PRF, *_TOKEN_PRF, "semantic_similarity"),
    "multi_hop": ("exact_match", *_TOKEN_PRF, "semantic_similarity"),
}


def metrics_for_task(task_type: str) -> tuple[str, ...]:
    """The metric names the study reports for a task type."""
    try:
        return METRICS_BY_TASK[task_type]
    except KeyError:
        known = ", ".join(METRICS_BY_TASK)
        raise ConfigError(f"unknown task type {task_type!r}; expected one of: {known}") from None


def score_answer(prediction: str, golds: Sequence[str], task_type: str) -> dict[str, float]:
    """Every per-answer text metric of a task type (those needing vectors or a corpus are left out)."""
    names = [name for name in metrics_for_task(task_type) if name in ANSWER_METRICS]
    return {name: ANSWER_METRICS[name](prediction, golds) for name in names}
