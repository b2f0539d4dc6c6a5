"""The ``ragft`` command. Each subcommand is a thin call into the modules that do the work."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ragft.errors import RagftError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="RAG, fine-tuning or both? Build, fine-tune and benchmark domain LLM pipelines.",
)
console = Console()
err_console = Console(stderr=True)

WorkspaceOption = typer.Option(None, "--workspace", "-w", help="Workspace folder [default: $RAGFT_WORKSPACE or ./ragft-workspace]")


def _workspace(path: Optional[Path]):
    from ragft.workspace import Workspace, default_workspace

    return Workspace(path or default_workspace())


def _quiet_libraries() -> None:
    """Silence the libraries' own load-time chatter; ragft prints what matters."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: everything is local
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import bm25s  # noqa: F401 — imported first: it sets its own logger to DEBUG at import time

    for noisy in ("bm25s", "pypdf", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@app.command()
def ingest(
    path: str = typer.Argument(..., help="Folder or file of documents; 'builtin:sample' for the shipped sample"),
    workspace: Optional[Path] = WorkspaceOption,
    chunker: Optional[str] = typer.Option(None, help="fixed | sentence | recursive (default: the workspace's, else recursive)"),
    chunk_size: Optional[int] = typer.Option(None, help="Characters per chunk (fixed: size, others: max_chars)"),
    chunk_overlap: Optional[int] = typer.Option(None, help="Characters of overlap (fixed chunker)"),
):
    """Load, chunk and embed documents into the workspace's index (only changed documents are re-embedded)."""
    from ragft.data import resolve_corpus_path
    from ragft.models import load_embedder
    from ragft.workspace import ingest as run_ingest

    _quiet_libraries()
    ws = _workspace(workspace)
    config = ws.load_config()
    if chunker or chunk_size or chunk_overlap is not None:
        config.chunker = _chunker_config(chunker or config.chunker.kind, chunk_size, chunk_overlap)
    source = resolve_corpus_path(path)
    embedder = load_embedder(config.embedder)
    report, stats = run_ingest(ws, source, config, embedder, progress=sys.stderr.isatty())
    for skipped in report.skipped:
        err_console.print(f"[yellow]skipped[/] {skipped.path}: {skipped.reason}", highlight=False, soft_wrap=True)
    console.print(report.summary())
    console.print(
        f"Index: {stats.chunks} chunks from {stats.documents} documents "
        f"({stats.added} new, {stats.changed} changed, {stats.unchanged} unchanged, {stats.removed} removed; "
        f"{stats.embedded_chunks} chunks embedded) in {stats.seconds:.1f} s → {ws.index_dir}"
    )


def _chunker_config(kind: str, size: Optional[int], overlap: Optional[int]):
    from ragft.config import ChunkerConfig

    params = {}
    if size:
        params["size" if kind == "fixed" else "max_chars"] = size
    if overlap is not None:
        if kind == "sentence":
            raise RagftError("--chunk-overlap applies to the fixed and recursive chunkers, not sentence")
        params["overlap"] = overlap
    try:
        return ChunkerConfig(kind=kind, params=params)
    except ValueError:
        raise RagftError(f"--chunker {kind!r} is not a chunker — use fixed, sentence or recursive") from None


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question"),
    workspace: Optional[Path] = WorkspaceOption,
    k: Optional[int] = typer.Option(None, "--k", help="Chunks to retrieve"),
    mode: Optional[str] = typer.Option(None, help="dense | bm25 | hybrid"),
    closed_book: bool = typer.Option(False, "--closed-book", help="No retrieval: the model alone"),
    doc: Optional[str] = typer.Option(None, help="Restrict retrieval to this document id"),
    show_context: bool = typer.Option(False, help="Print the retrieved text of each source"),
):
    """Answer a question from the indexed documents, with numbered sources."""
    from ragft.models import load_embedder, load_llm
    from ragft.rag.pipeline import ClosedBook, naive_rag

    _quiet_libraries()
    ws = _workspace(workspace)
    config = ws.load_config()
    if k:
        config.retrieval.top_k = k
    if mode:
        if mode not in ("dense", "bm25", "hybrid"):
            raise RagftError(f"--mode {mode!r} — use dense, bm25 or hybrid")
        config.retrieval.mode = mode
    if closed_book:
        pipeline = ClosedBook(load_llm(config.llm))
    else:
        index = ws.load_index(load_embedder(config.embedder))
        pipeline = naive_rag(index, load_llm(config.llm), config.retrieval)
    answer = pipeline.answer(question, doc_scope=doc)
    console.print(answer.text or "[dim](empty answer)[/]", highlight=False)
    if answer.hits:
        console.print("\n[bold]Sources[/]")
        for number, hit in enumerate(answer.hits, start=1):  # numbered as in the prompt
            console.print(f"  [{number}] {hit.chunk.doc_id}  (chars {hit.chunk.start}–{hit.chunk.end}, "
                          f"{hit.retriever} score {hit.score:.3f})", highlight=False)
            if show_context:
                console.print("      " + hit.chunk.text.strip().replace("\n", "\n      "), style="dim", highlight=False)
    seconds = sum(answer.timings.values())
    console.print(f"[dim]{answer.prompt_tokens} prompt + {answer.completion_tokens} answer tokens, {seconds:.1f} s[/]")


@app.command()
def study(
    config_path: Path = typer.Argument(..., metavar="CONFIG.yaml", help="Study configuration (see configs/)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run folder [default: the config's output_dir or runs/<name>]"),
    n: Optional[int] = typer.Option(None, "--n", help="Score only this many test questions (a quick run)"),
):
    """Run every variant on every test question; write results.json, questions.csv and report.html."""
    from ragft.eval.report import write_report
    from ragft.eval.results import build_results, write_results
    from ragft.eval.study import StudyRunner
    from ragft.eval.study_config import load_study_config
    from ragft.eval.summary import print_summary

    _quiet_libraries()
    config = load_study_config(config_path)
    if n:
        config.test.n = n
    runner = StudyRunner(config, output_dir=output)
    run = runner.run()
    results = build_results(run, runner.embedder.embed, judge=runner.judge(run))
    results["study"]["full_size_hint"] = _full_size_hint(config_path, config)
    write_results(results, run.output_dir)
    report = write_report(run.output_dir)
    print_summary(results, console, report_path=report)


def _full_size_hint(config_path: Path, config) -> str:
    if config.test.n:
        return (f"This run scored a sample of {config.test.n} questions; for the full set remove test.n from "
                f"{config_path} (or pass --n) and run `ragft study {config_path}` again.")
    return f"This run scored every question of its test set; re-run with `ragft study {config_path}`."


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A study run folder (holding results.json)")):
    """Regenerate report.html from a run's results.json."""
    from ragft.eval.report import read_results, write_report
    from ragft.eval.summary import print_summary

    print_summary(read_results(run_dir), console, report_path=write_report(run_dir))


@app.command()
def models(workspace: Optional[Path] = WorkspaceOption):
    """Show the configured models, the built-in ones and what is cached."""
    from ragft.models.builtin import BUILTIN_MODELS, builtin_source, cache_dir, converted_llm_dir

    ws = _workspace(workspace)
    config = ws.load_config()
    table = Table(title=f"Configured in {ws.config_path if ws.config_path.exists() else 'defaults'}")
    table.add_column("role"); table.add_column("backend"); table.add_column("model")
    table.add_row("llm", config.llm.backend, config.llm.model + (f" @ {config.llm.base_url}" if config.llm.base_url else ""))
    table.add_row("embedder", "sentence-transformers", config.embedder.model)
    console.print(table)

    table = Table(title=f"Built-in models (cache: {cache_dir()})")
    table.add_column("name"); table.add_column("package"); table.add_column("installed"); table.add_column("cached")
    for name, spec in BUILTIN_MODELS.items():
        try:
            builtin_source(name)
            installed = "yes"
        except RagftError:
            installed = f"no — {spec.install_hint}"
        cached = "n/a" if spec.kind != "gguf-llm" else (
            "yes" if (converted_llm_dir(name) / "config.json").exists() else "converted on first use")
        table.add_row(name, spec.package, installed, cached)
    console.print(table)


def main() -> None:
    """Entry point: user errors print one line and exit 2; bugs keep their traceback."""
    try:
        app()
    except RagftError as err:
        err_console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted — finished work is saved; re-run to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
