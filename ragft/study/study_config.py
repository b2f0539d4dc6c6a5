"""The study configuration: corpus, questions, models and the variants to compare.

A study YAML looks like (see configs/ for complete ones)::

    name: sample-default
    corpus: builtin:sample              # a folder of documents, or a public dataset file (SQuAD…)
    test: {kind: qa_file, path: builtin:sample/test.jsonl}
    train: {kind: qa_file, path: builtin:sample/train.jsonl}
    models:
      small: {model: builtin:smollm2-135m, max_new_tokens: 48}
    variants:
      - {name: closed-book, type: closed_book, llm: small}
      - {name: naive-rag, type: rag, llm: small, retrieval: {mode: dense, top_k: 5}}

Relative paths are resolved against the YAML file's folder; ``builtin:sample`` names the
shipped sample; ``$VARS`` and ``~`` are expanded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from ragft.config import (
    ChunkerConfig, EmbedderConfig, LLMConfig, RetrievalConfig, Threads, _Strict, describe_params_error, load_yaml_model,
)
from ragft.corpus.datasets import DatasetConfig  # defined with the adapters that read it
from ragft.errors import ConfigError
from ragft.rag.variant import NAME_PATTERN, VARIANT_TYPES, StepConfig  # noqa: F401 (re-exported)



class VariantConfig(_Strict):
    """One recipe to score: which model, which pipeline (or none)."""

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["closed_book", "rag", "extractive"]
    llm: str = "default"  # a key of StudyConfig.models (unused by 'extractive')
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    chunker: ChunkerConfig | None = None  # None: the study's chunker
    embedder: str | None = None  # a key of StudyConfig.finetune_embedders; None: the study's embedder
    # rag only: the steps in order; empty means [retrieve, generate] (naive RAG).
    pipeline: list[StepConfig] = Field(default_factory=list)
    system_prompt: str | None = None
    max_new_tokens: int | None = Field(None, ge=1)
    description: str = ""


class FinetuneConfig(_Strict):
    """A model the study fine-tunes itself (cached in the registry by base model, data and settings).

    ``finetune: {sft: {method: sft, from_model: small, train: {max_steps: 200}}}`` makes ``sft`` usable
    as a variant's ``llm``; it starts from ``models.<from_model>`` (and keeps its generation settings)
    and trains on the study's ``train`` questions with any method of ``ragft.tuning.methods``:
    closed-book SFT, RAFT over the study's index, or DPO/ORPO preferring the gold answer over the
    source model's own wrong answer.
    """

    method: str = "sft"  # a row of ragft.tuning.methods.METHODS: sft, raft, dpo, orpo
    from_model: str = "default"  # a key of StudyConfig.models
    n: int | None = Field(None, ge=1)  # train on a reproducible sample of this many train questions
    # Checked against the trainer's types when the config is loaded, but kept as given (the dump is
    # part of cache keys; base_model and the RAFT max_length default come from the study).
    train: dict[str, Any] = Field(default_factory=dict)  # the method's config fields (SFTTrainConfig, DPOTrainConfig…)
    raft: dict[str, Any] = Field(default_factory=dict)  # ragft.tuning.RaftOptions fields

    @model_validator(mode="after")
    def _settings_fit_the_trainer(self):
        from ragft.tuning.data import raft_options
        from ragft.tuning.methods import METHODS

        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r} is not a training method — use one of {', '.join(METHODS)}")
        _check_settings("train", METHODS[self.method].config_type, {"base_model": "x", **self.train})
        try:
            raft_options(self.raft)
        except ConfigError as err:
            raise ValueError(f"raft: {err}") from None
        return self


class EmbedderFinetuneConfig(_Strict):
    """An embedder the study fine-tunes on its ``train`` questions (``ragft.tuning.embedder``).

    ``finetune_embedders: {tuned: {train: {epochs: 1}}}`` makes ``tuned`` usable as a variant's
    ``embedder``: question → the chunk (cut by the study's chunker) holding the gold evidence, with
    a hard negative from the same document. Cached by the training pairs and settings.
    """

    n: int | None = Field(None, ge=1)  # train on a reproducible sample of this many train questions
    # Checked when the config is loaded, kept as given (base_model comes from the study's embedder).
    train: dict[str, Any] = Field(default_factory=dict)  # ragft.tuning.embedder.EmbedderTrainConfig fields

    @model_validator(mode="after")
    def _settings_fit_the_trainer(self):
        from ragft.tuning.embedder import EmbedderTrainConfig

        _check_settings("train", EmbedderTrainConfig, self.train)
        return self


def _check_settings(where: str, model: type[BaseModel], values: dict[str, Any]) -> None:
    """A ValueError (one line, naming the field) when ``values`` do not fit the trainer's ``model``."""
    try:
        model.model_validate(values)
    except ValidationError as err:
        raise ValueError(f"{where}: {describe_params_error(err, model.model_fields)}") from None


class JudgeConfig(_Strict):
    """LLM-as-judge: which model, how many repeated judgements (their spread is reported)."""

    llm: str
    repeats: int = Field(3, ge=1)


class CostAssumptions(_Strict):
    """Prices and traffic for the cost model (``ragft.study.cost``); use is measured by the study.

    Defaults describe a modest self-hosted deployment billed for busy time only; set
    ``always_on: true`` for a machine rented around the clock (744 h a month). Retrieval hosting
    is free by default because ragft's index is embedded in the serving process; a hosted vector
    database is billed around the clock at ``retrieval_usd_per_hour``.

    The return side: each answer is worth ``value_per_correct_usd`` when right and costs
    ``cost_per_wrong_usd`` when wrong, with the primary metric's mean read as the share of right
    answers — so ROI is return over cost, not a cost comparison. The defaults (10 cents a right
    answer, nothing lost on a wrong one) are placeholders: set what an answer is worth to you.
    """

    hardware_usd_per_hour: float = Field(1.0, ge=0)  # the machine that serves the model
    always_on: bool = False
    api_usd_per_1k_input_tokens: float = Field(0.0, ge=0)  # hosted models billed per token
    api_usd_per_1k_output_tokens: float = Field(0.0, ge=0)
    retrieval_usd_per_hour: float = Field(0.0, ge=0)  # a hosted vector store, for variants that retrieve
    queries_per_month: float = Field(100_000, ge=0)
    # Fine-tuned variants: measured training time billed at this rate (default: hardware_usd_per_hour),
    # 1 run a year = the initial training only; 4 = retrained quarterly, 12 = monthly.
    training_usd_per_hour: float | None = Field(None, ge=0)
    retrains_per_year: int = Field(1, ge=1)
    months: int = Field(12, ge=1)
    value_per_correct_usd: float = Field(0.10, ge=0)
    cost_per_wrong_usd: float = Field(0.0, ge=0)


class DecisionConfig(_Strict):
    """How the recommendation decides "as good as": an equivalence margin on the primary metric
    (absolute, 0–1 scale; None = the metric's default, 0.05 for most), the tests' level, the
    power the "questions needed" estimate aims for, and how close two monthly costs must be to
    count as the same price (timing noise is about 10%)."""

    margin: float | None = Field(None, ge=0, le=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    cost_tolerance: float = Field(0.10, ge=0, lt=1)  # monthly costs this close count as the same price


class ConstraintsConfig(_Strict):
    """What the recommendation must respect."""

    min_quality: float | None = None  # on the primary metric
    max_latency_s: float | None = None  # per query
    max_monthly_cost: float | None = None


class StudyConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    corpus: str | None = None  # a folder or dataset file; None: the --workspace's ingested corpus
    test: DatasetConfig
    train: DatasetConfig | None = None
    models: dict[str, LLMConfig] = Field(default_factory=lambda: {"default": LLMConfig()})
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    chunker: ChunkerConfig = Field(default_factory=ChunkerConfig)
    variants: list[VariantConfig] = Field(min_length=1)
    judge: JudgeConfig | None = None
    primary_metric: str | None = None  # default: chosen from the task type
    baseline: str | None = None  # one variant the others are compared with (kept for older configs)
    # Variants every other one is compared with, each a Holm-corrected family of its own; default:
    # the closed-book variant, the first naive RAG variant, and the majority label for classification.
    baselines: list[str] = Field(default_factory=list)
    add_references: bool = True  # add closed-book / extractive references the verdict needs when missing
    labels: list[str] | None = None  # classification labels; default: the gold labels seen in the data
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    cost: CostAssumptions = Field(default_factory=CostAssumptions)
    constraints: ConstraintsConfig = Field(default_factory=ConstraintsConfig)
    output_dir: str | None = None  # default: runs/<name> beside the working directory
    # Fine-tuned model versions: a models folder or a workspace holding models/ (ragft.models.registry);
    # a model config may then say model: "registry:sft-1".
    registry: str | None = None
    finetune: dict[str, FinetuneConfig] = Field(default_factory=dict)  # models trained by the study itself
    finetune_embedders: dict[str, EmbedderFinetuneConfig] = Field(default_factory=dict)  # retrievers it trains
    batch_size: int = Field(16, ge=1)  # questions per saved batch (the resume granularity)
    threads: Threads = "auto"  # torch's CPU threads for this study (ragft.models.threads)

    @model_validator(mode="after")
    def _references_exist(self):
        names = [v.name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        for key, spec in self.finetune.items():
            if key in self.models or spec.from_model not in self.models:
                raise ValueError(f"finetune.{key}: the name must be new and from_model {spec.from_model!r} must be "
                                 f"in models ({', '.join(self.models) or 'none'})")
        for variant in self.variants:
            if variant.type != "extractive" and variant.llm not in self.models and variant.llm not in self.finetune:
                raise ValueError(f"variant {variant.name!r} uses llm {variant.llm!r}, which is not in "
                                 f"models ({', '.join(self.models) or 'none'})")
            if variant.embedder is not None and variant.embedder not in self.finetune_embedders:
                raise ValueError(f"variant {variant.name!r} uses embedder {variant.embedder!r}, which is not in "
                                 f"finetune_embedders ({', '.join(self.finetune_embedders) or 'none'})")
            if variant.embedder is not None and variant.type not in ("rag", "extractive"):
                raise ValueError(f"variant {variant.name!r}: a {variant.type} variant retrieves nothing, so it "
                                 "takes no embedder")
        if self.finetune_embedders and self.train is None:
            raise ValueError("finetune_embedders: the study has no train set to learn from — add "
                             "'train: {kind: …}' with questions whose gold evidence is known")
        if self.judge and self.judge.llm not in self.models:
            raise ValueError(f"judge.llm {self.judge.llm!r} is not in models")
        for baseline in [self.baseline, *self.baselines]:
            if baseline and baseline not in names:
                raise ValueError(f"baseline {baseline!r} is not a variant name ({', '.join(names)})")
        return self


def load_study_config(path: Path) -> StudyConfig:
    """Read and validate a study YAML, resolving its paths relative to the file."""
    path = Path(path)
    config = load_yaml_model(path, StudyConfig)
    base = path.resolve().parent
    if config.corpus:
        config.corpus = resolve_path(config.corpus, base)
    for dataset in (config.test, config.train):
        if dataset is None:
            continue
        if dataset.path:
            dataset.path = resolve_path(dataset.path, base)
        if dataset.cuad_dir:
            dataset.cuad_dir = resolve_path(dataset.cuad_dir, base)
    if config.registry:
        config.registry = resolve_path(config.registry, base)
    for name, value in (("corpus", config.corpus), ("test.path", config.test.path),
                        ("test.cuad_dir", config.test.cuad_dir)):
        if value and not Path(value).exists():
            raise ConfigError(f"{path}: {name} {value} does not exist — fix the path (relative paths "
                              "are resolved against the config file's folder)")
    return config


def resolve_path(value: str, base: Path) -> str:
    """``builtin:sample[/file]`` → the shipped sample; else expand $VARS/~ and anchor at ``base``."""
    from ragft.data import SAMPLE_DIR

    if value.startswith("builtin:sample"):
        rest = value.removeprefix("builtin:sample").lstrip("/")
        return str(SAMPLE_DIR / (rest or "docs"))
    expanded = Path(os.path.expandvars(os.path.expanduser(value)))
    return str(expanded if expanded.is_absolute() else (base / expanded).resolve())
