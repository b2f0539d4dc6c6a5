"""The KDD 2024 RAG-vs-fine-tuning tutorial's answer scores, exactly as continuous-eval computes them.

Copied so that our numbers compare like for like with the tutorial's published ones. Their
tokenisation differs from SQuAD's (``ragft.metrics.answers``) on purpose — stop words dropped,
set-based counts — so do not mix the two families in one comparison.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from nltk.tokenize.punkt import PunktSentenceTokenizer

from ragft.errors import RagftError
from ragft.metrics.answers import precision_recall_f1

_PUNCTUATION = set(string.punctuation)

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
    return OverlapScores(*precision_recall_f1(shared, len(predicted), len(gold)))


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

