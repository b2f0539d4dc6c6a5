"""Supervised fine-tuning (plain SFT and RAFT) with TRL's ``SFTTrainer``, full or LoRA/QLoRA.

Examples are TRL conversational prompt-completion rows, so the model's own chat template
formats them and the loss covers the assistant reply only (``completion_only_loss``). The
result is merged into a plain model folder and registered::

    from ragft.models.registry import ModelRegistry
    from ragft.tuning import SFTTrainConfig, sft_examples, train_sft
    version = train_sft(sft_examples(qa), SFTTrainConfig(max_steps=100), ModelRegistry(Workspace(ws).models_dir))
    LLMConfig(model=version.path)   # or "registry:" + version.name in a study
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from ragft.errors import ConfigError
from ragft.tuning.common import (
    RunInfo, TrainConfigBase, check_lengths, finish_run, last_checkpoint, load_model, load_tokenizer, lora_config,
    pick_device, resolve_base_model, run_key, timed_train, trainer_arguments, work_dir,
)
from ragft.tuning.data import ChatExample, check_no_test_overlap, data_sha256
from ragft.models.registry import ModelRegistry, ModelVersion


class SFTTrainConfig(TrainConfigBase):
    """SFT / RAFT settings (``TrainConfigBase`` holds the shared ones)."""

    packing: bool = False  # pack several short examples into one max_length sequence
    # bfd keeps examples whole (position ids restart per example); wrapped cuts across them.
    packing_strategy: Literal["bfd", "wrapped"] = "bfd"
    learning_rate: float = Field(2e-4, gt=0)


def train_sft(examples: Sequence[ChatExample], config: SFTTrainConfig, registry: ModelRegistry, *,
              method: str = "sft", test_questions: Sequence[str] = (), callbacks: Sequence = (),
              name: str | None = None, test_scopes: Sequence[str | None] | None = None) -> ModelVersion:
    """Fine-tune ``config.base_model`` on ``examples`` and register the merged model.

    ``method`` labels the version ("sft", "raft"); ``test_questions`` are refused in the
    training data (exact or near-duplicate; with ``test_scopes``, only against training questions
    about the same document, see ``check_no_test_overlap``). Re-running the same call after an interruption
    resumes from the last checkpoint.
    """
    if not examples:
        raise ConfigError("no training examples — the dataset is empty (check the QA file or corpus)")
    questions = [e.question for e in examples]
    scopes = [e.metadata.get("doc_scope") for e in examples]
    check_no_test_overlap(questions, test_questions, train_scopes=scopes, test_scopes=test_scopes)
    base = resolve_base_model(config.base_model, registry)
    rows = [e.as_row() for e in examples]
    tokenizer = load_tokenizer(base.path)
    tokens = check_lengths(tokenizer, rows, config.max_length, ("completion",))
    data_hash = data_sha256(rows)
    work = work_dir(registry, method, run_key(method, base, data_hash, config))
    trainer = _build_trainer(rows, config, base.path, tokenizer, work, callbacks)
    resume = last_checkpoint(work / "checkpoints")
    seconds = timed_train(trainer, resume)
    info = RunInfo(method, base, config, data_hash, questions, work, len(rows), tokens, resume, name, scopes)
    return finish_run(trainer, tokenizer, registry, info, seconds)


def _build_trainer(rows: list[dict], config: SFTTrainConfig, model_path: str, tokenizer, work, callbacks):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    device = pick_device(config.device)
    args = SFTConfig(
        **trainer_arguments(config, work / "checkpoints", device),
        max_length=config.max_length, packing=config.packing, packing_strategy=config.packing_strategy,
        completion_only_loss=True,  # learn the answers, not to reproduce prompts and passages
        dataset_num_proc=None,
    )
    return SFTTrainer(
        model=load_model(model_path, config, device), args=args, train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, peft_config=lora_config(config), callbacks=list(callbacks),
    )
