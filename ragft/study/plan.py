"""``ragft study CONFIG --plan``: how many questions a study needs, before spending hours on it.

The spread of per-question differences between two variants decides how many questions a given
difference needs. It is read from a finished run of the same study when there is one (the
median over its variant pairs), else assumed — 0.35 for graded scores such as token F1, 0.6 for
right/wrong scores such as label accuracy, about what ragft's studies have shown — and the
table says which. Tests are Bonferroni-corrected for the number of comparisons with one variant.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from ragft.errors import RagftError
from ragft.metrics.power import questions_for_non_inferiority, questions_to_detect
from ragft.study.recommend import default_margin
from ragft.study.report import read_results

BINARY_METRICS = {"label_accuracy", "exact_match", "evidence_hit", "evidence_all_hit", "doc_hit@k"}
ASSUMED_SD = {"binary": 0.6, "graded": 0.35}
DIFFERENCES = (0.02, 0.05, 0.10, 0.15, 0.20)


@dataclass
class Plan:
    metric: str
    n_questions: int
    comparisons: int
    sd: float
    sd_source: str
    margin: float
    rows: list[tuple[float, int | None]]  # (difference, questions to detect it)
    non_inferiority: int | None  # questions to show "as good within the margin" for equal variants

    def smallest_detectable(self) -> float | None:
        found = [d for d, n in self.rows if n is not None and n <= self.n_questions]
        return min(found) if found else None


def make_plan(metric: str, n_questions: int, n_variants: int, run_dir: Path | None, alpha: float = 0.05,
              power: float = 0.8, margin: float | None = None) -> Plan:
    comparisons = max(n_variants - 1, 1)
    sd, source = observed_sd(run_dir, metric) if run_dir else (None, "")
    if sd is None:
        kind = "binary" if metric in BINARY_METRICS else "graded"
        sd, source = ASSUMED_SD[kind], f"assumed for a {kind} score (no finished run to measure it from)"
    margin = default_margin(metric) if margin is None else margin
    level = alpha / comparisons
    rows = [(d, questions_to_detect(sd, d, level, power)) for d in DIFFERENCES]
    return Plan(metric, n_questions, comparisons, sd, source, margin, rows,
                questions_for_non_inferiority(sd, 0.0, margin, level, power))


def observed_sd(run_dir: Path, metric: str) -> tuple[float | None, str]:
    """Median standard deviation of per-question differences over variant pairs in a finished run."""
    try:
        questions = read_results(run_dir).get("questions") or []
    except (RagftError, OSError):  # no finished run (or an unreadable one): the plan assumes a spread
        return None, ""
    by_variant: dict[str, dict[str, float]] = {}
    for row in questions:
        for name, answer in (row.get("answers") or {}).items():
            value = (answer.get("scores") or {}).get(metric)
            if isinstance(value, (int, float)):
                by_variant.setdefault(name, {})[row["qid"]] = float(value)
    names, spreads = sorted(by_variant), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sorted(set(by_variant[a]) & set(by_variant[b]))
            if len(shared) >= 3:
                spreads.append(statistics.stdev(by_variant[b][q] - by_variant[a][q] for q in shared))
    spreads = [s for s in spreads if s > 0]
    if not spreads:
        return None, ""
    return (statistics.median(spreads),
            f"observed in {Path(run_dir) / 'results.json'} ({len(questions)} questions, {len(spreads)} variant pairs)")
