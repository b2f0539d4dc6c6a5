"""A study variant's cost and return: measured use, modelled dollars, ROI and what drives the ranking.

Use is measured by the study (seconds and tokens per query, index and training time); prices,
traffic and what an answer is worth are the config's ``cost:`` assumptions. Seconds per query
come from batches timed on a quiet machine (``ragft.study.timing``), so a busy machine does not
change a variant's dollars; when no batch was quiet the variant is flagged. The return side reads
the primary metric's mean as the share of right answers: each is worth ``value_per_correct_usd``,
each wrong one costs ``cost_per_wrong_usd``.
"""

from __future__ import annotations

from ragft.study import cost as costs
from ragft.study.study import StudyRun
from ragft.study.study_config import StudyConfig, VariantConfig
from ragft.study.timing import robust_seconds_per_query
from ragft.rag.variant import RETRIEVING_TYPES

COMPONENTS = {"serving": "serving compute", "api": "API tokens", "retrieval": "retrieval hosting",
              "storage": "model storage", "training": "training"}


def measured_cost(variant: VariantConfig, run: StudyRun) -> dict:
    records = run.records[variant.name]
    n = max(len(records), 1)
    step_indexing = _step_indexing_seconds(records)
    timing = robust_seconds_per_query(records)
    return {
        "seconds_per_query": timing["seconds_per_query"],
        "cpu_seconds_per_query": timing["cpu_seconds_per_query"],
        "timing": {"method": timing["method"], "busy_share": timing["busy_share"]},
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
            queries_per_month=a.queries_per_month, seconds_per_query=measured.get("seconds_per_query", 0.0),
            input_tokens_per_query=measured.get("prompt_tokens_per_query", 0.0),
            output_tokens_per_query=measured.get("completion_tokens_per_query", 0.0),
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


def add_modelled_costs(variants: list[dict], config: StudyConfig, primary: str) -> None:
    """Dollars (per 1k queries, monthly, total, by component) and the return side, in place."""
    a = config.cost
    for variant in variants:
        if variant["type"] == "reference":
            continue  # a trivial reference (the majority label) is not a deployment
        model = cost_variant(variant, config)
        report = costs.cost_report(model, months=a.months)
        share = _share_correct(variant, primary)
        monthly_return = None if share is None else a.queries_per_month * (
            share * a.value_per_correct_usd - (1 - share) * a.cost_per_wrong_usd)
        net = None if monthly_return is None else monthly_return - report.average_per_month
        variant["cost"].update({
            "per_1k_queries": report.per_1k_queries, "monthly": report.average_per_month,
            "total": report.total, "months": report.months, "cumulative": report.cumulative,
            "breakdown": costs.monthly_breakdown(model, a.months),
            "return_per_month": monthly_return, "net_per_month": net,
            "roi": net / report.average_per_month if net is not None and report.average_per_month > 0 else None,
            "cumulative_net": None if monthly_return is None else
            [monthly_return * (m + 1) - spent for m, spent in enumerate(report.cumulative)],
        })


def _share_correct(variant: dict, primary: str) -> float | None:
    mean = (variant.get("metrics") or {}).get(primary, {}).get("mean")
    return None if mean is None else min(1.0, max(0.0, float(mean)))


def break_evens(variants: list[dict], config: StudyConfig) -> list[dict]:
    """Month by whose end one variant's cumulative *net value* (return − cost) overtakes another's —
    e.g. when a fine-tune's better answers have paid for its training."""
    rows = []
    priced = [v for v in variants if v["cost"].get("cumulative_net")]
    for i, a in enumerate(priced):
        for b in priced[i + 1:]:
            month = costs.crossing_month(a["cost"]["cumulative_net"], b["cost"]["cumulative_net"])
            if month:
                rows.append({"a": a["name"], "b": b["name"], "month": month, "on": "net value"})
    return rows


def cost_drivers(chosen: str | None, variants: list[dict], config: StudyConfig) -> list[str]:
    """Sentences naming the cost component that separates the chosen variant from each alternative,
    and saying when it is an assumption rather than a measurement."""
    by_name = {v["name"]: v for v in variants if v["cost"].get("breakdown")}
    if chosen not in by_name:
        return []
    mine = by_name[chosen]["cost"]["breakdown"]
    sentences = []
    for name, other in by_name.items():
        if name == chosen:
            continue
        theirs = other["cost"]["breakdown"]
        component = max(COMPONENTS, key=lambda c: abs(theirs.get(c, 0.0) - mine.get(c, 0.0)))
        gap = theirs.get(component, 0.0) - mine.get(component, 0.0)
        if abs(gap) < 0.005:
            continue
        total_gap = other["cost"]["monthly"] - by_name[chosen]["cost"]["monthly"]
        more_or_less = "more" if total_gap >= 0 else "less"
        sentences.append(f"{name} costs ${abs(total_gap):,.2f} a month {more_or_less} than {chosen}; "
                         f"{COMPONENTS[component]} makes ${gap:+,.2f} of it{_assumption(component, config)}.")
    return sentences


def _assumption(component: str, config: StudyConfig) -> str:
    a = config.cost
    if component == "retrieval":
        return f" — an assumption: ${a.retrieval_usd_per_hour:g}/h billed around the clock (cost.retrieval_usd_per_hour)"
    if component == "serving" and a.always_on:
        return f" — an assumption: ${a.hardware_usd_per_hour:g}/h billed around the clock (cost.always_on)"
    if component == "serving":
        return f" (measured seconds per query × ${a.hardware_usd_per_hour:g}/h × {a.queries_per_month:,.0f} queries)"
    if component == "training":
        return f" (measured training time, {a.retrains_per_year} run(s) a year)"
    return ""


def timing_warnings(variants: list[dict]) -> list[str]:
    """One line per variant whose answers were timed on a busy machine."""
    warnings = []
    for variant in variants:
        timing = variant.get("cost", {}).get("timing") or {}
        share = timing.get("busy_share")
        if share and share > 0.25:
            warnings.append(f"{variant['name']}: {share:.0%} of its answers were timed while other processes kept the "
                            f"machine busy ({timing['method']}); its seconds and dollars per query may be inflated — "
                            "re-time it on an idle machine (delete its records/ file and re-run).")
    return warnings
