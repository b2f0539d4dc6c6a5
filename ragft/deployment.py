"""What a workspace serves: ``<workspace>/deployment.yaml``.

Written by ``ragft deploy`` / ``ragft serve --study`` (from a finished study, see
``ragft.study.deploy``) and by ``ragft improve`` when it promotes a model; read by ``ragft ask``
and ``ragft serve``, which re-reads it when it changes — a promotion needs no restart::

    default: extractive                        # what answers unless a request names another
    source: /home/me/ws/runs/my-study          # the study run the variants were measured in
    indexes: /home/me/ws/runs/my-study/indexes # where that study kept indexes the workspace lacks
    variants: [ {name: extractive, type: extractive, embedder: …, chunker: …, retrieval: …}, … ]

Each variant is a ``VariantSpec``: the very spec the study scored, so the served pipeline is the
measured one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, model_validator

from ragft.config import (
    ChunkerConfig, EmbedderConfig, LLMConfig, WorkspaceConfig, _Strict, load_yaml_model, save_yaml_model,
)
from ragft.errors import RagftError
from ragft.index.store import HybridIndex
from ragft.models.registry import ModelRegistry, resolve_llm_config
from ragft.persist import content_hash
from ragft.rag.variant import AnswerResources, VariantSpec, build_answerer
from ragft.workspace import Workspace, index_key


class Deployment(_Strict):
    default: str
    variants: list[VariantSpec] = Field(min_length=1)
    source: str = ""  # the study run folder the variants come from ("" when written by hand)
    indexes: str | None = None  # that run's indexes folder: the variants' indexes the workspace lacks
    deployed_at: float = Field(default_factory=time.time)
    history: list[str] = Field(default_factory=list)  # one line per change: deployed, promoted …

    @model_validator(mode="after")
    def _default_is_a_variant(self):
        names = [v.name for v in self.variants]
        if self.default not in names:
            raise ValueError(f"default {self.default!r} is not one of the variants ({', '.join(names)})")
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        return self

    def variant(self, name: str | None = None) -> VariantSpec:
        wanted = name or self.default
        for spec in self.variants:
            if spec.name == wanted:
                return spec
        raise RagftError(f"variant {wanted!r} is not deployed — choose from: "
                         f"{', '.join(v.name for v in self.variants)}")


def load_deployment(workspace: Workspace) -> Deployment | None:
    """The workspace's deployment, or None when nothing was deployed (a bad file is a ConfigError)."""
    if not workspace.deployment_path.is_file():
        return None
    return load_yaml_model(workspace.deployment_path, Deployment)


def save_deployment(workspace: Workspace, deployment: Deployment) -> None:
    save_yaml_model(deployment, workspace.deployment_path)  # written to a temp name, then renamed


def promote_generator(workspace: Workspace, old_model: str, new_llm: LLMConfig, model_version: str,
                      note: str) -> list[str]:
    """Swap the generator ``old_model`` for ``new_llm`` in every deployed variant that uses it;
    returns their names (the server picks the change up on its next request)."""
    deployment = load_deployment(workspace)
    if deployment is None:
        return []
    changed, variants = [], []
    for spec in deployment.variants:
        if spec.generates and spec.llm is not None and spec.llm.model == old_model:
            spec = spec.with_llm(spec.llm.model_copy(update={"model": new_llm.model, "backend": new_llm.backend,
                                                              "base_url": new_llm.base_url}), model_version)
            changed.append(spec.name)
        variants.append(spec)
    if changed:
        history = [*deployment.history, f"{time.strftime('%Y-%m-%d %H:%M')} {note}: {', '.join(changed)}"]
        save_deployment(workspace, deployment.model_copy(update={"variants": variants, "history": history}))
    return changed


def workspace_spec(config: WorkspaceConfig, pipeline: str, llm: LLMConfig, version=None) -> VariantSpec:
    """The workspace's own variants, served when nothing (or besides what) is deployed:
    ``rag.<model>`` — naive RAG with the workspace's settings — and ``closed-book.<model>``, for
    the configured model (``base``) or a registry ``version``."""
    return VariantSpec(name=f"{pipeline}.{version.name if version else 'base'}",
                       type="rag" if pipeline == "rag" else "closed_book", llm=llm,
                       model_version=version.identity if version else None, embedder=config.embedder,
                       chunker=config.chunker, retrieval=config.retrieval)


def deployment_stamp(workspace: Workspace) -> float:
    """Changes whenever the deployment file is rewritten (a cheap check before every request)."""
    try:
        return Path(workspace.deployment_path).stat().st_mtime_ns
    except FileNotFoundError:
        return 0.0


class WorkspaceModels:
    """The models and indexes a workspace's variants answer with, each loaded once and shared:
    ``answerer(spec)`` is ``build_answerer`` over this workspace (``ask``, the server, ``improve``)."""

    def __init__(self, workspace: Workspace, deployment: Callable[[], Deployment | None] | None = None):
        self.workspace = workspace
        self._deployment = deployment or (lambda: load_deployment(workspace))
        self._llms: dict[str, object] = {}
        self._embedders: dict[str, object] = {}
        self._indexes: dict[str, HybridIndex] = {}
        self._answerers: dict[str, object] = {}

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.workspace.models_dir)

    def llm_for(self, config: LLMConfig):
        from ragft.models import load_llm
        from ragft.models.threads import apply_threads

        resolved = resolve_llm_config(config, self.registry)  # registry:NAME → its folder
        key = content_hash(resolved.model_dump(mode="json"))
        if key not in self._llms:
            apply_threads(self.workspace.load_config().threads)  # before the first model runs
            self._llms[key] = load_llm(resolved, progress=False)
        return self._llms[key]

    def embedder_for(self, config: EmbedderConfig):
        from ragft.models import load_embedder

        key = content_hash(config.model_dump(mode="json"))
        if key not in self._embedders:
            self._embedders[key] = load_embedder(config)
        return self._embedders[key]

    def index_for(self, chunker: ChunkerConfig, embedder: EmbedderConfig) -> HybridIndex:
        """The workspace's index for this chunker and embedder, else the one the deployed study built."""
        key = index_key(chunker, embedder)
        if key not in self._indexes:
            holder = self.workspace.for_index(chunker, embedder)
            deployment = self._deployment()
            if not holder.has_index() and deployment is not None and deployment.indexes:
                holder = Workspace(Path(deployment.indexes) / key)
            if not holder.has_index():
                raise RagftError(f"{holder.path} has no index yet — run `ragft ingest PATH` first (or upload "
                                 "documents on the web app's Documents page); closed-book variants work without one")
            self._indexes[key] = holder.load_index(self.embedder_for(embedder))
        return self._indexes[key]

    def share(self, embedder_config: EmbedderConfig | None = None, embedder=None,
              llm_config: LLMConfig | None = None, llm=None) -> None:
        """Use models the caller already loaded (tests, notebooks) instead of loading them again."""
        if embedder is not None and embedder_config is not None:
            self._embedders[content_hash(embedder_config.model_dump(mode="json"))] = embedder
        if llm is not None and llm_config is not None:
            self._llms[content_hash(llm_config.model_dump(mode="json"))] = llm

    def forget_indexes(self) -> None:
        """After an ingest: indexes and the answerers holding them load again on next use."""
        self._indexes.clear()
        self._answerers.clear()

    @property
    def resources(self) -> AnswerResources:
        """What ``build_answerer`` loads through: this workspace's models, indexes and cache."""
        return AnswerResources(embedder_for=self.embedder_for, llm_for=self.llm_for, index_for=self.index_for,
                               cache_dir=self.workspace.cache_dir)

    def answerer(self, spec: VariantSpec):
        key = f"{spec.key()}:{spec.name}"
        if key not in self._answerers:
            self._answerers[key] = build_answerer(spec, self.resources)
        return self._answerers[key]
