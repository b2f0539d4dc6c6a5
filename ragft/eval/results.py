"""Score a finished study run and write ``results.json`` and ``questions.csv``.

``results.json`` is the single source for the report and for anyone comparing runs::

    {"study": {...}, "primary_metric": "token_f1",
     "baselines": ["closed-book", "dense-rag", "majority-label"], "baseline": "closed-book" (the first),
     "metric_order": [...], "labels": {...},
     "variants": [{"name", "type", "description", "llm", "metrics": {m: {mean, low, high, n}},
                   "reference"?: true, "cannot_answer"?: "why it is not eligible",
                   "cost": {seconds_per_query, cpu_seconds_per_query, timing: {method, busy_share},
                            per_1k_queries, monthly, breakdown: {serving, api, retrieval, storage, training},
                            return_per_month, net_per_month, roi, cumulative, cumulative_net, ...}}],
     "comparisons": [{"baseline", "variant", "metric", "family", "family_size", "difference", "low",
                      "high", "p_value" (Holm within its family), "significant", "text"}],
     "break_even": [{"a", "b", "month", "on": "net value"}],
     "recommendation": {"status": "recommended" | "inconclusive" | "none", "variant", "leader",
                        "questions_needed", "n_questions", "margin", "alpha", "power", "family",
                        "tests": [{"variant", "vs", "difference", "low", "high", "p_different",
                                   "p_as_good", "verdict": "as_good" | "worse" | "undecided",
                                   "questions_needed", "family", "family_size"}],
                        "tied_with_best", "reasoning": [...], "cost_drivers": [...]},
     "cost_assumptions": {...}, "warnings": [...],
     "knowledge_graphs": [{"fingerprint", "variants", "stats", "files", "nodes", "edges"}],
     "questions": [{"qid", "question", "golds", "task_type",
                    "answers": {variant: {"answer", "scores", "sources": [...]}}}]}

A p-value belongs to its family: the same pair can appear in "vs closed-book · token F1" and in
the recommendation's "decision: vs <leader> · token F1", each Holm-corrected within itself.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from ragft import __version__
from ragft.eval.baselines import MAJORITY_LABEL, default_baselines
from ragft.eval.graphs import export_knowledge_graphs
from ragft.eval.metrics import parse_label
from ragft.eval.recommend import recommend
from ragft.eval.scoring import (
    LABELS, PRIMARY_BY_TASK, RETRIEVAL_METRICS, TUTORIAL_METRICS, compare_to_baselines, score_question, summarise,
)
from ragft.eval.study import StudyRun
from ragft.eval.study_config import StudyConfig, VariantConfig
from ragft.eval.study_cost import (  # noqa: F401  (cost_variant: part of this module's API)
    add_modelled_costs, break_evens, cost_drivers, cost_variant, measured_cost, timing_warnings,
)
from ragft.eval.variants import CANNOT_ANSWER, RETRIEVING_TYPES

DISPLAY_ORDER = (
    "label_accuracy", "exact_match", "token_precision", "token_recall", "token_f1",
    "rouge_l_precision", "rouge_l_recall", "rouge_l", "span_overlap", "semantic_similarity",
    "tutorial_token_overlap_precision", "tutorial_token_overlap_recall", "tutorial_token_overlap_f1",
    "tutorial_rouge_l_precision", "tutorial_rouge_l_recall", "tutorial_rouge_l_f1",
    "judge_correctness", "judge_faithfulness", "abstained", "wrong_abstention", *RETRIEVAL_METRICS,
)


def build_results(run: StudyRun, embed, judge=None) -> dict:
    """Per-question scores, means with CIs, paired comparisons, costs and the recommendation."""
    config = run.config
    scores = _score_variants(run, embed, judge)
    primary = config.primary_metric or PRIMARY_BY_TASK.get(_dominant_task(run), "token_f1")
    has_classification = any(q.task_type == "classification" for q in run.questions)
    if has_classification and run.label_counts:
        scores[MAJORITY_LABEL] = _majority_scores(run)
    baselines = [b for b in default_baselines(config, has_classification) if b in scores]
    present = {name for per_variant in scores.values() for s in per_variant for name in s}
    order = [m for m in DISPLAY_ORDER if m in present]

    variants = [_variant_entry(variant, config, run, scores, primary, judge) for variant in config.variants]
    if MAJORITY_LABEL in scores:
        variants.append(_majority_entry(run, scores[MAJORITY_LABEL]))
    add_modelled_costs(variants, config, primary)
    # Retrieval metrics are compared too: "does technique X find the evidence more often?" is a
    # question of its own, and its answer needs the same paired test as the answer scores.
    # Primary first, then the other answer metrics, then retrieval (a stable sort keeps the order).
    compared = [primary] + sorted((m for m in order if m != primary), key=lambda m: m in RETRIEVAL_METRICS)
    comparisons = compare_to_baselines(scores, baselines, compared)
    decision = config.decision
    recommendation = recommend(variants, scores, primary, config.constraints.model_dump(),
                               margin=decision.margin, alpha=decision.alpha, power=decision.power)
    recommendation["cost_drivers"] = cost_drivers(recommendation.get("variant") or recommendation.get("leader"),
                                                  variants, config)
    return {
        "study": {"name": config.name, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "ragft_version": __version__,
                  "corpus": config.corpus, "n_questions": len(run.questions), "n_train": run.train_size,
                  "task_types": _task_counts(run), "config": config.model_dump(mode="json")},
        "primary_metric": primary, "baseline": baselines[0] if baselines else None, "baselines": baselines,
        "metric_order": order, "tutorial_metrics": list(TUTORIAL_METRICS), "labels": LABELS,
        "variants": variants, "comparisons": comparisons,
        "break_even": break_evens(variants, config),
        # Side effect: writes <run>/graphs/*.graphml and *.json for the graphs the variants used.
        "knowledge_graphs": export_knowledge_graphs(run.records, run.output_dir),
        "recommendation": recommendation,
        "cost_assumptions": config.cost.model_dump(),
        "warnings": timing_warnings(variants) + _label_warnings(run),
        "questions": _question_rows(run, scores),
    }


def _score_variants(run: StudyRun, embed, judge) -> dict[str, list[dict]]:
    scores = {}
    for variant in run.config.variants:
        retrieves = variant.type in RETRIEVING_TYPES
        scores[variant.name] = [
            score_question(q, r, embed, run.evidence.get(q.qid, []), retrieves, run.labels)
            for q, r in zip(run.questions, run.records[variant.name])
        ]
        for metric, per_question in (judge.scores.get(variant.name, {}) if judge else {}).items():
            for item, value in zip(scores[variant.name], per_question):
                if value is not None:
                    item[metric] = value
    return scores


def _variant_entry(variant: VariantConfig, config: StudyConfig, run: StudyRun, scores: dict, primary: str,
                   judge) -> dict:
    entry = {
        "name": variant.name, "type": variant.type, "description": variant.description or _describe(variant, config),
        "llm": config.models[variant.llm].model if variant.type != "extractive" else None,
        "metrics": summarise(scores[variant.name]),
        "cost": measured_cost(variant, run),
        # The judge's noise: the whole-set mean of each repeated judgement.
        "judge_repeat_means": judge.repeat_means.get(variant.name, {}) if judge else {},
    }
    for task, reason in CANNOT_ANSWER.get(variant.type, {}).items():
        if PRIMARY_BY_TASK.get(task) == primary and task in _task_counts(run):
            entry["cannot_answer"] = reason
    return entry


def _majority_scores(run: StudyRun) -> list[dict]:
    """Label accuracy of always answering the most common gold label (classification questions only)."""
    majority = max(run.label_counts, key=run.label_counts.get)
    return [{"label_accuracy": float(parse_label(q.answer, run.labels) == majority)}
            if q.task_type == "classification" else {} for q in run.questions]


def _majority_entry(run: StudyRun, scores: list[dict]) -> dict:
    majority = max(run.label_counts, key=run.label_counts.get)
    where = "train" if run.label_source == "train" else "test (optimistic: it has seen the test labels)"
    return {"name": MAJORITY_LABEL, "type": "reference", "reference": True, "llm": None,
            "description": f"reference: always answers {majority!r}, the most common label in the {where} set",
            "metrics": summarise(scores), "cost": {"seconds_per_query": 0.0}, "judge_repeat_means": {}}


def _label_warnings(run: StudyRun) -> list[str]:
    if run.label_source == "test":
        return ["The majority-label reference learned its label from the test set (the study has no classification "
                "training questions), so it is slightly optimistic."]
    return []


def write_results(results: dict, output_dir: Path) -> dict[str, Path]:
    """results.json (atomically) and questions.csv (one row per question × variant)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": output_dir / "results.json", "csv": output_dir / "questions.csv"}
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_without_nan(results), indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(paths["json"])
    metric_names = results["metric_order"]
    with open(paths["csv"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["qid", "task_type", "question", "gold", "variant", "answer", "sources", *metric_names])
        for row in results["questions"]:
            for variant, item in row["answers"].items():
                writer.writerow([row["qid"], row["task_type"], row["question"], " | ".join(row["golds"]), variant,
                                 item["answer"], " ".join(s["doc_id"] for s in item["sources"]),
                                 *[_fmt(item["scores"].get(m)) for m in metric_names]])
    return paths


# ---------------------------------------------------------------------------------------- helpers

def _question_rows(run: StudyRun, scores: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for i, question in enumerate(run.questions):
        answers = {}
        for variant in run.config.variants:
            record = run.records[variant.name][i]
            answers[variant.name] = {
                "answer": record["answer"], "scores": scores[variant.name][i], "latency_s": record["latency_s"],
                "sources": [{"rank": k + 1, "doc_id": s["doc_id"], "start": s["start"], "end": s["end"],
                             "text": s.get("text", "")} for k, s in enumerate(record["retrieved"])],
            }
        rows.append({"qid": question.qid, "question": question.question, "golds": question.answers,
                     "task_type": question.task_type, "evidence_doc_ids": question.evidence_doc_ids,
                     "answers": answers})
    return rows


def _describe(variant: VariantConfig, config: StudyConfig) -> str:
    if variant.type == "closed_book":
        return f"{config.models[variant.llm].model}, no retrieval"
    r = variant.retrieval
    chunker = variant.chunker or config.chunker
    retrieval = f"{r.mode} top-{r.top_k}, {chunker.kind} chunks {chunker.params or ''}".strip()
    if variant.type == "extractive":
        return f"no LLM: best-matching retrieved sentence ({retrieval})"
    return f"{config.models[variant.llm].model} + {retrieval}"


def _task_counts(run: StudyRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for question in run.questions:
        counts[question.task_type] = counts.get(question.task_type, 0) + 1
    return counts


def _dominant_task(run: StudyRun) -> str:
    counts = _task_counts(run)
    return max(counts, key=counts.get)


def _fmt(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _without_nan(value):
    """NaN (an undefined CI) becomes null: JSON has no NaN and browsers reject it."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(v) for v in value]
    return value
