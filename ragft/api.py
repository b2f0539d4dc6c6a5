"""The Python API: what the ``ragft`` command does, as calls — for notebooks and applications.

    import ragft

    ws = ragft.open_workspace("ws")                      # created on first use
    ws.ingest("~/my-docs")                               # load, chunk, embed (only what changed)
    outcome = ws.study("configs/my-study.yaml")          # every variant on your questions → ws/runs/NAME
    ws.deploy(outcome.run_dir)                           # serve the recommended variant (or variant="…")
    reply = ws.ask("Who approves travel claims?")        # .text, .sources, .variant, .variant_hash
    follow = ws.ask("And above £500?", history=[reply])  # a follow-up, condensed from the history
    ws.serve(port=8000)                                  # the web app and /v1, until interrupted

Every call is the same code the CLI runs (``ragft.workspace``, ``ragft.study.run``,
``ragft.study.deploy``, ``ragft.serve.engine``): what a study measured is what ``ask`` answers with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragft.config import WorkspaceConfig
from ragft.rag.conversation import Turn
from ragft.workspace import Workspace


@dataclass
class Reply:
    """One answer: its text, numbered sources, and what answered (variant, spec hash, model)."""

    question: str
    text: str
    sources: list[dict] = field(default_factory=list)
    variant: str = ""
    variant_hash: str = ""
    model_version: str = ""
    standalone_question: str = ""  # what was answered (a follow-up condensed from the history)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class OpenWorkspace:
    """A workspace folder and the models it has loaded (each loaded once, on first use)."""

    def __init__(self, path: str | Path):
        self.workspace = Workspace(Path(path).expanduser())
        self._engine = None

    @property
    def path(self) -> Path:
        return self.workspace.path

    @property
    def config(self) -> WorkspaceConfig:
        return self.workspace.load_config()

    def ingest(self, source: str | Path, config: WorkspaceConfig | None = None):
        """Index a folder of documents (or a public dataset file); returns (load report, ingest stats)."""
        from ragft.data import resolve_corpus_path
        from ragft.workspace import ingest

        config = config or self.workspace.load_config()
        report, stats = ingest(self.workspace, resolve_corpus_path(str(source)), config,
                               self.engine.models.embedder_for(config.embedder))
        self.engine.reload_index()
        return report, stats

    def study(self, config: str | Path, n: int | None = None):
        """Run a study config on this workspace's documents; returns its outcome (results, run_dir, report)."""
        from ragft.study.run import run_study
        from ragft.study.study_config import load_study_config

        study_config = load_study_config(Path(config))
        if n:
            study_config.test.n = n
        return run_study(study_config, workspace=self.workspace)

    def deploy(self, run_dir: str | Path, variant: str | None = None):
        """Serve a finished study's variants from here, its recommended one (or ``variant``) by default."""
        from ragft.study.deploy import deploy_study

        return deploy_study(Path(run_dir), self.workspace, variant)

    def variants(self) -> list[str]:
        """The ids ``ask`` and ``/v1`` accept; the default first."""
        default = self.engine.default_variant().name
        return [default] + [v.name for v in self.engine.variants() if v.name != default]

    def ask(self, question: str, variant: str | None = None, history: Sequence[Reply | Turn] = (),
            max_new_tokens: int | None = None) -> Reply:
        """Answer with ``variant`` (default: the deployed one); ``history`` makes it a follow-up."""
        engine = self.engine
        served = engine.variant(variant) if variant else engine.default_variant("rag")
        turns = [t if isinstance(t, Turn) else Turn(t.question, t.text) for t in history]
        result = engine.answer(served, question, max_new_tokens=max_new_tokens, history=turns)
        return Reply(question, result.text, result.sources(), served.name, served.spec_hash, served.model_version,
                     result.question, result.prompt_tokens, result.completion_tokens, result.seconds)

    def serve(self, host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> None:
        """The web app and the OpenAI-compatible API on this workspace (blocks until interrupted)."""
        import uvicorn

        from ragft.serve.app import create_app
        from ragft.serve.settings import GRACEFUL_SHUTDOWN_S, ServeSettings

        uvicorn.run(create_app(ServeSettings(workspace=self.path, host=host, port=port, token=token)),
                    host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)

    @property
    def engine(self):
        if self._engine is None:
            from ragft.serve.engine import Engine

            self._engine = Engine(self.workspace)
        return self._engine


def open_workspace(path: str | Path = "ragft-workspace") -> OpenWorkspace:
    return OpenWorkspace(path)
