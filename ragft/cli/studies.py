"""Commands for studies: run one (or plan its size), regenerate its report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragft.cli import _quiet_libraries, _workspace, app, console
from ragft.errors import ConfigError


@app.command()
def study(
    config_path: Path = typer.Argument(..., metavar="CONFIG.yaml", help="Study configuration (see configs/)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run folder [default: the config's output_dir or runs/<name>]"),
    n: Optional[int] = typer.Option(None, "--n", help="Score only this many test questions (a quick run)"),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated variant names: run just these "
                                       "(the baselines are kept)"),
    plan: bool = typer.Option(False, "--plan", help="Only estimate how many questions the study needs, "
                              "from a finished run's spread if there is one; runs nothing"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="Study this workspace's documents "
                                             "(reusing its index and model registry); the run lands in "
                                             "WORKSPACE/runs/<name>, where `ragft deploy` and the dashboard find it"),
):
    """Run every variant on every test question; write results.json, questions.csv and report.html."""
    from ragft.study.run import run_study
    from ragft.study.study_config import load_study_config
    from ragft.study.summary import print_summary

    _quiet_libraries()
    config = load_study_config(config_path)
    if n:
        config.test.n = n
    ws = _workspace(workspace) if workspace else None
    if plan:
        _print_plan(config, output or (ws.runs_dir / config.name if ws else None))
        return
    if only:
        _keep_variants(config, [name.strip() for name in only.split(",") if name.strip()])
    outcome = run_study(config, output_dir=output, workspace=ws, full_size_hint=_full_size_hint(config_path, config))
    print_summary(outcome.results, console, report_path=outcome.report)
    workspace_option = f" -w {ws.path}" if ws else " -w WORKSPACE"
    console.print(f"serve it: `ragft serve --study {outcome.run_dir}{workspace_option}` (or `ragft deploy "
                  f"{outcome.run_dir}{workspace_option}`)", highlight=False)


def _keep_variants(config, names: list[str]) -> None:
    """Restrict a study to the named variants (their cached answers are reused as usual)."""
    known = [v.name for v in config.variants]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"--only: no variant named {', '.join(unknown)} — the config has: {', '.join(known)}")
    from ragft.study.baselines import default_baselines

    kept_baselines = [b for b in default_baselines(config) if b not in names]
    if kept_baselines:
        console.print(f"--only: keeping the baseline(s) {', '.join(kept_baselines)} so that every variant is "
                      "compared with them (their cached answers are reused)")
        names = [*names, *kept_baselines]
    config.variants = [v for v in config.variants if v.name in names]
    # Models and embedders the study would fine-tune for the variants left out are not trained.
    config.finetune = {k: spec for k, spec in config.finetune.items() if any(v.llm == k for v in config.variants)}
    config.finetune_embedders = {k: spec for k, spec in config.finetune_embedders.items()
                                 if any(v.embedder == k for v in config.variants)}


def _print_plan(config, output: Optional[Path]) -> None:
    from rich.table import Table

    from ragft.study.plan import make_plan
    from ragft.corpus.datasets import load_dataset
    from ragft.study.scoring import LABELS, primary_metric_for

    questions = load_dataset(config.test)
    metric = primary_metric_for(config.primary_metric, [q.task_type for q in questions])
    run_dir = Path(output or config.output_dir or Path("runs") / config.name)
    d = config.decision
    plan = make_plan(metric, len(questions), len(config.variants), run_dir, d.alpha, d.power, d.margin)
    label = LABELS.get(metric, metric)
    table = Table(title=f"Questions needed on {label} ({d.power:.0%} power, α={d.alpha:g} over "
                        f"{plan.comparisons} comparisons)", title_justify="left")
    table.add_column("difference to detect", justify="right")
    table.add_column("questions needed", justify="right")
    for difference, needed in plan.rows:
        table.add_row(f"{difference:.2f}", f"{needed:,}" if needed else "—")
    console.print(table)
    console.print(f"Spread of per-question differences: {plan.sd:.2f} — {plan.sd_source}.")
    if plan.non_inferiority:
        console.print(f"To show two equally good variants 'as good' within ±{plan.margin:g}: about "
                      f"{plan.non_inferiority:,} questions.")
    smallest = plan.smallest_detectable()
    verdict = (f"can detect a difference of about {smallest:.2f}" if smallest is not None
               else f"cannot reliably detect even a {plan.rows[-1][0]:.2f} difference")
    console.print(f"This test set has {plan.n_questions} questions: it {verdict}.")


def _full_size_hint(config_path: Path, config) -> str:
    if config.test.n:
        return (f"This run scored a sample of {config.test.n} questions; for the full set remove test.n from "
                f"{config_path} (or pass --n) and run `ragft study {config_path}` again.")
    return f"This run scored every question of its test set; re-run with `ragft study {config_path}`."


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A study run folder (holding results.json)")):
    """Regenerate report.html from a run's results.json."""
    from ragft.study.report import read_results, write_report
    from ragft.study.summary import print_summary

    print_summary(read_results(run_dir), console, report_path=write_report(run_dir))


