"""What answers questions in the web app and the API: the served variants and the models and
indexes they load — loaded once, used only from the model worker thread.

Every served variant is a ``VariantSpec`` built by ``ragft.rag.variant.build_answerer``, the
function the study scores with, so the served pipeline is the measured one. They are:

- the deployed variants (``<workspace>/deployment.yaml``, written by ``ragft deploy`` or
  ``serve --study``), by their study names — the deployment's default answers by default;
- ``rag.base`` / ``closed-book.base``: the workspace's configured LLM with naive RAG over the
  workspace index, and alone;
- ``rag.<version>`` / ``closed-book.<version>`` for each registry version not rejected.

Ids are path-safe (``/v1/models/{id}`` works). The deployment file is re-read when it changes,
so a model promoted by ``ragft improve`` answers from the next request on, without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragft.config import LLMConfig, WorkspaceConfig
from ragft.deployment import Deployment, WorkspaceModels, deployment_stamp, load_deployment
from ragft.errors import RagftError
from ragft.index.store import HybridIndex
from ragft.rag.conversation import Turn, condense, with_history
from ragft.rag.modular import ModularRAG, RAGState
from ragft.rag.pipeline import ClosedBook
from ragft.rag.steps import Generate, format_context, rag_messages
from ragft.rag.variant import VariantSpec
from ragft.types import Hit
from ragft.workspace import Workspace


@dataclass(frozen=True)
class Served:
    """One variant the server answers with."""

    name: str  # the id clients send as ``model``
    spec: VariantSpec
    origin: str  # "deployed" | "workspace" | "registry"
    status: str = ""  # registry status of its model: candidate | current ("" otherwise)

    @property
    def pipeline(self) -> str:
        return self.spec.type.replace("_", "-")

    @property
    def model_version(self) -> str:
        """What feedback records as the model: the registry version, the model id, or "none"."""
        if self.spec.model_version:
            return self.spec.model_version
        return self.spec.llm.model if self.spec.generates and self.spec.llm else "none"

    @property
    def spec_hash(self) -> str:
        return self.spec.key()


@dataclass
class Result:
    """One answered question, ready for the page, the API and the feedback store."""

    text: str
    hits: list[Hit] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    question: str = ""  # the standalone question answered (a follow-up condensed from its history)

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
    """Served variants, models and indexes for one workspace. Listing variants is cheap and may run
    on any thread; loading models, retrieving and answering run on the model worker thread only."""

    def __init__(self, workspace: Workspace, max_new_tokens: int | None = None):
        self.workspace = workspace
        self.config: WorkspaceConfig = workspace.load_config()
        self.max_new_tokens = max_new_tokens or self.config.llm.max_new_tokens
        self._deployment: Deployment | None = None
        self._deployment_stamp = None
        self._lock = threading.Lock()  # belt and braces: one generation at a time even off the worker
        self.models = WorkspaceModels(workspace, self.deployment)

    # ----------------------------------------------------------------- variants
    def deployment(self) -> Deployment | None:
        stamp = deployment_stamp(self.workspace)
        if stamp != self._deployment_stamp:  # deployed, or a model promoted, since the last look
            self._deployment, self._deployment_stamp = load_deployment(self.workspace), stamp
        return self._deployment

    def variants(self) -> list[Served]:
        deployment = self.deployment()
        served = [Served(spec.name, spec, "deployed") for spec in (deployment.variants if deployment else [])]
        served += [Served(f"{pipeline}.base", self._workspace_spec(pipeline, self.config.llm, None), "workspace")
                   for pipeline in ("rag", "closed-book")]
        for version in self.models.registry.list():
            if getattr(version, "status", "") == "rejected":
                continue
            llm = self.config.llm.model_copy(update={"backend": "transformers", "model": f"registry:{version.name}",
                                                     "base_url": None})
            served += [Served(f"{pipeline}.{version.name}", self._workspace_spec(pipeline, llm, version), "registry",
                              version.status) for pipeline in ("rag", "closed-book")]
        taken = {s.name for s in served if s.origin == "deployed"}
        return [s for s in served if s.origin == "deployed" or s.name not in taken]

    def _workspace_spec(self, pipeline: str, llm: LLMConfig, version) -> VariantSpec:
        return VariantSpec(name=f"{pipeline}.{version.name if version else 'base'}",
                           type="rag" if pipeline == "rag" else "closed_book", llm=llm,
                           model_version=f"{version.name}@{version.data_sha256[:12]}" if version else None,
                           embedder=self.config.embedder, chunker=self.config.chunker, retrieval=self.config.retrieval)

    def variant(self, name: str) -> Served:
        for variant in self.variants():
            if variant.name == name:
                return variant
        raise RagftError(f"unknown variant {name!r} — choose from: {', '.join(v.name for v in self.variants())}")

    def default_variant(self, pipeline: str | None = None) -> Served:
        """The deployed default; else the current registry version (or the base model) with naive
        RAG — or closed-book while there is no index, unless ``pipeline`` insists."""
        deployment = self.deployment()
        if deployment is not None:
            return self.variant(deployment.default)
        variants = self.variants()
        current = [v for v in variants if v.status == "current"]
        pipeline = pipeline or ("rag" if self.workspace.has_index() else "closed-book")
        return next(v for v in current + variants if v.pipeline == pipeline)

    def check_ready(self, variant: Served) -> None:
        """Fail before streaming starts (a clean 400) rather than in the middle of a stream."""
        if variant.spec.retrieves:
            self.models.index_for(variant.spec.chunker, variant.spec.embedder)  # raises the "no index yet" error

    # ----------------------------------------------------------------- heavy objects, loaded once
    def embedder(self):
        return self.models.embedder_for(self.config.embedder)

    def index(self) -> HybridIndex:
        return self.models.index_for(self.config.chunker, self.config.embedder)

    def share_models(self, embedder=None, base_llm=None) -> None:
        """Use models the caller already loaded (tests, notebooks) instead of loading them again."""
        self.models.share(self.config.embedder, embedder, self.config.llm, base_llm)

    def reload_index(self) -> None:
        """After an ingest: indexes and the answerers holding them are loaded again on next use."""
        self.models.forget_indexes()
        self.config = self.workspace.load_config()

    # ----------------------------------------------------------------- answering
    def answer(self, variant: Served, question: str, emit: Callable[[str], None] | None = None,
               on_sources: Callable[[list[dict]], None] | None = None, max_new_tokens: int | None = None,
               history: Sequence[Turn] = (), system_note: str = "") -> Result:
        """Answer with the variant's pipeline; ``emit`` receives text as it is generated (when the
        pipeline ends in plain generation) and ``on_sources`` the numbered sources once retrieved.

        In a conversation the follow-up is condensed into a standalone question from ``history``
        (``WorkspaceConfig.conversation``) before the pipeline runs, and a generator that answers in
        one call also sees the earlier turns; ``system_note`` (a client's system message) is added
        to the variant's system prompt."""
        started = time.perf_counter()
        answerer = self.models.answerer(variant.spec)
        max_new_tokens = max_new_tokens or variant.spec.max_new_tokens or self.max_new_tokens
        settings = self.config.conversation
        with self._lock:
            rewriter = self.models.llm_for(variant.spec.llm) if settings.condense == "llm" and variant.spec.llm else None
            standalone = condense(history, question, settings.condense, rewriter)
            prepared = _prepare_stream(answerer, standalone)
            if prepared is None:  # a pipeline that does not end in one generation: answer, then emit
                answer = answerer.answer_batch([standalone])[0]
                if on_sources is not None:
                    on_sources(Result("", answer.hits).sources())
                if emit is not None:
                    emit(answer.text)
                return Result(answer.text, answer.hits, answer.prompt_tokens, answer.completion_tokens,
                              time.perf_counter() - started, standalone)
            llm, messages, hits = prepared
            messages = with_history(messages, history, system_note, settings.history_turns)
            if on_sources is not None:
                on_sources(Result("", hits).sources())
            if emit is not None and hasattr(llm, "generate_stream"):
                generation = llm.generate_stream(messages, emit, max_new_tokens=max_new_tokens)
            else:
                generation = llm.generate([messages], max_new_tokens=max_new_tokens)[0]
                if emit is not None:
                    emit(generation.text)
        return Result(generation.text, hits, generation.prompt_tokens, generation.completion_tokens,
                      time.perf_counter() - started, standalone)


def _prepare_stream(answerer, question: str):
    """(llm, messages, hits) when the answer is one generation that can be streamed: closed-book,
    or a pipeline ending in a plain ``generate`` step (its earlier steps run here); else None."""
    if isinstance(answerer, ClosedBook):
        return answerer.llm, [{"role": "system", "content": answerer.system_prompt},
                              {"role": "user", "content": question}], []
    if isinstance(answerer, ModularRAG) and answerer.steps and type(answerer.steps[-1]) is Generate:
        *before, last = answerer.steps
        state = RAGState(question=question, queries=[question])
        for step in before:
            state = step.run([state])[0]
        return last.llm, rag_messages(state.question, state.hits, last.system_prompt, state.context_note), state.hits
    return None
