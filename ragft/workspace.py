"""A workspace: one folder holding a corpus's index, its configuration and its study runs.

    <workspace>/ragft.yaml   the WorkspaceConfig (models, chunker, retrieval) used by ingest/ask
    <workspace>/index/       the HybridIndex (see ragft.index.store)
    <workspace>/models/      trained model versions (the registry: ragft.models.registry)
    <workspace>/feedback.sqlite   the web app's feedback (ragft.feedback.store)

The CLI takes ``--workspace`` (default ``$RAGFT_WORKSPACE`` or ``./ragft-workspace``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ragft.config import WorkspaceConfig, load_yaml_model, save_yaml_model
from ragft.errors import RagftError
from ragft.corpus import LoadReport, make_chunker
from ragft.corpus.public_formats import load_corpus
from ragft.index.store import HybridIndex, IngestStats, ProgressCallback
from ragft.models.embedder import Embedder


def default_workspace() -> Path:
    return Path(os.environ.get("RAGFT_WORKSPACE", "ragft-workspace"))


@dataclass
class Workspace:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "ragft.yaml"

    @property
    def index_dir(self) -> Path:
        return self.path / "index"

    def load_config(self) -> WorkspaceConfig:
        if self.config_path.exists():
            return load_yaml_model(self.config_path, WorkspaceConfig)
        return WorkspaceConfig()

    def save_config(self, config: WorkspaceConfig) -> None:
        save_yaml_model(config, self.config_path)

    def has_index(self) -> bool:
        return (self.index_dir / "CURRENT").is_file()

    def load_index(self, embedder: Embedder | None) -> HybridIndex:
        return HybridIndex.load(self.index_dir, embedder)


def ingest(workspace: Workspace, source: Path, config: WorkspaceConfig, embedder: Embedder,
           progress: bool = False, on_progress: ProgressCallback | None = None) -> tuple[LoadReport, IngestStats]:
    """Load a folder (or file), chunk it, embed what changed, and save the index atomically.

    The folder given is the whole corpus: documents no longer in it leave the index. A public
    dataset file or BEIR folder (SQuAD, PubMedQA, HotpotQA, MuSiQue, BEIR) gives its documents.
    ``progress`` shows the CLI's own bars; ``on_progress(stage, done, total)`` lets a caller (the
    study) show loading, chunking and embedding on its own console instead.
    """
    report = load_corpus(Path(source), progress=progress, on_progress=on_progress)
    chunker_config = config.chunker.model_dump()
    chunker = make_chunker(config.chunker.kind, **config.chunker.params)
    previous = _previous_index(workspace)
    index, stats = HybridIndex.build(report.documents, chunker, chunker_config, embedder,
                                     previous=previous, progress=progress, on_progress=on_progress)
    if not _index_is_current(previous, stats):
        index.save(workspace.index_dir)
    workspace.save_config(config)
    return report, stats


def _index_is_current(previous: HybridIndex | None, stats: IngestStats) -> bool:
    """True when the build reused every document of ``previous`` as it was: nothing to write.

    Skipping the write keeps studies that share an index (run side by side) from racing to save it.
    """
    if previous is None or stats.embedded_chunks or stats.added or stats.changed or stats.removed:
        return False
    return stats.unchanged == stats.documents == len(previous.manifest.documents)


def _previous_index(workspace: Workspace) -> HybridIndex | None:
    """The live index, for reusing vectors of unchanged documents; unreadable means rebuild all."""
    if not workspace.has_index():
        return None
    try:
        return HybridIndex.load(workspace.index_dir, embedder=None)
    except RagftError as err:
        print(f"note: {err}; rebuilding the index from scratch")
        return None
