"""The report's cost and break-even sections: measured use, modelled dollars, return and ROI.

Split from :mod:`ragft.study.report_sections` (same conventions: plain values for the template,
SVG from :mod:`ragft.study.plots` marked safe because we drew it). A reference variant (the
majority label) is not a deployment: its cost cells are "—" and it stays out of the plots.
"""

from __future__ import annotations

from markupsafe import Markup

from ragft.study import plots
from ragft.study.report import View, finite_number, fmt, int_or, money

COMPONENTS = (("serving", "serving"), ("api", "API"), ("retrieval", "retrieval"), ("storage", "storage"),
              ("training", "training"))
TIMING_METHODS = {"mean": "mean of every answer (no batch timing)", "none": "no answers timed"}


def cost(view: View) -> dict | None:
    if not view.variants:
        return None
    months = next((int(m) for m in (view.cost(v, "months") for v in view.variants) if m), 12)
    priced = [v for v in view.variants if not view.is_reference(v)]
    breakdown = any(isinstance((v.get("cost") or {}).get("breakdown"), dict) for v in priced)
    returns = any(view.cost(v, "return_per_month") is not None for v in priced)
    measured, modelled = [], []
    for v, name in zip(view.variants, view.names):
        tags = view.tags(name)
        if view.is_reference(v):
            measured.append({"variant": tags, "cells": [("—", "")] * 7})
            modelled.append({"variant": tags, "cells": ["—"] * (3 + 5 * breakdown + 3 * returns)})
            continue
        c = lambda key: view.cost(v, key)  # noqa: E731
        measured.append({"variant": tags, "cells": [
            (fmt(c("seconds_per_query"), 3), _timing_note(v)), (fmt(c("cpu_seconds_per_query"), 3), ""),
            (fmt(c("prompt_tokens_per_query"), 1), ""), (fmt(c("completion_tokens_per_query"), 1), ""),
            (fmt(c("llm_calls_per_query"), 2), ""), (fmt(c("index_build_seconds"), 1), ""),
            (fmt(c("training_seconds"), 1), "")]})
        parts = (v.get("cost") or {}).get("breakdown")
        parts = parts if isinstance(parts, dict) else {}
        cells = [money(c("per_1k_queries"))]
        if breakdown:
            cells += [money(parts.get(key)) for key, _ in COMPONENTS]
        cells += [money(c("monthly")), money(c("total"))]
        if returns:
            cells += [money(c("return_per_month")), money(c("net_per_month")), _roi(c("roi"))]
        modelled.append({"variant": tags, "cells": cells})
    headers = ["$/1k queries"] + ([f"{label} $/month" for _, label in COMPONENTS] if breakdown else [])
    headers += ["$/month", f"{months}-month total"] + (["return $/month", "net $/month", "ROI"] if returns else [])
    points = []
    for number, (v, name) in enumerate(zip(view.variants, view.names), start=1):
        mean, low, high = view.stat(v, view.primary)
        per_1k = view.cost(v, "per_1k_queries")
        if mean is not None and per_1k is not None and not view.is_reference(v):
            points.append((number, name, view.colors[name], per_1k, mean, low, high))
    drivers = [str(s) for s in view.recommendation.get("cost_drivers") or [] if s]
    return {"months": months, "measured": measured, "modelled": modelled, "modelled_headers": headers,
            "assumptions": _assumptions(view), "returns": _return_sentence(view) if returns else "",
            "drivers": drivers, "primary_label": view.label(view.primary),
            "scatter": Markup(plots.scatter_svg(points, view.label(view.primary))) if points else None}


def _timing_note(variant: dict) -> str:
    timing = (variant.get("cost") or {}).get("timing")
    if not isinstance(timing, dict):
        return ""
    method = str(timing.get("method") or "")
    note = TIMING_METHODS.get(method, method)
    busy = finite_number(timing.get("busy_share"))
    if busy:
        note += f"{'; ' if note else ''}{busy:.0%} busy"
    return note


def _roi(value) -> str:
    number = finite_number(value)
    return "—" if number is None else f"{number * 100:+,.0f}%"


def assumption_values(view: View) -> dict:
    """The config's cost section: ``cost_assumptions`` in newer results, else the study's config."""
    given = view.results.get("cost_assumptions")
    if isinstance(given, dict) and given:
        return given
    return ((view.results.get("study") or {}).get("config") or {}).get("cost") or {}


def _assumptions(view: View) -> str:
    a = assumption_values(view)
    bits = []
    if a.get("hardware_usd_per_hour") is not None:
        bits.append(f"hardware ${finite_number(a['hardware_usd_per_hour']) or 0:g}/hour"
                    + (" (always on)" if a.get("always_on") else " (billed per second of use)"))
    api_in = finite_number(a.get("api_usd_per_1k_input_tokens")) or 0
    api_out = finite_number(a.get("api_usd_per_1k_output_tokens")) or 0
    if api_in or api_out:
        bits.append(f"API ${api_in:g} / ${api_out:g} per 1k input/output tokens")
    if a.get("retrieval_usd_per_hour") is not None:
        bits.append(f"retrieval ${finite_number(a['retrieval_usd_per_hour']) or 0:g}/hour around the clock"
                    " for variants that retrieve")
    if a.get("queries_per_month") is not None:
        bits.append(f"{finite_number(a['queries_per_month']) or 0:,.0f} queries a month")
    return "; ".join(bits)


def _return_sentence(view: View) -> str:
    a = assumption_values(view)
    right, wrong = finite_number(a.get("value_per_correct_usd")), finite_number(a.get("cost_per_wrong_usd"))
    if right is None and wrong is None:
        return ""
    return (f"Return: each right answer is worth {money(right or 0)}, a wrong one costs {money(wrong or 0)}; "
            f"the primary metric's mean ({view.label(view.primary)}) is read as the share of right answers. "
            "Net = return − cost; ROI = net ÷ cost.")


# ------------------------------------------------------------------------------- break-even

def roi(view: View) -> dict | None:
    net = any(_series(v, "cumulative_net") for v in view.variants if not view.is_reference(v))
    key = "cumulative_net" if net else "cumulative"
    series, left_out = [], []
    for v, name in zip(view.variants, view.names):
        values = _series(v, key)
        if values and not view.is_reference(v):
            series.append((name, view.colors[name], values))
        elif not view.is_reference(v) and _series(v, "cumulative"):
            left_out.append(name)
    if not series:
        return None
    by_name = {name: c for name, _, c in series}
    pairs, stars = [], []
    for b in view.results.get("break_even") or []:
        month = int_or(b.get("month"), 0) if isinstance(b, dict) else 0
        if not month:
            continue
        a_values, b_values = by_name.get(b.get("a")), by_name.get(b.get("b"))
        both = a_values is not None and b_values is not None and month <= min(len(a_values), len(b_values))
        pair = {"a": b.get("a"), "b": b.get("b"), "month": month, "net": b.get("on") == "net value" or net,
                "ahead": None, "behind": None}
        if both:
            stars.append((month, (a_values[month - 1] + b_values[month - 1]) / 2))
            if pair["net"]:
                a_ahead = a_values[month - 1] >= b_values[month - 1]
                pair["ahead"], pair["behind"] = (b.get("a"), b.get("b")) if a_ahead else (b.get("b"), b.get("a"))
        pairs.append(pair)
    svg = plots.roi_svg(series, stars, net=net)
    return {"svg": Markup(svg), "pairs": pairs, "net": net, "left_out": ", ".join(left_out)}


def _series(variant: dict, key: str) -> list[float] | None:
    values = (variant.get("cost") or {}).get(key)
    if not isinstance(values, list) or not values:
        return None
    numbers = [finite_number(x) for x in values]
    return numbers if all(x is not None for x in numbers) else None
