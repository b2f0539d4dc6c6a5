"""The model registry: every trained model is a version with its lineage, scores and history.

On disk (``root`` is usually ``<workspace>/models``)::

    models/
      registry.json      {"format": 1, "versions": [ModelVersion as a dict, …]}
      sft-1/             a merged transformers model folder (config.json, model.safetensors, tokenizer…)
      dpo-1/
      .work/             checkpoints of trainings in progress (see ragft.tuning.common)

``registry.json`` is rewritten whole through a temporary file and ``os.replace``, so a reader
never sees half a file and a crash leaves the previous registry intact. Version folders are
written by the trainers to a temporary folder and renamed into place before they are
registered, so a registered version always points at a complete model.

A study variant names a version as ``registry:NAME`` (see ``resolve_model``); the study
records its scores here and promotion (``promote``) makes one version "current".
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ragft.errors import ConfigError
from ragft.models.weights import is_model_dir
from ragft.persist import atomic_write_text

REGISTRY_FORMAT = 1
REGISTRY_PREFIX = "registry:"
STATUSES = ("candidate", "current", "rejected")


@dataclass
class ModelVersion:
    name: str  # e.g. "sft-1", unique
    path: str  # folder with a merged transformers model (loadable by LLMConfig(model=path))
    base_model: str  # what it was trained from (model id/path or parent version's base)
    method: str  # "sft", "raft", "dpo", "orpo", ...
    parent: str | None = None  # parent version name
    data_sha256: str = ""  # hash of the training data
    config: dict = field(default_factory=dict)
    train_questions: list[str] = field(default_factory=list)  # questions trained on, for study hygiene
    train_scopes: list[str | None] = field(default_factory=list)  # their documents (CUAD); empty: unscoped
    metrics: dict = field(default_factory=dict)  # training: steps, seconds, tokens, final loss
    scores: dict = field(default_factory=dict)  # study name -> {metric: value}
    status: str = "candidate"  # "candidate" | "current" | "rejected"
    created_at: str = ""
    log: list[dict] = field(default_factory=list)  # events: {"at":..., "event":..., "detail":...}

    @property
    def identity(self) -> str:
        """"NAME@<data hash>": what a served spec records as its model version (a retrained
        version that reuses a name is a different model)."""
        return f"{self.name}@{self.data_sha256[:12]}"

    @classmethod
    def from_dict(cls, data: dict) -> ModelVersion:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ModelRegistry:
    """Versions of trained models in ``root``; every change is written to disk at once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / "registry.json"

    # ------------------------------------------------------------------ reading
    def _load(self) -> list[ModelVersion]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [ModelVersion.from_dict(item) for item in data.get("versions", [])]
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise ConfigError(f"{self.path}: the model registry cannot be read ({err}) — restore it from a "
                              "backup or move it away to start a new registry") from None

    def list(self) -> list[ModelVersion]:
        return self._load()

    def get(self, name: str) -> ModelVersion:
        name = name.removeprefix(REGISTRY_PREFIX)
        for version in self._load():
            if version.name == name:
                return version
        known = ", ".join(v.name for v in self._load()) or "none yet — train one with `ragft train`"
        raise ConfigError(f"no model version {name!r} in {self.path} — known versions: {known}")

    def current(self) -> ModelVersion | None:
        return next((v for v in self._load() if v.status == "current"), None)

    def next_name(self, method: str) -> str:
        """``<method>-<n>`` with n one more than the highest used so far (names are never reused)."""
        pattern = re.compile(rf"^{re.escape(method)}-(\d+)$")
        used = [int(m.group(1)) for v in self._load() if (m := pattern.match(v.name))]
        # A folder left by a crash between rename and register must not be overwritten either.
        used += [int(m.group(1)) for p in self.root.glob(f"{method}-*") if (m := pattern.match(p.name))]
        return f"{method}-{max(used, default=0) + 1}"

    # ------------------------------------------------------------------ writing
    def register(self, version: ModelVersion) -> ModelVersion:
        versions = self._load()
        if any(v.name == version.name for v in versions):
            raise ConfigError(f"model version {version.name!r} already exists in {self.path} — names are unique; "
                              f"use {self.next_name(version.method)!r}")
        if version.status not in STATUSES:
            raise ConfigError(f"status {version.status!r} — use one of {', '.join(STATUSES)}")
        if not version.created_at:
            version.created_at = now()
        if not any(entry.get("event") == "registered" for entry in version.log):
            version.log.append({"at": now(), "event": "registered",
                                "detail": f"{version.method} from {version.parent or version.base_model}"})
        versions.append(version)
        self._save(versions)
        return version

    def record_scores(self, name: str, study: str, scores: dict) -> None:
        def change(version: ModelVersion) -> None:
            version.scores[study] = scores
            version.log.append({"at": now(), "event": "scored", "detail": study})
        self._update(name, change)

    def promote(self, name: str, reason: str) -> None:
        """Make ``name`` the current version; the previous current one goes back to candidate."""
        versions = self._load()
        target = self._find(versions, name)
        for version in versions:
            if version.status == "current" and version is not target:
                version.status = "candidate"
                version.log.append({"at": now(), "event": "demoted", "detail": f"{name} promoted: {reason}"})
        target.status = "current"
        target.log.append({"at": now(), "event": "promoted", "detail": reason})
        self._save(versions)

    def reject(self, name: str, reason: str) -> None:
        def change(version: ModelVersion) -> None:
            version.status = "rejected"
            version.log.append({"at": now(), "event": "rejected", "detail": reason})
        self._update(name, change)

    def log_event(self, name: str, event: str, detail: str = "") -> None:
        self._update(name, lambda v: v.log.append({"at": now(), "event": event, "detail": detail}))

    # ------------------------------------------------------------------ helpers
    def _find(self, versions: list[ModelVersion], name: str) -> ModelVersion:
        name = name.removeprefix(REGISTRY_PREFIX)
        for version in versions:
            if version.name == name:
                return version
        self.get(name)  # raises the error listing the known names
        raise AssertionError("unreachable")

    def _update(self, name: str, change) -> None:
        versions = self._load()
        change(self._find(versions, name))
        self._save(versions)

    def _save(self, versions: list[ModelVersion]) -> None:
        payload = {"format": REGISTRY_FORMAT, "versions": [asdict(v) for v in versions]}
        atomic_write_text(self.path, json.dumps(payload, indent=1, ensure_ascii=False))


def is_registry_model(model: str) -> bool:
    return model.startswith(REGISTRY_PREFIX)


def resolve_model(model: str, registry: ModelRegistry | None) -> tuple[str, ModelVersion | None]:
    """``registry:NAME`` → (the version's model folder, the version); anything else unchanged."""
    if not is_registry_model(model):
        return model, None
    if registry is None:
        raise ConfigError(f"model {model!r} refers to the model registry, but no registry is configured — "
                          "set 'registry: PATH' (a models folder or a workspace) in the config")
    version = registry.get(model)
    if not is_model_dir(version.path):
        raise ConfigError(f"model version {version.name!r} points at {version.path}, which holds no model "
                          "(no config.json or adapter) — was the folder moved or deleted?")
    return version.path, version


def resolve_llm_config(config, registry: ModelRegistry | None):
    """An ``LLMConfig`` whose ``model: registry:NAME`` is replaced by the version's folder."""
    path, version = resolve_model(config.model, registry)
    return config.model_copy(update={"model": path}) if version else config


def registry_for(path: Path | str) -> ModelRegistry:
    """The registry in ``path``: a models folder, or a workspace holding ``models/``."""
    path = Path(path)
    if (path / "registry.json").exists() or path.name == "models":
        return ModelRegistry(path)
    return ModelRegistry(path / "models")
