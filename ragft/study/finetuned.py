"""The models a study fine-tunes or takes from the model registry, and what it records about them.

Generators: a model key whose ``model`` is ``registry:NAME`` (or one listed under ``finetune``,
trained by ``ragft.tuning.study_train``) resolves to a registry version. A version must not have
been trained on the test questions, its training time and tokens count towards the variant's cost,
and the study writes its scores back into the registry.

Embedders: ``finetune_embedders`` entries are trained once on the train questions' evidence
chunks (under ``<run>/embedders``) and reused by later runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from ragft.config import EmbedderConfig, describe_validation_error
from ragft.corpus import make_chunker
from ragft.corpus.checks import where
from ragft.corpus.datasets import sample
from ragft.errors import ConfigError, RagftError
from ragft.rag.variant import USES_LLM
from ragft.study.study_config import StudyConfig
from ragft.types import Document, QAExample
from ragft.workspace import Workspace


class FineTunedModels:
    """A study's registry-backed generators and fine-tuned embedders."""

    def __init__(self, config: StudyConfig, output_dir: Path, console: Console, workspace: Workspace | None,
                 train_examples: Callable[[], list[QAExample]], train_documents: Callable[[], dict[str, Document]]):
        self.config = config
        self.output_dir = output_dir
        self.console = console
        self.workspace = workspace
        self._train_examples = train_examples
        self._train_documents = train_documents
        self._embedders: dict[str, tuple[EmbedderConfig, dict]] = {}  # name -> (config, training record)

    # ------------------------------------------------------------------ generators (model registry)
    @property
    def registry(self):
        """The model registry named by ``registry:`` in the config (None when there is none)."""
        from ragft.models.registry import registry_for

        if self.config.registry:
            return registry_for(self.config.registry)
        if self.workspace is not None:
            return registry_for(self.workspace.models_dir)
        return registry_for(self.output_dir / "models") if self.config.finetune else None

    def model_version(self, name: str):
        """The registry version a model key refers to (``model: registry:NAME``), else None
        (also for a ``finetune`` model not trained yet: it is checked when it is trained)."""
        from ragft.models.registry import resolve_model

        if name not in self.config.models:
            return None
        return resolve_model(self.config.models[name].model, self.registry)[1]

    def model_config(self, name: str):
        """The model's config with ``registry:NAME`` replaced by the version's model folder."""
        version = self.model_version(name)
        config = self.config.models[name]
        return config.model_copy(update={"model": version.path}) if version else config

    def check_hygiene(self, questions: list[QAExample]) -> None:
        """Refuse to score a fine-tuned model on questions it was trained on (or near-duplicates)."""
        from ragft.tuning.data import check_no_test_overlap

        for variant in self.config.variants:
            version = self.model_version(variant.llm) if variant.type in USES_LLM else None
            if version is None:
                continue
            try:
                check_no_test_overlap(version.train_questions, [q.question for q in questions],
                                      train_scopes=version.train_scopes, test_scopes=[q.doc_scope for q in questions],
                                      test_where=[where(q) for q in questions])
            except RagftError as err:
                raise ConfigError(f"variant {variant.name!r} uses model version {version.name!r}, which was "
                                  f"trained on test questions — {err}") from None

    def record_scores(self, results: dict) -> None:
        """Write each registry-backed variant's mean scores into its version (key "study:variant")."""
        by_name = {v.name: v for v in self.config.variants}
        for variant in results.get("variants", []):
            config = by_name.get(variant["name"])
            if config is None or config.type not in USES_LLM:
                continue
            version = self.model_version(config.llm)
            if version is not None:
                means = {metric: value.get("mean") for metric, value in variant.get("metrics", {}).items()
                         if isinstance(value, dict)}
                self.registry.record_scores(version.name, f"{self.config.name}:{variant['name']}", means)

    # ------------------------------------------------------------------ embedders
    def embedder_config(self, name: str) -> EmbedderConfig:
        """The config of fine-tuned embedder ``name`` (trained, or reused, on first use)."""
        if name not in self._embedders:
            self._embedders[name] = self._finetune_embedder(name)
        return self._embedders[name][0]

    def embedder_named(self, config: EmbedderConfig) -> str | None:
        """Which fine-tuned embedder has this config (None when none so far)."""
        return next((name for name, (tuned, _) in self._embedders.items() if tuned == config), None)

    def _finetune_embedder(self, name: str) -> tuple[EmbedderConfig, dict]:
        """Train (or reuse) ``finetune_embedders[name]`` on the train questions' evidence chunks."""
        from ragft.tuning.embedder import EmbedderTrainConfig, finetune_embedder, retrieval_pairs

        spec = self.config.finetune_embedders[name]
        try:
            train_config = EmbedderTrainConfig(**{"base_model": self.config.embedder.model, **spec.train})
        except ValidationError as err:
            raise ConfigError(f"finetune_embedders.{name}.train: {describe_validation_error(err)}") from None
        examples = sample(self._train_examples(), spec.n, 0)
        chunker = make_chunker(self.config.chunker.kind, **self.config.chunker.params)
        pairs = retrieval_pairs(examples, self._train_documents(), chunker, train_config.min_coverage,
                                train_config.seed)
        self.console.print(f"embedder [bold]{name}[/]: {len(pairs)} question → evidence-chunk pairs from "
                           f"{len(examples)} train questions (trained once, then reused)")
        path, info = finetune_embedder(pairs, train_config, self.output_dir / "embedders")
        self.console.print(f"embedder {name}: {path.name}, trained in {info['seconds']} s ({info['steps']} steps)")
        return self.config.embedder.model_copy(update={"model": str(path)}), info

    # ------------------------------------------------------------------ costs
    def training_costs(self) -> dict[str, dict]:
        """What training each fine-tuned variant's model (registry version) and embedder cost."""
        costs = {}
        for variant in self.config.variants:
            version = self.model_version(variant.llm) if variant.type in USES_LLM else None
            if version is not None:
                costs[variant.name] = {"seconds": float(version.metrics.get("seconds") or 0.0),
                                       "tokens": float(version.metrics.get("tokens_seen") or 0.0),
                                       "version": version.name}
            if variant.embedder is not None:
                trained = self._embedders[variant.embedder][1]
                cost = costs.setdefault(variant.name, {"seconds": 0.0, "tokens": 0.0})
                cost["seconds"] += float(trained.get("seconds") or 0.0)
                cost["embedder"] = Path(self.embedder_config(variant.embedder).model).name
        return costs
