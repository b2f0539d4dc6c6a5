"""The recommendation: the cheapest variant shown to be as good as the best — or "inconclusive".

Among the variants that meet the user's constraints and can give the task's kind of answer,
take the one with the highest primary metric (the leader). Every other eligible variant is
tested against it on the same questions, one Holm-corrected family ("decision: vs <leader>"):

* **worse** — significantly lower (paired bootstrap, two-sided);
* **as good** — non-inferior within the margin (one-sided bootstrap test that the difference
  is above −margin), even if slightly lower;
* **undecided** — neither: these questions cannot tell.

The recommendation is the cheapest of the leader and the "as good" variants (costs within 10% of
each other count as equal, and then the better one is taken). When a clearly *cheaper* variant
is undecided, the study cannot say whether the extra cost buys anything: the verdict is
"inconclusive" with the number of questions that would likely decide it (from the observed
spread of the differences), never "cheapest wins" by default. Every step is returned as a
sentence, so the report shows why, not just what.
"""

from __future__ import annotations

from ragft.metrics.power import questions_to_decide
from ragft.study.scoring import LABELS, paired_values
from ragft.metrics.stats import holm_bonferroni, non_inferiority, paired_bootstrap

# Absolute margins on the 0–1 scale within which two variants count as equally good. Semantic
# similarity of embeddings is compressed near its mean, so its margin is smaller.
DEFAULT_MARGIN = 0.05
METRIC_MARGINS = {"semantic_similarity": 0.02}
# Monthly costs within this share of each other count as the same price: seconds per query
# measured twice on one machine differ by this much, so a smaller gap is no reason to prefer one.
COST_TOLERANCE = 0.10


def default_margin(metric: str) -> float:
    return METRIC_MARGINS.get(metric, DEFAULT_MARGIN)


def recommend(variants: list[dict], scores: dict[str, list[dict]], primary: str, constraints: dict,
              margin: float | None = None, alpha: float = 0.05, power: float = 0.8,
              cost_tolerance: float = COST_TOLERANCE) -> dict:
    label = LABELS.get(primary, primary)
    margin = default_margin(primary) if margin is None else margin
    reasoning, eligible = [], []
    for variant in variants:
        problems = _eligibility_problems(variant, primary, constraints)
        if problems:
            reasoning.append(f"{variant['name']} is excluded: {'; '.join(problems)}.")
        else:
            eligible.append(variant)
    base = {"constraints": constraints, "primary_metric": primary, "margin": margin, "alpha": alpha, "power": power}
    if not eligible:
        # The headline comes first in every outcome: the report and the console show reasoning[0].
        reasoning.insert(0, "No recommendation: no variant meets the constraints and can give the task's answer; "
                            "relax the constraints or add variants.")
        return {**base, "status": "none", "variant": None, "leader": None, "reasoning": reasoning,
                "tied_with_best": [], "tests": [], "questions_needed": None}

    leader = max(eligible, key=lambda v: (_mean(v, primary), -_monthly(v)))
    family = f"decision: vs {leader['name']} · {label}"
    reasoning.append(f"{leader['name']} has the highest {label} among eligible variants: {_mean(leader, primary):.3f}"
                     f" {_ci(leader, primary)}.")
    tests = _decision_tests(leader, eligible, scores, primary, margin, alpha, power, family)
    by_name = {v["name"]: v for v in eligible}
    for test in tests:
        reasoning.append(_test_sentence(test, by_name[test["variant"]], primary, margin))
    as_good = [leader] + [by_name[t["variant"]] for t in tests if t["verdict"] == "as_good"]
    cheapest = min(_monthly(v) for v in as_good)
    # Among the as-good variants that cost about the least, the best; "about": within the tolerance.
    chosen = max((v for v in as_good if _monthly(v) <= cheapest * (1 + cost_tolerance)),
                 key=lambda v: (_mean(v, primary), -_monthly(v)))
    cheaper_undecided = [t for t in tests if t["verdict"] == "undecided"
                         and _monthly(by_name[t["variant"]]) < _monthly(chosen) * (1 - cost_tolerance)]
    result = {**base, "family": family, "leader": chosen["name"], "tests": tests,
              "tied_with_best": [v["name"] for v in as_good], "n_questions": _n_questions(scores, leader, primary)}
    if cheaper_undecided:
        needed = [t["questions_needed"] for t in cheaper_undecided]
        result["questions_needed"] = max(needed) if all(n is not None for n in needed) else None
        reasoning.insert(0, _inconclusive_headline(chosen, cheaper_undecided, result, label, margin))
        return {**result, "status": "inconclusive", "variant": None, "reasoning": reasoning}
    below = _below_references(chosen, variants, scores, primary, alpha)
    if any(significant for significant, _ in below):
        sentence = next(sentence for significant, sentence in below if significant)
        reasoning.insert(0, f"No recommendation: {sentence} — no variant here does better than that trivial answer.")
        return {**result, "status": "none", "variant": None, "questions_needed": None, "reasoning": reasoning}
    reasoning.insert(0, _headline(chosen, leader, as_good, eligible, tests, label, margin, cost_tolerance))
    for _, sentence in below:
        reasoning.insert(1, f"Caution: {sentence}.")
    if chosen.get("limitation"):
        reasoning.insert(1, f"Note: {chosen['name']} {chosen['limitation']}.")
    return {**result, "status": "recommended", "variant": chosen["name"], "questions_needed": None,
            "reasoning": reasoning}


def _below_references(chosen: dict, variants: list[dict], scores: dict[str, list[dict]], primary: str,
                      alpha: float) -> list[tuple[bool, str]]:
    """Trivial references (the majority label) that score above the chosen variant: (significantly
    above?, sentence). A pipeline worse than a constant answer is no recommendation."""
    found = []
    for reference in (v for v in variants if v.get("reference") and primary in v.get("metrics", {})):
        ours, theirs = paired_values(scores.get(chosen["name"], []), scores.get(reference["name"], []), primary)
        if len(ours) < 2 or _mean(reference, primary) <= _mean(chosen, primary):
            continue
        comparison = paired_bootstrap(ours, theirs, names=(chosen["name"], reference["name"]), alpha=alpha)
        found.append((comparison.significant,
                      f"{chosen['name']} scores below the {reference['name']} reference on {LABELS.get(primary, primary)} "
                      f"({_mean(chosen, primary):.3f} vs {_mean(reference, primary):.3f}, p={comparison.p_value:.3f})"))
    return found


def _decision_tests(leader: dict, eligible: list[dict], scores: dict[str, list[dict]], primary: str,
                    margin: float, alpha: float, power: float, family: str) -> list[dict]:
    """Each other eligible variant against the leader: difference, and the two Holm-corrected tests."""
    rows = []
    for other in eligible:
        if other is leader:
            continue
        lead, cand = paired_values(scores[leader["name"]], scores[other["name"]], primary)
        if len(lead) < 2:
            continue
        comparison = paired_bootstrap(lead, cand, names=(leader["name"], other["name"]), alpha=alpha)
        rows.append({"variant": other["name"], "vs": leader["name"], "metric": primary, "family": family,
                     "n": len(lead), "difference": comparison.difference, "low": comparison.low,
                     "high": comparison.high, "p_different": comparison.p_value,
                     "p_as_good": non_inferiority(lead, cand, margin),
                     "_differences": [c - a for a, c in zip(lead, cand)]})
    for key in ("p_different", "p_as_good"):  # one family, Holm-corrected like the report's comparisons
        for row, adjusted in zip(rows, holm_bonferroni([r[key] for r in rows])):
            row[key] = adjusted
    for row in rows:
        differences = row.pop("_differences")
        row["family_size"] = len(rows)
        if row["p_as_good"] < alpha:
            row["verdict"] = "as_good"
        elif row["p_different"] < alpha and row["difference"] < 0:
            row["verdict"] = "worse"
        else:
            row["verdict"] = "undecided"
        row["questions_needed"] = (questions_to_decide(differences, margin, alpha / max(len(rows), 1), power)
                                   if row["verdict"] == "undecided" else None)
    return rows


def _test_sentence(test: dict, variant: dict, primary: str, margin: float) -> str:
    mean = _mean(variant, primary)
    ci = f"difference {test['difference']:+.3f}" + (
        f" (95% CI {test['low']:+.3f} to {test['high']:+.3f})" if test.get("low") is not None else "")
    if test["verdict"] == "as_good":
        return (f"{variant['name']} is as good within ±{margin:g} ({mean:.3f}; {ci}; non-inferiority "
                f"p={test['p_as_good']:.3f}, {test['family']}).")
    if test["verdict"] == "worse":
        return (f"{variant['name']} is significantly worse ({mean:.3f}; {ci}; p={test['p_different']:.3f}, "
                f"{test['family']}).")
    needed = test.get("questions_needed")
    more = f"about {needed} questions would likely decide it" if needed else "more questions may not decide it"
    return (f"{variant['name']} is undecided ({mean:.3f}; {ci}): neither shown as good within ±{margin:g} "
            f"(p={test['p_as_good']:.3f}) nor worse (p={test['p_different']:.3f}) — {more}.")


def _headline(chosen: dict, leader: dict, as_good: list[dict], eligible: list[dict], tests: list[dict], label: str,
              margin: float, tolerance: float) -> str:
    price = _price(chosen)
    if len(eligible) == 1:
        return f"{chosen['name']} is recommended: it is the only eligible variant, at {price}."
    if chosen is not leader:
        return (f"{chosen['name']} is recommended: it is the cheapest of the {len(as_good)} variants shown to be as "
                f"good as the best ({leader['name']}) on {label} within ±{margin:g}, at {price}.")
    own = _monthly(chosen)
    by_name = {v["name"]: v for v in eligible}
    undecided = [by_name[t["variant"]] for t in tests if t["verdict"] == "undecided"]
    near = [v["name"] for v in undecided if abs(_monthly(v) - own) <= own * tolerance]
    dearer = [v["name"] for v in undecided if _monthly(v) > own * (1 + tolerance)]
    clearly_cheaper = any(_monthly(v) < own * (1 - tolerance) for v in eligible)
    parts = [f"it has the best {label}"]
    parts.append("every clearly cheaper variant is significantly worse" if clearly_cheaper
                 else "no eligible variant is clearly cheaper")
    others = [v["name"] for v in as_good if v is not chosen]
    if others:
        parts.append(f"{_names(others, 'is', 'are')} as good within ±{margin:g} but {_verb(others, 'costs', 'cost')} "
                     "about the same or more")
    if near:
        parts.append(f"{_names(near, 'costs', 'cost')} about the same (within {tolerance:.0%}) and cannot be told "
                     "apart from it with these questions")
    if dearer:
        parts.append(f"{', '.join(dearer)} cannot be told apart from it with these questions but "
                     f"{_verb(dearer, 'costs', 'cost')} more, so no evidence says paying more buys anything")
    return f"{chosen['name']} is recommended: {'; '.join(parts)} — at {price}."


def _verb(names: list[str], singular: str, plural: str) -> str:
    return singular if len(names) == 1 else plural


def _names(names: list[str], singular: str, plural: str) -> str:
    return f"{', '.join(names)} {_verb(names, singular, plural)}"


def _inconclusive_headline(chosen: dict, undecided: list[dict], result: dict, label: str, margin: float) -> str:
    names = ", ".join(t["variant"] for t in undecided)
    needed = result.get("questions_needed")
    have = result.get("n_questions")
    size = (f"about {needed} questions needed (this study has {have})" if needed
            else f"more questions than this study's {have} are needed, or a wider margin")
    return (f"Inconclusive — {size}: {chosen['name']} leads on {label}, but cheaper {names} can neither be shown "
            f"as good within ±{margin:g} nor worse.")


def _eligibility_problems(variant: dict, primary: str, constraints: dict) -> list[str]:
    problems = []
    if variant.get("reference"):
        problems.append("it is a reference, not a deployable pipeline")
    if variant.get("cannot_answer"):
        problems.append(variant["cannot_answer"])
    if primary not in variant["metrics"]:
        problems.append(f"it has no {LABELS.get(primary, primary)} score")
    quality, cost = _mean(variant, primary), variant["cost"]
    if constraints.get("min_quality") is not None and quality < constraints["min_quality"]:
        problems.append(f"{LABELS.get(primary, primary)} {quality:.3f} < minimum {constraints['min_quality']}")
    if constraints.get("max_latency_s") is not None and cost.get("seconds_per_query", 0) > constraints["max_latency_s"]:
        problems.append(f"{cost['seconds_per_query']:.2f} s per query > maximum {constraints['max_latency_s']} s")
    if constraints.get("max_monthly_cost") is not None and _monthly(variant) > constraints["max_monthly_cost"]:
        problems.append(f"${_monthly(variant):,.2f} a month > budget ${constraints['max_monthly_cost']:,.2f}")
    return problems


def _n_questions(scores: dict[str, list[dict]], leader: dict, primary: str) -> int:
    return sum(1 for s in scores[leader["name"]] if primary in s)


def _price(variant: dict) -> str:
    per_1k = variant["cost"].get("per_1k_queries")
    return f"${_monthly(variant):,.2f} a month" + (f" (${per_1k:,.4f} per 1,000 queries)" if per_1k else "")


def _monthly(variant: dict) -> float:
    return variant.get("cost", {}).get("monthly") or 0.0


def _mean(variant: dict, metric: str) -> float:
    return variant["metrics"].get(metric, {}).get("mean", float("-inf"))


def _ci(variant: dict, metric: str) -> str:
    item = variant["metrics"].get(metric, {})
    low, high = item.get("low"), item.get("high")
    return f"(95% CI {low:.3f}–{high:.3f})" if low is not None and high is not None and low == low else ""
