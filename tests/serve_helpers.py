"""A real workspace and a real running server for the web-app tests (imported by test_serve_*.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ragft.config import ChunkerConfig, LLMConfig, WorkspaceConfig
from ragft.data import sample_docs_dir

SAMPLE_FILES = ("hr/leave-policy.md", "company/about-brennock.md")
QUESTION = "How many days of annual leave do employees get?"


def make_workspace(root: Path, embedder, max_new_tokens: int = 12) -> Path:
    """Two sample documents, ingested with the CLI's ingest; short answers for quick tests."""
    from ragft.workspace import Workspace, ingest

    docs = root / "docs"
    for name in SAMPLE_FILES:
        target = docs / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_docs_dir() / name, target)
    config = WorkspaceConfig(llm=LLMConfig(max_new_tokens=max_new_tokens, batch_size=2),
                             chunker=ChunkerConfig(kind="recursive", params={"max_chars": 600}))
    config.retrieval.top_k = 3
    workspace = Workspace(root / "ws")
    ingest(workspace, docs, config, embedder)
    return workspace.path


def start_server(workspace: Path, embedder=None, llm=None, **settings):
    """The real app on a free loopback port; the session's already-loaded models are reused."""
    from ragft.serve.app import create_app
    from ragft.serve.background import serve_in_thread
    from ragft.serve.settings import ServeSettings

    app = create_app(ServeSettings(workspace=workspace, **settings))
    app.state.engine.share_models(embedder=embedder, base_llm=llm)
    return app, serve_in_thread(app)


def serve_sample(tmp_path_factory, embedder, llm, name: str, **settings):
    """A module fixture's body: a fresh two-document workspace served until the module ends."""
    workspace = make_workspace(tmp_path_factory.mktemp(name), embedder)
    app, running = start_server(workspace, embedder=embedder, llm=llm, **settings)
    yield running, workspace
    running.stop()
