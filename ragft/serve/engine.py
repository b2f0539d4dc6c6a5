"""What answers questions in the web app: variants (model version × pipeline), loaded models
and the index — loaded once, used only from the model worker thread.

A variant is named ``<pipeline>/<model>``: ``rag/base`` is the workspace's configured LLM with
naive RAG over the workspace index, ``closed-book/base`` the same model alone, and
``rag/<version>`` / ``closed-book/<version>`` each model version in the registry
(``<workspace>/models``, ``ragft.models.registry``) that has not been rejected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ragft.config import LLMConfig, WorkspaceConfig
from ragft.errors import RagftError
from ragft.models.registry import ModelRegistry
from ragft.rag.modular import RAGState
from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT, naive_rag
from ragft.rag.steps import RAG_SYSTEM_PROMPT, Generate, format_context, rag_messages
from ragft.types import Hit
from ragft.workspace import Workspace

PIPELINES = ("rag", "closed-book")


@dataclass(frozen=True)
class ModelChoice:
    key: str  # "base" or a registry version name
    llm: LLMConfig
    model_version: str  # what feedback records: the version name, or the configured model id for base
    status: str = ""  # registry status: candidate | current | rejected ("" for base)


@dataclass(frozen=True)
class Variant:
    pipeline: str
    model: ModelChoice

    @property
    def name(self) -> str:
        return f"{self.pipeline}/{self.model.key}"


@dataclass
class Result:
    """One answered question, ready for the page, the API and the feedback store."""

    text: str
    hits: list[Hit] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def context(self) -> str:
        return format_context(self.hits)

    def sources(self, with_text: bool = True) -> list[dict]:
        """Numbered as in the prompt, with the retrieved text (the UI expands it); the store
        keeps them without the text, which it already has as ``context``."""
        return [{"n": n, "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "start": h.chunk.start,
                 "end": h.chunk.end, "score": round(float(h.score), 4), "retriever": h.retriever,
                 **({"text": h.chunk.text.strip()} if with_text else {})}
                for n, h in enumerate(self.hits, start=1)]


class Engine:
    """Variants, models and index for one workspace. Listing variants is cheap and may run on any
    thread; loading models, retrieving and answering run on the model worker thread only."""

    def __init__(self, workspace: Workspace, max_new_tokens: int | None = None):
        self.workspace = workspace
        self.config: WorkspaceConfig = workspace.load_config()
        self.max_new_tokens = max_new_tokens or self.config.llm.max_new_tokens
        self._llms: dict[tuple[str, str], object] = {}
        self._embedder = None
        self._index = None
        self._lock = threading.Lock()  # belt and braces: one generation at a time even off the worker

    # ----------------------------------------------------------------- variants
    def models(self) -> list[ModelChoice]:
        base = ModelChoice("base", self.config.llm, self.config.llm.model)
        return [base] + [m for m in registry_models(self.workspace.path, self.config.llm) if m.status != "rejected"]

    def variants(self) -> list[Variant]:
        return [Variant(p, m) for m in self.models() for p in PIPELINES]

    def variant(self, name: str) -> Variant:
        for variant in self.variants():
            if variant.name == name:
                return variant
        raise RagftError(f"unknown variant {name!r} — choose from: {', '.join(v.name for v in self.variants())}")

    def default_variant(self) -> Variant:
        current = next((m for m in self.models() if m.status == "current"), None)
        pipeline = "rag" if self.workspace.has_index() else "closed-book"
        return Variant(pipeline, current or self.models()[0])

    def check_ready(self, variant: Variant) -> None:
        """Fail before streaming starts (a clean 400) rather than in the middle of a stream."""
        if variant.pipeline == "rag" and not self.workspace.has_index():
            self.index()  # raises the "no index yet" error

    # ----------------------------------------------------------------- heavy objects, loaded once
    def llm(self, model: ModelChoice):
        from ragft.models import load_llm

        key = (model.key, model.llm.model)
        if key not in self._llms:
            self._llms[key] = load_llm(model.llm, progress=False)
        return self._llms[key]

    def embedder(self):
        from ragft.models import load_embedder

        if self._embedder is None:
            self._embedder = load_embedder(self.config.embedder)
        return self._embedder

    def index(self):
        if self._index is None:
            if not self.workspace.has_index():
                raise RagftError("this workspace has no index yet — upload documents on the Documents page "
                                 "or run `ragft ingest PATH`; closed-book variants work without one")
            self._index = self.workspace.load_index(self.embedder())
        return self._index

    def share_models(self, embedder=None, base_llm=None) -> None:
        """Use models the caller already loaded (tests, notebooks) instead of loading them again."""
        if embedder is not None:
            self._embedder = embedder
        if base_llm is not None:
            self._llms[("base", self.config.llm.model)] = base_llm

    def reload_index(self) -> None:
        self._index = None
        self.config = self.workspace.load_config()

    # ----------------------------------------------------------------- answering
    def answer(self, variant: Variant, question: str, emit: Callable[[str], None] | None = None,
               on_sources: Callable[[list[dict]], None] | None = None, max_new_tokens: int | None = None) -> Result:
        """Retrieve (for RAG), then generate; ``emit`` receives text as it is generated and
        ``on_sources`` the numbered sources as soon as retrieval is done."""
        started = time.perf_counter()
        messages, hits = self._prepare(variant, question)
        if on_sources is not None:
            on_sources(Result("", hits).sources())
        llm = self.llm(variant.model)
        max_new_tokens = max_new_tokens or self.max_new_tokens
        with self._lock:
            if emit is not None and hasattr(llm, "generate_stream"):
                generation = llm.generate_stream(messages, emit, max_new_tokens=max_new_tokens)
            else:
                generation = llm.generate([messages], max_new_tokens=max_new_tokens)[0]
                if emit is not None:
                    emit(generation.text)
        return Result(generation.text, hits, generation.prompt_tokens, generation.completion_tokens,
                      time.perf_counter() - started)

    def _prepare(self, variant: Variant, question: str) -> tuple[list[dict], list[Hit]]:
        if variant.pipeline == "closed-book":
            return [{"role": "system", "content": CLOSED_BOOK_SYSTEM_PROMPT}, {"role": "user", "content": question}], []
        pipeline = naive_rag(self.index(), self.llm(variant.model), self.config.retrieval,
                             max_new_tokens=self.max_new_tokens)
        *before, last = pipeline.steps
        state = RAGState(question=question, queries=[question])
        for step in before:  # every step up to generation; generation itself is streamed
            state = step.run([state])[0]
        system_prompt = last.system_prompt if isinstance(last, Generate) else RAG_SYSTEM_PROMPT
        return rag_messages(state.question, state.hits, system_prompt, state.context_note), state.hits


def registry_models(workspace_path: Path, base: LLMConfig) -> list[ModelChoice]:
    """Model versions from ``<workspace>/models`` (empty when there is no registry)."""
    registry = open_registry(workspace_path)
    if registry is None:
        return []
    choices = []
    for version in registry.list():
        config = base.model_copy(update={"backend": "transformers", "model": str(version.path), "base_url": None})
        choices.append(ModelChoice(version.name, config, version.name, getattr(version, "status", "")))
    return choices


def open_registry(workspace_path: Path):
    """The workspace's ModelRegistry, or None when there is none."""
    root = Path(workspace_path) / "models"
    if not root.is_dir():
        return None
    return ModelRegistry(root)
