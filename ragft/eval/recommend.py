"""The recommendation: the cheapest variant that is as good as the best, within constraints.

"Best quality per dollar" is read statistically: among the variants that meet the user's
constraints, find the one with the highest primary metric; every variant whose difference
from it is *not* significant (paired bootstrap, Holm-adjusted p ≥ 0.05) is as good as far as
the data can tell; of those, recommend the one with the lowest monthly cost. Every step of the
reasoning is returned as a sentence, so the report shows why, not just what.
"""

from __future__ import annotations

from ragft.eval.scoring import LABELS
from ragft.eval.stats import holm_correct, paired_bootstrap


def recommend(variants: list[dict], scores: dict[str, list[dict]], primary: str, constraints: dict) -> dict:
    label = LABELS.get(primary, primary)
    reasoning, eligible = [], []
    for variant in variants:
        problems = _constraint_problems(variant, primary, constraints)
        if problems:
            reasoning.append(f"{variant['name']} is excluded: {'; '.join(problems)}.")
        else:
            eligible.append(variant)
    if not eligible:
        reasoning.append("No variant meets all constraints; relax them or add variants.")
        return {"variant": None, "reasoning": reasoning, "tied_with_best": [], "constraints": constraints}

    best = max(eligible, key=lambda v: _mean(v, primary))
    reasoning.append(f"{best['name']} has the highest {label} among eligible variants: {_mean(best, primary):.3f}"
                     f" {_ci(best, primary)}.")
    tied = [best]
    for other, comparison in _compare_with_best(best, eligible, scores, primary):
        if comparison.significant:
            reasoning.append(f"{other['name']} is significantly worse ({_mean(other, primary):.3f}; "
                             f"{comparison.describe()}).")
        else:
            tied.append(other)
            reasoning.append(f"{other['name']} is not significantly worse ({_mean(other, primary):.3f}, "
                             f"Holm-adjusted p={comparison.p_value:.3f}): statistically as good with these questions.")
    chosen = min(tied, key=lambda v: (v["cost"].get("monthly") or 0.0, -_mean(v, primary)))
    monthly = chosen["cost"].get("monthly") or 0.0
    per_1k = chosen["cost"].get("per_1k_queries")
    price = f"${monthly:,.2f} a month" + (f" (${per_1k:,.4f} per 1,000 queries)" if per_1k else "")
    if len(tied) > 1:
        headline = (f"{chosen['name']} is recommended: it is the cheapest of the {len(tied)} variants that are "
                    f"statistically as good as the best on {label}, at {price}.")
    elif len(eligible) == 1:
        headline = f"{chosen['name']} is recommended: it is the only variant meeting the constraints, at {price}."
    else:
        headline = f"{chosen['name']} is recommended: it is significantly better than the rest on {label}, at {price}."
    reasoning.insert(0, headline)
    return {"variant": chosen["name"], "reasoning": reasoning, "tied_with_best": [v["name"] for v in tied],
            "constraints": constraints, "primary_metric": primary}


def _compare_with_best(best: dict, eligible: list[dict], scores: dict[str, list[dict]], primary: str):
    """(variant, comparison with the best) for every other eligible variant, Holm-corrected
    across them — as the report's comparisons are, so the two never disagree."""
    others, comparisons = [], []
    for other in eligible:
        if other is best:
            continue
        pairs = [(a[primary], b[primary]) for a, b in zip(scores[best["name"]], scores[other["name"]])
                 if primary in a and primary in b]
        if len(pairs) < 2:
            continue
        a, b = zip(*pairs)
        others.append(other)
        comparisons.append(paired_bootstrap(a, b, names=(best["name"], other["name"])))
    return list(zip(others, holm_correct(comparisons)))


def _constraint_problems(variant: dict, primary: str, constraints: dict) -> list[str]:
    problems = []
    quality, cost = _mean(variant, primary), variant["cost"]
    if constraints.get("min_quality") is not None and quality < constraints["min_quality"]:
        problems.append(f"{LABELS.get(primary, primary)} {quality:.3f} < minimum {constraints['min_quality']}")
    if constraints.get("max_latency_s") is not None and cost["seconds_per_query"] > constraints["max_latency_s"]:
        problems.append(f"{cost['seconds_per_query']:.2f} s per query > maximum {constraints['max_latency_s']} s")
    if constraints.get("max_monthly_cost") is not None and (cost.get("monthly") or 0) > constraints["max_monthly_cost"]:
        problems.append(f"${cost['monthly']:,.2f} a month > budget ${constraints['max_monthly_cost']:,.2f}")
    return problems


def _mean(variant: dict, metric: str) -> float:
    return variant["metrics"].get(metric, {}).get("mean", float("-inf"))


def _ci(variant: dict, metric: str) -> str:
    item = variant["metrics"].get(metric, {})
    low, high = item.get("low"), item.get("high")
    return f"(95% CI {low:.3f}–{high:.3f})" if low is not None and high is not None and low == low else ""
