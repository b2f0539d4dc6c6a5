"""From per-question records to per-question scores, means with CIs, and paired comparisons.

Every question gets the same core metrics whatever its task type (so variants and question
subsets compare like for like), plus its task's own extras (label accuracy for
classification, span overlap for extractive QA). Recall metrics always appear beside their
precision and F1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ragft.metrics.answers import embedding_similarity
from ragft.metrics.labels import parse_label
from ragft.metrics.retrieval import hit_at_k, mrr, ndcg_at_k, recall_at_k
from ragft.metrics.tasks import ANSWER_METRICS
from ragft.metrics.evidence import EvidenceSpan, best_coverage, coverage
from ragft.rag.grounding import is_abstention
from ragft.metrics.stats import bootstrap_ci, holm_correct, paired_bootstrap
from ragft.types import Chunk, Hit, QAExample

CORE_METRICS = (
    "exact_match", "token_precision", "token_recall", "token_f1",
    "rouge_l_precision", "rouge_l_recall", "rouge_l",
    "semantic_similarity", "tutorial_token_overlap_recall", "tutorial_rouge_l_recall",
    "tutorial_token_overlap_precision", "tutorial_token_overlap_f1",
    "tutorial_rouge_l_precision", "tutorial_rouge_l_f1",
)
TUTORIAL_METRICS = ("semantic_similarity", "tutorial_token_overlap_recall", "tutorial_rouge_l_recall")
RETRIEVAL_METRICS = ("evidence_hit", "evidence_all_hit", "evidence_recall", "evidence_coverage",
                     "doc_recall@k", "doc_hit@k", "doc_mrr", "doc_ndcg@k")
PRIMARY_BY_TASK = {"short_qa": "token_f1", "multi_hop": "token_f1", "span_qa": "token_f1",
                   "classification": "label_accuracy", "long_form": "rouge_l"}


def primary_metric_for(configured: str | None, task_types: list[str]) -> str:
    """The study's primary metric: the configured one, else the metric of its most common task
    type (the first seen wins a tie), token F1 for anything unknown."""
    if configured:
        return configured
    counts = {task: task_types.count(task) for task in dict.fromkeys(task_types)}
    return PRIMARY_BY_TASK.get(max(counts, key=counts.get), "token_f1") if counts else "token_f1"


# What each metric is called in tables and plots.
LABELS = {
    "exact_match": "EM", "token_precision": "token P", "token_recall": "token R", "token_f1": "token F1",
    "rouge_l_precision": "ROUGE-L P", "rouge_l_recall": "ROUGE-L R", "rouge_l": "ROUGE-L F1",
    "semantic_similarity": "semantic sim.", "tutorial_token_overlap_recall": "tutorial token recall",
    "tutorial_rouge_l_recall": "tutorial ROUGE-L recall", "tutorial_token_overlap_precision": "tutorial token P",
    "tutorial_token_overlap_f1": "tutorial token F1", "tutorial_rouge_l_precision": "tutorial ROUGE-L P",
    "tutorial_rouge_l_f1": "tutorial ROUGE-L F1", "label_accuracy": "label accuracy", "span_overlap": "span overlap",
    "evidence_hit": "evidence hit@k", "evidence_all_hit": "all evidence@k", "evidence_recall": "evidence recall@k",
    "evidence_coverage": "evidence coverage", "doc_recall@k": "doc recall@k",
    "doc_hit@k": "doc hit@k", "doc_mrr": "doc MRR", "doc_ndcg@k": "doc nDCG@k", "judge_correctness": "judge correct",
    "judge_faithfulness": "judge faithful", "abstained": "abstained", "wrong_abstention": "wrong abstention",
}


def score_question(question: QAExample, record: dict, embed: Callable[[list[str]], np.ndarray],
                   spans: list[EvidenceSpan], retrieves: bool,
                   labels: tuple[str, ...] = ("yes", "no", "maybe")) -> dict[str, float]:
    """All metrics of one answer; retrieval metrics only for variants that retrieve."""
    prediction, golds = record["answer"], question.answers
    scores = {name: ANSWER_METRICS[name](prediction, golds) for name in CORE_METRICS if name in ANSWER_METRICS}
    scores["semantic_similarity"] = embedding_similarity(prediction, golds, embed)
    if question.task_type == "classification":
        predicted = parse_label(prediction, labels)  # None (no label found) is always wrong
        scores["label_accuracy"] = float(predicted is not None and predicted == parse_label(question.answer, labels))
    if question.task_type == "span_qa":
        scores["span_overlap"] = ANSWER_METRICS["span_overlap"](prediction, golds)
    # How often the model says "not found" although the documents hold the answer.
    abstained = is_abstention(prediction)
    scores["abstained"] = float(abstained)
    if not any(is_abstention(g) for g in golds):
        scores["wrong_abstention"] = float(abstained)
    if retrieves:
        scores.update(retrieval_scores(question, record["retrieved"], spans))
    return scores


def retrieval_scores(question: QAExample, retrieved: list[dict], spans: list[EvidenceSpan]) -> dict[str, float]:
    scores = {}
    if spans:
        hits = [Hit(Chunk(r["chunk_id"], r["doc_id"], "", r["start"], r["end"]), r.get("score", 0.0), i + 1)
                for i, r in enumerate(retrieved)]
        scores["evidence_coverage"] = best_coverage(spans, hits)
        scores["evidence_hit"] = float(scores["evidence_coverage"] >= 0.5)
        # Multi-hop needs every piece: "some piece retrieved" flatters a two-paragraph question.
        found = [coverage(span, hits) >= 0.5 for span in spans]
        scores["evidence_recall"] = sum(found) / len(found)
        if len(spans) >= 2:
            scores["evidence_all_hit"] = float(all(found))
    # Document-level metrics are meaningless when retrieval is confined to the gold document.
    if question.evidence_doc_ids and not question.doc_scope:
        ranked_docs = list(dict.fromkeys(r["doc_id"] for r in retrieved))
        k = max(len(retrieved), 1)
        relevant = question.evidence_doc_ids
        scores["doc_recall@k"] = recall_at_k(ranked_docs, relevant, k)
        scores["doc_hit@k"] = hit_at_k(ranked_docs, relevant, k)
        scores["doc_mrr"] = mrr(ranked_docs, relevant)
        scores["doc_ndcg@k"] = ndcg_at_k(ranked_docs, relevant, k)
    return scores


def summarise(per_question: list[dict[str, float]], n_resamples: int = 5000) -> dict[str, dict]:
    """Mean, 95% bootstrap CI and count for every metric present in any question."""
    names = list(dict.fromkeys(name for scores in per_question for name in scores))
    summary = {}
    for name in names:
        values = [s[name] for s in per_question if name in s and not _missing(s[name])]
        if not values:
            continue
        mean, low, high = bootstrap_ci(values, n_resamples=n_resamples)
        summary[name] = {"mean": mean, "low": low, "high": high, "n": len(values)}
    return summary


def compare_to_baselines(scores_by_variant: dict[str, list[dict[str, float]]], baselines: list[str],
                         metric_names: list[str], n_resamples: int = 5000) -> list[dict]:
    """Paired bootstrap of each variant against each baseline on the same questions.

    One family per (baseline, metric): its p-values are Holm–Bonferroni corrected across the
    variants compared with that baseline, so that comparing many variants does not manufacture
    a "significant" winner by chance. Every row names its family, so the same comparison shown
    twice (here and in the recommendation's own family) is never two unexplained p-values.
    """
    rows = []
    for baseline in baselines:
        for metric in metric_names:
            rows.extend(_family(scores_by_variant, baseline, metric, n_resamples))
    return rows


def paired_values(first: list[dict[str, float]], second: list[dict[str, float]],
                  metric: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Two variants' scores on ``metric`` for the questions both have a value for, in question
    order — what every paired test takes."""
    pairs = [(a[metric], b[metric]) for a, b in zip(first, second)
             if metric in a and metric in b and not _missing(a[metric]) and not _missing(b[metric])]
    return tuple(zip(*pairs)) if pairs else ((), ())


def _family(scores_by_variant: dict[str, list[dict[str, float]]], baseline: str, metric: str,
            n_resamples: int) -> list[dict]:
    comparisons, names = [], []
    for name, scores in scores_by_variant.items():
        if name == baseline:
            continue
        a, b = paired_values(scores_by_variant[baseline], scores, metric)
        if len(a) < 2:
            continue
        comparisons.append(paired_bootstrap(a, b, n_resamples=n_resamples, names=(baseline, name)))
        names.append(name)
    family = f"vs {baseline} · {LABELS.get(metric, metric)}"
    return [{"baseline": baseline, "variant": name, "metric": metric, "family": family, "family_size": len(names),
             "difference": comparison.difference, "low": comparison.low, "high": comparison.high,
             "p_value": comparison.p_value, "significant": comparison.significant,
             "text": f"{LABELS.get(metric, metric)}: {comparison.describe()}"}
            for name, comparison in zip(names, holm_correct(comparisons))]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
