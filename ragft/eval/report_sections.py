"""The data behind each report section, ready for ``templates/report.html.j2``.

Each function takes the :class:`~ragft.eval.report.View` and returns plain values (strings are
escaped by the template) plus SVG from :mod:`ragft.eval.plots`, marked safe here because we drew it.
What a reader needs first comes first: the primary metric and the retrieval metrics; the full
matrix of 20+ metrics and the comparisons on secondary metrics wait in collapsed ``<details>``.
"""

from __future__ import annotations

from markupsafe import Markup

from ragft.eval import plots
from ragft.eval.report import KEY_METRICS, View, ci, finite_number, fmt, int_or, money, p_value, score_style

ANSWER_SCORES = ("token_f1", "rouge_l", "semantic_similarity", "evidence_hit")  # badges beside each answer
MAX_SOURCE_CHARS = 6000  # longer retrieved passages are cut in the drill-down


# --------------------------------------------------------------------------------- summary

def summary(view: View) -> dict:
    study = view.results.get("study") or {}
    tasks = study.get("task_types") or {}
    n_q = study.get("n_questions")
    rec = view.recommendation
    constraints = {k: v for k, v in (rec.get("constraints") or {}).items() if v is not None}
    variants = []
    for v, name in zip(view.variants, view.names):
        description, pipeline = str(v.get("description") or ""), str(v.get("pipeline") or "")
        variants.append({"name": name, "type": v.get("type"), "description": description,
                         "pipeline": pipeline if pipeline != description else ""})
    return {
        "name": study.get("name"), "created": study.get("created"), "corpus": study.get("corpus"),
        "n_questions": n_q if n_q is not None else len(view.results.get("questions") or []),
        "tasks": ", ".join(f"{t}: {n}" for t, n in tasks.items()) if isinstance(tasks, dict) else str(tasks),
        "n_train": study.get("n_train"), "primary": view.primary, "primary_label": view.label(view.primary),
        "baselines": view.baselines,
        "recommendation": {
            "variant": rec["variant"], "reasons": list(rec.get("reasoning") or []),
            "tied": [str(t) for t in rec.get("tied_with_best") or [] if t != rec["variant"]],
            "constraints": ", ".join(f"{k} = {v}" for k, v in constraints.items()),
        } if rec.get("variant") else None,
        "sentences": [_sentence(view, c) for c in _comparisons(view) if c.get("metric") == view.primary],
        "single": len(view.variants) < 2, "variants": variants,
    }


def _sentence(view: View, comparison: dict) -> dict:
    """One plain sentence about a comparison, as parts the template puts together."""
    variant, baseline = comparison.get("variant"), comparison.get("baseline") or view.baseline
    difference, p = finite_number(comparison.get("difference")), finite_number(comparison.get("p_value"))
    if variant is None or baseline is None or difference is None:
        return {"text": str(comparison.get("text") or "")}
    interval = ci(comparison.get("low"), comparison.get("high"), 2)
    details = [f"95% CI of the difference {interval.strip('[]')}"] if interval else []
    if p is not None:
        details.append("p<0.001" if p < 0.001 else f"p={p:.3f}")
    significant = bool(comparison.get("significant"))
    better, worse = (variant, baseline) if difference > 0 else (baseline, variant)
    return {"text": None, "significant": significant, "variant": variant, "baseline": baseline,
            "better": better, "worse": worse, "label": view.label(comparison.get("metric", "")),
            "size": f"{abs(difference):.3f}", "signed": f"{difference:+.3f}", "details": ", ".join(details),
            "family": comparison.get("family")}


# --------------------------------------------------------------------------------- metrics

# Retrieval columns of the main table (the rest — coverage, recall, MRR… — are in the full matrix).
HEADLINE_RETRIEVAL = ("evidence_hit", "evidence_all_hit", "doc_hit@k", "doc_ndcg@k")

def metrics(view: View) -> dict | None:
    """The main table (primary, headline answer metrics, retrieval metrics) and the full matrix."""
    if not view.variants or not view.metric_order:
        return None
    headline = [view.primary] + [m for m in KEY_METRICS if m != view.primary and not view.is_retrieval(m)
                                 and view.has_metric(m)]
    retrieval = [m for m in view.metric_order if m in HEADLINE_RETRIEVAL and m != view.primary]
    main = [m for m in headline if m in view.metric_order] + retrieval
    return {"primary_label": view.label(view.primary), "main": _metric_table(view, main),
            "full": _metric_table(view, view.metric_order), "n_metrics": len(view.metric_order),
            "retrieval_labels": ", ".join(view.label(m) for m in retrieval)}


def _metric_table(view: View, metric_names: list[str]) -> dict:
    best = {}
    for metric in metric_names:
        means = [m for m in (view.stat(v, metric)[0] for v in view.variants) if m is not None]
        if len(means) >= 2 and max(means) > min(means):
            best[metric] = max(means)
    rows = []
    for v, name in zip(view.variants, view.names):
        cells = []
        for metric in metric_names:
            mean, low, high = view.stat(v, metric)
            entry = (v.get("metrics") or {}).get(metric)
            n = entry.get("n") if isinstance(entry, dict) else None
            cells.append(None if mean is None else {
                "mean": f"{mean:.3f}", "ci": ci(low, high) or "no CI",
                "best": metric in best and abs(mean - best[metric]) < 1e-12,
                "title": f"{view.label(metric)}, n={n}" if n is not None else "",
                "primary": metric == view.primary})
        rows.append({"variant": view.tags(name), "cells": cells})
    return {"headers": [view.label(m) for m in metric_names], "rows": rows,
            "primary": [m == view.primary for m in metric_names]}


# ----------------------------------------------------------------------------------- plots

def plots_section(view: View) -> list[dict]:
    figures = []
    for metric in [m for m in dict.fromkeys((view.primary, *KEY_METRICS)) if view.has_metric(m)]:
        title = view.label(metric) + (" (primary)" if metric == view.primary else "")
        bars = [(name, view.colors[name], *view.stat(v, metric)) for v, name in zip(view.variants, view.names)]
        figures.append({"svg": Markup(plots.bar_svg(title, view.label(metric), bars)),
                        "caption": view.label(metric) + (" (primary metric)" if metric == view.primary else "")})
    return figures


def radar(view: View) -> dict:
    rows, plotted, missing = [], [], []
    for v, name in zip(view.variants, view.names):
        stats = [view.stat(v, metric) for metric, _ in plots.RADAR_AXES]
        if all(s[0] is not None for s in stats):
            plotted.append((name, view.colors[name], [s[0] for s in stats]))
        else:
            missing.append(name)
        rows.append({"variant": view.tags(name),
                     "cells": [None if m is None else {"mean": fmt(m), "ci": ci(lo, hi) or "no CI"}
                               for m, lo, hi in stats]})
    embedder = ((view.results.get("study") or {}).get("config") or {}).get("embedder") or {}
    return {"svg": Markup(plots.radar_svg(plotted)) if plotted else None, "rows": rows,
            "missing": ", ".join(missing) if plotted else "", "embedder": embedder.get("model"),
            "headers": [label for _, label in plots.RADAR_AXES]}


# ------------------------------------------------------------------------------------ cost

def cost(view: View) -> dict | None:
    if not view.variants:
        return None
    months = next((int(m) for m in (view.cost(v, "months") for v in view.variants) if m), 12)
    rows = []
    for v, name in zip(view.variants, view.names):
        c = lambda key: view.cost(v, key)  # noqa: E731
        rows.append({"variant": view.tags(name), "cells": [
            fmt(c("seconds_per_query"), 3), fmt(c("prompt_tokens_per_query"), 1),
            fmt(c("completion_tokens_per_query"), 1), fmt(c("llm_calls_per_query"), 2),
            fmt(c("index_build_seconds"), 1), fmt(c("training_seconds"), 1),
            money(c("per_1k_queries")), money(c("monthly")), money(c("total"))]})
    points = []
    for number, (v, name) in enumerate(zip(view.variants, view.names), start=1):
        mean, low, high = view.stat(v, view.primary)
        per_1k = view.cost(v, "per_1k_queries")
        if mean is not None and per_1k is not None:
            points.append((number, name, view.colors[name], per_1k, mean, low, high))
    return {"months": months, "rows": rows, "assumptions": _assumptions(view), "primary_label": view.label(view.primary),
            "scatter": Markup(plots.scatter_svg(points, view.label(view.primary))) if points else None}


def _assumptions(view: View) -> str:
    a = ((view.results.get("study") or {}).get("config") or {}).get("cost") or {}
    bits = []
    if a.get("hardware_usd_per_hour") is not None:
        bits.append(f"hardware ${finite_number(a['hardware_usd_per_hour']) or 0:g}/hour"
                    + (" (always on)" if a.get("always_on") else " (billed per second of use)"))
    api_in = finite_number(a.get("api_usd_per_1k_input_tokens")) or 0
    api_out = finite_number(a.get("api_usd_per_1k_output_tokens")) or 0
    if api_in or api_out:
        bits.append(f"API ${api_in:g} / ${api_out:g} per 1k input/output tokens")
    if a.get("retrieval_usd_per_hour") is not None:
        bits.append(f"retrieval ${finite_number(a['retrieval_usd_per_hour']) or 0:g}/hour")
    if a.get("queries_per_month") is not None:
        bits.append(f"{finite_number(a['queries_per_month']) or 0:,.0f} queries a month")
    return "; ".join(bits)


def roi(view: View) -> dict | None:
    series = []
    for v, name in zip(view.variants, view.names):
        cumulative = [finite_number(x) for x in (v.get("cost") or {}).get("cumulative") or []]
        if cumulative and all(x is not None for x in cumulative):
            series.append((name, view.colors[name], cumulative))
    if not series:
        return None
    by_name = {name: c for name, _, c in series}
    pairs, stars = [], []
    for b in view.results.get("break_even") or []:
        month = int_or(b.get("month"), 0) if isinstance(b, dict) else 0
        if not month:
            continue
        pairs.append({"a": b.get("a"), "b": b.get("b"), "month": month})
        a_costs, b_costs = by_name.get(b.get("a")), by_name.get(b.get("b"))
        if a_costs is not None and b_costs is not None and month <= min(len(a_costs), len(b_costs)):
            stars.append((month, (a_costs[month - 1] + b_costs[month - 1]) / 2))
    return {"svg": Markup(plots.roi_svg(series, stars)), "pairs": pairs}


# ----------------------------------------------------------------------------- comparisons

# Comparisons shown by default besides the primary metric: does the variant find the evidence (all of it)?
HEADLINE_COMPARISONS = ("evidence_hit", "evidence_all_hit")


def _comparisons(view: View) -> list[dict]:
    return [c for c in view.results.get("comparisons") or [] if isinstance(c, dict)]


def comparisons(view: View) -> list[dict]:
    """One group per baseline (in ``baselines`` order): primary and retrieval rows, then the rest."""
    rows = _comparisons(view)
    order = {m: i for i, m in enumerate(dict.fromkeys([view.primary, *view.metric_order]))}
    rows.sort(key=lambda c: order.get(c.get("metric"), len(order)))
    names = list(dict.fromkeys([*view.baselines, *(str(c.get("baseline") or view.baseline) for c in rows)]))
    groups = []
    for baseline in names:
        mine = [_row(view, c) for c in rows if str(c.get("baseline") or view.baseline) == baseline]
        if mine:
            groups.append({"baseline": baseline, "main": [r for r in mine if r["headline"]],
                           "more": [r for r in mine if not r["headline"]]})
    return groups


def _row(view: View, c: dict) -> dict:
    metric = str(c.get("metric", ""))
    difference = finite_number(c.get("difference"))
    size = c.get("family_size")
    return {"metric": view.label(metric), "primary": metric == view.primary,
            "headline": metric in HEADLINE_COMPARISONS or metric == view.primary, "variant": c.get("variant"),
            "difference": "—" if difference is None else f"{difference:+.3f}",
            "ci": ci(c.get("low"), c.get("high")) or "no CI", "p": p_value(c.get("p_value")),
            "family": c.get("family"), "family_size": size if isinstance(size, int) else None,
            "significant": bool(c.get("significant"))}


# ------------------------------------------------------------------------- graph, questions

def graphs(view: View) -> list[dict]:
    """Each graph a ``graph`` step used: its size, where the full export is, and a map of its hubs."""
    shown = []
    for graph in view.results.get("knowledge_graphs") or []:
        stats, nodes = graph.get("stats") or {}, graph.get("nodes") or []
        shown.append({
            "variants": ", ".join(graph.get("variants") or []), "nodes": f"{stats.get('nodes', 0):,}",
            "edges": f"{stats.get('edges', 0):,}", "extractor": graph.get("extractor"),
            "types": ", ".join(f"{count:,} {kind}" for kind, count in (stats.get("node_types") or {}).items()),
            "files": graph.get("files") or {}, "n_shown": len(nodes),
            "svg": Markup(plots.graph_svg(graph)) if nodes else None,
            "top": [[n["label"], n["type"], f"{n['degree']:,}", f"{n['documents']:,}"] for n in nodes[:15]],
        })
    return shown


def questions(view: View) -> list[dict]:
    shown = []
    for q in view.results.get("questions") or []:
        if not isinstance(q, dict):
            continue
        answers = q.get("answers") or {}
        evidence = set(map(str, q.get("evidence_doc_ids") or []))
        badges = []
        for name, a in answers.items():
            score = finite_number(((a or {}).get("scores") or {}).get(view.primary))
            badges.append({"name": name, "score": fmt(score, 2), "style": score_style(score)})
        shown.append({"qid": q.get("qid"), "question": q.get("question"), "task_type": q.get("task_type"),
                      "golds": list(q.get("golds") or []), "evidence": ", ".join(sorted(evidence)), "badges": badges,
                      "answers": [_answer(view, name, a or {}, evidence) for name, a in answers.items()]})
    return shown


def _answer(view: View, name: str, answer: dict, evidence: set[str]) -> dict:
    scores = answer.get("scores") or {}
    shown = []
    for metric in dict.fromkeys((view.primary, *ANSWER_SCORES)):
        value = finite_number(scores.get(metric))
        if value is not None:
            shown.append({"text": f"{view.label(metric)} {value:.2f}", "style": score_style(value)})
    latency = finite_number(answer.get("latency_s"))
    if latency is not None:
        shown.append({"text": f"{latency:.2f} s", "style": ""})
    sources = []
    for s in [s for s in answer.get("sources") or [] if isinstance(s, dict)]:
        text = str(s.get("text") or "")
        cut = len(text) > MAX_SOURCE_CHARS
        span = (f" (chars {s.get('start')}–{s.get('end')})"
                if s.get("start") is not None and s.get("end") is not None else "")
        sources.append({"rank": int_or(s.get("rank"), len(sources) + 1), "doc_id": s.get("doc_id"), "span": span,
                        "hit": str(s.get("doc_id")) in evidence,
                        "text": text[:MAX_SOURCE_CHARS] + (" … (cut)" if cut else "")})
    return {"name": name, "color": view.colors.get(name, "#ccc"), "scores": shown,
            "answer": answer.get("answer") or "", "sources": sources}



