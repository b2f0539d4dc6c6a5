"""The report's plots, drawn by matplotlib and returned as inline SVG strings.

No pyplot (so no GUI backend or global state); text stays text (``svg.fonttype: none``) and ids
are deterministic, so a report re-rendered from the same results is byte-identical. Variant
names can be long ("rag-hybrid-rerank-grounded-v2"): bar charts wrap them onto up to three
lines, and the scatter and line plots label points with short numbers or a legend beside the
axes instead of text drawn over the data, where neighbouring labels overlapped.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Sequence
from html import escape

RADAR_AXES = (
    ("semantic_similarity", "Semantic similarity"),
    ("tutorial_token_overlap_recall", "Token overlap recall"),
    ("tutorial_rouge_l_recall", "ROUGE-L recall"),
)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
LABEL_WIDTH = 22  # characters per line of a wrapped variant name
_SVG_START = re.compile(r"<svg\b")


def wrap_name(name: str, width: int = LABEL_WIDTH, lines: int = 3) -> str:
    """A long name broken at hyphens or spaces onto at most ``lines`` lines (the rest elided)."""
    pieces = textwrap.wrap(name.replace("-", "- "), width, break_long_words=True) or [name]
    pieces = [p.replace("- ", "-") for p in pieces]
    if len(pieces) > lines:
        pieces = pieces[:lines]
        pieces[-1] = pieces[-1][: width - 1] + "…"
    return "\n".join(pieces)


def bar_svg(title: str, axis_label: str, bars: Sequence[tuple[str, str, float | None, float | None, float | None]]
            ) -> str:
    """Horizontal bars, one per ``(name, colour, mean, low, high)``, with 95% CI whiskers."""
    with _text_rc():
        labels = [wrap_name(name) for name, *_ in bars]
        rows = [label.count("\n") + 1 for label in labels]
        fig = _figure(5.0, 0.3 * sum(rows) + 0.2 * len(bars) + 1.0)
        ax = fig.subplots()
        positions, y = [], 0.0
        for height in reversed(rows):  # the first variant at the top; taller rows for wrapped names
            positions.insert(0, y + height / 2)
            y += height + 0.4
        top = 1.0
        for pos, (_, colour, mean, low, high) in zip(positions, bars):
            if mean is None:
                ax.text(0.01, pos, "n/a", va="center", fontsize=8, color="#777")
                continue
            err = None
            if low is not None and high is not None:
                err = [[max(mean - low, 0.0)], [max(high - mean, 0.0)]]
                top = max(top, high)
            ax.barh(pos, mean, height=0.8, color=colour, alpha=0.85, xerr=err,
                    error_kw={"ecolor": "#333", "capsize": 3, "elinewidth": 1})
            end = high if err is not None else mean
            ax.text(end + 0.015, pos, f"{mean:.3f}" + ("" if err is not None else " (no CI)"), va="center", fontsize=8)
            top = max(top, mean)
        ax.set_yticks(positions, labels=labels)
        ax.set_xlim(0, top * 1.15)
        ax.set_ylim(-0.4, y)
        ax.set_xlabel(axis_label)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        _style_axes(ax)
        return _svg(fig, f"bar chart: {axis_label}")


def radar_svg(plotted: Sequence[tuple[str, str, list[float]]]) -> str:
    """The tutorial's three metrics per variant ``(name, colour, values)`` on a 0–1 radar."""
    with _text_rc():
        fig = _figure(6.4, 4.2)
        ax = fig.add_subplot(projection="polar")
        labels = [label for _, label in RADAR_AXES]
        angles = [math.pi / 2 + 2 * math.pi * i / len(labels) for i in range(len(labels))]
        closed = angles + angles[:1]
        for name, colour, values in plotted:
            values = [min(max(x, 0.0), 1.0) for x in values]
            ax.plot(closed, values + values[:1], color=colour, linewidth=1.8, label=wrap_name(name, 28))
            ax.fill(closed, values + values[:1], color=colour, alpha=0.12)
        ax.set_xticks(angles, labels=labels, fontsize=10)
        ax.tick_params(axis="x", pad=12)
        ax.set_ylim(0, 1)
        # The outer ring is 1; its label would sit on the frame, so the caption states the scale instead.
        ax.set_yticks([0.25, 0.5, 0.75, 1.0], labels=["0.25", "0.5", "0.75", ""], fontsize=7, color="#777")
        ax.set_rlabel_position(150)
        ax.grid(color="#ddd", linewidth=0.7)
        ax.legend(loc="upper left", bbox_to_anchor=(1.15, 1.0), fontsize=9, frameon=False)
        return _svg(fig, "radar chart of the tutorial metrics")


def scatter_svg(points: Sequence[tuple[int, str, str, float, float, float | None, float | None]],
                quality_label: str) -> str:
    """Quality against cost: ``(number, name, colour, cost, mean, low, high)``; each point carries its
    number and the legend beside the axes names it (names written at the points overlapped)."""
    with _text_rc():
        fig = _figure(6.4, 4.0)
        ax = fig.subplots()
        for number, name, colour, cost, mean, low, high in points:
            err = [[max(mean - low, 0.0)], [max(high - mean, 0.0)]] if low is not None and high is not None else None
            ax.errorbar([cost], [mean], yerr=err, fmt="o", color=colour, markersize=7, capsize=4, elinewidth=1.2,
                        label=f"{number}  {wrap_name(name, 30, 2)}")
            ax.annotate(str(number), (cost, mean), textcoords="offset points", xytext=(6, 4), fontsize=8,
                        fontweight="bold", color=colour)
        costs = [p[3] for p in points]
        span = max(costs) - min(costs)
        pad = span * 0.15 if span > 0 else max(abs(max(costs)) * 0.5, 0.05)
        # Room on both sides so a free (zero-cost) variant's marker and error bar are not cut by the axis.
        ax.set_xlim(min(costs) - pad, max(costs) + pad * 1.6)
        if min(costs) >= 0:  # no negative dollars on the axis, even where the padding reaches below 0
            from matplotlib.ticker import FuncFormatter

            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "" if x < -1e-12 else f"{x:g}"))
        ax.set_xlabel("Modelled cost per 1,000 queries ($)")
        ax.set_ylabel(quality_label)
        ax.set_title(f"Quality ({quality_label}, 95% CI) vs cost per 1,000 queries", fontsize=10)
        ax.grid(color="#eee", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
        _style_axes(ax)
        return _svg(fig, "quality vs cost per 1,000 queries")


def roi_svg(series: Sequence[tuple[str, str, list[float]]], break_evens: Sequence[tuple[int, float]],
            net: bool = False) -> str:
    """Cumulative cost — or, with ``net``, cumulative net value (return − cost), which may be
    negative — per variant ``(name, colour, values)``; a star at each ``(month, value)`` break-even
    (the pairs are named in the text beside the plot, not on it)."""
    what = "net value" if net else "cost"
    with _text_rc():
        fig = _figure(7.0, 4.0)
        ax = fig.subplots()
        for name, colour, cumulative in series:
            months = list(range(1, len(cumulative) + 1))
            ax.plot(months, cumulative, marker="o", markersize=3, linewidth=1.8, color=colour,
                    label=wrap_name(name, 30, 2))
        for month, y in break_evens:
            ax.axvline(month, color="#999", linestyle=":", linewidth=1)
            ax.plot([month], [y], marker="*", markersize=13, color="#d62728", zorder=5)
            ax.annotate(f"month {month}", (month, y), textcoords="offset points", xytext=(8, -14), fontsize=8,
                        color="#a01010")
        length = max(len(c) for *_, c in series)
        ax.set_xticks(range(1, length + 1))
        ax.set_xlabel("Month")
        ax.set_ylabel(f"Cumulative {what} ($)")
        highest = max(max(c) for *_, c in series)
        lowest = min(min(c) for *_, c in series)
        if lowest < 0:  # a net value below zero: the variant has not paid for itself yet
            ax.axhline(0, color="#666", linewidth=0.8)
            span = (max(highest, 0.0) - lowest) or 1.0
            ax.set_ylim(lowest - 0.05 * span, max(highest, 0.0) + 0.05 * span)
        else:
            ax.set_ylim(0, highest * 1.05 if highest > 0 else 1.0)
        ax.set_title(f"Cumulative modelled {what}", fontsize=10)
        ax.grid(color="#eee", linewidth=0.6)
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        _style_axes(ax)
        return _svg(fig, f"cumulative {what} by month")


def graph_svg(graph: dict) -> str:
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


# ---------------------------------------------------------------------------------- helpers

def _figure(width: float, height: float, **kwargs):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), **kwargs)


def _svg(fig, name: str) -> str:
    """The figure as an inline <svg> element: deterministic ids, text as text, no XML prolog."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"ragft-{name}", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    match = _SVG_START.search(text)
    text = text[match.start():] if match else text
    return text.replace("<svg ", f'<svg role="img" aria-label="{escape(name, quote=True)}" ', 1)


def _style_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def _text_rc():
    """rc for every plot: no mathtext (a '$' in a variant name is text, not LaTeX)."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False, "font.size": 9,
                                  "font.family": ["DejaVu Sans", "sans-serif"]})
