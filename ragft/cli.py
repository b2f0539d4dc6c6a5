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

from ragft.errors import ConfigError, RagftError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="RAG, fine-tuning or both? Build, fine-tune and benchmark domain LLM pipelines.",
)
console = Console()
err_console = Console(stderr=True)

def _version(value: bool) -> None:
    if value:
        from ragft import __version__

        console.print(f"ragft {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print ragft's version and exit")) -> None:
    """RAG, fine-tuning or both? Build, fine-tune and benchmark domain LLM pipelines."""


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
    path: str = typer.Argument(..., help="Folder or file of documents, or a public dataset (SQuAD/PubMedQA/HotpotQA JSON, MuSiQue JSONL, BEIR folder); 'builtin:sample' for the shipped sample"),
    workspace: Optional[Path] = WorkspaceOption,
    chunker: Optional[str] = typer.Option(None, help="fixed | sentence | recursive (default: the workspace's, else recursive)"),
    chunk_size: Optional[int] = typer.Option(None, help="Characters per chunk (fixed: size, others: max_chars)"),
    chunk_overlap: Optional[int] = typer.Option(None, help="Characters of overlap (fixed chunker)"),
    embedder: Optional[str] = typer.Option(None, help="Embedding model (path or builtin:…); a change re-embeds every chunk"),
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
    if embedder:
        config.embedder = config.embedder.model_copy(update={"model": embedder})
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
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1,
                                                 help="Longest answer in tokens [default: the workspace's llm setting]"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (answer, sources, tokens) for scripts"),
):
    """Answer a question from the indexed documents, with numbered sources."""
    from ragft.models import load_embedder, load_llm
    from ragft.rag.pipeline import ClosedBook, naive_rag

    if not question.strip():
        raise RagftError("the question is empty — ask something, e.g. ragft ask \"Who approves travel claims?\"")
    _quiet_libraries()
    ws = _workspace(workspace)
    config = ws.load_config()
    if max_new_tokens:
        config.llm.max_new_tokens = max_new_tokens
    if k:
        config.retrieval.top_k = k
    if mode:
        if mode not in ("dense", "bm25", "hybrid"):
            raise RagftError(f"--mode {mode!r} — use dense, bm25 or hybrid")
        config.retrieval.mode = mode
    from ragft.models.registry import ModelRegistry, resolve_llm_config

    config.llm = resolve_llm_config(config.llm, ModelRegistry(ws.path / "models"))  # llm.model: registry:NAME
    if closed_book:
        pipeline = ClosedBook(load_llm(config.llm))
    else:
        index = ws.load_index(load_embedder(config.embedder))
        pipeline = naive_rag(index, load_llm(config.llm), config.retrieval)
    answer = pipeline.answer(question, doc_scope=doc)
    if as_json:
        _print_answer_json(answer)
        return
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


def _print_answer_json(answer) -> None:
    import json

    sources = [{"rank": number, "doc_id": hit.chunk.doc_id, "start": hit.chunk.start, "end": hit.chunk.end,
                "score": round(hit.score, 6), "retriever": hit.retriever, "text": hit.chunk.text}
               for number, hit in enumerate(answer.hits, start=1)]
    print(json.dumps({"answer": answer.text, "sources": sources, "prompt_tokens": answer.prompt_tokens,
                      "completion_tokens": answer.completion_tokens,
                      "seconds": round(sum(answer.timings.values()), 3)}, ensure_ascii=False))


@app.command()
def study(
    config_path: Path = typer.Argument(..., metavar="CONFIG.yaml", help="Study configuration (see configs/)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run folder [default: the config's output_dir or runs/<name>]"),
    n: Optional[int] = typer.Option(None, "--n", help="Score only this many test questions (a quick run)"),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated variant names: run just these "
                                       "(the baselines are kept)"),
    plan: bool = typer.Option(False, "--plan", help="Only estimate how many questions the study needs, "
                              "from a finished run's spread if there is one; runs nothing"),
):
    """Run every variant on every test question; write results.json, questions.csv and report.html."""
    from ragft.study.report import write_report
    from ragft.study.results import build_results, write_results
    from ragft.study.study import StudyRunner
    from ragft.study.study_config import load_study_config
    from ragft.study.summary import print_summary

    _quiet_libraries()
    config = load_study_config(config_path)
    if n:
        config.test.n = n
    if plan:
        _print_plan(config, output)
        return
    if only:
        _keep_variants(config, [name.strip() for name in only.split(",") if name.strip()])
    runner = StudyRunner(config, output_dir=output)
    run = runner.run()
    results = build_results(run, runner.embedder.embed, judge=runner.judge(run))
    results["study"]["full_size_hint"] = _full_size_hint(config_path, config)
    write_results(results, run.output_dir)
    runner.record_registry_scores(results)  # fine-tuned variants keep their scores in the registry
    report = write_report(run.output_dir)
    print_summary(results, console, report_path=report)


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
    _print_registry(ws.path / "models")


def _print_registry(root: Path) -> None:
    """Fine-tuned versions with their lineage, training figures and study scores."""
    from ragft.models.registry import ModelRegistry

    versions = ModelRegistry(root).list()
    if not versions:
        return
    by_name = {v.name: v for v in versions}
    table = Table(title=f"Fine-tuned versions ({root})")
    for column in ("name", "status", "method", "lineage", "steps", "final loss", "studies", "path"):
        table.add_column(column)
    for version in versions:
        chain, parent = [version.name], version.parent
        while parent and parent in by_name and parent not in chain:  # guard against a corrupt cycle
            chain.append(parent)
            parent = by_name[parent].parent
        lineage = " → ".join([version.base_model, *reversed(chain)])
        loss = version.metrics.get("final_loss")
        table.add_row(version.name, version.status, version.method, lineage, str(version.metrics.get("steps", "")),
                      f"{loss:.3f}" if isinstance(loss, (int, float)) else "", str(len(version.scores)), version.path)
    console.print(table)


@app.command()
def train(
    method: str = typer.Argument(..., help="sft (closed-book QA) | raft (QA with retrieved chunks) | dpo | orpo | "
                                           "embedder (the retriever, on QA with evidence)"),
    workspace: Optional[Path] = WorkspaceOption,
    data: Optional[Path] = typer.Option(None, help="QA file for sft/raft (default: synthetic QA from the workspace "
                                                   "corpus) or preference JSONL for dpo/orpo"),
    test: Optional[list[Path]] = typer.Option(None, help="Test QA file whose questions must be kept out (repeatable)"),
    config: Optional[Path] = typer.Option(None, help="YAML of training settings (ragft.tuning *TrainConfig fields)"),
    base: Optional[str] = typer.Option(None, help="Base model: builtin:…, a path, a cached HF id or registry:NAME"),
    peft: Optional[str] = typer.Option(None, help="lora | full | qlora (CUDA + bitsandbytes) [lora]"),
    max_steps: Optional[int] = typer.Option(None, help="Stop after this many optimizer steps (overrides --epochs)"),
    epochs: Optional[float] = typer.Option(None),
    lr: Optional[float] = typer.Option(None, help="Learning rate"),
    batch_size: Optional[int] = typer.Option(None),
    max_length: Optional[int] = typer.Option(None, help="Max tokens per example; a longer one is an error"),
    seed: Optional[int] = typer.Option(None),
    save_steps: Optional[int] = typer.Option(None, help="Checkpoint every N steps; a re-run resumes from the last"),
    packing: Optional[bool] = typer.Option(None, "--packing/--no-packing", help="sft/raft: pack short examples"),
    k: Optional[int] = typer.Option(None, "--k", help="raft: distractor chunks per example [4]"),
    p_no_oracle: Optional[float] = typer.Option(None, help="raft: share of examples without the oracle chunk [0.2]"),
    generator: Optional[str] = typer.Option(None, help="Synthetic QA generator: template (offline) or a model"),
    docs: Optional[Path] = typer.Option(None, help="embedder: the documents the --data questions are about"),
    stop_after: Optional[int] = typer.Option(None, hidden=True, help="Stop after N steps (to test the resume)"),
):
    """Fine-tune a model into the workspace's model registry (<workspace>/models)."""
    from ragft.tuning.data import RaftOptions
    from ragft.tuning.run import train_from_files
    from ragft.workspace import default_workspace

    _quiet_libraries()
    if method == "embedder":
        return _train_embedder(workspace, data, docs, test, base, epochs, lr, batch_size, seed)
    overrides = {"base_model": base, "peft": peft, "max_steps": max_steps, "epochs": epochs, "learning_rate": lr,
                 "batch_size": batch_size, "max_length": max_length, "seed": seed, "save_steps": save_steps}
    if packing is not None:
        overrides["packing"] = packing
    raft = RaftOptions(k_distractors=4 if k is None else k, p_no_oracle=0.2 if p_no_oracle is None else p_no_oracle,
                       seed=seed or 0)
    version = train_from_files(method, workspace or default_workspace(), data=data, tests=test or [],
                               config_file=config, overrides=overrides, raft=raft, generator=generator,
                               stop_after=stop_after, say=lambda text: err_console.print(text, highlight=False))
    m = version.metrics
    console.print(f"registered {version.name} ({version.method} from {version.parent or version.base_model}): "
                  f"{m.get('steps')} steps in {m.get('seconds')} s, loss {m.get('first_loss')} → "
                  f"{m.get('final_loss')}", highlight=False)
    console.print(f"model: {version.path}\nloss curve: {m.get('loss_curve')}\nuse it as model: "
                  f"registry:{version.name} (with registry: {Path(version.path).parent.parent} in a study)",
                  highlight=False)


def _train_embedder(workspace, data, docs, tests, base, epochs, lr, batch_size, seed) -> None:
    from ragft.tuning.run import train_embedder_from_files
    from ragft.workspace import default_workspace

    ws = workspace or default_workspace()
    overrides = {"base_model": base, "epochs": epochs, "learning_rate": lr, "batch_size": batch_size, "seed": seed}
    path, info = train_embedder_from_files(ws, data=data, docs=docs, tests=tests or [], overrides=overrides,
                                           say=lambda text: err_console.print(text, highlight=False))
    console.print(f"embedder: {path}\n{info['pairs']} pairs, {info['steps']} steps in {info['seconds']} s, "
                  f"final loss {info['final_loss']}\nuse it: ragft ingest {docs} --workspace {ws} --embedder {path}",
                  highlight=False)


@app.command()
def improve(
    test: Path = typer.Option(..., help="Held-out QA file (question + gold answer) the promotion is decided on"),
    workspace: Optional[Path] = WorkspaceOption,
    method: str = typer.Option("dpo", help="dpo (every new feedback pair) | sft (edits only)"),
    questions: Optional[Path] = typer.Option(None, help="QA file (or .txt, one question a line) to collect AI "
                                                        "feedback on, sampled from the current version"),
    judge: str = typer.Option("auto", help="AI feedback judge: auto (gold-answer score when the questions have "
                                           "answers, else self) | auto-score | self | a model"),
    ai_samples: int = typer.Option(4, help="Answers sampled per question for AI feedback"),
    ai_threshold: float = typer.Option(0.5, help="auto-score: similarity to gold that counts as acceptable"),
    rag: bool = typer.Option(False, "--rag", help="Evaluate with naive RAG over the workspace index "
                                                  "(default: closed-book)"),
    metric: str = typer.Option("token_f1", help="Primary metric (an answer metric such as token_f1, rouge_l)"),
    alpha: float = typer.Option(0.05, help="Promote only when the paired bootstrap p-value is below this"),
    all_feedback: bool = typer.Option(False, "--all-feedback", help="Train on all stored feedback, not only what "
                                                                    "came after the last improve run"),
    max_new_tokens: Optional[int] = typer.Option(None, help="Answer length in evaluation "
                                                            "(default: the workspace's llm.max_new_tokens)"),
    config: Optional[Path] = typer.Option(None, help="YAML of training settings "
                                                     "(DPOTrainConfig / SFTTrainConfig fields)"),
    max_steps: Optional[int] = typer.Option(None, help="Training steps (overrides --epochs)"),
    epochs: Optional[float] = typer.Option(None),
    lr: Optional[float] = typer.Option(None, help="Learning rate"),
    batch_size: Optional[int] = typer.Option(None),
    max_length: Optional[int] = typer.Option(None, help="Max tokens per training example"),
    seed: Optional[int] = typer.Option(None),
):
    """Feedback → pairs → DPO (or SFT on edits) → score against the current version → promote only if better."""
    from ragft.improve import ImproveOptions, improve as run_improve, print_summary
    from ragft.workspace import default_workspace

    _quiet_libraries()
    train = {"max_steps": max_steps, "epochs": epochs, "learning_rate": lr, "batch_size": batch_size,
             "max_length": max_length, "seed": seed}
    options = ImproveOptions(test=test, method=method, questions=questions, judge=judge, ai_samples=ai_samples,
                             ai_threshold=ai_threshold, rag=rag, metric=metric, alpha=alpha,
                             all_feedback=all_feedback, max_new_tokens=max_new_tokens, config_file=config,
                             train={k: v for k, v in train.items() if v is not None})
    result = run_improve(workspace or default_workspace(), options,
                         say=lambda text: err_console.print(text, highlight=False))
    print_summary(result, console)


@app.command()
def serve(
    workspace: Optional[Path] = WorkspaceOption,
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs --token"),
    port: int = typer.Option(8000, help="Port"),
    token: Optional[str] = typer.Option(None, envvar="RAGFT_SERVE_TOKEN",
                                        help="Access token: bearer for /v1, login for the pages [env: RAGFT_SERVE_TOKEN]"),
    max_new_tokens: Optional[int] = typer.Option(None, help="Answer length [default: the workspace's llm.max_new_tokens]"),
    max_upload_mb: float = typer.Option(20.0, help="Largest document upload"),
):
    """Web app: chat with sources, feedback, arena, dashboard, documents, OpenAI-compatible /v1 API."""
    from ragft.serve.settings import ServeSettings

    ws = _workspace(workspace)
    settings = ServeSettings(workspace=ws.path, host=host, port=port, token=token, max_new_tokens=max_new_tokens,
                             max_upload_mb=max_upload_mb)  # checked first: a bad option fails at once
    _quiet_libraries()
    import uvicorn

    from ragft.serve.app import create_app

    console.print(f"ragft serving {ws.path} on http://{host}:{port}  (OpenAI API: http://{host}:{port}/v1)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


feedback_app = typer.Typer(no_args_is_help=True, help="Import and export feedback (CSV or JSONL).")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def feedback_export(path: Path = typer.Argument(..., help="Output .csv or .jsonl"),
                    workspace: Optional[Path] = WorkspaceOption):
    """Write the workspace's feedback (interactions with their latest vote/rating/edit, pairwise choices)."""
    from ragft.feedback.store import FeedbackStore

    store = FeedbackStore(_workspace(workspace).path / "feedback.sqlite")
    console.print(f"Wrote {store.export(path)} records to {path}")


@feedback_app.command("import")
def feedback_import(path: Path = typer.Argument(..., help="A .csv or .jsonl feedback file"),
                    workspace: Optional[Path] = WorkspaceOption):
    """Add feedback from a file; every row is checked first and a bad file imports nothing."""
    from ragft.feedback.store import FeedbackStore

    store = FeedbackStore(_workspace(workspace).path / "feedback.sqlite")
    counts = store.import_file(path)
    console.print("Imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f" from {path}")


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
