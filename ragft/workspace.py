"""A workspace: one folder holding a corpus's index, its configuration, its studies, its model
versions, its feedback and the variants it serves. Its layout is spelled here and nowhere else:

    <workspace>/ragft.yaml        the WorkspaceConfig (models, chunker, retrieval, corpus) of ingest/ask
    <workspace>/index/            the HybridIndex of the workspace's own chunker (see ragft.index.store)
    <workspace>/indexes/<key>/    the same corpus cut by other chunkers/embedders (a study's variants)
    <workspace>/runs/<study>/     study runs (``ragft study CONFIG --workspace``), listed by the dashboard
    <workspace>/models/           the model registry (fine-tuned versions, ragft.models.registry)
    <workspace>/uploads/          documents uploaded on the web app's Documents page
    <workspace>/embedders/        retriever embedders fine-tuned by ``ragft train embedder``
    <workspace>/feedback.sqlite   what users and AI judges said about served answers
    <workspace>/deployment.yaml   the variants ``serve``/``ask`` answer with (ragft.deployment)
    <workspace>/cache/            what pipeline steps build once (sentence indexes, graphs, …)

The CLI takes ``--workspace`` (default ``$RAGFT_WORKSPACE`` or ``./ragft-workspace``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ragft.config import (
    ChunkerConfig,
    EmbedderConfig,
    IndexConfig,
    WorkspaceConfig,
    load_yaml_model,
    save_yaml_model,
)
from ragft.errors import RagftError
from ragft.corpus import LoadReport, make_chunker
from ragft.corpus.public_formats import load_corpus
from ragft.index.backend import has_index, open_index, update_index
from ragft.index.store import HybridIndex, IngestStats, ProgressCallback
from ragft.models.embedder import Embedder
from ragft.persist import content_hash
from ragft.rag.variant import model_identity


WRITE_LOCK_TIMEOUT_S = 6 * 3600  # a second writer waits this long for the first


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

    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.path / "uploads"

    @property
    def embedders_dir(self) -> Path:
        return self.path / "embedders"

    @property
    def feedback_path(self) -> Path:
        return self.path / "feedback.sqlite"

    @property
    def deployment_path(self) -> Path:
        return self.path / "deployment.yaml"

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    @contextmanager
    def writing(self, say: Callable[[str], None] = print, timeout_s: float = WRITE_LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold the workspace's write lock (an OS file lock, freed if the holder dies): one ingest,
        upload re-index or study index build at a time; a second one waits, saying for whom."""
        import filelock

        lock = filelock.FileLock(str(self.path / ".write.lock"))
        holder = self.path / ".write.pid"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock.acquire(timeout=0)
        except filelock.Timeout:  # (a TimeoutError, so an OSError: caught first)
            pid = holder.read_text().strip() if holder.exists() else "unknown"
            say(f"another ingest is writing {self.path} (pid {pid}) — waiting for it to finish")
            try:
                lock.acquire(timeout=timeout_s)
            except filelock.Timeout:
                raise RagftError(f"{self.path}: still locked by pid {pid} after {timeout_s:.0f} s — wait for that "
                                 "ingest to finish, or stop it") from None
        except OSError as err:  # checked before any embedding is done
            raise RagftError(f"{self.path}: cannot write the workspace here ({err.strerror or err}) — choose a "
                             "writable folder with --workspace") from None
        try:
            holder.write_text(str(os.getpid()))
            yield
        finally:
            holder.unlink(missing_ok=True)
            lock.release()

    def for_index(self, chunker: ChunkerConfig, embedder: EmbedderConfig) -> Workspace:
        """The workspace holding the corpus cut by ``chunker`` and embedded by ``embedder``: this
        one when they are its own settings, else the one under ``indexes/<key>``."""
        config = self.load_config()
        if chunker == config.chunker and embedder == config.embedder:
            return self
        return Workspace(self.path / "indexes" / index_key(chunker, embedder))

    def load_config(self) -> WorkspaceConfig:
        if self.config_path.exists():
            return load_yaml_model(self.config_path, WorkspaceConfig)
        return WorkspaceConfig()

    def save_config(self, config: WorkspaceConfig) -> None:
        save_yaml_model(config, self.config_path)

    def has_index(self) -> bool:
        return has_index(self.index_dir, self.load_config().index)

    def load_index(self, embedder: Embedder | None) -> HybridIndex:
        """The live index, on the backend the workspace's ``index:`` settings name (embedded or Milvus)."""
        return open_index(self.index_dir, self.load_config().index, embedder)


def index_key(chunker: ChunkerConfig, embedder: EmbedderConfig) -> str:
    """A folder name for one (chunker, embedder) pair; a local embedder folder counts by its name,
    so moving a run folder keeps its indexes."""
    return content_hash({"chunker": chunker.model_dump(),
                         "embedder": {**embedder.model_dump(), "model": model_identity(embedder.model)}})[:12]


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
    with workspace.writing():  # the previous index is read under the lock: no update is lost
        previous = _previous_index(workspace, config)
        checkpoint = workspace.index_dir / ".embedding-checkpoint"  # a killed ingest resumes from here
        stats = update_index(workspace.index_dir, report.documents, chunker, chunker_config, embedder, config.index,
                             previous=previous, progress=progress, on_progress=on_progress, checkpoint=checkpoint)
        shutil.rmtree(checkpoint, ignore_errors=True)
        workspace.save_config(config.model_copy(update={"corpus": str(Path(source).resolve())}))
    return report, stats


def _previous_index(workspace: Workspace, config: WorkspaceConfig) -> HybridIndex | None:
    """The live embedded index, for reusing vectors of unchanged documents; unreadable means
    rebuild all. None on the engine backend: the engine compares with its own manifest."""
    if config.index.backend != "embedded" or not has_index(workspace.index_dir, config.index):
        return None
    try:
        # only its chunks and vectors are reused: its HNSW graphs (GBs at a million chunks) stay on disk
        return HybridIndex.load(workspace.index_dir, embedder=None, settings=IndexConfig(ann="exact"))
    except RagftError as err:
        print(f"note: {err}; rebuilding the index from scratch")
        return None
