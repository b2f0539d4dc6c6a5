"""Score a finished study run and write ``results.json`` and ``questions.csv``.

``results.json`` is the single source for the report and for anyone comparing runs::

    {"study": {...}, "primary_metric": "token_f1", "baseline": "closed-book",
     "metric_order": [...], "labels": {...},
     "variants": [{"name", "type", "description", "pipeline", "llm", "metrics": {m: {mean, low, high, n}},
                   "cost": {...measured and modelled...}}],
     "comparisons": [{"baseline", "variant", "metric", "difference", "low", "high", "p_value",
                      "significant", "text"}],
     "break_even": [{"a", "b", "month"}], "recommendation": {"variant", "reasoning": [...]},
     "knowledge_graphs": [{"fingerprint", "variants", "stats", "files", "nodes", "edges"}],
     "questions": [{"qid", "question", "golds", "task_type",
                    "answers": {variant: {"answer", "scores", "sources": [...]}}}]}
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from ragft import __version__
from ragft.eval import cost as costs
from ragft.eval.describe import describe_pipeline
from ragft.eval.graphs import export_knowledge_graphs
from ragft.eval.recommend import recommend
from ragft.eval.scoring import (
    LABELS, PRIMARY_BY_TASK, RETRIEVAL_METRICS, TUTORIAL_METRICS, compare_to_baseline, score_question, summarise,
)
from ragft.eval.study import StudyRun
from ragft.eval.study_config import StudyConfig, VariantConfig
from ragft.eval.variants import RETRIEVING_TYPES

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
    scores = {}
    for variant in config.variants:
        retrieves = variant.type in RETRIEVING_TYPES
        scores[variant.name] = [
            score_question(q, r, embed, run.evidence.get(q.qid, []), retrieves)
            for q, r in zip(run.questions, run.records[variant.name])
        ]
        for metric, per_question in (judge.scores.get(variant.name, {}) if judge else {}).items():
            for item, value in zip(scores[variant.name], per_question):
                if value is not None:
                    item[metric] = value
    primary = config.primary_metric or PRIMARY_BY_TASK.get(_dominant_task(run), "token_f1")
    baseline = config.baseline or config.variants[0].name
    present = {name for per_variant in scores.values() for s in per_variant for name in s}
    order = [m for m in DISPLAY_ORDER if m in present]

    variants = []
    for variant in config.variants:
        summary = summarise(scores[variant.name])
        pipeline = describe_pipeline(variant, config)
        variants.append({
            # The user's words win as the description; the generated line always says what ran.
            "name": variant.name, "type": variant.type, "description": variant.description or pipeline,
            "pipeline": pipeline,
            "llm": config.models[variant.llm].model if variant.type != "extractive" else None,
            "metrics": summary,
            "cost": _measured_cost(variant, run),
            # The judge's noise: the whole-set mean of each repeated judgement.
            "judge_repeat_means": judge.repeat_means.get(variant.name, {}) if judge else {},
        })
    _add_modelled_costs(variants, config)
    # Retrieval metrics are compared too: "does technique X find the evidence more often?" is a
    # question of its own, and its answer needs the same paired test as the answer scores.
    # Primary first, then the other answer metrics, then retrieval (a stable sort keeps the order).
    compared = [primary] + sorted((m for m in order if m != primary), key=lambda m: m in RETRIEVAL_METRICS)
    comparisons = compare_to_baseline(scores, baseline, compared)
    recommendation = recommend(variants, scores, primary, config.constraints.model_dump())
    return {
        "study": {"name": config.name, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "ragft_version": __version__,
                  "corpus": config.corpus, "n_questions": len(run.questions), "n_train": run.train_size,
                  "task_types": _task_counts(run), "config": config.model_dump(mode="json")},
        "primary_metric": primary, "baseline": baseline, "metric_order": order,
        "tutorial_metrics": list(TUTORIAL_METRICS), "labels": LABELS,
        "variants": variants, "comparisons": comparisons,
        "break_even": _break_evens(variants, config),
        # Side effect: writes <run>/graphs/*.graphml and *.json for the graphs the variants used.
        "knowledge_graphs": export_knowledge_graphs(run.records, run.output_dir),
        "recommendation": recommendation,
        "questions": _question_rows(run, scores),
    }


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


# ---------------------------------------------------------------------------------------- cost

def _measured_cost(variant: VariantConfig, run: StudyRun) -> dict:
    records = run.records[variant.name]
    n = max(len(records), 1)
    step_indexing = _step_indexing_seconds(records)
    return {
        "seconds_per_query": sum(r["latency_s"] for r in records) / n,
        "prompt_tokens_per_query": sum(r["prompt_tokens"] for r in records) / n,
        "completion_tokens_per_query": sum(r["completion_tokens"] for r in records) / n,
        "llm_calls_per_query": sum(r["llm_calls"] for r in records) / n,
        "index_build_seconds": run.index_seconds.get(variant.name, 0.0) + sum(step_indexing.values()),
        "index_steps_seconds": step_indexing,
        "training_seconds": run.training.get(variant.name, {}).get("seconds", 0.0),
        "training_tokens": run.training.get(variant.name, {}).get("tokens", 0.0),
    }


def _step_indexing_seconds(records: list[dict]) -> dict[str, float]:
    """What pipeline steps spent indexing the corpus once (hypothetical questions, a graph), from
    scratch — read from the traces they leave, so a fully cached run still reports the price."""
    seconds: dict[str, float] = {}
    for record in records:
        for step, trace in (record.get("trace") or {}).items():
            if not isinstance(trace, dict):
                continue
            cost = trace.get("index_cost") or {}
            build = trace.get("build") or {}
            spent = (float(cost.get("from_scratch_generate_seconds") or 0.0) + float(cost.get("embed_seconds") or 0.0)
                     + float(build.get("build_seconds") or 0.0))
            if spent:
                seconds[step] = max(seconds.get(step, 0.0), spent)
    return seconds


def cost_variant(variant: dict, config: StudyConfig) -> costs.Variant:
    """The cost model's view of a study variant: assumptions from the config, use as measured."""
    a, measured = config.cost, variant["cost"]
    retrieves = variant["type"] in RETRIEVING_TYPES
    return costs.Variant(
        name=variant["name"],
        serving=costs.Serving(
            hardware_usd_per_hour=a.hardware_usd_per_hour,
            hours_per_month=costs.HOURS_PER_MONTH if a.always_on else None,
            api_usd_per_1k_input_tokens=a.api_usd_per_1k_input_tokens,
            api_usd_per_1k_output_tokens=a.api_usd_per_1k_output_tokens,
        ),
        workload=costs.Workload(
            queries_per_month=a.queries_per_month, seconds_per_query=measured["seconds_per_query"],
            input_tokens_per_query=measured["prompt_tokens_per_query"],
            output_tokens_per_query=measured["completion_tokens_per_query"],
        ),
        retrieval_usd_per_hour=a.retrieval_usd_per_hour if retrieves else 0.0,
        **_training_cost(measured.get("training_seconds") or 0.0, a),
    )


def _training_cost(seconds: float, a) -> dict:
    """A fine-tuned variant pays its measured training time at the training rate, once a year
    (the initial run) or ``retrains_per_year`` times."""
    if not seconds:
        return {}
    rate = a.hardware_usd_per_hour if a.training_usd_per_hour is None else a.training_usd_per_hour
    return {"training": costs.Training(gpu_hours=seconds / 3600, gpu_usd_per_hour=rate),
            "retrains_per_year": a.retrains_per_year}


def _add_modelled_costs(variants: list[dict], config: StudyConfig) -> None:
    for variant in variants:
        report = costs.cost_report(cost_variant(variant, config), months=config.cost.months)
        variant["cost"].update({
            "per_1k_queries": report.per_1k_queries, "monthly": report.average_per_month,
            "total": report.total, "months": report.months, "cumulative": report.cumulative,
        })


def _break_evens(variants: list[dict], config: StudyConfig) -> list[dict]:
    rows = []
    for i, a in enumerate(variants):
        for b in variants[i + 1:]:
            month = costs.break_even(cost_variant(a, config), cost_variant(b, config), months=config.cost.months)
            if month:
                rows.append({"a": a["name"], "b": b["name"], "month": month})
    return rows


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
