"""The study report: one self-contained HTML file written beside ``results.json``.

``render_report(results)`` turns the dict documented in :mod:`ragft.study.results` into HTML;
``write_report(run_dir)`` reads ``run_dir/results.json`` and writes ``run_dir/report.html``
atomically. The page opens offline: there is no JavaScript at all, the CSS is inline, and the
plots are inline SVG (:mod:`ragft.study.plots`).

The markup lives in ``templates/report.html.j2`` (Jinja2 with autoescape, so every string that
came from a model, a document or the config is escaped; only our own SVG is marked safe); the
section data is prepared in :mod:`ragft.study.report_sections` (cost and break-even in
:mod:`ragft.study.report_cost`). This module holds the API, the
defensive view over ``results`` and the number formatting the sections share.

Sections, each ``<section id=...>`` with an ``<h2>``: summary, metrics, plots, radar, cost,
roi, comparisons, graph (only when a variant walked a knowledge graph), questions; then a footer
saying how to regenerate the page. The web app's dashboard links to ``report.html`` by name.
The summary opens with the run's warnings, then the verdict: a green card when a variant is
recommended, an amber one when the study is inconclusive (naming the leader and the questions
needed), with the decision tests beneath. References (``"reference": true``) are tagged and dimmed
and never recommended; a variant with ``cannot_answer`` says why it is not eligible.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path

from ragft.errors import RagftError
from ragft.study.plots import PALETTE, RADAR_AXES  # noqa: F401  (RADAR_AXES: part of this module's API)

SECTIONS = (
    ("summary", "Summary"),
    ("metrics", "Metrics"),
    ("plots", "Key metrics with 95% confidence intervals"),
    ("radar", "The KDD 2024 tutorial's three metrics"),
    ("cost", "Cost"),
    ("roi", "Break-even over time"),
    ("comparisons", "Comparisons with the baseline"),
    ("graph", "Knowledge graph"),
    ("questions", "Question by question"),
)
# Answer metrics shown beside the primary one in the main metrics table and plotted as bar charts.
KEY_METRICS = ("token_f1", "rouge_l", "semantic_similarity", "evidence_hit")
RETRIEVAL_PREFIXES = ("evidence_", "doc_")


# ------------------------------------------------------------------------------------------ API

def render_report(results: dict, *, run_dir: Path | None = None) -> str:
    """The whole report as one HTML string (``run_dir`` only fills in the regenerate command)."""
    from ragft.study import report_sections as build

    view = View(results)
    study = results.get("study") or {}
    builders = {"summary": build.summary, "metrics": build.metrics, "plots": build.plots_section, "radar": build.radar,
                "cost": build.cost, "roi": build.roi, "comparisons": build.comparisons,
                "graph": build.graphs, "questions": build.questions}
    # The knowledge-graph section only appears when a variant walked a graph.
    shown = [(sid, heading) for sid, heading in SECTIONS if sid != "graph" or results.get("knowledge_graphs")]
    context = {sid: builders[sid](view) for sid, _ in shown}
    page = _template().render(
        title=f"ragft study: {study.get('name') or 'unnamed'}", study_line=_study_line(study), sections=shown,
        run_dir=str(run_dir) if run_dir is not None else "RUN_DIR", full_size_hint=study.get("full_size_hint"),
        version=study.get("ragft_version"), **context)
    return page.rstrip() + "\n"


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


@lru_cache(maxsize=1)
def _template():
    """The page template; autoescape is on for every value, whatever the file's extension."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("ragft.study", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template("report.html.j2")


# ------------------------------------------------------------------------------------ the data

class View:
    """Defensive accessors over ``results`` (keys may be missing, CIs null, values NaN)."""

    def __init__(self, results: dict):
        self.results = results
        self.variants: list[dict] = [v for v in results.get("variants") or [] if isinstance(v, dict)]
        self.names = [str(v.get("name", f"variant {i + 1}")) for i, v in enumerate(self.variants)]
        self.labels: dict = results.get("labels") or {}
        self.primary: str = results.get("primary_metric") or "token_f1"
        # Several baselines when results list them; else the one named (older results.json files).
        baselines = results.get("baselines")
        single = results.get("baseline")
        self.baselines: list[str] = ([str(b) for b in baselines] if isinstance(baselines, list) and baselines
                                     else [str(single)] if single else [])
        self.baseline: str | None = self.baselines[0] if self.baselines else None
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

    def is_retrieval(self, metric: str) -> bool:
        return metric.startswith(RETRIEVAL_PREFIXES)

    def tags(self, name: str) -> dict:
        """What the template needs to show a variant's name with its tags (baseline, recommended,
        leading when the verdict is inconclusive, reference, not eligible)."""
        variant = self.by_name(name)
        why = variant.get("cannot_answer")
        return {"name": name, "baseline": name in self.baselines, "recommended": name == self.recommended,
                "leading": name == self.leading, "reference": self.is_reference(variant),
                "ineligible": str(why) if why else ""}

    def by_name(self, name: str) -> dict:
        return next((v for v, n in zip(self.variants, self.names) if n == name), {})

    @staticmethod
    def is_reference(variant: dict) -> bool:
        return bool(variant.get("reference"))

    @property
    def status(self) -> str:
        """recommended, inconclusive or none (older results.json files: from ``variant`` alone)."""
        status = self.recommendation.get("status")
        if status in ("recommended", "inconclusive", "none"):
            return status
        return "recommended" if self.recommendation.get("variant") else "none"

    @property
    def recommended(self) -> str | None:
        """The recommended variant — never a reference, never while the verdict is inconclusive."""
        name = self.recommendation.get("variant")
        if self.status != "recommended" or not name or self.is_reference(self.by_name(str(name))):
            return None
        return str(name)

    @property
    def leading(self) -> str | None:
        """The provisional pick of an inconclusive verdict."""
        leader = self.recommendation.get("leader")
        return str(leader) if self.status == "inconclusive" and leader else None


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
# Plain strings: the template escapes them.

def fmt(value, digits: int = 3) -> str:
    number = finite_number(value)
    return "—" if number is None else f"{number:.{digits}f}"


def money(value) -> str:
    number = finite_number(value)
    if number is None:
        return "—"
    if number == 0:
        return "$0"
    sign = "-" if number < 0 else ""
    return f"{sign}${abs(number):,.3f}" if abs(number) < 1 else f"{sign}${abs(number):,.2f}"


def p_value(value) -> str:
    number = finite_number(value)
    if number is None:
        return "—"
    return "<0.001" if number < 0.001 else f"{number:.3f}"


def ci(low, high, digits: int = 3) -> str:
    low, high = finite_number(low), finite_number(high)
    return "" if low is None or high is None else f"[{low:.{digits}f}–{high:.{digits}f}]"


def score_style(value: float | None) -> str:
    """Background shading for a 0–1 score: pale red (0) through pale green (1)."""
    if value is None:
        return ""
    hue = 120 * min(max(value, 0.0), 1.0)
    return f"background:hsl({hue:.0f},60%,90%)"


def int_or(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _study_line(study: dict) -> str:
    parts = []
    if study.get("created"):
        parts.append(f"run {study['created']}")
    if study.get("ragft_version"):
        parts.append(f"ragft {study['ragft_version']}")
    if study.get("n_questions") is not None:
        parts.append(f"{study['n_questions']} test questions")
    return " · ".join(parts)
