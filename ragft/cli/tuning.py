"""Commands for models: list them, train, improve from feedback, move feedback in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragft.cli import WorkspaceOption, _quiet_libraries, _workspace, app, console, err_console
from ragft.errors import RagftError

from rich.table import Table


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
    _print_registry(ws.models_dir)


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


@app.command()
def export(
    version: str = typer.Argument(..., help="A registry version (sft-1 or registry:sft-1)"),
    dest: Path = typer.Argument(..., help="New folder for the standalone model"),
    registry: Optional[Path] = typer.Option(None, help="A models folder, a workspace or a study run holding "
                                                       "models/ [default: the workspace's]"),
    workspace: Optional[Path] = WorkspaceOption,
):
    """Write a fine-tuned version as one plain model folder, LoRA adapters merged in — for vLLM,
    llama.cpp's converter, the Hub or any transformers code."""
    from ragft.models.registry import registry_for
    from ragft.models.weights import export_merged

    _quiet_libraries()
    models = registry_for(registry) if registry else registry_for(_workspace(workspace).models_dir)
    found = models.get(version if version.startswith("registry:") else f"registry:{version}")
    export_merged(found.path, dest)
    console.print(f"exported {found.name} ({found.method}) to {dest}", highlight=False)


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
    method: str = typer.Option("dpo", help="dpo or orpo (every new feedback pair) | sft (edits only)"),
    questions: Optional[Path] = typer.Option(None, help="QA file (or .txt, one question a line) to collect AI "
                                                        "feedback on, sampled from the current version"),
    judge: str = typer.Option("auto", help="AI feedback judge: auto (gold-answer score when the questions have "
                                           "answers, else self) | auto-score | self | a model"),
    ai_samples: int = typer.Option(4, help="Answers sampled per question for AI feedback"),
    ai_threshold: float = typer.Option(0.5, help="auto-score: similarity to gold that counts as acceptable"),
    rag: bool = typer.Option(False, "--rag", help="With nothing deployed: evaluate with naive RAG over the "
                                                  "workspace index (default: closed-book)"),
    variant: Optional[str] = typer.Option(None, "--variant", help="The deployed variant to score candidates with "
                                          "[default: the deployed default when it generates]"),
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
                             ai_threshold=ai_threshold, rag=rag, variant=variant, metric=metric, alpha=alpha,
                             all_feedback=all_feedback, max_new_tokens=max_new_tokens, config_file=config,
                             train={k: v for k, v in train.items() if v is not None})
    result = run_improve(workspace or default_workspace(), options,
                         say=lambda text: err_console.print(text, highlight=False))
    print_summary(result, console)



feedback_app = typer.Typer(no_args_is_help=True, help="Import and export feedback (CSV or JSONL).")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def feedback_export(path: Path = typer.Argument(..., help="Output .csv or .jsonl"),
                    workspace: Optional[Path] = WorkspaceOption):
    """Write the workspace's feedback (interactions with their latest vote/rating/edit, pairwise choices)."""
    from ragft.feedback.store import FeedbackStore

    store = FeedbackStore(_workspace(workspace).feedback_path)
    console.print(f"Wrote {store.export(path)} records to {path}")


@feedback_app.command("import")
def feedback_import(path: Path = typer.Argument(..., help="A .csv or .jsonl feedback file"),
                    workspace: Optional[Path] = WorkspaceOption):
    """Add feedback from a file; every row is checked first and a bad file imports nothing."""
    from ragft.feedback.store import FeedbackStore

    store = FeedbackStore(_workspace(workspace).feedback_path)
    counts = store.import_file(path)
    console.print("Imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f" from {path}")


