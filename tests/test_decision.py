"""The verdict: non-inferiority within a margin, "inconclusive" with the questions needed, power,
several baselines as named Holm families, and the trivial references."""

from __future__ import annotations

import numpy as np
import pytest

from ragft.metrics import power
from ragft.study.baselines import MAJORITY_LABEL, default_baselines, missing_references
from ragft.study.plan import make_plan
from ragft.study.recommend import recommend
from ragft.study.scoring import compare_to_baselines
from ragft.metrics.stats import non_inferiority, paired_bootstrap
from ragft.study.study_config import StudyConfig
from ragft.study.timing import robust_seconds_per_query


def _variant(name: str, scores: list[float], monthly: float, **extra) -> dict:
    return {"name": name, "type": "rag", "metrics": {"token_f1": {"mean": float(np.mean(scores))}},
            "cost": {"monthly": monthly, "seconds_per_query": 1.0}, **extra}


def _study(columns: dict[str, list[float]], prices: dict[str, float], **variant_extra):
    variants = [_variant(name, values, prices[name], **variant_extra.get(name, {})) for name, values in columns.items()]
    scores = {name: [{"token_f1": v} for v in values] for name, values in columns.items()}
    return variants, scores


def _draws(mean: float, n: int, seed: int, spread: float = 0.25) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(np.clip(rng.normal(mean, spread, n), 0, 1))


def test_non_inferiority_needs_evidence_not_absence_of_difference():
    rng = np.random.default_rng(0)
    reference = rng.random(400)
    same = reference + rng.normal(0, 0.3, 400)  # as good on average; per-question noise as in real studies
    assert non_inferiority(reference, same, margin=0.05) < 0.01  # equal, many questions: shown as good
    few = non_inferiority(reference[:12], same[:12], margin=0.05)
    assert few > 0.05  # equal, a dozen questions: not shown — and not "significantly worse" either
    assert not paired_bootstrap(reference[:12], same[:12]).significant
    assert non_inferiority(reference, reference - 0.2, margin=0.05) > 0.5  # clearly worse
    assert non_inferiority([0.5, 0.5], [0.5, 0.5], margin=0.05) == 0.0  # constant, within the margin


def test_few_questions_give_an_inconclusive_verdict_with_the_questions_needed():
    # The cheap variant is truly worse by 0.15, but 12 questions cannot show it, nor equivalence.
    columns = {"dear": _draws(0.45, 12, 3), "cheap": _draws(0.30, 12, 4)}
    variants, scores = _study(columns, {"dear": 20.0, "cheap": 1.0})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["status"] == "inconclusive" and verdict["variant"] is None
    assert verdict["leader"] == "dear"
    assert verdict["questions_needed"] and verdict["questions_needed"] > 12
    assert verdict["reasoning"][0].startswith(f"Inconclusive — about {verdict['questions_needed']} questions needed")
    (test,) = verdict["tests"]
    assert test["verdict"] == "undecided" and test["family"] == "decision: vs dear · token F1"


def test_enough_questions_recommend_the_cheapest_variant_that_is_truly_as_good():
    rng = np.random.default_rng(3)
    base = rng.random(600)
    columns = {"best": list(base), "equal-cheap": list(np.clip(base + rng.normal(0, 0.08, 600), 0, 1)),
               "bad-cheapest": list(np.clip(base - 0.3, 0, 1))}
    variants, scores = _study(columns, {"best": 30.0, "equal-cheap": 5.0, "bad-cheapest": 0.5})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["status"] == "recommended" and verdict["variant"] == "equal-cheap"
    verdicts = {t["variant"]: t["verdict"] for t in verdict["tests"]}
    assert verdicts["bad-cheapest"] == "worse" and "as_good" in verdicts.values()  # best and equal-cheap: as good


def test_a_truly_better_dear_variant_wins_when_the_cheap_one_is_shown_worse():
    columns = {"better": _draws(0.6, 300, 4), "cheap": _draws(0.3, 300, 5)}
    variants, scores = _study(columns, {"better": 50.0, "cheap": 1.0})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["status"] == "recommended" and verdict["variant"] == "better"
    assert "every clearly cheaper variant is significantly worse" in verdict["reasoning"][0]


def test_references_and_variants_that_cannot_answer_are_never_recommended():
    columns = {"majority": [0.3] * 40, "extractive": [0.9] * 40, "rag": _draws(0.5, 40, 6)}
    variants, scores = _study(columns, {"majority": 0.0, "extractive": 0.1, "rag": 3.0},
                              majority={"reference": True}, extractive={"cannot_answer": "it cannot give a label"})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["variant"] == "rag" and verdict["status"] == "recommended"
    assert any("majority is excluded: it is a reference" in r for r in verdict["reasoning"])
    assert any("extractive is excluded: it cannot give a label" in r for r in verdict["reasoning"])


def test_power_estimates_shrink_with_larger_differences_and_agree_with_a_textbook_value():
    # Paired t-test, d = 0.5, two-sided α 0.05, power 0.8: 34 pairs (Cohen's tables).
    assert power.questions_to_detect(sd=1.0, difference=0.5) == 34
    assert power.questions_to_detect(0.3, 0.05) > power.questions_to_detect(0.3, 0.10) > power.questions_to_detect(0.3, 0.2)
    assert power.questions_to_detect(0.3, 0.0) is None
    assert power.questions_for_non_inferiority(0.3, difference=-0.1, margin=0.05) is None  # beyond the margin
    assert power.questions_to_decide([0.0, 0.1, -0.1, 0.05, -0.05], margin=0.05) > 5


def test_plan_assumes_a_spread_without_a_run_and_names_its_source(tmp_path):
    plan = make_plan("token_f1", n_questions=65, n_variants=4, run_dir=tmp_path)
    assert plan.sd == 0.35 and "assumed" in plan.sd_source and plan.comparisons == 3
    needed = dict(plan.rows)
    assert needed[0.05] > needed[0.10] > 65 > needed[0.20]
    assert needed[0.15] <= 65 and plan.smallest_detectable() == 0.15
    binary = make_plan("label_accuracy", 30, 2, None)
    assert binary.sd == 0.6 and binary.non_inferiority > 30


def test_each_baseline_is_its_own_named_holm_family():
    rng = np.random.default_rng(7)
    scores = {name: [{"token_f1": float(v)} for v in rng.random(30)] for name in ("cb", "naive", "x", "y")}
    rows = compare_to_baselines(scores, ["cb", "naive"], ["token_f1"])
    families = {r["family"] for r in rows}
    assert families == {"vs cb · token F1", "vs naive · token F1"}
    assert all(r["family_size"] == 3 for r in rows)
    raw = paired_bootstrap([s["token_f1"] for s in scores["cb"]], [s["token_f1"] for s in scores["x"]],
                           n_resamples=5000, names=("cb", "x")).p_value
    vs_cb_x = next(r for r in rows if r["baseline"] == "cb" and r["variant"] == "x")
    assert vs_cb_x["p_value"] >= raw  # Holm never lowers a p-value


def _config(variants: list[dict], **extra) -> StudyConfig:
    return StudyConfig(name="t", corpus="docs", test={"kind": "qa_file", "path": "q.jsonl"},
                       models={"small": {"model": "builtin:smollm2-135m"}}, variants=variants, **extra)


def test_default_baselines_are_closed_book_and_naive_rag_and_missing_references_are_added():
    config = _config([{"name": "hyde", "type": "rag", "llm": "small", "pipeline": [{"name": "hyde"}, {"name": "generate"}]},
                      {"name": "naive", "type": "rag", "llm": "small"}])
    assert default_baselines(config) == ["naive"]
    added = missing_references(config)
    assert [(v.name, v.type) for v in added] == [("closed-book", "closed_book"), ("extractive", "extractive")]
    config.variants.extend(added)
    assert default_baselines(config, has_classification=True) == ["closed-book", "naive", MAJORITY_LABEL]
    assert missing_references(config) == []
    assert missing_references(_config([{"name": "cb", "type": "closed_book", "llm": "small"}],
                                      add_references=False)) == []
    pinned = _config([{"name": "a", "type": "closed_book", "llm": "small"}, {"name": "b", "type": "rag", "llm": "small"}],
                     baselines=["b"])
    assert default_baselines(pinned) == ["b"]


def test_cost_is_priced_from_quiet_batches_and_busy_ones_are_flagged():
    quiet = [{"latency_s": 1.0, "batch_id": f"q{i}", "others_cores": 0.1, "cpu_s": 1.0} for i in range(4)]
    busy = [{"latency_s": 9.0, "batch_id": f"b{i}", "others_cores": 1.8, "cpu_s": 2.0} for i in range(2)]
    timing = robust_seconds_per_query(quiet + busy)
    assert timing["seconds_per_query"] == pytest.approx(1.0) and timing["busy_share"] == pytest.approx(1 / 3)
    assert timing["method"] == "median of 4 quiet batches" and timing["cpu_seconds_per_query"] == pytest.approx(1.0)
    all_busy = robust_seconds_per_query(busy)
    assert all_busy["seconds_per_query"] == pytest.approx(9.0) and all_busy["method"] == "mean of busy batches"
    legacy = robust_seconds_per_query([{"latency_s": 2.0}, {"latency_s": 4.0}])  # records before batch timing
    assert legacy["seconds_per_query"] == pytest.approx(3.0) and legacy["method"] == "mean"


def test_a_pipeline_significantly_below_the_majority_label_is_not_recommended():
    truth = [1.0] * 30 + [0.0] * 10  # the majority label is right 3 times in 4
    rag = [1.0, 0.0] * 20  # right half the time
    variants, scores = _study({"majority-label": truth, "rag": rag}, {"majority-label": 0.0, "rag": 3.0},
                              **{"majority-label": {"reference": True}})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["status"] == "none" and verdict["variant"] is None
    assert verdict["reasoning"][0].startswith("No recommendation: rag scores below the majority-label reference")
    import io

    from rich.console import Console

    from ragft.study.summary import print_summary

    out = io.StringIO()
    print_summary({"variants": variants, "recommendation": verdict, "primary_metric": "token_f1"},
                  Console(file=out, width=120))
    assert "No recommendation: rag scores below the majority-label reference" in out.getvalue()
    close = [1.0, 0.0] * 15 + [1.0] * 9 + [0.0]  # 0.6 vs 0.75 on 40 questions: below, not significantly
    variants, scores = _study({"majority-label": truth, "rag": close}, {"majority-label": 0.0, "rag": 3.0},
                              **{"majority-label": {"reference": True}})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["status"] == "recommended" and verdict["reasoning"][1].startswith("Caution: rag scores below")


def test_cost_drivers_name_the_component_and_say_when_it_is_an_assumption():
    from ragft.study.study_cost import add_modelled_costs, cost_drivers

    config = _config([{"name": "cb", "type": "closed_book", "llm": "small"}, {"name": "rag", "type": "rag", "llm": "small"}],
                     cost={"hardware_usd_per_hour": 1.0, "retrieval_usd_per_hour": 0.10, "queries_per_month": 1000})
    variants = [{"name": "cb", "type": "closed_book", "metrics": {"token_f1": {"mean": 0.2}},
                 "cost": {"seconds_per_query": 1.0, "prompt_tokens_per_query": 40, "completion_tokens_per_query": 20}},
                {"name": "rag", "type": "rag", "metrics": {"token_f1": {"mean": 0.4}},
                 "cost": {"seconds_per_query": 1.2, "prompt_tokens_per_query": 900, "completion_tokens_per_query": 20}}]
    add_modelled_costs(variants, config, "token_f1")
    rag = variants[1]["cost"]
    assert rag["breakdown"]["retrieval"] == pytest.approx(74.40) and rag["breakdown"]["serving"] == pytest.approx(1000 * 1.2 / 3600)
    assert rag["return_per_month"] == pytest.approx(1000 * 0.4 * 0.10)  # the default value of a right answer
    (sentence,) = cost_drivers("cb", variants, config)
    assert sentence.startswith("rag costs $74.46 a month more than cb; retrieval hosting makes $+74.40 of it")
    assert "an assumption: $0.1/h billed around the clock" in sentence


def test_costs_within_the_tolerance_count_as_the_same_price():
    # The cheaper variant is undecided but only 5% cheaper: timing noise, not a reason to hesitate.
    columns = {"dear": _draws(0.45, 12, 3), "cheap": _draws(0.30, 12, 4)}
    variants, scores = _study(columns, {"dear": 1.05, "cheap": 1.0})
    verdict = recommend(variants, scores, "token_f1", {})
    assert verdict["status"] == "recommended" and verdict["variant"] == "dear"
    assert "cheap costs about the same (within 10%) and cannot be told apart" in verdict["reasoning"][0]
    assert recommend(variants, scores, "token_f1", {}, cost_tolerance=0.0)["status"] == "inconclusive"


def test_baselines_and_references_run_the_base_model_not_a_fine_tuned_one():
    config = _config([{"name": "sft-cb", "type": "closed_book", "llm": "sft"},
                      {"name": "sft-rag", "type": "rag", "llm": "sft"}],
                     finetune={"sft": {"from_model": "small"}})
    (reference, _) = missing_references(config)
    assert (reference.name, reference.type, reference.llm) == ("closed-book", "closed_book", "small")
    config.variants.append(reference)
    assert default_baselines(config) == ["closed-book"]
