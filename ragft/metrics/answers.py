"""Answer metrics: how close a free-text answer is to its gold answers.

Pure functions of strings or vectors: no model is loaded. They share one signature,
``f(prediction, golds) -> float``, and take the best score over the gold aliases, because any
alias counts as a correct answer.

* SQuAD-style (``exact_match``, ``token_*``, ``span_overlap``): normalised bag-of-tokens overlap,
  the usual short-answer QA scores.
* ROUGE-L (``rouge_l*``): longest-common-subsequence overlap via Google's ``rouge-score``.
* Embedding similarity: cosine between vectors the caller computes.

The KDD 2024 tutorial's own scores live in ``ragft.metrics.tutorial``; their tokenisation
differs from SQuAD's on purpose, so do not mix the two families in one comparison.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from rouge_score import rouge_scorer

from ragft.errors import RagftError

# --------------------------------------------------------------------------------------------
# SQuAD-style answer metrics
# --------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop punctuation and articles, collapse spaces."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _squad_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def best_over_golds(score: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The highest score against any gold alias; a missing gold is a data error, not a zero."""
    if isinstance(golds, str):  # a bare string would be scored character by character
        golds = [golds]
    if not golds:
        raise RagftError("cannot score an answer against an empty list of gold answers")
    return max(score(prediction, gold) for gold in golds)


def precision_recall_f1(overlap: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = overlap / predicted if predicted else 0.0
    recall = overlap / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def squad_overlap(prediction: str, gold: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the shared tokens, counted with multiplicity as SQuAD does."""
    predicted_tokens, gold_tokens = _squad_tokens(prediction), _squad_tokens(gold)
    if not predicted_tokens or not gold_tokens:
        # SQuAD v2 convention: two empty answers agree fully, one empty answer scores zero.
        agree = float(predicted_tokens == gold_tokens)
        return agree, agree, agree
    overlap = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    return precision_recall_f1(overlap, len(predicted_tokens), len(gold_tokens))


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold alias, else 0.0."""
    return best_over_golds(lambda p, g: float(normalize_answer(p) == normalize_answer(g)), prediction, golds)


def token_precision(prediction: str, golds: Sequence[str]) -> float:
    """Share of the prediction's tokens that appear in the gold answer (SQuAD tokens)."""
    return best_over_golds(lambda p, g: squad_overlap(p, g)[0], prediction, golds)


def token_recall(prediction: str, golds: Sequence[str]) -> float:
    """Share of the gold answer's tokens that appear in the prediction (SQuAD tokens)."""
    return best_over_golds(lambda p, g: squad_overlap(p, g)[1], prediction, golds)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1: harmonic mean of token precision and recall."""
    return best_over_golds(lambda p, g: squad_overlap(p, g)[2], prediction, golds)


# --------------------------------------------------------------------------------------------
# ROUGE-L (rouge-score library)
# --------------------------------------------------------------------------------------------

# No stemming, so scores stay comparable with other tools' defaults; rouge-score lowercases and
# splits on non-alphanumerics itself.
_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _rouge_l_score(prediction: str, gold: str):
    # rouge-score takes (target, prediction): the gold answer is the target.
    return _ROUGE.score(gold, prediction)["rougeL"]


def rouge_l(prediction: str, golds: Sequence[str]) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens)."""
    return best_over_golds(lambda p, g: _rouge_l_score(p, g).fmeasure, prediction, golds)


def rouge_l_precision(prediction: str, golds: Sequence[str]) -> float:
    """ROUGE-L precision: LCS length over the prediction's length."""
    return best_over_golds(lambda p, g: _rouge_l_score(p, g).precision, prediction, golds)


def rouge_l_recall(prediction: str, golds: Sequence[str]) -> float:
    """ROUGE-L recall: LCS length over the gold answer's length."""
    return best_over_golds(lambda p, g: _rouge_l_score(p, g).recall, prediction, golds)


# --------------------------------------------------------------------------------------------
# Embedding similarity (vectors come from the caller; nothing is loaded here)
# --------------------------------------------------------------------------------------------


def semantic_similarity(pred_vec: Sequence[float], gold_vecs: Sequence[float] | Sequence[Sequence[float]]) -> float:
    """Highest cosine similarity between the prediction's vector and any gold vector.

    ``gold_vecs`` is one vector or a matrix with one row per gold alias. A zero vector has no
    direction, so its similarity is 0.0 rather than NaN.
    """
    prediction = np.asarray(pred_vec, dtype=float)
    golds = np.atleast_2d(np.asarray(gold_vecs, dtype=float))
    if golds.size == 0:
        raise RagftError("cannot score an answer against an empty list of gold vectors")
    if golds.shape[1] != prediction.shape[0]:
        raise RagftError(f"vector sizes differ: prediction {prediction.shape[0]}, gold {golds.shape[1]}")
    norms = np.linalg.norm(golds, axis=1) * np.linalg.norm(prediction)
    dots = golds @ prediction
    cosines = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return float(cosines.max())


def embedding_similarity(prediction: str, golds: Sequence[str], embed: Callable[[list[str]], np.ndarray]) -> float:
    """``semantic_similarity`` of texts, embedded in one batch by the caller's ``embed`` function."""
    if isinstance(golds, str):
        golds = [golds]
    vectors = np.asarray(embed([prediction, *golds]), dtype=float)
    return semantic_similarity(vectors[0], vectors[1:])



# --------------------------------------------------------------------------------------------
# Span QA (clause extraction)
# --------------------------------------------------------------------------------------------


def span_overlap(pred: str, gold: str) -> float:
    """Token-level overlap F1 between a predicted and a gold clause (SQuAD tokens).

    Token-level rather than character-level because models answer with text, not offsets, and
    because about 5% of CUAD's gold clauses differ from the contract text only in white space
    or punctuation, which character offsets would punish. For several acceptable clauses use
    ``token_f1(pred, golds)``, which takes the best of them.
    """
    return squad_overlap(pred, gold)[2]

