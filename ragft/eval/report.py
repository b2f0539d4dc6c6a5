"""The study report: one self-contained HTML file written beside ``results.json``.

``render_report(results)`` turns the dict documented in :mod:`ragft.eval.results` into HTML;
``write_report(run_dir)`` reads ``run_dir/results.json`` and writes ``run_dir/report.html``
atomically. The page opens offline: there is no JavaScript at all, the CSS is inline, and the
plots are drawn by matplotlib (no pyplot, so no GUI backend or global state) and embedded as
inline SVG. Every piece of text that came from a model, a document or the config goes through
:func:`html.escape`.

Sections, each ``<section id=...>`` with an ``<h2>``: summary, metrics, plots, radar, cost,
roi, comparisons, graph (only when a variant walked a knowledge graph), questions; then a footer
saying how to regenerate the page.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ragft.errors import RagftError

SECTIONS = (
    ("summary", "Summary"),
    ("metrics", "Metrics"),
    ("plots", "Key metrics with 95% confidence intervals"),
    ("radar", "The KDD 2024 tutorial's three metrics"),
    ("cost", "Cost"),
    ("roi", "Cumulative cost and break-even"),
    ("comparisons", "Comparisons with the baseline"),
    ("graph", "Knowledge graph"),
    ("questions", "Question by question"),
)
# The radar's axes, in the tutorial's words, keyed by our metric names.
RADAR_AXES = (
    ("semantic_similarity", "Semantic similarity"),
    ("tutorial_token_overlap_recall", "Token overlap recall"),
    ("tutorial_rouge_l_recall", "ROUGE-L recall"),
)
# Metrics plotted as bar charts after the primary one, when present.
KEY_METRICS = ("token_f1", "rouge_l", "semantic_similarity", "evidence_hit")
# Scores shown beside each answer in the drill-down, after the primary metric.
ANSWER_SCORES = ("token_f1", "rouge_l", "semantic_similarity", "evidence_hit")
RETRIEVAL_PREFIXES = ("evidence_", "doc_")
MAX_SOURCE_CHARS = 6000  # longer retrieved passages are cut in the drill-down
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")

CSS = """
:root { --fg:#1d2433; --muted:#5b6475; --line:#d9dee7; --soft:#f4f6fa; --accent:#2457a6; --good:#e3f3e6;
        --goodfg:#17602a; --bad:#fbeaea; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg);
       background:#fff; }
header, main, footer { max-width:1200px; margin:0 auto; padding:0 20px; }
header { padding-top:18px; }
h1 { font-size:1.6em; margin:.2em 0; }
h2 { font-size:1.3em; margin:1.6em 0 .5em; padding-bottom:.2em; border-bottom:2px solid var(--line); }
h3 { font-size:1.05em; margin:1.2em 0 .4em; }
nav { display:flex; flex-wrap:wrap; gap:4px 14px; padding:8px 0; border-bottom:1px solid var(--line);
      position:sticky; top:0; background:#fff; z-index:5; font-size:.92em; }
nav a { color:var(--accent); text-decoration:none; }
nav a:hover { text-decoration:underline; }
.muted, .note { color:var(--muted); }
.note { font-size:.9em; }
code { background:var(--soft); padding:0 .25em; border-radius:3px; font-size:.92em; }
.scroll { overflow-x:auto; max-width:100%; margin:.5em 0 1em; border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; font-size:.88em; min-width:100%; }
th, td { padding:5px 9px; border-bottom:1px solid var(--line); text-align:right; vertical-align:top;
         white-space:nowrap; }
th { background:var(--soft); font-weight:600; white-space:normal; vertical-align:bottom; }
th:first-child, td:first-child { text-align:left; position:sticky; left:0; background:#fff; z-index:1; }
th:first-child { background:var(--soft); }
td.l, th.l { text-align:left; }
td .ci { display:block; color:var(--muted); font-size:.85em; }
td.best { background:var(--good); font-weight:600; }
td.best::after { content:" \\2605"; color:var(--goodfg); }
.yes { color:var(--goodfg); font-weight:600; }
.no { color:var(--muted); }
.tag { display:inline-block; font-size:.75em; padding:0 .45em; margin-left:.35em; border-radius:8px;
       background:var(--soft); color:var(--muted); border:1px solid var(--line); font-weight:500; }
.tag.rec { background:var(--good); color:var(--goodfg); border-color:#b9dfc1; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 16px; margin:1em 0; background:#fbfcfe; }
.card.rec { border-color:#b9dfc1; background:#f5fbf6; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:2px 16px; margin:.5em 0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; overflow-wrap:anywhere; }
.plots { display:grid; grid-template-columns:repeat(auto-fill,minmax(400px,1fr)); gap:14px; }
figure { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px; background:#fff; }
figure svg { max-width:100%; height:auto; display:block; margin:0 auto; }
figure.wide { max-width:720px; }
figcaption { font-size:.85em; color:var(--muted); margin-top:4px; }
details.q { border:1px solid var(--line); border-radius:6px; margin:6px 0; background:#fff; }
details.q > summary { cursor:pointer; padding:6px 10px; }
details.q[open] > summary { background:var(--soft); border-bottom:1px solid var(--line); }
details.q .body { padding:6px 14px 12px; }
.qid { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:.8em; color:var(--muted); }
.score { display:inline-block; font-size:.8em; padding:0 .4em; margin:2px 3px 0 0; border-radius:4px;
         border:1px solid var(--line); white-space:nowrap; }
.answer { border-left:4px solid var(--line); padding:2px 0 2px 10px; margin:10px 0; }
.answer blockquote { margin:4px 0; padding:4px 8px; background:var(--soft); border-radius:4px;
                     white-space:pre-wrap; overflow-wrap:anywhere; }
ol.sources { margin:4px 0; padding-left:1.6em; font-size:.9em; }
ol.sources summary { cursor:pointer; overflow-wrap:anywhere; }
pre.source { white-space:pre-wrap; overflow-wrap:anywhere; background:var(--soft); padding:6px 8px; border-radius:4px;
             font-size:.9em; max-height:24em; overflow-y:auto; }
ul.golds { margin:4px 0; }
footer { margin-top:2.5em; padding-bottom:30px; color:var(--muted); font-size:.9em; }
footer > div { border-top:1px solid var(--line); padding-top:10px; }
@media (max-width:600px) { body { font-size:14px; } header, main, footer { padding:0 10px; } }
"""


# ------------------------------------------------------------------------------------------ API

def render_report(results: dict, *, run_dir: Path | None = None) -> str:
    """The whole report as one HTML string (``run_dir`` only fills in the regenerate command)."""
    view = _View(results)
    study = results.get("study") or {}
    title = f"ragft study: {study.get('name') or 'unnamed'}"
    bodies = {
        "summary": _summary(view), "metrics": _metrics_table(view), "plots": _bar_plots(view),
        "radar": _radar(view), "cost": _cost(view), "roi": _roi(view), "comparisons": _comparisons(view),
        "graph": _knowledge_graphs(view) if results.get("knowledge_graphs") else None,  # only when a graph was used
        "questions": _questions(view),
    }
    shown = [sid for sid, _ in SECTIONS if bodies.get(sid) is not None]
    sections = [_section(sid, bodies[sid]) for sid in shown]
    nav = " ".join(f'<a href="#{sid}">{_e(heading)}</a>' for sid, heading in SECTIONS if sid in shown)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="muted">{_e(_study_line(study))}</p>'
        f"<nav>{nav}</nav></header>",
        "<main>",
        *sections,
        "</main>",
        _footer(study, run_dir),
        "</body>",
        "</html>",
        "",
    ])


def read_results(run_dir: Path) -> dict:
    """A run folder's results.json, or a one-line RagftError saying what is wrong."""
    source = Path(run_dir) / "results.json"
    if not source.is_file():
        raise RagftError(f"{source}: not found — give a folder written by `ragft study`")
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except ValueError as err:
        raise RagftError(f"{source}: not valid JSON ({err}) — re-run the study") from None


def write_report(run_dir: Path) -> Path:
    """Read ``run_dir/results.json``; write ``run_dir/report.html`` atomically; return its path."""
    run_dir = Path(run_dir)
    page = render_report(read_results(run_dir), run_dir=run_dir)
    target = run_dir / "report.html"
    # A temp file beside the target (same filesystem, so the replace is atomic), unique per process.
    tmp = run_dir / f".report.html.{os.getpid()}.tmp"
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# ------------------------------------------------------------------------------------ the data

class _View:
    """Defensive accessors over ``results`` (keys may be missing, CIs null, values NaN)."""

    def __init__(self, results: dict):
        self.results = results
        self.variants: list[dict] = [v for v in results.get("variants") or [] if isinstance(v, dict)]
        self.names = [str(v.get("name", f"variant {i + 1}")) for i, v in enumerate(self.variants)]
        self.labels: dict = results.get("labels") or {}
        self.primary: str = results.get("primary_metric") or "token_f1"
        self.baseline: str | None = results.get("baseline")
        recommendation = results.get("recommendation") or {}
        self.recommendation: dict = recommendation if isinstance(recommendation, dict) else {}
        present = [m for v in self.variants for m in (v.get("metrics") or {})]
        order = [m for m in results.get("metric_order") or [] if m in present]
        order += [m for m in dict.fromkeys(present) if m not in order]
        if self.primary not in order and self.primary in present:
            order.insert(0, self.primary)
        self.metric_order: list[str] = order
        self.colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(self.names)}

    def label(self, metric: str) -> str:
        return str(self.labels.get(metric, metric))

    def stat(self, variant: dict, metric: str) -> tuple[float | None, float | None, float | None]:
        entry = (variant.get("metrics") or {}).get(metric)
        if not isinstance(entry, dict):
            return finite_number(entry), None, None
        return finite_number(entry.get("mean")), finite_number(entry.get("low")), finite_number(entry.get("high"))

    def cost(self, variant: dict, key: str) -> float | None:
        return finite_number((variant.get("cost") or {}).get(key))

    def has_metric(self, metric: str) -> bool:
        return any(self.stat(v, metric)[0] is not None for v in self.variants)

    @property
    def recommended(self) -> str | None:
        return self.recommendation.get("variant")


def finite_number(value) -> float | None:
    """A finite float, or None for null, NaN, infinities and anything not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------- formatting

def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _f(value, digits: int = 3) -> str:
    number = finite_number(value)
    return "—" if number is None else f"{number:.{digits}f}"


def _money(value) -> str:
    number = finite_number(value)
    if number is None:
        return "—"
    if number == 0:
        return "$0"
    return f"${number:,.3f}" if abs(number) < 1 else f"${number:,.2f}"


def _p(value) -> str:
    number = finite_number(value)
    if number is None:
        return "—"
    return "<0.001" if number < 0.001 else f"{number:.3f}"


def _ci(low, high, digits: int = 3) -> str:
    low, high = finite_number(low), finite_number(high)
    return "" if low is None or high is None else f"[{low:.{digits}f}–{high:.{digits}f}]"


def _section(sid: str, body: str) -> str:
    heading = dict(SECTIONS)[sid]
    return f'<section id="{sid}">\n<h2>{_e(heading)}</h2>\n{body}\n</section>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], left_columns: Iterable[int] = ()) -> str:
    """An HTML table in a horizontally scrolling box.

    Headers are escaped here; cells are HTML already, either a whole ``<td ...>...</td>`` or its
    content. ``left_columns`` (besides the first) are left-aligned, as text rather than numbers.
    """
    left = set(left_columns)
    head = "".join(f'<th{" class=l" if i in left else ""} scope="col">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(
        cell if cell.startswith("<td") else f'<td{" class=l" if i in left else ""}>{cell}</td>'
        for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>'


def _variant_cell(view: _View, name: str) -> str:
    tags = ""
    if name == view.baseline:
        tags += '<span class="tag">baseline</span>'
    if name == view.recommended:
        tags += '<span class="tag rec">recommended</span>'
    return f"<td><strong>{_e(name)}</strong>{tags}</td>"


def _study_line(study: dict) -> str:
    parts = []
    if study.get("created"):
        parts.append(f"run {study['created']}")
    if study.get("ragft_version"):
        parts.append(f"ragft {study['ragft_version']}")
    if study.get("n_questions") is not None:
        parts.append(f"{study['n_questions']} test questions")
    return " · ".join(parts)


def _score_style(value: float | None) -> str:
    """Background shading for a 0–1 score: pale red (0) through pale green (1)."""
    if value is None:
        return ""
    hue = 120 * min(max(value, 0.0), 1.0)
    return f' style="background:hsl({hue:.0f},60%,90%)"'


# ------------------------------------------------------------------------------------ sections

def _summary(view: _View) -> str:
    results, study = view.results, view.results.get("study") or {}
    tasks = study.get("task_types") or {}
    task_text = ", ".join(f"{_e(t)}: {_e(n)}" for t, n in tasks.items()) if isinstance(tasks, dict) else _e(tasks)
    n_q = study.get("n_questions")
    facts = [
        ("Study", _e(study.get("name") or "—")),
        ("Run date", _e(study.get("created") or "—")),
        ("Corpus", f"<code>{_e(study.get('corpus'))}</code>" if study.get("corpus") else "—"),
        ("Test questions", f"{_e(n_q if n_q is not None else len(results.get('questions') or []))}"
                           + (f" ({task_text})" if task_text else "")),
        ("Training examples", _e(study.get("n_train") if study.get("n_train") is not None else "—")),
        ("Primary metric", f"{_e(view.label(view.primary))} <span class='muted'>({_e(view.primary)})</span>"),
        ("Baseline", _e(view.baseline or "—")),
    ]
    parts = ['<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"]

    rec = view.recommendation
    if rec.get("variant"):
        reasons = "".join(f"<li>{_e(r)}</li>" for r in rec.get("reasoning") or [])
        tied = [t for t in rec.get("tied_with_best") or [] if t != rec["variant"]]
        tied_html = (f"<p>Statistically tied with it on {_e(view.label(view.primary))}: "
                     f"{_e(', '.join(map(str, tied)))}.</p>") if tied else ""
        constraints = {k: v for k, v in (rec.get("constraints") or {}).items() if v is not None}
        constraint_html = (f"<p class='note'>Constraints applied: "
                           f"{_e(', '.join(f'{k} = {v}' for k, v in constraints.items()))}.</p>") if constraints else ""
        parts.append(f'<div class="card rec"><h3>Recommendation: {_e(rec["variant"])}</h3>'
                     f"<ul>{reasons}</ul>{tied_html}{constraint_html}</div>")
    else:
        parts.append('<div class="card"><h3>Recommendation</h3><p>No variant could be recommended '
                     "from this run.</p></div>")

    sentences = [_comparison_sentence(view, c) for c in view.results.get("comparisons") or []
                 if isinstance(c, dict) and c.get("metric") == view.primary]
    if sentences:
        parts.append(f"<h3>On the primary metric ({_e(view.label(view.primary))}), against the baseline</h3>"
                     "<ul>" + "".join(f"<li>{s}</li>" for s in sentences) + "</ul>"
                     '<p class="note">p-values are Holm-corrected across the variants compared. '
                     "&ldquo;Not significant&rdquo; means these questions cannot tell the two apart; "
                     "it does not mean they are equal.</p>")
    elif len(view.variants) < 2:
        parts.append('<p class="note">Only one variant was run, so there is nothing to compare.</p>')

    if view.variants:
        items = []
        for v, name in zip(view.variants, view.names):
            detail = v.get("description") or ""
            kind = v.get("type")
            items.append(f"<li><strong>{_e(name)}</strong>"
                         + (f" <span class='tag'>{_e(kind)}</span>" if kind else "")
                         + (f" — {_e(detail)}" if detail else "") + "</li>")
        parts.append(f"<h3>Variants</h3><ul>{''.join(items)}</ul>")
    return "\n".join(parts)


def _comparison_sentence(view: _View, comparison: dict) -> str:
    """One plain sentence about a comparison (escaped HTML)."""
    variant, baseline = comparison.get("variant"), comparison.get("baseline") or view.baseline
    difference, p = finite_number(comparison.get("difference")), finite_number(comparison.get("p_value"))
    if variant is None or baseline is None or difference is None:
        return _e(comparison.get("text") or "")
    label = view.label(comparison.get("metric", ""))
    ci = _ci(comparison.get("low"), comparison.get("high"), 2)
    details = [f"95% CI of the difference {ci.strip('[]')}"] if ci else []
    if p is not None:
        details.append("p<0.001" if p < 0.001 else f"p={p:.3f}")
    detail = f" ({_e(', '.join(details))})" if details else ""
    if comparison.get("significant"):
        better, worse = (variant, baseline) if difference > 0 else (baseline, variant)
        return (f"<strong>{_e(better)}</strong> scores higher than <strong>{_e(worse)}</strong> on {_e(label)} "
                f"by {abs(difference):.3f}{detail}: a significant difference.")
    return (f"<strong>{_e(variant)}</strong> vs <strong>{_e(baseline)}</strong> on {_e(label)}: difference "
            f"{difference:+.3f}{detail}, not significant — the data cannot tell them apart.")


def _metrics_table(view: _View) -> str:
    if not view.variants or not view.metric_order:
        return "<p>No metrics in this run.</p>"
    best: dict[str, float] = {}
    for metric in view.metric_order:
        means = [m for m in (view.stat(v, metric)[0] for v in view.variants) if m is not None]
        if len(means) >= 2 and max(means) > min(means):
            best[metric] = max(means)
    rows = []
    for v, name in zip(view.variants, view.names):
        cells = [_variant_cell(view, name)]
        for metric in view.metric_order:
            mean, low, high = view.stat(v, metric)
            if mean is None:
                cells.append('<td class="muted" title="not measured for this variant">—</td>')
                continue
            n = ((v.get("metrics") or {}).get(metric) or {}).get("n") if isinstance(
                (v.get("metrics") or {}).get(metric), dict) else None
            ci = _ci(low, high)
            ci_html = f' <span class="ci">{ci}</span>' if ci else ' <span class="ci">no CI</span>'
            klass = ' class="best"' if metric in best and abs(mean - best[metric]) < 1e-12 else ""
            title = f' title="{_e(view.label(metric))}, n={_e(n)}"' if n is not None else ""
            cells.append(f"<td{klass}{title}>{mean:.3f}{ci_html}</td>")
        rows.append(cells)
    headers = ["Variant"] + [view.label(m) for m in view.metric_order]
    retrieval = [m for m in view.metric_order if m.startswith(RETRIEVAL_PREFIXES)]
    notes = [
        "Each cell is the mean over the test questions with its 95% bootstrap confidence interval "
        "[low–high]; ★ marks the best mean in each column (higher is better throughout).",
        "Recall metrics are shown with their precision and F1 beside them: recall alone rewards long answers "
        "that contain the gold text among much else.",
        "The <code>tutorial</code> columns use the KDD 2024 tutorial's own tokenisation "
        "(continuous-eval), which differs from the SQuAD-style token scores: compare like with like.",
    ]
    if retrieval:
        notes.append("Retrieval metrics (" + _e(", ".join(view.label(m) for m in retrieval))
                     + ") exist only for variants that retrieve; the others show —.")
    return (f"<p class='note'>Primary metric: <strong>{_e(view.label(view.primary))}</strong>.</p>"
            + _table(headers, rows) + "<ul class='note'>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")


def _bar_plots(view: _View) -> str:
    metrics = [m for m in dict.fromkeys((view.primary, *KEY_METRICS)) if view.has_metric(m)]
    if not metrics:
        return "<p>No metrics to plot.</p>"
    figures = []
    for metric in metrics:
        caption = view.label(metric) + (" (primary metric)" if metric == view.primary else "")
        figures.append(f"<figure>{_bar_svg(view, metric)}<figcaption>{_e(caption)}: mean and 95% CI; "
                       "n/a = not measured for that variant.</figcaption></figure>")
    return ("<p class='note'>Error bars are 95% bootstrap confidence intervals over questions; overlapping "
            "bars are no evidence of a difference (see the comparisons table for the paired tests).</p>"
            f'<div class="plots">{"".join(figures)}</div>')


def _radar(view: _View) -> str:
    rows, plotted, missing = [], [], []
    for v, name in zip(view.variants, view.names):
        stats = [view.stat(v, metric) for metric, _ in RADAR_AXES]
        if all(s[0] is not None for s in stats):
            plotted.append((name, [s[0] for s in stats]))
        else:
            missing.append(name)
        rows.append([_variant_cell(view, name)] + [
            f"<td>{_f(m)} <span class='ci'>{_ci(lo, hi) or 'no CI'}</span></td>" if m is not None
            else "<td class='muted'>—</td>" for m, lo, hi in stats])
    embedder = ((view.results.get("study") or {}).get("config") or {}).get("embedder") or {}
    embedder_text = f" (embedder: <code>{_e(embedder.get('model'))}</code>)" if embedder.get("model") else ""
    definitions = (
        "<ul class='note'>"
        f"<li><strong>Semantic similarity</strong>: cosine similarity between the embeddings of the answer and "
        f"the gold answer{embedder_text}, best over gold aliases.</li>"
        "<li><strong>Token overlap recall</strong>: the share of the gold answer's tokens (stop words dropped) "
        "that the answer contains, as continuous-eval's TokenOverlap computes it.</li>"
        "<li><strong>ROUGE-L recall</strong>: the longest common subsequence of words between answer and gold, "
        "over the gold's length (summary-level ROUGE-L, as in the tutorial).</li></ul>")
    if not plotted:
        body = "<p>None of the variants has all three tutorial metrics.</p>"
    else:
        body = (f'<figure class="wide">{_radar_svg(view, plotted)}<figcaption>Scale 0–1 on every axis '
                "(the outer ring is 1); further out is better.</figcaption></figure>")
    note = (f"<p class='note'>Not drawn (a tutorial metric is missing): {_e(', '.join(missing))}.</p>"
            if missing and plotted else "")
    table = _table(["Variant"] + [label for _, label in RADAR_AXES], rows) if view.variants else ""
    return ("<p>The three answer-quality scores of the KDD 2024 tutorial on RAG versus fine-tuning, "
            "computed exactly as the tutorial does so that the numbers compare with its published ones.</p>"
            + body + note + table + definitions)


def _cost(view: _View) -> str:
    if not view.variants:
        return "<p>No variants.</p>"
    months = next((int(m) for m in (view.cost(v, "months") for v in view.variants) if m), 12)
    headers = ["Variant", "s/query", "tokens in/query", "tokens out/query", "LLM calls/query", "index build s",
               "training s", "$/1k queries", "$/month", f"{months}-month total"]
    rows = []
    for v, name in zip(view.variants, view.names):
        c = lambda key: view.cost(v, key)  # noqa: E731
        rows.append([_variant_cell(view, name), _f(c("seconds_per_query"), 3), _f(c("prompt_tokens_per_query"), 1),
                     _f(c("completion_tokens_per_query"), 1), _f(c("llm_calls_per_query"), 2),
                     _f(c("index_build_seconds"), 1), _f(c("training_seconds"), 1),
                     _money(c("per_1k_queries")), _money(c("monthly")), _money(c("total"))])
    assumptions = ((view.results.get("study") or {}).get("config") or {}).get("cost") or {}
    assumption_text = ""
    if assumptions:
        bits = []
        if assumptions.get("hardware_usd_per_hour") is not None:
            bits.append(f"hardware ${finite_number(assumptions['hardware_usd_per_hour']) or 0:g}/hour"
                        + (" (always on)" if assumptions.get("always_on") else " (billed per second of use)"))
        api_in = finite_number(assumptions.get("api_usd_per_1k_input_tokens")) or 0
        api_out = finite_number(assumptions.get("api_usd_per_1k_output_tokens")) or 0
        if api_in or api_out:
            bits.append(f"API ${api_in:g} / ${api_out:g} per 1k input/output tokens")
        if assumptions.get("retrieval_usd_per_hour") is not None:
            bits.append(f"retrieval ${finite_number(assumptions['retrieval_usd_per_hour']) or 0:g}/hour")
        if assumptions.get("queries_per_month") is not None:
            bits.append(f"{finite_number(assumptions['queries_per_month']) or 0:,.0f} queries a month")
        assumption_text = f"<p class='note'>Modelled with: {_e('; '.join(bits))}.</p>" if bits else ""
    scatter = _scatter_svg(view)
    figure = (f'<figure class="wide">{scatter}<figcaption>Quality ({_e(view.label(view.primary))}, '
              "with 95% CI) against modelled cost per 1,000 queries; up and to the left is better."
              "</figcaption></figure>") if scatter else ""
    return ("<p>Measured in this run: seconds, tokens and model calls per query, index build and training time. "
            "Modelled from them: dollars, under the cost assumptions of the study config.</p>"
            + _table(headers, rows) + assumption_text + figure)


def _roi(view: _View) -> str:
    series = []
    for v, name in zip(view.variants, view.names):
        cumulative = [finite_number(x) for x in (v.get("cost") or {}).get("cumulative") or []]
        if cumulative and all(x is not None for x in cumulative):
            series.append((name, cumulative))
    if not series:
        return "<p>No month-by-month costs in this run.</p>"
    break_evens = [b for b in view.results.get("break_even") or [] if isinstance(b, dict) and b.get("month")]
    sentences = []
    for b in break_evens:
        sentences.append(f"<li><strong>{_e(b.get('a'))}</strong> and <strong>{_e(b.get('b'))}</strong> break even "
                         f"in month {_e(b['month'])}: from then on the one that cost more in month 1 has "
                         "the lower cumulative cost.</li>")
    text = ("<ul>" + "".join(sentences) + "</ul>") if sentences else (
        "<p>No break-even within the modelled period: no pair of variants' cumulative costs cross, so the "
        "cheaper variant in month 1 stays cheaper throughout.</p>")
    return (f'<figure class="wide">{_roi_svg(view, series, break_evens)}<figcaption>Cumulative modelled cost, '
            "month by month (one-off training and index costs included where the cost model counts them)."
            "</figcaption></figure>" + text)


def _comparisons(view: _View) -> str:
    comparisons = [c for c in view.results.get("comparisons") or [] if isinstance(c, dict)]
    if not comparisons:
        return "<p>No comparisons: the run has a single variant or too few paired scores.</p>"
    order = {m: i for i, m in enumerate(dict.fromkeys([view.primary, *view.metric_order]))}
    comparisons.sort(key=lambda c: order.get(c.get("metric"), len(order)))
    rows = []
    for c in comparisons:
        difference = finite_number(c.get("difference"))
        diff = "—" if difference is None else f"{difference:+.3f}"
        ci = _ci(c.get("low"), c.get("high"))
        significant = bool(c.get("significant"))
        metric = c.get("metric", "")
        metric_cell = f"<td><strong>{_e(view.label(metric))}</strong></td>" if metric == view.primary \
            else f"<td>{_e(view.label(metric))}</td>"
        rows.append([metric_cell, _e(c.get("variant")), _e(c.get("baseline") or view.baseline),
                     f"{diff} <span class='ci'>{ci or 'no CI'}</span>", _p(c.get("p_value")),
                     "<span class='yes'>yes</span>" if significant else "<span class='no'>no</span>"])
    return ("<p>Each variant against the baseline on the same questions (paired bootstrap). The difference is "
            "variant − baseline, with its 95% confidence interval.</p>"
            + _table(["Metric", "Variant", "vs baseline", "Difference [95% CI]", "p (Holm)", "Significant"],
                     rows, left_columns=[1, 2, 5])
            + "<p class='note'>p-values are Holm-corrected per metric (across the variants compared with the "
              "baseline), so that comparing many variants does not produce a winner by chance. "
              "&ldquo;Not significant&rdquo; means the data cannot tell the two apart — not that they are "
              "equally good; more questions may separate them.</p>")


def _questions(view: _View) -> str:
    questions = [q for q in view.results.get("questions") or [] if isinstance(q, dict)]
    if not questions:
        return "<p>No per-question records in this run.</p>"
    label = view.label(view.primary)
    items = []
    for q in questions:
        answers = q.get("answers") or {}
        badges = []
        for name, a in answers.items():
            score = finite_number(((a or {}).get("scores") or {}).get(view.primary))
            badges.append(f"<span class='score'{_score_style(score)} title='{_e(label)}'>"
                          f"{_e(name)} {_f(score, 2)}</span>")
        golds = q.get("golds") or []
        evidence = set(map(str, q.get("evidence_doc_ids") or []))
        body = [f"<p><strong>Gold answer{'s' if len(golds) != 1 else ''}</strong>"
                f"{' <span class=tag>' + _e(q.get('task_type')) + '</span>' if q.get('task_type') else ''}</p>",
                "<ul class='golds'>" + ("".join(f"<li>{_e(g)}</li>" for g in golds) or "<li>—</li>") + "</ul>"]
        if evidence:
            body.append("<p class='note'>Evidence documents: " + _e(", ".join(sorted(evidence))) + "</p>")
        for name, a in answers.items():
            body.append(_answer_block(view, name, a or {}, evidence))
        items.append(f"<details class='q'><summary><span class='qid'>{_e(q.get('qid'))}</span><br>"
                     f"{_e(q.get('question'))}<br>{''.join(badges)}</summary>"
                     f"<div class='body'>{''.join(body)}</div></details>")
    return (f"<p>Click a question to see the gold answers, each variant's answer and the passages it retrieved. "
            f"The badges show {_e(label)} per variant.</p>" + "\n".join(items))


def _answer_block(view: _View, name: str, answer: dict, evidence: set[str]) -> str:
    scores = answer.get("scores") or {}
    shown = []
    for metric in dict.fromkeys((view.primary, *ANSWER_SCORES)):
        value = finite_number(scores.get(metric))
        if value is not None:
            shown.append(f"<span class='score'{_score_style(value)}>{_e(view.label(metric))} {value:.2f}</span>")
    latency = finite_number(answer.get("latency_s"))
    if latency is not None:
        shown.append(f"<span class='score'>{latency:.2f} s</span>")
    sources = [s for s in answer.get("sources") or [] if isinstance(s, dict)]
    source_html = ""
    if sources:
        items = []
        for s in sources:
            text = str(s.get("text") or "")
            cut = len(text) > MAX_SOURCE_CHARS
            text = text[:MAX_SOURCE_CHARS] + (" … (cut)" if cut else "")
            span = (f" (chars {_e(s.get('start'))}–{_e(s.get('end'))})"
                    if s.get("start") is not None and s.get("end") is not None else "")
            hit = (" <span class='tag rec' title='this passage comes from a document holding the gold evidence'>"
                   "evidence doc</span>") if str(s.get("doc_id")) in evidence else ""
            items.append(f"<li value='{_e(_int_or(s.get('rank'), len(items) + 1))}'><details><summary>"
                         f"<code>{_e(s.get('doc_id'))}</code>{span}{hit}</summary>"
                         f"<pre class='source'>{_e(text) or '(no text stored)'}</pre></details></li>")
        source_html = (f"<p class='note'>Retrieved passages ({len(sources)}):</p>"
                       f"<ol class='sources'>{''.join(items)}</ol>")
    color = view.colors.get(name, "#ccc")
    return (f"<div class='answer' style='border-left-color:{color}'><strong>{_e(name)}</strong> "
            f"{''.join(shown)}<blockquote>{_e(answer.get('answer') or '')}</blockquote>{source_html}</div>")


def _int_or(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _footer(study: dict, run_dir: Path | None) -> str:
    target = _e(str(run_dir)) if run_dir is not None else "RUN_DIR"
    hint = study.get("full_size_hint")
    hint_html = (f"<p><strong>Full-size study:</strong> {_e(hint)}</p>" if hint else
                 "<p><strong>Full-size study:</strong> run <code>ragft study CONFIG.yaml</code> without "
                 "<code>--n</code> (and without <code>test.n</code> in the config) to score every question.</p>")
    return (f"<footer><div><p>Regenerate this page from the run's <code>results.json</code> with "
            f"<code>ragft report {target}</code>.</p>{hint_html}"
            f"<p>Written by ragft{' ' + _e(study.get('ragft_version')) if study.get('ragft_version') else ''}; "
            "the page is self-contained and works offline.</p></div></footer>")


def _knowledge_graphs(view: _View) -> str:
    """Each graph a ``graph`` step used: its size, where the full export is, and a map of its hubs."""
    parts = []
    for graph in view.results.get("knowledge_graphs") or []:
        stats = graph.get("stats") or {}
        files = graph.get("files") or {}
        types = ", ".join(f"{count:,} {kind}" for kind, count in (stats.get("node_types") or {}).items())
        parts.append(
            f"<p>Used by {_e(', '.join(graph.get('variants') or []))}: <strong>{stats.get('nodes', 0):,}</strong> "
            f"entities ({_e(types)}) and <strong>{stats.get('edges', 0):,}</strong> relations, extracted by "
            f"<code>{_e(graph.get('extractor'))}</code>. The whole graph, with the chunks and documents behind every "
            f"entity and relation, is in <code>{_e(files.get('graphml'))}</code> (GraphML, for Gephi, yEd, Cytoscape "
            f"or networkx) and <code>{_e(files.get('json'))}</code> in the run folder.</p>")
        nodes = graph.get("nodes") or []
        if nodes:
            parts.append(f'<figure class="wide">{_graph_svg(graph)}<figcaption>The {len(nodes)} best-connected '
                         "entities and the strongest relations among them (line width: how often a relation is "
                         "stated; colour: entity type).</figcaption></figure>")
            rows = [[_e(n["label"]), _e(n["type"]), f"{n['degree']:,}", f"{n['documents']:,}"] for n in nodes[:15]]
            parts.append(_table(["Entity", "Type", "Relations", "Documents"], rows, left_columns=(1,)))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------- plots

def _figure(width: float, height: float, **kwargs):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), **kwargs)


_SVG_START = re.compile(r"<svg\b")


def _svg(fig, name: str) -> str:
    """The figure as an inline <svg> element: deterministic ids, text as text, no XML prolog."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"ragft-{name}", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    match = _SVG_START.search(text)
    text = text[match.start():] if match else text
    return text.replace("<svg ", f'<svg role="img" aria-label="{_e(name)}" ', 1)


def _style_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def _text_rc():
    """rc for every plot: no mathtext (a '$' in a variant name is text, not LaTeX)."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False, "font.size": 9,
                                  "font.family": ["DejaVu Sans", "sans-serif"]})


def _bar_svg(view: _View, metric: str) -> str:
    with _text_rc():
        n = len(view.variants)
        fig = _figure(4.4, 0.36 * n + 1.0)
        ax = fig.subplots()
        positions = list(range(n))[::-1]
        top = 1.0
        for y, v, name in zip(positions, view.variants, view.names):
            mean, low, high = view.stat(v, metric)
            if mean is None:
                ax.text(0.01, y, "n/a", va="center", fontsize=8, color="#777")
                continue
            err = None
            if low is not None and high is not None:
                err = [[max(mean - low, 0.0)], [max(high - mean, 0.0)]]
                top = max(top, high)
            ax.barh(y, mean, height=0.62, color=view.colors[name], alpha=0.85,
                    xerr=err, error_kw={"ecolor": "#333", "capsize": 3, "elinewidth": 1})
            end = high if err is not None else mean
            ax.text(end + 0.015, y, f"{mean:.3f}" + ("" if err is not None else " (no CI)"), va="center", fontsize=8)
            top = max(top, mean)
        ax.set_yticks(positions, labels=view.names)
        ax.set_xlim(0, top * 1.12)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_xlabel(view.label(metric))
        ax.set_title(view.label(metric) + (" (primary)" if metric == view.primary else ""), fontsize=10)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        _style_axes(ax)
        return _svg(fig, f"bar chart: {view.label(metric)}")


def _radar_svg(view: _View, plotted: list[tuple[str, list[float]]]) -> str:
    with _text_rc():
        fig = _figure(6.0, 4.2)
        ax = fig.add_subplot(projection="polar")
        labels = [label for _, label in RADAR_AXES]
        angles = [math.pi / 2 + 2 * math.pi * i / len(labels) for i in range(len(labels))]
        closed = angles + angles[:1]
        for name, values in plotted:
            values = [min(max(x, 0.0), 1.0) for x in values]
            ax.plot(closed, values + values[:1], color=view.colors[name], linewidth=1.8, label=name)
            ax.fill(closed, values + values[:1], color=view.colors[name], alpha=0.12)
        ax.set_xticks(angles, labels=labels, fontsize=10)
        ax.tick_params(axis="x", pad=12)
        ax.set_ylim(0, 1)
        # The outer ring is 1; its label would sit on the frame, so the caption states the scale instead.
        ax.set_yticks([0.25, 0.5, 0.75, 1.0], labels=["0.25", "0.5", "0.75", ""], fontsize=7, color="#777")
        ax.set_rlabel_position(150)
        ax.grid(color="#ddd", linewidth=0.7)
        ax.legend(loc="upper left", bbox_to_anchor=(1.15, 1.0), fontsize=9, frameon=False)
        return _svg(fig, "radar chart of the tutorial metrics")


def _scatter_svg(view: _View) -> str:
    points = []
    for v, name in zip(view.variants, view.names):
        mean, low, high = view.stat(v, view.primary)
        cost = view.cost(v, "per_1k_queries")
        if mean is not None and cost is not None:
            points.append((name, cost, mean, low, high))
    if not points:
        return ""
    with _text_rc():
        fig = _figure(6.4, 4.0)
        ax = fig.subplots()
        for name, cost, mean, low, high in points:
            err = [[max(mean - low, 0.0)], [max(high - mean, 0.0)]] if low is not None and high is not None else None
            ax.errorbar([cost], [mean], yerr=err, fmt="o", color=view.colors[name], markersize=7, capsize=4,
                        elinewidth=1.2, label=name)
            ax.annotate(name, (cost, mean), textcoords="offset points", xytext=(7, 5), fontsize=8)
        costs = [p[1] for p in points]
        span = max(costs) - min(costs)
        pad = span * 0.15 if span > 0 else max(abs(max(costs)) * 0.5, 0.05)
        # Room on both sides so a free (zero-cost) variant's marker and error bar are not cut by the axis.
        ax.set_xlim(min(costs) - pad, max(costs) + pad * 1.6)
        if min(costs) >= 0:  # no negative dollars on the axis, even where the padding reaches below 0
            from matplotlib.ticker import FuncFormatter

            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "" if x < -1e-12 else f"{x:g}"))
        ax.set_xlabel("Modelled cost per 1,000 queries ($)")
        ax.set_ylabel(view.label(view.primary))
        ax.set_title(f"Quality ({view.label(view.primary)}, 95% CI) vs cost per 1,000 queries", fontsize=10)
        ax.grid(color="#eee", linewidth=0.6)
        ax.set_axisbelow(True)
        _style_axes(ax)
        return _svg(fig, "quality vs cost per 1,000 queries")


def _roi_svg(view: _View, series: list[tuple[str, list[float]]], break_evens: list[dict]) -> str:
    with _text_rc():
        fig = _figure(7.0, 4.0)
        ax = fig.subplots()
        by_name = dict(series)
        for name, cumulative in series:
            months = list(range(1, len(cumulative) + 1))
            ax.plot(months, cumulative, marker="o", markersize=3, linewidth=1.8, color=view.colors.get(name, "#555"),
                    label=name)
        for b in break_evens:
            month = _int_or(b.get("month"), 0)
            a_costs, b_costs = by_name.get(b.get("a")), by_name.get(b.get("b"))
            if not month or a_costs is None or b_costs is None or month > min(len(a_costs), len(b_costs)):
                continue
            y = (a_costs[month - 1] + b_costs[month - 1]) / 2
            ax.axvline(month, color="#999", linestyle=":", linewidth=1)
            ax.plot([month], [y], marker="*", markersize=13, color="#d62728", zorder=5)
            ax.annotate(f"{b.get('a')} = {b.get('b')}\nmonth {month}", (month, y), textcoords="offset points",
                        xytext=(8, -22), fontsize=8, color="#a01010")
        length = max(len(c) for _, c in series)
        ax.set_xticks(range(1, length + 1))
        ax.set_xlabel("Month")
        ax.set_ylabel("Cumulative cost ($)")
        highest = max(max(c) for _, c in series)
        ax.set_ylim(0, highest * 1.05 if highest > 0 else 1.0)
        ax.set_title("Cumulative modelled cost", fontsize=10)
        ax.grid(color="#eee", linewidth=0.6)
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        _style_axes(ax)
        return _svg(fig, "cumulative cost by month")


def _graph_svg(graph: dict) -> str:
    """The overview's nodes at their layout positions, coloured by type, with the edges between them."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    types = sorted({n["type"] for n in nodes.values()})
    palette = dict(zip(types, ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
                               "#8c8c8c", "#ccb974", "#64b5cd") * 3))
    heaviest = max((e["weight"] for e in graph["edges"]), default=1)
    with _text_rc():
        fig = _figure(8.0, 6.0)
        ax = fig.subplots()
        for edge in graph["edges"]:
            a, b = nodes.get(edge["source"]), nodes.get(edge["target"])
            if a and b:
                ax.plot([a["x"], b["x"]], [a["y"], b["y"]], color="#9aa5b1", alpha=0.6,
                        linewidth=0.4 + 2.4 * edge["weight"] / heaviest, zorder=1)
        biggest = max(n["degree"] for n in nodes.values()) or 1
        for kind in types:
            members = [n for n in nodes.values() if n["type"] == kind]
            ax.scatter([n["x"] for n in members], [n["y"] for n in members], label=kind, zorder=2,
                       s=[30 + 220 * n["degree"] / biggest for n in members], color=palette[kind], edgecolors="white")
        for n in nodes.values():
            ax.annotate(n["label"][:28], (n["x"], n["y"]), xytext=(4, 3), textcoords="offset points", fontsize=7,
                        zorder=3)
        ax.set_xlim(-0.08, 1.25)
        ax.set_ylim(-0.08, 1.08)
        ax.set_axis_off()
        ax.legend(loc="upper right", fontsize=8, frameon=False, markerscale=0.6)
        return _svg(fig, "knowledge graph: best-connected entities")
