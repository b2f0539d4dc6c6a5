"""One table of training methods: what each one learns from, its settings and its trainer.

``ragft train METHOD``, a study's ``finetune: {method: …}`` and ``ragft improve --method`` all
dispatch through ``METHODS``; a new method is one row here (its config type, the kind of data
it trains on, the function that trains and registers it), not a branch in three places.

Kinds of data:
- ``qa``: question → gold answer chat examples (``sft_examples``);
- ``raft``: the same with an oracle chunk and distractors from the index in the prompt;
- ``preferences``: (question, chosen, rejected) pairs — from feedback, a file, or, inside a
  study, the gold answer chosen over the base model's own wrong answer (``preferences_from_qa``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ragft.config import describe_validation_error
from ragft.errors import ConfigError
from ragft.models.registry import ModelVersion
from ragft.tuning.common import TrainConfigBase
from ragft.tuning.preference import DPOTrainConfig, ORPOTrainConfig, train_dpo, train_orpo
from ragft.tuning.sft import SFTTrainConfig, train_sft

RAFT_MAX_LENGTH = 2048  # an oracle and four distractor chunks of ~800 characters need ~1,200 tokens


@dataclass(frozen=True)
class Method:
    name: str
    config_type: type[TrainConfigBase]
    data: Literal["qa", "raft", "preferences"]
    train: Callable[..., ModelVersion]  # (examples, config, registry, *, test_questions, test_scopes, callbacks)
    defaults: dict[str, Any] = field(default_factory=dict)  # settings unlike the config type's defaults
    summary: str = ""


def _sft(method: str):
    def train(examples, config, registry, *, test_questions=(), test_scopes=None, callbacks=()):
        return train_sft(examples, config, registry, method=method, test_questions=test_questions,
                         test_scopes=test_scopes, callbacks=callbacks)
    return train


def _preferences(trainer):
    def train(pairs, config, registry, *, test_questions=(), test_scopes=None, callbacks=()):
        return trainer(pairs, config, registry, test_questions=test_questions, callbacks=callbacks)
    return train


METHODS: dict[str, Method] = {
    "sft": Method("sft", SFTTrainConfig, "qa", _sft("sft"), summary="supervised fine-tuning on question → answer"),
    "raft": Method("raft", SFTTrainConfig, "raft", _sft("raft"), {"max_length": RAFT_MAX_LENGTH},
                   "SFT with retrieved oracle and distractor chunks in the prompt"),
    "dpo": Method("dpo", DPOTrainConfig, "preferences", _preferences(train_dpo),
                  summary="direct preference optimisation on chosen/rejected pairs"),
    "orpo": Method("orpo", ORPOTrainConfig, "preferences", _preferences(train_orpo),
                   summary="odds-ratio preference optimisation (no reference model)"),
}


def method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown training method {name!r} — use one of {', '.join(METHODS)}")
    return METHODS[name]


def make_config(name: str, config_file: Path | None = None, overrides: dict[str, Any] | None = None,
                where: str | None = None) -> TrainConfigBase:
    """The method's defaults ← a YAML file ← overrides (None values are ignored), validated;
    errors name ``where`` (default: "<method> training config")."""
    import yaml

    values: dict[str, Any] = dict(method(name).defaults)
    if config_file is not None:
        if not Path(config_file).is_file():
            raise ConfigError(f"{config_file}: training config not found")
        loaded = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_file}: expected a mapping of training settings")
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return METHODS[name].config_type.model_validate(values)
    except ValidationError as err:
        raise ConfigError(f"{where or f'{name} training config'}: {describe_validation_error(err)}") from None
