"""Answer, label, span and retrieval metrics, and the KDD 2024 tutorial's scores."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from ragft.errors import ConfigError, RagftError
from ragft.metrics.answers import (
    embedding_similarity,
    exact_match,
    normalize_answer,
    rouge_l,
    rouge_l_precision,
    rouge_l_recall,
    semantic_similarity,
    span_overlap,
    token_f1,
    token_precision,
    token_recall,
)
from ragft.metrics.labels import accuracy, macro_f1, parse_label
from ragft.metrics.retrieval import hit_at_k, mrr, ndcg_at_k, recall_at_k
from ragft.metrics.tasks import METRICS_BY_TASK, metrics_for_task, score_answer
from ragft.metrics.tutorial import (
    tutorial_answer_correctness,
    tutorial_rouge_l,
    tutorial_rouge_l_recall,
    tutorial_token_overlap,
    tutorial_token_overlap_recall,
    tutorial_tokens,
)
from ragft.types import TASK_TYPES

from conftest import shared_dataset

# ---------------------------------------------------------------------------- SQuAD-style


def test_normalize_answer_follows_squad():
    assert normalize_answer("  The Quick, brown fox!  ") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_takes_the_best_alias():
    assert exact_match("the State of California.", ["New York", "state of california"]) == 1.0
    assert exact_match("California", ["state of california"]) == 0.0


def test_token_scores_by_hand():
    # prediction tokens: laws of california (3); gold: state of california (3); shared: of, california
    assert token_precision("The laws of California", ["State of California"]) == pytest.approx(2 / 3)
    assert token_recall("The laws of California", ["State of California"]) == pytest.approx(2 / 3)
    # prediction "california" (1 token) vs gold (3): precision 1, recall 1/3, F1 0.5
    assert token_precision("California", ["State of California"]) == 1.0
    assert token_recall("California", ["State of California"]) == pytest.approx(1 / 3)
    assert token_f1("California", ["State of California"]) == pytest.approx(0.5)


def test_token_overlap_counts_repeats_once_per_gold_occurrence():
    # SQuAD counts multiplicity: "no no no" shares one "no" with gold "no"
    assert token_precision("no no no", ["no"]) == pytest.approx(1 / 3)
    assert token_recall("no no no", ["no"]) == 1.0


def test_empty_answers_follow_squad_v2():
    assert token_f1("", [""]) == 1.0
    assert token_f1("", ["something"]) == 0.0
    assert exact_match("The.", [""]) == 1.0  # only an article and punctuation: normalises to ""


def test_empty_gold_list_is_a_user_error():
    with pytest.raises(RagftError, match="empty list of gold"):
        token_f1("x", [])


def test_a_bare_gold_string_is_one_alias():
    assert exact_match("yes", "yes") == 1.0


def test_rouge_l_by_hand():
    # LCS of "a b c d" (pred) and "a c e" (gold) is "a c": precision 2/4, recall 2/3
    assert rouge_l_precision("a b c d", ["a c e"]) == pytest.approx(0.5)
    assert rouge_l_recall("a b c d", ["a c e"]) == pytest.approx(2 / 3)
    assert rouge_l("a b c d", ["a c e"]) == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert rouge_l("anything", ["x y", "ANYTHING"]) == 1.0


def test_semantic_similarity_is_cosine_over_golds():
    assert semantic_similarity([1, 0], [[0, 1], [1, 1]]) == pytest.approx(1 / math.sqrt(2))
    assert semantic_similarity([1, 0], [2, 0]) == pytest.approx(1.0)
    assert semantic_similarity([0, 0], [[1, 0]]) == 0.0
    with pytest.raises(RagftError, match="sizes differ"):
        semantic_similarity([1, 0, 0], [[1, 0]])


def test_embedding_similarity_uses_the_given_embed_function():
    table = {"cat": [1.0, 0.0], "feline": [0.9, 0.1], "car": [0.0, 1.0]}

    def embed(texts):
        return np.array([table[text] for text in texts])

    assert embedding_similarity("cat", ["car", "feline"], embed) == pytest.approx(
        0.9 / math.hypot(0.9, 0.1)
    )


# ---------------------------------------------------------------------------- tutorial scores


def test_tutorial_tokens_drop_stopwords_and_punctuation():
    # "This", "will", "be", "by", "the", "of" are NLTK stop words; numbers become floats.
    assert tutorial_tokens("This Agreement will be governed by the laws of California, 2017.") == [
        "agreement",
        "governed",
        "laws",
        "california",
        2017.0,
    ]
    assert tutorial_tokens("We cannot wait") == ["can", "not", "wait"]  # NLTK contraction split


def test_tutorial_tokens_split_sentences_glued_by_punctuation():
    # The tutorial's responses contain "principles.[/INST]"; sentence splitting keeps
    # "principles" a token of its own instead of "principlesinst".
    assert tutorial_tokens("exclusive principles.[/INST]") == ["exclusive", "principles", "inst"]


def test_tutorial_token_overlap_by_hand():
    # pred tokens: governed, laws, california, california (4); ref: laws, state, california (3);
    # distinct shared: laws, california (2) → precision 2/4, recall 2/3
    scores = tutorial_token_overlap("Governed by laws of California. California!", "The laws of the State of California")
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_tutorial_rouge_l_is_case_sensitive_and_counts_distinct_words():
    # rouge 1.0.1: split on spaces, no lowercasing: "California" ≠ "california"
    assert tutorial_rouge_l_recall("laws of california", "laws of California") == pytest.approx(2 / 3)
    # distinct words: reference {a, b} (m=2), candidate {a, b} (n=2), union LCS {a, b}
    scores = tutorial_rouge_l("a b a b", "a b")
    assert (scores.precision, scores.recall) == (1.0, 1.0)
    assert scores.f1 == pytest.approx(1.0, abs=1e-7)  # rouge's +1e-8 smoothing is kept


def test_tutorial_rouge_l_splits_sentences_on_periods():
    # Union LCS over sentences: reference "w1 w2 w3 w4 w5" against "w1 w2 w6. w1 w3 w5" finds
    # {w1, w2} and {w1, w3, w5}, union of 4 distinct words out of 5.
    assert tutorial_rouge_l_recall("w1 w2 w6. w1 w3 w5", "w1 w2 w3 w4 w5") == pytest.approx(4 / 5)


def test_tutorial_scores_of_empty_or_punctuation_answers_are_zero():
    assert tutorial_rouge_l_recall("", "some reference") == 0.0
    assert tutorial_rouge_l_recall("?!", "some reference") == 0.0
    assert tutorial_token_overlap_recall("", "some reference") == 0.0


def test_tutorial_answer_correctness_takes_each_best_separately():
    scores = tutorial_answer_correctness("alpha beta", ["alpha", "alpha beta gamma delta"])
    assert scores["token_overlap_precision"] == 1.0  # from the second reference
    assert scores["token_overlap_recall"] == 1.0  # from the first
    assert set(scores) == {
        "token_overlap_precision",
        "token_overlap_recall",
        "token_overlap_f1",
        "rouge_l_precision",
        "rouge_l_recall",
        "rouge_l_f1",
    }


def _tutorial_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


RESULT_FILES = [
    "advanced_rag_result.csv",
    "hypothetical_question_rag_result.csv",
    "naive_rag_result.csv",
    "naive_rag_test_result.csv",
    "query_decomposition_rag_result.csv",
    "sentence_window_rag_result.csv",
    "sft_test_full_result.csv",
    "sft_test_q4b_result.csv",
    "sft_trn_full_result.csv",
    "sft_trn_q4b_result.csv",
]


@pytest.mark.parametrize("filename", RESULT_FILES)
def test_tutorial_scores_reproduce_the_published_columns(filename):
    rows = _tutorial_rows(shared_dataset("kdd24-lab", filename))
    assert len(rows) == 32
    for row in rows:
        response, reference = row["response"], row["ref_answer"]
        assert tutorial_token_overlap_recall(response, reference) == pytest.approx(
            float(row["token_overlap_recall"]), abs=1e-12
        ), row["question"][-200:]
        assert tutorial_rouge_l_recall(response, reference) == pytest.approx(
            float(row["rouge_l_recall"]), abs=1e-12
        ), row["question"][-200:]


# ---------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Yes, the policy allows it.", "yes"),
        ("YES", "yes"),
        ("No. Yes would need approval.", "no"),
        ("The answer is: maybe", "maybe"),
        ("It is not allowed.", None),  # no label word: no guessing from negation
        ("Nobody knows", None),  # whole words only: "nobody" is not "no"
        ("", None),
    ],
)
def test_parse_label_takes_the_first_label_word(text, label):
    assert parse_label(text) == label


def test_parse_label_prefers_the_longer_label_at_the_same_place():
    labels = ("not", "not mentioned", "mentioned")
    assert parse_label("Not mentioned in the contract", labels) == "not mentioned"
    assert parse_label("It is not there", labels) == "not"


def test_accuracy_and_macro_f1_by_hand():
    golds = ["yes", "yes", "no", "no"]
    predictions = ["yes", None, "no", "yes"]
    assert accuracy(predictions, golds) == 0.5
    # yes: tp 1, predicted 2, gold 2 → F1 0.5; no: tp 1, predicted 1, gold 2 → F1 2/3
    assert macro_f1(predictions, golds) == pytest.approx((0.5 + 2 / 3) / 2)


def test_macro_f1_counts_labels_only_predicted():
    # "maybe" is never gold but predicted once: its F1 of 0 pulls the mean down, as in sklearn
    assert macro_f1(["yes", "maybe"], ["yes", "yes"]) == pytest.approx((2 / 3 + 0) / 2)


def test_classification_lengths_must_match():
    with pytest.raises(RagftError, match="pair up"):
        accuracy(["yes"], ["yes", "no"])


# ---------------------------------------------------------------------------- spans and retrieval


def test_span_overlap_is_token_f1():
    gold = "This Agreement shall be governed by the laws of the State of California."
    assert span_overlap(gold, gold) == 1.0
    assert span_overlap("governed by the laws of California", gold) == pytest.approx(
        token_f1("governed by the laws of California", [gold])
    )
    assert span_overlap("Termination for convenience", gold) == 0.0


def test_retrieval_metrics_by_hand():
    ranked = ["d3", "d1", "d3", "d7", "d2"]  # the repeated d3 counts once
    relevant = {"d1", "d2"}
    assert hit_at_k(ranked, relevant, 1) == 0.0
    assert hit_at_k(ranked, relevant, 2) == 1.0
    assert recall_at_k(ranked, relevant, 2) == 0.5
    assert recall_at_k(ranked, relevant, 4) == 1.0
    assert mrr(ranked, relevant) == 0.5
    assert mrr(["x"], relevant) == 0.0
    # relevant at ranks 2 and 4 of the de-duplicated list; ideal ranks 1 and 2
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(expected)
    assert ndcg_at_k(["d1", "d2"], relevant, 2) == 1.0


def test_retrieval_metrics_reject_bad_input():
    with pytest.raises(RagftError, match="relevant id"):
        recall_at_k(["a"], set(), 1)
    with pytest.raises(ConfigError, match="k must be"):
        hit_at_k(["a"], {"a"}, 0)


# ---------------------------------------------------------------------------- metric table


def test_every_task_type_has_metrics_and_recall_travels_with_precision_and_f1():
    assert set(METRICS_BY_TASK) == set(TASK_TYPES)
    for names in METRICS_BY_TASK.values():
        for name in names:
            if name.endswith("recall"):
                stem = name.removesuffix("recall")
                assert stem + "precision" in names
                assert stem + "f1" in names or stem.rstrip("_") in names  # rouge_l is the F-measure


def test_metrics_for_task_rejects_unknown_types():
    with pytest.raises(ConfigError, match="unknown task type"):
        metrics_for_task("poetry")


def test_score_answer_runs_every_text_metric_of_a_task():
    scores = score_answer("State of California", ["the State of California"], "short_qa")
    assert scores == {"exact_match": 1.0, "token_precision": 1.0, "token_recall": 1.0, "token_f1": 1.0}
    span_scores = score_answer("governed by California law", ["laws of California"], "span_qa")
    assert "tutorial_token_overlap_recall" in span_scores and "semantic_similarity" not in span_scores
