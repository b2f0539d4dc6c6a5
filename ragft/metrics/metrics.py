"""Scoring functions for answers, labels, spans and retrieval rankings.

Everything here is a pure function of strings, vectors or id lists: no model is loaded. Answer
metrics share one signature, ``f(prediction, golds) -> float``, and take the best score over
the gold aliases, because any alias counts as a correct answer.

Three families of answer metrics live side by side:

* SQuAD-style (``exact_match``, ``token_*``): normalised bag-of-tokens overlap, the usual
  short-answer QA scores.
* ROUGE-L (``rouge_l*``): longest-common-subsequence overlap via Google's ``rouge-score``.
* ``tutorial_*``: the KDD 2024 RAG-vs-fine-tuning tutorial's scores, copied from the
  continuous-eval library so that our numbers compare like for like with its published ones.
  Their tokenisation differs from SQuAD's on purpose (stop words dropped, set-based counts);
  do not mix the two families in one comparison.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from nltk.tokenize.punkt import PunktSentenceTokenizer
from rouge_score import rouge_scorer

from ragft.errors import ConfigError, RagftError

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


def _best_over_golds(score: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The highest score against any gold alias; a missing gold is a data error, not a zero."""
    if isinstance(golds, str):  # a bare string would be scored character by character
        golds = [golds]
    if not golds:
        raise RagftError("cannot score an answer against an empty list of gold answers")
    return max(score(prediction, gold) for gold in golds)


def _precision_recall_f1(overlap: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = overlap / predicted if predicted else 0.0
    recall = overlap / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _squad_overlap(prediction: str, gold: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the shared tokens, counted with multiplicity as SQuAD does."""
    predicted_tokens, gold_tokens = _squad_tokens(prediction), _squad_tokens(gold)
    if not predicted_tokens or not gold_tokens:
        # SQuAD v2 convention: two empty answers agree fully, one empty answer scores zero.
        agree = float(predicted_tokens == gold_tokens)
        return agree, agree, agree
    overlap = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    return _precision_recall_f1(overlap, len(predicted_tokens), len(gold_tokens))


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold alias, else 0.0."""
    return _best_over_golds(lambda p, g: float(normalize_answer(p) == normalize_answer(g)), prediction, golds)


def token_precision(prediction: str, golds: Sequence[str]) -> float:
    """Share of the prediction's tokens that appear in the gold answer (SQuAD tokens)."""
    return _best_over_golds(lambda p, g: _squad_overlap(p, g)[0], prediction, golds)


def token_recall(prediction: str, golds: Sequence[str]) -> float:
    """Share of the gold answer's tokens that appear in the prediction (SQuAD tokens)."""
    return _best_over_golds(lambda p, g: _squad_overlap(p, g)[1], prediction, golds)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1: harmonic mean of token precision and recall."""
    return _best_over_golds(lambda p, g: _squad_overlap(p, g)[2], prediction, golds)


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
    return _best_over_golds(lambda p, g: _rouge_l_score(p, g).fmeasure, prediction, golds)


def rouge_l_precision(prediction: str, golds: Sequence[str]) -> float:
    """ROUGE-L precision: LCS length over the prediction's length."""
    return _best_over_golds(lambda p, g: _rouge_l_score(p, g).precision, prediction, golds)


def rouge_l_recall(prediction: str, golds: Sequence[str]) -> float:
    """ROUGE-L recall: LCS length over the gold answer's length."""
    return _best_over_golds(lambda p, g: _rouge_l_score(p, g).recall, prediction, golds)


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
# The KDD 2024 tutorial's scores, exactly as continuous-eval computes them
# --------------------------------------------------------------------------------------------
# Source: relari-ai/continuous-eval 0.3.14, continuous_eval/metrics/generation/text/
# deterministic.py (DeterministicAnswerCorrectness) and .../text/utils.py (TokenOverlap,
# RougeScore), with the tokenizer in continuous_eval/metrics/retrieval/simple_tokenizer.py and
# ROUGE-L from the `rouge` package 1.0.1 (pltrdy/rouge, rouge/rouge.py + rouge/rouge_score.py).
# Checked against the tutorial's published result files: every row of all ten agrees exactly.

# NLTK's English stop-word list (nltk_data corpora/stopwords/english). Words with apostrophes are
# left out: continuous-eval strips punctuation before filtering, so they can never match.
_NLTK_ENGLISH_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now d ll m o re ve y ain aren
    couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won
    wouldn""".split()
)

# NLTK's MacIntyre contractions that can still match once punctuation is gone ("cannot" →
# "can not"); the ones with apostrophes are unreachable for the same reason as above.
_CONTRACTIONS = [
    re.compile(pattern)
    for pattern in (
        r"(?i)\b(can)(not)\b",
        r"(?i)\b(gim)(me)\b",
        r"(?i)\b(gon)(na)\b",
        r"(?i)\b(got)(ta)\b",
        r"(?i)\b(lem)(me)\b",
        r"(?i)\b(wan)(na)(?=\s)",
    )
]
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

# continuous-eval splits text with nltk.sent_tokenize before tokenising. That matters only where
# a sentence ends glued to the next one ("principles.[/INST]" → "principles" + "inst", not
# "principlesinst"). Punkt's algorithm without the trained English parameters (which need an
# nltk_data download) splits at the same places, except after abbreviations the trained model
# knows, such as "Inc.(": a case absent from the tutorial's outputs.
_SENTENCE_SPLITTER = PunktSentenceTokenizer()


@dataclass(frozen=True)
class OverlapScores:
    """Precision, recall and F1 of one prediction against one reference."""

    precision: float
    recall: float
    f1: float


def _tutorial_sentence_tokens(sentence: str) -> list[str | float]:
    """continuous-eval's SimpleTokenizer: lowercase, strip punctuation, drop stop words."""
    text = "".join(char for char in sentence.lower() if char not in _PUNCTUATION)
    text = " " + " ".join(word for word in text.split() if word not in _NLTK_ENGLISH_STOPWORDS) + " "
    for contraction in _CONTRACTIONS:
        text = contraction.sub(r" \1 \2 ", text)
    # Numbers become floats so that "7" and "07" count as the same token.
    return [float(token) if _NUMBER.match(token) else token for token in text.split()]


def tutorial_tokens(text: str) -> list[str | float]:
    """The tokens continuous-eval's TokenOverlap compares (numbers as floats)."""
    return [token for sentence in _SENTENCE_SPLITTER.tokenize(text) for token in _tutorial_sentence_tokens(sentence)]


def tutorial_token_overlap(prediction: str, reference: str) -> OverlapScores:
    """continuous-eval's TokenOverlap for one reference.

    The overlap counts *distinct* shared tokens while the denominators count all tokens, so
    repeated words lower both scores; that quirk is kept to match the published numbers.
    """
    predicted, gold = tutorial_tokens(prediction), tutorial_tokens(reference)
    shared = len(set(predicted) & set(gold))
    return OverlapScores(*_precision_recall_f1(shared, len(predicted), len(gold)))


def _rouge_sentences(text: str) -> list[str]:
    """pltrdy/rouge's sentence split: on every '.', spaces collapsed; no lowercasing."""
    return [" ".join(part.split()) for part in text.split(".") if len(part) > 0]


def _lcs_words(reference: list[str], candidate: list[str]) -> list[str]:
    """Reference words on one longest common subsequence, with pltrdy/rouge's tie-breaking.

    The chosen subsequence matters because only its distinct words are kept afterwards.
    """
    rows, cols = len(reference), len(candidate)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            if reference[i - 1] == candidate[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    words = []
    i, j = rows, cols
    while i > 0 and j > 0:  # iterative version of rouge's recursive _recon_lcs
        if reference[i - 1] == candidate[j - 1]:
            words.append(reference[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return words


def tutorial_rouge_l(prediction: str, reference: str) -> OverlapScores:
    """continuous-eval's RougeScore: pltrdy/rouge 1.0.1 summary-level ROUGE-L.

    Words are split on single spaces without lowercasing, and the union LCS and both lengths
    count distinct words (rouge's default ``exclusive=True``).
    """
    if prediction == "" or all(char in _PUNCTUATION for char in prediction):
        return OverlapScores(0.0, 0.0, 0.0)
    candidate_sentences, reference_sentences = _rouge_sentences(prediction), _rouge_sentences(reference)
    if not reference_sentences:  # rouge raises here; an empty reference has nothing to recall
        return OverlapScores(0.0, 0.0, 0.0)
    union_lcs: set[str] = set()
    for reference_sentence in reference_sentences:
        for candidate_sentence in candidate_sentences:
            union_lcs.update(_lcs_words(reference_sentence.split(" "), candidate_sentence.split(" ")))
    candidate_words = {word for sentence in candidate_sentences for word in sentence.split(" ")}
    reference_words = {word for sentence in reference_sentences for word in sentence.split(" ")}
    recall = len(union_lcs) / len(reference_words)
    precision = len(union_lcs) / len(candidate_words)
    f1 = 2.0 * precision * recall / (precision + recall + 1e-8)  # rouge's smoothing, kept as is
    return OverlapScores(precision, recall, f1)


def _as_references(references: str | Sequence[str]) -> list[str]:
    references = [references] if isinstance(references, str) else list(references)
    if not references:
        raise RagftError("cannot score an answer against an empty list of gold answers")
    return references


def tutorial_answer_correctness(answer: str, references: str | Sequence[str]) -> dict[str, float]:
    """continuous-eval's DeterministicAnswerCorrectness, without BLEU.

    Like the original, each score is maximised over the references separately, so precision
    and recall may come from different references.
    """
    references = _as_references(references)
    token_scores = [tutorial_token_overlap(answer, reference) for reference in references]
    rouge_scores = [tutorial_rouge_l(answer, reference) for reference in references]
    return {
        "token_overlap_precision": max(score.precision for score in token_scores),
        "token_overlap_recall": max(score.recall for score in token_scores),
        "token_overlap_f1": max(score.f1 for score in token_scores),
        "rouge_l_precision": max(score.precision for score in rouge_scores),
        "rouge_l_recall": max(score.recall for score in rouge_scores),
        "rouge_l_f1": max(score.f1 for score in rouge_scores),
    }


def tutorial_token_overlap_precision(prediction: str, references: str | Sequence[str]) -> float:
    """The tutorial's ``token_overlap_precision`` (best over references)."""
    return max(tutorial_token_overlap(prediction, ref).precision for ref in _as_references(references))


def tutorial_token_overlap_recall(prediction: str, references: str | Sequence[str]) -> float:
    """The tutorial's ``token_overlap_recall`` column (best over references)."""
    return max(tutorial_token_overlap(prediction, ref).recall for ref in _as_references(references))


def tutorial_token_overlap_f1(prediction: str, references: str | Sequence[str]) -> float:
    """The tutorial's ``token_overlap_f1`` (best over references)."""
    return max(tutorial_token_overlap(prediction, ref).f1 for ref in _as_references(references))


def tutorial_rouge_l_precision(prediction: str, references: str | Sequence[str]) -> float:
    """The tutorial's ``rouge_l_precision`` (best over references)."""
    return max(tutorial_rouge_l(prediction, ref).precision for ref in _as_references(references))


def tutorial_rouge_l_recall(prediction: str, references: str | Sequence[str]) -> float:
    """The tutorial's ``rouge_l_recall`` column (best over references)."""
    return max(tutorial_rouge_l(prediction, ref).recall for ref in _as_references(references))


def tutorial_rouge_l_f1(prediction: str, references: str | Sequence[str]) -> float:
    """The tutorial's ``rouge_l_f1`` (best over references)."""
    return max(tutorial_rouge_l(prediction, ref).f1 for ref in _as_references(references))


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


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
        _precision_recall_f1(true_positives[label], predicted_counts[label], gold_counts[label])[2] for label in labels
    ]
    return sum(f1_scores) / len(f1_scores)


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
    return _squad_overlap(pred, gold)[2]


# --------------------------------------------------------------------------------------------
# Retrieval (binary relevance)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# What to report for each task type
# --------------------------------------------------------------------------------------------

# Per-answer metrics with the (prediction, golds) signature, by name.
ANSWER_METRICS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "exact_match": exact_match,
    "token_precision": token_precision,
    "token_recall": token_recall,
    "token_f1": token_f1,
    "rouge_l_precision": rouge_l_precision,
    "rouge_l_recall": rouge_l_recall,
    "rouge_l": rouge_l,
    "span_overlap": lambda prediction, golds: _best_over_golds(span_overlap, prediction, golds),
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
