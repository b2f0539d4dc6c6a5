"""Preference optimisation from ``ragft.types.Preference`` pairs: DPO and ORPO (TRL).

- **DPO** (Rafailov et al., 2023) needs a reference model: with LoRA it is the base model with
  the adapter switched off (no second copy in memory); with full fine-tuning TRL loads one.
- **ORPO** (Hong et al., 2024) needs none: an SFT loss on the chosen answer plus an odds-ratio
  penalty on the rejected one — cheaper, and it also works from a base that was never SFT'd.
  It lives in ``trl.experimental`` in TRL 1.x.

Each pair's prompt is rebuilt exactly as inference builds it (``ragft.tuning.data.preference_prompt``),
so preferences collected while serving RAG train on RAG prompts. Pairs whose answers do not
differ are refused (``ConfigError``) rather than silently skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from ragft.tuning.common import (
    RunInfo, TrainConfigBase, check_lengths, finish_run, last_checkpoint, load_model, load_tokenizer, lora_config,
    pick_device, resolve_base_model, run_key, timed_train, trainer_arguments, work_dir,
)
from ragft.tuning.data import check_no_test_overlap, data_sha256, preference_rows
from ragft.models.registry import ModelRegistry, ModelVersion
from ragft.types import Preference


class DPOTrainConfig(TrainConfigBase):
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0)  # higher = stay closer to the reference model
    loss_type: str = "sigmoid"  # TRL's DPO loss: sigmoid (DPO), ipo, hinge, robust, …
    batch_size: int = Field(2, ge=1)


class ORPOTrainConfig(TrainConfigBase):
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0)  # weight of the odds-ratio term (λ in the paper)
    batch_size: int = Field(2, ge=1)


def train_dpo(preferences: Sequence[Preference], config: DPOTrainConfig, registry: ModelRegistry, *,
              test_questions: Sequence[str] = (), callbacks: Sequence = (), name: str | None = None) -> ModelVersion:
    """DPO from ``config.base_model`` (often ``registry:<current>``) on the pairs; registers the result."""
    return _train_preferences("dpo", preferences, config, registry, test_questions, callbacks, name)


def train_orpo(preferences: Sequence[Preference], config: ORPOTrainConfig, registry: ModelRegistry, *,
               test_questions: Sequence[str] = (), callbacks: Sequence = (), name: str | None = None) -> ModelVersion:
    """ORPO (no reference model) on the pairs; registers the result."""
    return _train_preferences("orpo", preferences, config, registry, test_questions, callbacks, name)


def _train_preferences(method, preferences, config, registry, test_questions, callbacks, name) -> ModelVersion:
    rows = preference_rows(preferences)  # raises ConfigError on empty sets and identical pairs
    questions = [p.question for p in preferences]
    check_no_test_overlap(questions, test_questions)
    base = resolve_base_model(config.base_model, registry)
    tokenizer = load_tokenizer(base.path)
    tokens = check_lengths(tokenizer, rows, config.max_length, ("chosen", "rejected"))
    data_hash = data_sha256(rows)
    work = work_dir(registry, method, run_key(method, base, data_hash, config))
    build = _dpo_trainer if method == "dpo" else _orpo_trainer
    trainer = build(rows, config, base.path, tokenizer, work, callbacks)
    resume = last_checkpoint(work / "checkpoints")
    seconds = timed_train(trainer, resume)
    info = RunInfo(method, base, config, data_hash, questions, work, len(rows), tokens, resume, name)
    return finish_run(trainer, tokenizer, registry, info, seconds)


def _dpo_trainer(rows, config: DPOTrainConfig, model_path, tokenizer, work, callbacks):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    device = pick_device(config.device)
    args = DPOConfig(**trainer_arguments(config, work / "checkpoints", device), max_length=config.max_length,
                     beta=config.beta, loss_type=[config.loss_type])
    return DPOTrainer(model=load_model(model_path, config, device), args=args, train_dataset=Dataset.from_list(rows),
                      processing_class=tokenizer, peft_config=lora_config(config), callbacks=list(callbacks))


def _orpo_trainer(rows, config: ORPOTrainConfig, model_path, tokenizer, work, callbacks):
    import warnings

    from datasets import Dataset

    with warnings.catch_warnings():  # "experimental" import warning: known and accepted
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    device = pick_device(config.device)
    args = ORPOConfig(**trainer_arguments(config, work / "checkpoints", device), max_length=config.max_length,
                      beta=config.beta)
    return ORPOTrainer(model=load_model(model_path, config, device), args=args, train_dataset=Dataset.from_list(rows),
                       processing_class=tokenizer, peft_config=lora_config(config), callbacks=list(callbacks))
