"""Fine-tuning inside a study: ``finetune:`` entries become registry versions the variants use.

One command then compares base, SFT, RAG, SFT+RAG, RAFT+RAG and preference-tuned models. Every
method of ``ragft.tuning.methods.METHODS`` can be used; each learns from the study's ``train``
questions in its own kind of data (QA examples, RAFT examples over the study's index, or
preference pairs: the gold answer over the base model's own wrong answer). Training is cached:
a version in the study's registry with the same method, base model, training-data hash and
settings is reused, so re-running the study never retrains an unchanged model.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ragft.config import LLMConfig
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.models.registry import ModelRegistry, ModelVersion
from ragft.tuning.common import TrainConfigBase
from ragft.tuning.data import data_sha256, preferences_from_qa, raft_examples, raft_options, sft_examples
from ragft.tuning.methods import make_config
from ragft.tuning.methods import method as method_row
from ragft.types import QAExample

# Settings that do not change the trained weights, ignored when looking for a cached version.
_NOT_WEIGHTS = {"save_steps", "save_total_limit", "logging_steps", "keep_checkpoints", "device"}


@dataclass
class TrainingInputs:
    """What study training needs from the study — passed in, so tuning never reaches up into it."""

    registry: ModelRegistry
    train: list[QAExample]
    test: list[QAExample]  # kept out of every training set (hygiene)
    index: Callable[[], HybridIndex]  # the study's index (RAFT's oracle and distractors)
    answers: Callable[[LLMConfig, list[QAExample]], list[str]]  # a model's closed-book answers (preferences)
    say: Callable[[str], None] = print


def prepare_finetuned_models(finetune: Mapping, models: Mapping[str, LLMConfig],
                             inputs: TrainingInputs) -> dict[str, LLMConfig]:
    """For each ``finetune`` entry, find or train its version; returns the new model configs by key
    (``registry:NAME`` with the source model's generation settings)."""
    if not inputs.train:
        raise ConfigError("finetune: the study has no train set — add 'train: {kind: qa_file, path: …}'")
    trained = {}
    for key, spec in finetune.items():
        source = models[spec.from_model]
        version = _find_or_train(key, spec, source, inputs)
        trained[key] = source.model_copy(update={"model": f"registry:{version.name}"})
    return trained


def _find_or_train(key: str, spec, source: LLMConfig, inputs: TrainingInputs) -> ModelVersion:
    method = method_row(spec.method)
    qa = _sample(inputs.train, spec.n)
    config = make_config(spec.method, overrides={"base_model": source.model, **spec.train}, where=f"finetune.{key}.train")
    examples = _examples(key, spec, method.data, qa, config, source, inputs)
    rows = [e.as_row() if hasattr(e, "as_row") else dataclasses.asdict(e) for e in examples]
    version = _cached(inputs.registry, spec.method, config, data_sha256(rows))
    if version is not None:
        inputs.say(f"{key}: reusing {version.name} (same base, data and settings)")
        return version
    inputs.say(f"fine-tuning {key} ({spec.method}, {len(examples)} examples) from {source.model}")
    version = method.train(examples, config, inputs.registry, test_questions=[q.question for q in inputs.test],
                           test_scopes=[q.doc_scope for q in inputs.test])
    inputs.say(f"{key}: trained {version.name} in {version.metrics['seconds']} s "
               f"({version.metrics['steps']} steps, final loss {version.metrics['final_loss']})")
    return version


def _examples(key: str, spec, data: str, qa: list[QAExample], config: TrainConfigBase, source: LLMConfig,
              inputs: TrainingInputs) -> Sequence:
    if data == "raft":
        try:
            options = raft_options({"seed": config.seed, **spec.raft})
        except ConfigError as err:
            raise ConfigError(f"finetune.{key}.raft: {err}") from None
        return raft_examples(qa, inputs.index(), options)
    if data == "preferences":
        inputs.say(f"{key}: asking {source.model} the {len(qa)} train questions for its own answers to prefer against")
        pairs = preferences_from_qa(qa, inputs.answers(source, qa))
        if not pairs:
            raise ConfigError(f"finetune.{key}: the base model answered every train question right — nothing for "
                              f"{spec.method} to prefer against; use sft")
        return pairs
    return sft_examples(qa)


def _sample(examples: list, n: int | None) -> list:
    """A reproducible subset of ``n`` examples, in their original order (all when n is None)."""
    if n is None or n >= len(examples):
        return examples
    chosen = set(random.Random(0).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in chosen]


def _cached(registry: ModelRegistry, method: str, config: TrainConfigBase, data_hash: str) -> ModelVersion | None:
    wanted = {k: v for k, v in config.model_dump(mode="json").items() if k not in _NOT_WEIGHTS}
    for version in reversed(registry.list()):
        same_config = {k: v for k, v in version.config.items() if k not in _NOT_WEIGHTS} == wanted
        if version.method == method and version.data_sha256 == data_hash and same_config \
                and version.status != "rejected":
            return version
    return None
