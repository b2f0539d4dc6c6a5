"""Commands on a workspace: ingest documents, ask, deploy a study's variant, serve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ragft.cli import WorkspaceOption, _quiet_libraries, _workspace, app, console, err_console
from ragft.errors import RagftError


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
    for duplicate, original in stats.duplicates:
        err_console.print(f"[yellow]duplicate[/] {duplicate} has the same text as {original} — both are indexed; "
                          "remove one to keep it from filling two retrieval slots", highlight=False, soft_wrap=True)
    console.print(
        f"Index: {stats.chunks} chunks from {stats.documents} documents "
        f"({stats.added} new, {stats.changed} changed, {stats.unchanged} unchanged, {stats.removed} removed; "
        f"{stats.embedded_chunks} chunks embedded"
        f"{f', {stats.resumed_chunks} resumed from an interrupted ingest' if stats.resumed_chunks else ''}) in {stats.seconds:.1f} s → {ws.index_dir}"
    )


def _chunker_config(kind: str, size: Optional[int], overlap: Optional[int]):
    from pydantic import ValidationError

    from ragft.config import CHUNKER_PARAMS, ChunkerConfig, describe_validation_error

    params = {}
    if size:
        params["size" if kind == "fixed" else "max_chars"] = size
    if overlap is not None:
        if kind == "sentence":
            raise RagftError("--chunk-overlap applies to the fixed and recursive chunkers, not sentence")
        params["overlap"] = overlap
    if kind not in CHUNKER_PARAMS:
        raise RagftError(f"--chunker {kind!r} is not a chunker — use fixed, sentence or recursive")
    try:
        return ChunkerConfig(kind=kind, params=params)
    except ValidationError as err:  # e.g. a --chunk-size below the default overlap
        raise RagftError(f"--chunker {kind}: {describe_validation_error(err)}") from None


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question"),
    workspace: Optional[Path] = WorkspaceOption,
    variant: Optional[str] = typer.Option(None, "--variant", help="Which served variant answers [default: the "
                                          "deployed one (ragft deploy), else rag.base]; see `ragft variants`"),
    k: Optional[int] = typer.Option(None, "--k", help="Chunks to retrieve"),
    mode: Optional[str] = typer.Option(None, help="dense | bm25 | hybrid"),
    closed_book: bool = typer.Option(False, "--closed-book", help="No retrieval: the workspace's model alone "
                                     "(the variant closed-book.base)"),
    doc: Optional[str] = typer.Option(None, help="Restrict retrieval to this document id"),
    show_context: bool = typer.Option(False, help="Print the retrieved text of each source"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1,
                                                 help="Longest answer in tokens [default: the variant's setting]"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (answer, sources, tokens) for scripts"),
):
    """Answer a question with a served variant (the deployed study winner by default), with numbered sources."""
    from ragft.serve.engine import Engine

    if not question.strip():
        raise RagftError("the question is empty — ask something, e.g. ragft ask \"Who approves travel claims?\"")
    if mode and mode not in ("dense", "bm25", "hybrid"):
        raise RagftError(f"--mode {mode!r} — use dense, bm25 or hybrid")
    _quiet_libraries()
    engine = Engine(_workspace(workspace))
    if closed_book:
        served = engine.default_variant("closed-book") if engine.deployment() is None else engine.variant(
            "closed-book.base")
    else:  # without an index, naive RAG says how to make one rather than silently answering closed-book
        served = engine.variant(variant) if variant else engine.default_variant("rag")
    spec = _adjusted(served.spec, k, mode, max_new_tokens)
    answer = engine.models.answerer(spec).answer_batch([question], [doc])[0]
    if as_json:
        _print_answer_json(answer, served.name, spec.key())
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
    console.print(f"[dim]{served.name} ({spec.key()}) · {answer.prompt_tokens} prompt + {answer.completion_tokens} "
                  f"answer tokens, {seconds:.1f} s[/]", highlight=False)


def _adjusted(spec, k: Optional[int], mode: Optional[str], max_new_tokens: Optional[int]):
    """The spec with the command line's overrides (a different spec, so a different key)."""
    retrieval = spec.retrieval.model_copy(update={key: value for key, value in (("top_k", k), ("mode", mode)) if value})
    update = {"retrieval": retrieval}
    if max_new_tokens:
        update["max_new_tokens"] = max_new_tokens
    return spec.model_copy(update=update)


@app.command()
def variants(workspace: Optional[Path] = WorkspaceOption):
    """List the variants this workspace serves (what `ask --variant` and /v1 `model` accept)."""
    from ragft.serve.engine import Engine

    engine = Engine(_workspace(workspace))
    default = engine.default_variant().name
    deployment = engine.deployment()
    if deployment is not None:
        console.print(f"deployed from {deployment.source or 'a hand-written deployment.yaml'}", highlight=False)
    for served in engine.variants():
        mark = "*" if served.name == default else " "
        console.print(f"{mark} {served.name:28} {served.pipeline:12} model {served.model_version:32} "
                      f"spec {served.spec_hash}  {served.spec.description}", highlight=False)


@app.command()
def deploy(
    run_dir: Path = typer.Argument(..., help="A finished study's run folder (e.g. WS/runs/NAME)"),
    variant: Optional[str] = typer.Option(None, "--variant", help="Serve this variant by default [default: the "
                                          "study's recommendation]"),
    workspace: Optional[Path] = WorkspaceOption,
):
    """Serve a study's variants from this workspace, its recommended one (or --variant) by default."""
    from ragft.study.deploy import deploy_study

    ws = _workspace(workspace)
    deployment = deploy_study(run_dir, ws, variant)
    spec = deployment.variant()
    console.print(f"deployed [bold]{spec.name}[/] (spec {spec.key()}) as the default of {ws.path}; "
                  f"{len(deployment.variants)} variants from {deployment.source} are served by name — "
                  f"`ragft ask QUESTION -w {ws.path}` or `ragft serve -w {ws.path}`", highlight=False)


def _print_answer_json(answer, variant: str, variant_hash: str) -> None:
    import json

    sources = [{"rank": number, "doc_id": hit.chunk.doc_id, "start": hit.chunk.start, "end": hit.chunk.end,
                "score": round(hit.score, 6), "retriever": hit.retriever, "text": hit.chunk.text}
               for number, hit in enumerate(answer.hits, start=1)]
    print(json.dumps({"answer": answer.text, "variant": variant, "variant_hash": variant_hash, "sources": sources, "prompt_tokens": answer.prompt_tokens,
                      "completion_tokens": answer.completion_tokens,
                      "seconds": round(sum(answer.timings.values()), 3)}, ensure_ascii=False))



@app.command()
def serve(
    workspace: Optional[Path] = WorkspaceOption,
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs --token"),
    port: int = typer.Option(8000, help="Port"),
    token: Optional[str] = typer.Option(None, envvar="RAGFT_SERVE_TOKEN",
                                        help="Access token: bearer for /v1, login for the pages [env: RAGFT_SERVE_TOKEN]"),
    max_new_tokens: Optional[int] = typer.Option(None, help="Answer length [default: the workspace's llm.max_new_tokens]"),
    max_upload_mb: float = typer.Option(20.0, help="Largest document upload"),
    study: Optional[Path] = typer.Option(None, "--study", help="Deploy this finished study's variants first "
                                         "(its recommended one answers by default); same as `ragft deploy`"),
    variant: Optional[str] = typer.Option(None, "--variant", help="With --study: serve this variant by default"),
    sources_in_content: bool = typer.Option(True, help="End /v1 chat answers with a 'Sources: [1] doc, …' line "
                                            "(a request may override it with ragft_sources_in_content)"),
    access_log: bool = typer.Option(True, help="Print one line per request (client, method, path, status, seconds)"),
):
    """Web app: chat with sources, feedback, arena, dashboard, documents, OpenAI-compatible /v1 API."""
    from ragft.serve.settings import GRACEFUL_SHUTDOWN_S, ServeSettings

    ws = _workspace(workspace)
    if variant and not study:
        raise RagftError("--variant needs --study RUN_DIR (or run `ragft deploy RUN_DIR --variant NAME` first)")
    settings = ServeSettings(workspace=ws.path, host=host, port=port, token=token, max_new_tokens=max_new_tokens,
                             max_upload_mb=max_upload_mb, sources_in_content=sources_in_content,
                             access_log=access_log)  # checked first: a bad option fails at once
    _quiet_libraries()
    import uvicorn

    from ragft.serve.app import create_app

    if study is not None:
        from ragft.study.deploy import deploy_study

        deployment = deploy_study(study, ws, variant)
        console.print(f"deployed {deployment.default} from {deployment.source}", highlight=False)

    console.print(f"ragft serving {ws.path} on http://{host}:{port}  (OpenAI API: http://{host}:{port}/v1)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)


