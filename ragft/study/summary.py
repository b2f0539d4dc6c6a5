"""The study's results as a table in the terminal (rich), printed after ``ragft study`` / ``ragft report``.

★ marks the recommended variant; when the verdict is inconclusive ☆ marks the leader and the
verdict line says how many questions would likely decide it. References and variants that cannot
answer are dimmed, and a reference shows no cost. Warnings follow the table, one line each.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from ragft.study.report import finite_number

# The KDD 2024 tutorial's three metrics, with short headings (the table should fit an 80-column terminal).
TUTORIAL_COLUMNS = (
    ("semantic_similarity", "Semantic\nsim."),
    ("tutorial_token_overlap_recall", "Token\nrecall"),
    ("tutorial_rouge_l_recall", "ROUGE-L\nrecall"),
)


def print_summary(results: dict, console: Console | None = None, report_path: Path | None = None) -> None:
    """One row per variant: primary metric (mean and 95% CI), token F1, the KDD 2024 tutorial's three
    metrics, evidence hit (when any variant retrieves), seconds (and CPU seconds, when the table
    fits) and dollars per query; then the warnings, the verdict and where the report is."""
    console = console or Console()
    variants = [v for v in results.get("variants") or [] if isinstance(v, dict)]
    labels = results.get("labels") or {}
    primary = results.get("primary_metric") or "token_f1"
    label = lambda metric: str(labels.get(metric, metric))  # noqa: E731

    # Long labels ("tutorial ROUGE-L recall") break onto lines so the table fits 80 columns.
    columns: list[tuple[str, str]] = [(primary, "\n".join(textwrap.wrap(label(primary), 12)) + "\n[95% CI]")]
    if primary != "token_f1" and _any(variants, "token_f1"):
        columns.append(("token_f1", label("token_f1").replace(" ", "\n", 1)))
    columns += [(m, title) for m, title in TUTORIAL_COLUMNS if m != primary and _any(variants, m)]
    if primary != "evidence_hit" and _any(variants, "evidence_hit"):
        columns.append(("evidence_hit", "Evid.\nhit"))
    # Multi-hop: hit@k counts one of two paragraphs as found; all-evidence@k does not.
    if primary != "evidence_all_hit" and _any(variants, "evidence_all_hit"):
        columns.append(("evidence_all_hit", "All\nevid."))
    # Yes/no questions: the label accuracy the majority-label reference is there to be compared with.
    if primary != "label_accuracy" and _any(variants, "label_accuracy"):
        columns.insert(1, ("label_accuracy", "Label\nacc."))

    verdict = _Verdict(results)
    table = _table(results, variants, columns, verdict, cpu=False)
    if any(_cost(v, "cpu_seconds_per_query") is not None for v in variants):
        wider = _table(results, variants, columns, verdict, cpu=True)
        if _natural_width(console, wider) <= console.width:  # the CPU column only where it fits
            table = wider
    _print_table(console, table)

    for warning in results.get("warnings") or []:
        if warning:  # one line each, also in a log file (soft wrap: the terminal folds it, rich does not)
            console.print(Text(f"Warning: {warning}", style="yellow"), soft_wrap=True)
    console.print(verdict.line())
    if report_path is not None:
        line = Text("Report: ", style="bold")
        line.append(str(report_path))
        console.print(line)


class _Verdict:
    """The recommendation as the console shows it: recommended (★), inconclusive (☆ the leader) or none."""

    def __init__(self, results: dict):
        rec = results.get("recommendation") or {}
        self.rec = rec if isinstance(rec, dict) else {}
        references = {str(v.get("name")) for v in results.get("variants") or []
                      if isinstance(v, dict) and v.get("reference")}
        status = self.rec.get("status") or ("recommended" if self.rec.get("variant") else "none")
        variant = self.rec.get("variant")
        self.recommended = (str(variant) if status == "recommended" and variant and str(variant) not in references
                            else None)
        leader = self.rec.get("leader")
        self.leading = str(leader) if status == "inconclusive" and leader else None
        self.status = "recommended" if self.recommended else "inconclusive" if status == "inconclusive" else "none"

    def line(self) -> Text:
        if self.status == "recommended":
            reasons = self.rec.get("reasoning") or []
            line = Text("Recommendation: ", style="bold")
            line.append(self.recommended, style="bold green")
            if reasons:  # the first reason is the headline: "<name> is recommended: …"
                line.append(f" — {str(reasons[0]).split(': ', 1)[-1]}")
            return line
        if self.status == "inconclusive":
            needed, have = _int(self.rec.get("questions_needed")), _int(self.rec.get("n_questions"))
            line = Text("Verdict: inconclusive", style="bold yellow")
            # The study's own question count is in the table's title; this line stays on one row.
            line.append(f" — about {needed:,} questions needed" if needed
                        else " — more questions (or a wider margin) needed" + (f" than {have:,}" if have else ""))
            if self.leading:
                line.append("; leading: ")
                line.append(f"{self.leading} ☆", style="bold yellow")
            return line
        reasons = self.rec.get("reasoning") or []
        headline = str(reasons[0]) if reasons and str(reasons[0]).startswith("No recommendation") else ""
        return Text(headline or "Recommendation: none (no variant met the constraints)", style="bold yellow")


def _table(results: dict, variants: list[dict], columns: list[tuple[str, str]], verdict: _Verdict,
           cpu: bool) -> Table:
    primary = results.get("primary_metric") or "token_f1"
    baselines = results.get("baselines") or [results.get("baseline")]
    study = results.get("study") or {}
    title = f"ragft study: {study.get('name') or 'unnamed'}"
    if study.get("n_questions") is not None:
        title += f" ({study['n_questions']} questions)"
    tutorial = [m for m, _ in TUTORIAL_COLUMNS if m in {c for c, _ in columns}]
    caption = (("Semantic sim., Token recall, ROUGE-L recall: the KDD 2024 tutorial's metrics. " if tutorial else "")
               + "s/q: seconds per query" + ("; CPU s/q: CPU seconds per query" if cpu else "")
               + "; $/1k q: modelled dollars per 1,000 queries."
               + (" ☆: leading, verdict inconclusive." if verdict.leading else ""))
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # A squeezed name column printed one letter per line on narrow terminals, so it keeps a minimum
    # width; beyond it a long name folds onto a second line rather than losing its end.
    longest_name = max((len(str(v.get("name", ""))) for v in variants), default=8)
    table.add_column("Variant", overflow="fold", min_width=min(longest_name, 24))
    for _, heading in columns:
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("s/q", justify="right", no_wrap=True)
    if cpu:
        table.add_column("CPU\ns/q", justify="right", no_wrap=True)
    table.add_column("$/1k q", justify="right", no_wrap=True)

    best = _best([v for v in variants if not v.get("reference")], primary)
    for variant in variants:
        name = str(variant.get("name", "?"))
        reference, ineligible = bool(variant.get("reference")), bool(variant.get("cannot_answer"))
        cell = Text(name, style="bold green" if name == verdict.recommended
                    else "bold yellow" if name == verdict.leading else "")
        if name == verdict.recommended:
            cell.append(" ★", style="green")
        elif name == verdict.leading:
            cell.append(" ☆", style="yellow")
        notes = [n for n, on in (("baseline", name in baselines), ("reference", reference),
                                 ("not eligible", ineligible)) if on]
        if notes:
            cell.append(f"\n({', '.join(notes)})", style="dim")
        row = [cell]
        for i, (metric, _) in enumerate(columns):
            mean, low, high = _stat(variant, metric)
            if mean is None:
                row.append(Text("—", style="dim"))
            elif i == 0:
                text = Text(f"{mean:.3f}", style="bold green" if best is not None and mean == best
                            and not reference else "")
                text.append(f"\n[{low:.2f}–{high:.2f}]" if low is not None and high is not None else "\n(no CI)",
                            style="dim")
                row.append(text)
            else:
                row.append(Text(f"{mean:.3f}"))
        costs = [("seconds_per_query", "{:.2f}")] + ([("cpu_seconds_per_query", "{:.2f}")] if cpu else [])
        costs.append(("per_1k_queries", "${:,.2f}"))
        # A reference (the majority label) is not a deployment: no cost to show.
        row += [_cell(None if reference else _cost(variant, key), fmt) for key, fmt in costs]
        table.add_row(*row, style="dim" if reference or ineligible else None)
    return table


def _natural_width(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def _print_table(console: Console, table: Table) -> None:
    """Print at a terminal's own width, else as wide as the table needs.

    Redirected to a file or a pipe (CI, ``| tee log``) rich assumes 80 columns and cut numbers to
    ``0.0…``; nobody resizes a log file, so there the table is rendered at its natural width
    (``console.print(width=)`` cannot exceed the console's width, hence ``render_lines``).
    """
    if console.is_terminal:
        console.print(table)
        return
    natural = _natural_width(console, table)
    options = console.options.update_width(max(console.width, natural))
    lines = console.render_lines(table, options, pad=False, new_lines=True)
    console.print(Segments([segment for line in lines for segment in line]), crop=False, end="")


def _stat(variant: dict, metric: str) -> tuple[float | None, float | None, float | None]:
    entry = (variant.get("metrics") or {}).get(metric)
    if not isinstance(entry, dict):
        return finite_number(entry), None, None
    return finite_number(entry.get("mean")), finite_number(entry.get("low")), finite_number(entry.get("high"))


def _any(variants: list[dict], metric: str) -> bool:
    return any(_stat(v, metric)[0] is not None for v in variants)


def _best(variants: list[dict], metric: str) -> float | None:
    means = [m for m in (_stat(v, metric)[0] for v in variants) if m is not None]
    return max(means) if len(means) >= 2 else None


def _cell(value: float | None, fmt: str) -> Text:
    return Text("—", style="dim") if value is None else Text(fmt.format(value))


def _cost(variant: dict, key: str) -> float | None:
    return finite_number((variant.get("cost") or {}).get(key))


def _int(value) -> int | None:
    number = finite_number(value)
    return int(number) if number is not None and number > 0 else None
