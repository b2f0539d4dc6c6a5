"""Fine-tuning inside a study: ``finetune:`` entries become registry versions the variants use.

One command then compares base, SFT, RAG, SFT+RAG and RAFT+RAG. Training is cached: a version
in the study's registry with the same method, base model, training-data hash and settings is
reused, so re-running the study never retrains an unchanged model.
"""

from __future__ import annotations

import random

from pydantic import ValidationError

from ragft.config import describe_validation_error
from ragft.errors import ConfigError
from ragft.tuning.data import data_sha256, raft_examples, raft_options, sft_examples
from ragft.models.registry import ModelRegistry, ModelVersion
from ragft.tuning.run import RAFT_MAX_LENGTH
from ragft.tuning.sft import SFTTrainConfig, train_sft

# Settings that do not change the trained weights, ignored when looking for a cached version.
_NOT_WEIGHTS = {"save_steps", "save_total_limit", "logging_steps", "keep_checkpoints", "device"}


def prepare_finetuned_models(runner, questions) -> None:
    """For each ``finetune`` entry: find or train its version, then add ``models[key]``."""
    config, registry = runner.config, runner.registry
    train = runner.train_examples()
    if not train:
        raise ConfigError("finetune: the study has no train set — add 'train: {kind: qa_file, path: …}'")
    test_questions = [q.question for q in questions]
    for key, spec in config.finetune.items():
        source = config.models[spec.from_model]
        qa = _sample(train, spec.n)
        defaults = {"base_model": source.model, **({"max_length": RAFT_MAX_LENGTH} if spec.method == "raft" else {})}
        train_config = _train_config(key, {**defaults, **spec.train})
        if spec.method == "raft":
            try:
                options = raft_options({"seed": train_config.seed, **spec.raft})
            except ConfigError as err:
                raise ConfigError(f"finetune.{key}.raft: {err}") from None
            examples = raft_examples(qa, runner.index_for_chunker(config.chunker), options)
        else:
            examples = sft_examples(qa)
        version = _cached(registry, spec.method, train_config, data_sha256([e.as_row() for e in examples]))
        if version is None:
            runner.console.print(f"fine-tuning [bold]{key}[/] ({spec.method}, {len(examples)} examples) "
                                 f"from {source.model}")
            version = train_sft(examples, train_config, registry, method=spec.method, test_questions=test_questions,
                                test_scopes=[q.doc_scope for q in questions])
            runner.console.print(f"{key}: trained {version.name} in {version.metrics['seconds']} s "
                                 f"({version.metrics['steps']} steps, final loss {version.metrics['final_loss']})")
        else:
            runner.console.print(f"{key}: reusing {version.name} (same base, data and settings)")
        config.models[key] = source.model_copy(update={"model": f"registry:{version.name}"})


def _sample(examples: list, n: int | None) -> list:
    """A reproducible subset of ``n`` examples, in their original order (all when n is None)."""
    if n is None or n >= len(examples):
        return examples
    chosen = set(random.Random(0).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in chosen]


def _train_config(key: str, values: dict) -> SFTTrainConfig:
    try:
        return SFTTrainConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigError(f"finetune.{key}.train: {describe_validation_error(err)}") from None


def _cached(registry: ModelRegistry, method: str, config: SFTTrainConfig, data_hash: str) -> ModelVersion | None:
    wanted = {k: v for k, v in config.model_dump(mode="json").items() if k not in _NOT_WEIGHTS}
    for version in reversed(registry.list()):
        same_config = {k: v for k, v in version.config.items() if k not in _NOT_WEIGHTS} == wanted
        if version.method == method and version.data_sha256 == data_hash and same_config \
                and version.status != "rejected":
            return version
    return None
