"""The end-to-end study as one Python call: ``run_study(config) -> results``; ``ragft study`` wraps it.

Answers every variant (cached and resumable, ``ragft.study.study``), scores and compares them
(``results``), writes ``results.json``, ``questions.csv``, ``report.html`` and the scored
variants' specs (``variants.json``, what ``ragft deploy`` serves), and records fine-tuned
versions' scores in the registry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ragft.study.deploy import write_specs
from ragft.study.report import write_report
from ragft.study.results import build_results, write_results
from ragft.study.study import StudyRunner
from ragft.study.study_config import StudyConfig
from ragft.workspace import Workspace


@dataclass
class StudyOutcome:
    results: dict  # what results.json holds
    run_dir: Path
    report: Path


def run_study(config: StudyConfig, output_dir: Path | None = None, workspace: Workspace | None = None,
              console: Console | None = None, full_size_hint: str | None = None) -> StudyOutcome:
    """Run ``config`` (on ``workspace``'s corpus, index and registry when given) and write its run folder."""
    started = time.perf_counter()
    runner = StudyRunner(config, output_dir=output_dir, console=console, workspace=workspace)
    run = runner.run()
    scoring = time.perf_counter()
    results = build_results(run, runner.embedder.embed, judge=runner.judge(run))
    if full_size_hint:
        results["study"]["full_size_hint"] = full_size_hint
    write_specs(run.output_dir, list(run.specs.values()), str(runner.registry.root) if runner.registry else None)
    runner.record_registry_scores(results)  # fine-tuned variants keep their scores in the registry
    write_results(results, run.output_dir)
    report = write_report(run.output_dir)
    # Where the time went (wall seconds): benchmarks/generation.py prints it for make demo.
    results["study"]["phases"] = {**run.phases, "scoring and report": round(time.perf_counter() - scoring, 1),
                                  "total": round(time.perf_counter() - started, 1)}
    write_results(results, run.output_dir)
    return StudyOutcome(results, run.output_dir, report)
