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

A request may set ``Sampling`` (temperature, top_p, seed, stop sequences) and ask for ``n``
answers at once (``Engine.answers``); stop sequences cut the text, streamed or not, before the
first one, and no part of a stop sequence is ever emitted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ragft.config import EmbedderConfig, WorkspaceConfig
from ragft.deployment import Deployment, WorkspaceModels, deployment_stamp, load_deployment, workspace_spec
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


class UnsupportedParameter(RagftError):
    """A request setting this variant cannot honour; ``param`` names the request field."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param, self.code = param, "unsupported_parameter"


@dataclass(frozen=True)
class Sampling:
    """Per-request generation settings; None keeps the variant's own (its ``llm.temperature``)."""

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def set_fields(self) -> list[str]:
        """The sampling fields the request sets (stop sequences work with every pipeline)."""
        return [name for name in ("temperature", "top_p", "seed") if getattr(self, name) is not None]

    def llm_kwargs(self) -> dict:
        kwargs = {name: getattr(self, name) for name in self.set_fields}
        return {**kwargs, "stop": list(self.stop)} if self.stop else kwargs


def cut_at_stop(text: str, stop: tuple[str, ...] | list[str]) -> tuple[str, bool]:
    """``text`` before the first stop sequence in it, and whether one was found."""
    found = [position for position in (text.find(s) for s in stop if s) if position >= 0]
    return (text[:min(found)], True) if found else (text, False)


class StopCutter:
    """Passes streamed text on to ``emit`` up to the first stop sequence and never any part of
    one: a tail that could be the start of a stop sequence is held until the next piece decides."""

    def __init__(self, stop: tuple[str, ...] | list[str], emit: Callable[[str], None]):
        self.stop, self.emit = [s for s in stop if s], emit
        self.held, self.stopped = "", False

    def __call__(self, piece: str) -> None:
        if self.stopped:
            return
        text = self.held + piece
        before, self.stopped = cut_at_stop(text, self.stop)
        if self.stopped:
            self.held = ""
            if before:
                self.emit(before)
            return
        keep = max((k for s in self.stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        self.held = text[len(text) - keep:] if keep else ""
        if len(text) > keep:
            self.emit(text[:len(text) - keep])

    def flush(self) -> None:
        """The generation ended: what was held back is not a stop sequence after all."""
        if self.held and not self.stopped:
            self.emit(self.held)
        self.held = ""


@dataclass
class Result:
    """One answered question, ready for the page, the API and the feedback store."""

    text: str
    hits: list[Hit] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    stopped: bool = False  # cut at a stop sequence
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
        served += [Served(f"{pipeline}.base", workspace_spec(self.config, pipeline, self.config.llm), "workspace")
                   for pipeline in ("rag", "closed-book")]
        for version in self.models.registry.list():
            if getattr(version, "status", "") == "rejected":
                continue
            llm = self.config.llm.model_copy(update={"backend": "transformers", "model": f"registry:{version.name}",
                                                     "base_url": None})
            served += [Served(f"{pipeline}.{version.name}", workspace_spec(self.config, pipeline, llm, version), "registry",
                              version.status) for pipeline in ("rag", "closed-book")]
        taken = {s.name for s in served if s.origin == "deployed"}
        return [s for s in served if s.origin == "deployed" or s.name not in taken]

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

    def check_ready(self, variant: Served, sampling: Sampling | None = None) -> None:
        """Fail before streaming starts (a clean 400) rather than in the middle of a stream. With
        ``sampling``, the answerer is built (run it on the model worker) to check it can take it."""
        if variant.spec.retrieves:
            self.models.index_for(variant.spec.chunker, variant.spec.embedder)  # raises the "no index yet" error
        if sampling is not None and sampling.set_fields:
            self._check_sampling(variant, self.models.answerer(variant.spec), sampling)

    @staticmethod
    def _check_sampling(variant: Served, answerer, sampling: Sampling) -> None:
        if sampling.set_fields and not _streamable(answerer):
            name = sampling.set_fields[0]
            raise UnsupportedParameter(f"{name}: variant {variant.name!r} runs a multi-step pipeline whose "
                                       "generation settings are fixed by its spec; leave it unset", name)

    # ----------------------------------------------------------------- heavy objects, loaded once
    def embedder(self):
        return self.models.embedder_for(self.config.embedder)

    def embed(self, texts: list[str], config: EmbedderConfig | None = None) -> tuple[np.ndarray, int]:
        """The vectors an index built with this embedder (default: the workspace's) stores for
        these texts, and their token count."""
        embedder = self.models.embedder_for(config or self.config.embedder)
        count = getattr(embedder, "count_tokens", None)
        return embedder.embed(texts), count(texts) if count else sum(len(t.split()) for t in texts)

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
               sampling: Sampling | None = None, history: Sequence[Turn] = (), system_note: str = "") -> Result:
        """Answer with the variant's pipeline; ``emit`` receives text as it is generated (when the
        pipeline ends in plain generation) and ``on_sources`` the numbered sources once retrieved."""
        return self.answers(variant, question, 1, None if emit is None else (lambda _, text: emit(text)),
                            on_sources, max_new_tokens, sampling, history, system_note)[0]

    def answers(self, variant: Served, question: str, n: int = 1, emit: Callable[[int, str], None] | None = None,
                on_sources: Callable[[list[dict]], None] | None = None, max_new_tokens: int | None = None,
                sampling: Sampling | None = None, history: Sequence[Turn] = (), system_note: str = "") -> list[Result]:
        """``n`` independent answers to one question (retrieval runs once); ``emit(i, text)``
        streams answer ``i``'s text, the answers one after another. Sampling's stop sequences cut
        every answer; its temperature, top_p and seed need a pipeline ending in plain generation.

        In a conversation the follow-up is condensed into a standalone question from ``history``
        (``WorkspaceConfig.conversation``) before the pipeline runs, and a generator that answers in
        one call also sees the earlier turns; ``system_note`` (a client's system message) is added
        to the variant's system prompt."""
        started = time.perf_counter()
        sampling = sampling or Sampling()
        answerer = self.models.answerer(variant.spec)
        max_new_tokens = max_new_tokens or variant.spec.max_new_tokens or self.max_new_tokens
        settings = self.config.conversation
        with self._lock:
            self._check_sampling(variant, answerer, sampling)
            rewriter = self.models.llm_for(variant.spec.llm) if settings.condense == "llm" and variant.spec.llm else None
            standalone = condense(history, question, settings.condense, rewriter)
            prepared = _prepare_stream(answerer, standalone)
            if prepared is None:  # a pipeline that does not end in one generation: answer, then emit
                answers = answerer.answer_batch([standalone] * n)
                if on_sources is not None:
                    on_sources(Result("", answers[0].hits).sources())
                seconds = time.perf_counter() - started
                results = [_cut(a.text, a.hits, a.prompt_tokens, a.completion_tokens, seconds, sampling.stop,
                                standalone) for a in answers]
                for i, result in enumerate(results):
                    if emit is not None:
                        emit(i, result.text)
                return results
            llm, messages, hits = prepared
            messages = with_history(messages, history, system_note, settings.history_turns)
            if on_sources is not None:
                on_sources(Result("", hits).sources())
            kwargs = sampling.llm_kwargs()
            if emit is not None and hasattr(llm, "generate_stream"):
                generations = []
                for i in range(n):
                    cutter = StopCutter(sampling.stop, partial(emit, i))
                    generations.append(llm.generate_stream(messages, cutter, max_new_tokens=max_new_tokens, **kwargs))
                    cutter.flush()
                    kwargs.pop("seed", None)  # seeded once: the next answers continue the same random stream
            else:
                generations = llm.generate([messages] * n, max_new_tokens=max_new_tokens, **kwargs)
                for i, generation in enumerate(generations):
                    if emit is not None:
                        emit(i, cut_at_stop(generation.text, sampling.stop)[0])
        seconds = time.perf_counter() - started
        return [_cut(g.text, hits, g.prompt_tokens, g.completion_tokens, seconds, sampling.stop, standalone)
                for g in generations]


def _cut(text: str, hits: list[Hit], prompt_tokens: int, completion_tokens: int, seconds: float,
         stop: tuple[str, ...], question: str = "") -> Result:
    text, stopped = cut_at_stop(text, stop)
    return Result(text, hits, prompt_tokens, completion_tokens, seconds, stopped, question)


def _streamable(answerer) -> bool:
    """Whether the answer is one plain generation (closed-book, or a pipeline ending in ``generate``)."""
    return isinstance(answerer, ClosedBook) or (
        isinstance(answerer, ModularRAG) and bool(answerer.steps) and type(answerer.steps[-1]) is Generate)


def _prepare_stream(answerer, question: str):
    """(llm, messages, hits) when the answer is one generation that can be streamed: closed-book,
    or a pipeline ending in a plain ``generate`` step (its earlier steps run here); else None."""
    if not _streamable(answerer):
        return None
    if isinstance(answerer, ClosedBook):
        return answerer.llm, [{"role": "system", "content": answerer.system_prompt},
                              {"role": "user", "content": question}], []
    *before, last = answerer.steps
    state = RAGState(question=question, queries=[question])
    for step in before:
        state = step.run([state])[0]
    return last.llm, rag_messages(state.question, state.hits, last.system_prompt, state.context_note), state.hits
