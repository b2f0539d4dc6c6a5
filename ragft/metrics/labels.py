"""Classification metrics: parse the label a free-text answer gives, then score the labels."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ragft.errors import RagftError
from ragft.metrics.answers import precision_recall_f1


def parse_label(text: str, labels: Sequence[str] = ("yes", "no", "maybe")) -> str | None:
    """The label a free-text answer gives, or None when it names none.

    Rule: after SQuAD-style normalisation (lowercase, punctuation to spaces), the label whose
    words occur *first* as whole words wins; at the same position the longer label wins, so
    "not mentioned" beats "not"; "may be" counts as "maybe" when that is a label.
    "Yes, the policy allows it" → "yes"; "No. Yes would need
    approval" → "no"; "It is not allowed." → None, because no label word occurs. There is no
    negation handling: turning "not allowed" into "no" needs the question's meaning, and a
    wrong guess would look like a correct parse. Unparsed answers count as wrong in
    ``accuracy`` and ``macro_f1``.
    """
    words = f" {_label_words(text)} "
    if "maybe" in labels:  # "may be" is how people (and small models) often write "maybe"
        words = words.replace(" may be ", " maybe ")
    best: tuple[int, int, str] | None = None  # (position, -length, label)
    for label in labels:
        position = words.find(f" {_label_words(label)} ")
        if position >= 0:
            candidate = (position, -len(label), label)
            best = candidate if best is None else min(best, candidate)
    return best[2] if best else None


def _label_words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _check_same_length(predictions: Sequence, golds: Sequence) -> None:
    if len(predictions) != len(golds):
        raise RagftError(f"{len(predictions)} predictions but {len(golds)} gold labels; they must pair up")
    if not golds:
        raise RagftError("no predictions to score")


def accuracy(predictions: Sequence[str | None], golds: Sequence[str]) -> float:
    """Share of predictions equal to their gold label (None, an unparsed answer, is wrong)."""
    _check_same_length(predictions, golds)
    return sum(p == g for p, g in zip(predictions, golds)) / len(golds)


def macro_f1(predictions: Sequence[str | None], golds: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over every label seen in golds or predictions.

    As in scikit-learn's ``f1_score(average="macro")``; an unparsed prediction (None) is a miss
    for its gold label but is not a label of its own.
    """
    _check_same_length(predictions, golds)
    labels = {*golds, *(p for p in predictions if p is not None)}
    true_positives = Counter(g for p, g in zip(predictions, golds) if p == g)
    predicted_counts, gold_counts = Counter(predictions), Counter(golds)
    f1_scores = [
        precision_recall_f1(true_positives[label], predicted_counts[label], gold_counts[label])[2] for label in labels
    ]
    return sum(f1_scores) / len(f1_scores)

