"""The data behind each report section, ready for ``templates/report.html.j2``.

Each function takes the :class:`~ragft.study.report.View` and returns plain values (strings are
escaped by the template) plus SVG from :mod:`ragft.study.plots`, marked safe here because we drew it.
What a reader needs first comes first: the primary metric and the retrieval metrics; the full
matrix of 20+ metrics and the comparisons on secondary metrics wait in collapsed ``<details>``.
"""

from __future__ import annotations

from markupsafe import Markup

from ragft.study import plots
from ragft.study.report import KEY_METRICS, View, ci, finite_number, fmt, int_or, p_value, score_style
from ragft.study.report_cost import cost, roi  # noqa: F401  (sections built there, named here)

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
        variants.append({**view.tags(name), "type": v.get("type"), "description": description,
                         "pipeline": pipeline if pipeline != description else ""})
    return {
        "name": study.get("name"), "created": study.get("created"), "corpus": study.get("corpus"),
        "n_questions": n_q if n_q is not None else len(view.results.get("questions") or []),
        "tasks": ", ".join(f"{t}: {n}" for t, n in tasks.items()) if isinstance(tasks, dict) else str(tasks),
        "n_train": study.get("n_train"), "primary": view.primary, "primary_label": view.label(view.primary),
        "baselines": view.baselines,
        "verdict": verdict(view), "constraints": ", ".join(f"{k} = {v}" for k, v in constraints.items()),
        "warnings": [str(w) for w in view.results.get("warnings") or [] if w],
        "sentences": [_sentence(view, c) for c in _comparisons(view) if c.get("metric") == view.primary],
        "single": len(view.variants) < 2, "variants": variants,
    }


VERDICTS = {"as_good": "as good", "worse": "worse", "undecided": "undecided"}


def verdict(view: View) -> dict:
    """The recommendation card (recommended, inconclusive or none) and its decision tests."""
    rec, status = view.recommendation, view.status
    reasons = [str(r) for r in rec.get("reasoning") or [] if r]
    needed, have = int_or(rec.get("questions_needed"), 0) or None, int_or(rec.get("n_questions"), 0) or None
    if status == "inconclusive":
        size = (f"about {needed:,} questions needed" if needed
                else "more questions needed than this study has, or a wider margin")
        title = f"Inconclusive — {size}" + (f" (this study has {have:,})" if have else "")
        if reasons and reasons[0].startswith("Inconclusive") and ": " in reasons[0]:
            reasons[0] = reasons[0].split(": ", 1)[1]  # the title already says how many questions
    elif status == "recommended" and view.recommended:
        title = f"Recommendation: {view.recommended}"
    else:
        title = "No recommendation"
        reasons = reasons or ["No variant could be recommended from this run."]
    margin = finite_number(rec.get("margin"))
    tests = [_test_row(view, t) for t in rec.get("tests") or [] if isinstance(t, dict)]
    first = next((t for t in rec.get("tests") or [] if isinstance(t, dict)), {})
    tied = [str(t) for t in rec.get("tied_with_best") or [] if t and t != view.recommended]
    return {"status": status if status != "recommended" or view.recommended else "none", "title": title,
            "leader": view.leading, "lead": reasons[0] if reasons else "", "steps": reasons[1:],
            "tied": tied if status == "recommended" else [], "tests": tests,
            "family": rec.get("family") or first.get("family"), "vs": first.get("vs"),
            "family_size": len(tests), "margin": f"{margin:g}" if margin is not None else None,
            "alpha": f"{finite_number(rec.get('alpha')):g}" if finite_number(rec.get("alpha")) is not None else None,
            "power": f"{finite_number(rec.get('power')):.0%}" if finite_number(rec.get("power")) else None}


def _test_row(view: View, test: dict) -> dict:
    difference = finite_number(test.get("difference"))
    kind = str(test.get("verdict") or "")
    needed = int_or(test.get("questions_needed"), 0)
    return {"variant": view.tags(str(test.get("variant"))), "kind": kind if kind in VERDICTS else "undecided",
            "verdict": VERDICTS.get(kind, kind or "—"),
            "difference": "—" if difference is None else f"{difference:+.3f}",
            "ci": _signed_ci(test.get("low"), test.get("high")), "p_as_good": p_value(test.get("p_as_good")),
            "p_different": p_value(test.get("p_different")), "needed": f"about {needed:,}" if needed else "—"}


def _signed_ci(low, high) -> str:
    low, high = finite_number(low), finite_number(high)
    return "no CI" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def _sentence(view: View, comparison: dict) -> dict:
    """One plain sentence about a comparison, as parts the template puts together."""
    variant, baseline = comparison.get("variant"), comparison.get("baseline") or view.baseline
    difference, p = finite_number(comparison.get("difference")), finite_number(comparison.get("p_value"))
    if variant is None or baseline is None or difference is None:
        return {"text": str(comparison.get("text") or "")}
    significant = bool(comparison.get("significant"))
    low, high = finite_number(comparison.get("low")), finite_number(comparison.get("high"))
    if significant and difference < 0 and low is not None and high is not None:
        low, high = -high, -low  # the sentence names the better one first: its interval is better − worse
    interval = ci(low, high, 2)
    details = [f"95% CI of the difference {interval.strip('[]')}"] if interval else []
    if p is not None:
        details.append("p<0.001" if p < 0.001 else f"p={p:.3f}")
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
        # A reference without this metric (the majority label has label accuracy only) is left out.
        bars = [(name, view.colors[name], *view.stat(v, metric)) for v, name in zip(view.variants, view.names)
                if not view.is_reference(v) or view.stat(v, metric)[0] is not None]
        figures.append({"svg": Markup(plots.bar_svg(title, view.label(metric), bars)),
                        "caption": view.label(metric) + (" (primary metric)" if metric == view.primary else "")})
    return figures


def radar(view: View) -> dict:
    rows, plotted, missing = [], [], []
    for v, name in zip(view.variants, view.names):
        stats = [view.stat(v, metric) for metric, _ in plots.RADAR_AXES]
        if view.is_reference(v) and all(s[0] is None for s in stats):
            continue  # a reference scored on other metrics (the majority label): not a tutorial row
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



