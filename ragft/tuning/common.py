"""What every trainer shares: base-model resolution, input checks, TRL arguments, checkpoints
and resume, the loss curve, and the atomic export of a version into the registry.

A training run's identity is the hash of its method, base model, data and configuration. Its
checkpoints live in ``<registry>/.work/<method>-<hash>/checkpoints`` so that re-running the same
command after an interruption resumes from the last checkpoint (``Trainer.train(
resume_from_checkpoint=…)``) instead of starting over. The finished version (a LoRA adapter, or
a whole model for full fine-tuning) is written to a temporary folder beside the registry and renamed
into ``<registry>/<name>`` before it is registered: an interrupted export leaves nothing that
looks like a model, and nothing already registered is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ragft.config import BUILTIN_LLM, _Strict
from ragft.errors import ConfigError, RagftError
from ragft.models.registry import ModelRegistry, ModelVersion, is_registry_model, now
from ragft.models.weights import is_adapter_dir, is_model_dir, load_causal_lm, write_base

# ---------------------------------------------------------------------------------------------
# Configuration shared by every method (each method's config adds its own fields)
# ---------------------------------------------------------------------------------------------


class TrainConfigBase(_Strict):
    """Small, CPU-friendly defaults; every field maps onto a TRL / transformers argument."""

    base_model: str = BUILTIN_LLM  # builtin:…, a local path, a cached Hugging Face id, or registry:NAME
    peft: Literal["lora", "full", "qlora"] = "lora"  # qlora needs CUDA and bitsandbytes
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    lora_target_modules: str | list[str] = "all-linear"
    learning_rate: float = Field(2e-4, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = Field(4, ge=1)  # per device
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(1024, ge=8)  # tokens; a longer example is an error, never silently cut
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)  # share of the steps spent warming up the LR
    seed: int = 0
    save_steps: int = Field(50, ge=1)  # checkpoint every N optimizer steps (resume granularity)
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    device: str = "auto"  # auto | cpu | cuda
    gradient_checkpointing: bool = False  # saves memory on big models; slower, so off for small ones
    keep_checkpoints: bool = False  # keep .work/<run>/checkpoints after a successful export


@dataclass
class StartingModel:
    """The model a run starts from."""

    path: str  # what from_pretrained loads
    name: str  # what the registry records as base_model
    parent: ModelVersion | None = None


def resolve_base_model(model: str, registry: ModelRegistry) -> StartingModel:
    """builtin:/path/HF id/registry:NAME → a loadable path; a missing model is a ConfigError."""
    from ragft.models.builtin import is_builtin, resolve_llm_path

    if is_registry_model(model):
        parent = registry.get(model)
        if not is_model_dir(parent.path):
            raise ConfigError(f"base model {model!r}: version folder {parent.path} holds no model")
        return StartingModel(parent.path, parent.base_model, parent)
    if is_builtin(model):
        try:
            return StartingModel(resolve_llm_path(model, progress=False), model)
        except RagftError as err:
            raise ConfigError(f"base model {model!r} is not available: {err}") from None
    path = Path(os.path.expanduser(model))
    if path.exists():
        if not is_model_dir(path):
            raise ConfigError(f"base model {model!r}: {path} is not a transformers model folder (no config.json)")
        return StartingModel(str(path.resolve()), str(path.resolve()))
    try:  # a Hugging Face id: only usable when it is in the local cache (ragft runs offline)
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as err:
        raise ConfigError(f"base model {model!r} not found: not a folder, a builtin: name, registry:NAME or a "
                          f"Hugging Face id in the local cache ({str(err).splitlines()[0][:120]})") from None
    return StartingModel(model, model)


def pick_device(requested: str) -> str:
    from ragft.models.llm import pick_device as pick

    device = pick(requested)
    return "cpu" if device == "mps" else device  # MPS training is too patchy in TRL to default to


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ConfigError(f"{path}: the tokenizer has no chat template — ragft trains chat models only")
    return tokenizer


def load_model(path: str, config: TrainConfigBase, device: str):
    """The base model (a LoRA parent version merged) in fp32 on CPU — bf16 arithmetic comes from
    autocast, see ``mixed_precision`` — and bf16 on CUDA; 4-bit for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    if config.peft == "qlora":
        if is_adapter_dir(path):  # 4-bit weights are quantised on load, from a whole model folder only
            raise ConfigError(f"peft: qlora cannot start from {path}, a LoRA adapter version — write it as one "
                              "model with `ragft export NAME DEST` and train from DEST, or use peft: lora")
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16,
                                                    quantization_config=qlora_quantization(device))
    return load_causal_lm(path, torch.float32 if device == "cpu" else torch.bfloat16)


def qlora_quantization(device: str):
    import importlib.util

    if not device.startswith("cuda") or importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("peft: qlora needs a CUDA GPU and the bitsandbytes package — use peft: lora on this machine")
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def lora_config(config: TrainConfigBase):
    if config.peft == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, task_type="CAUSAL_LM")


def trainer_arguments(config: TrainConfigBase, output_dir: Path, device: str) -> dict[str, Any]:
    """The TrainingArguments every method shares."""
    on_cpu = device == "cpu"
    return dict(
        output_dir=str(output_dir), learning_rate=config.learning_rate, num_train_epochs=config.epochs,
        max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, warmup_steps=config.warmup_ratio, seed=config.seed,
        data_seed=config.seed, save_strategy="steps", save_steps=config.save_steps,
        save_total_limit=config.save_total_limit, logging_steps=config.logging_steps, report_to="none",
        use_cpu=on_cpu, bf16=mixed_precision(device), activation_checkpointing=config.gradient_checkpointing,
        include_num_input_tokens_seen="non_padding", dataloader_num_workers=0, disable_tqdm=False,
    )


def mixed_precision(device: str) -> bool:
    """bf16 autocast wherever generation defaults to bf16 (``ragft.models.llm.auto_dtype``): GPUs,
    and CPUs with native bf16 arithmetic, where LoRA training on the sample ran 1.42x plain TRL's
    fp32 tokens/s (``benchmarks/generation.py``)."""
    import torch

    from ragft.models.llm import auto_dtype

    return auto_dtype(device) == torch.bfloat16


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def check_lengths(tokenizer, rows: list[dict], max_length: int, answer_keys: tuple[str, ...]) -> int:
    """Total tokens of the rows; ConfigError naming the examples longer than ``max_length``.

    TRL would silently truncate them (or drop those whose answer falls off the end), training
    on something other than what the user gave; an error lets them raise max_length or shorten
    the context instead.
    """
    too_long, total = [], 0
    for i, row in enumerate(rows):
        for key in answer_keys:
            length = len(tokenizer.apply_chat_template(row["prompt"] + row[key], tokenize=True,
                                                       return_dict=True)["input_ids"])
            total += length
            if length > max_length:
                too_long.append((i, length, _question_of(row)))
                break
    if too_long:
        shown = "; ".join(f"#{i} ({n} tokens, {q!r})" for i, n, q in too_long[:3])
        raise ConfigError(f"{len(too_long)} of {len(rows)} training examples are longer than max_length="
                          f"{max_length} tokens: {shown} — raise max_length or use fewer/shorter context passages")
    return total


def _question_of(row: dict) -> str:
    text = row["prompt"][-1]["content"] if row.get("prompt") else ""
    text = text.rsplit("Question:", 1)[-1]
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"


# ---------------------------------------------------------------------------------------------
# Runs: identity, checkpoints, loss curves, export and registration
# ---------------------------------------------------------------------------------------------


def run_key(method: str, base: StartingModel, data_hash: str, config: TrainConfigBase) -> str:
    """Hash of everything that determines the trained weights (not where they are written)."""
    recipe = {"method": method, "base": base.name, "base_path": base.path,
              "parent": base.parent.name if base.parent else None, "data": data_hash,
              "config": config.model_dump(exclude={"save_steps", "save_total_limit", "logging_steps",
                                                   "keep_checkpoints", "device"})}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def work_dir(registry: ModelRegistry, method: str, key: str) -> Path:
    return registry.root / ".work" / f"{method}-{key[:12]}"


def last_checkpoint(checkpoints: Path) -> str | None:
    """The newest complete checkpoint folder, or None to start fresh."""
    from transformers.trainer_utils import get_last_checkpoint

    if not checkpoints.is_dir():
        return None
    found = get_last_checkpoint(str(checkpoints))
    # A checkpoint interrupted while being written lacks trainer_state.json (saved last): skip it.
    if found and not (Path(found) / "trainer_state.json").is_file():
        shutil.rmtree(found, ignore_errors=True)
        return last_checkpoint(checkpoints)
    return found


def write_curves(log_history: list[dict], folder: Path) -> dict[str, Path]:
    """training_log.json (every logged step) and loss.png (the loss curve) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "training_log.json", "png": folder / "loss.png"}
    paths["json"].write_text(json.dumps(log_history, indent=1), encoding="utf-8")
    points = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry and "step" in entry]
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    if points:
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss")
    axes.set_title("Training loss")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(paths["png"], dpi=100)
    plt.close(figure)
    return paths


def export_version(trainer, tokenizer, base: StartingModel, staging_root: Path, target: Path) -> None:
    """Save the trained weights as a version folder at ``target``, atomically: a LoRA run as its
    adapter plus ``ragft-base.json`` (``ragft.models.weights``; merged on load and by ``ragft
    export``), a full fine-tune as a whole model.

    ``trainer.save_model`` is collective: under FSDP or DeepSpeed ZeRO-3 it gathers the sharded
    weights, so every process calls it; the main process then writes the folder next to the
    registry and renames it into place.
    """
    saved = staging_root / "export"
    trainer.save_model(str(saved))
    if not trainer.accelerator.is_main_process:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        if (saved / "adapter_config.json").is_file():
            for item in saved.iterdir():
                if item.name.startswith("adapter_"):
                    shutil.copy2(item, staging / item.name)
            write_base(staging, base.path, base.name, parent_version=base.parent is not None)
        else:
            from transformers import AutoModelForCausalLM

            AutoModelForCausalLM.from_pretrained(saved, dtype="auto").save_pretrained(staging)
        tokenizer.padding_side = "left"  # ready for batched generation, as TransformersLLM sets it
        tokenizer.save_pretrained(staging)
        if target.exists():
            raise ConfigError(f"{target} already exists — refusing to overwrite a stored model")
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@dataclass
class RunInfo:
    """What a trainer hands to :func:`finish_run`."""

    method: str
    base: StartingModel
    config: TrainConfigBase
    data_hash: str
    train_questions: list[str]
    work: Path
    examples: int
    dataset_tokens: int
    resumed_from: str | None
    name: str | None = None
    train_scopes: list[str | None] = field(default_factory=list)  # parallel to train_questions; empty: unscoped


def finish_run(trainer, tokenizer, registry: ModelRegistry, info: RunInfo, seconds: float) -> ModelVersion:
    """Export the merged model, save the curves beside it and register the version.

    Under ``accelerate launch`` only the main process writes; the others wait and return the
    version it registered.
    """
    accelerator = trainer.accelerator
    name = info.name or registry.next_name(info.method)
    if accelerator.num_processes > 1:  # every process must write to the same folder: the main one's choice
        from accelerate.utils import broadcast_object_list

        name = broadcast_object_list([name])[0]
    target = registry.root / name
    export_version(trainer, tokenizer, info.base, info.work, target)
    if accelerator.is_main_process:
        _register(trainer, registry, info, seconds, name, target)
    accelerator.wait_for_everyone()
    return registry.get(name)


def _trained_questions(info: RunInfo) -> dict:
    """The distinct questions trained on, with their document scopes when any question has one."""
    if not any(info.train_scopes):
        return {"train_questions": list(dict.fromkeys(info.train_questions))}
    pairs = list(dict.fromkeys(zip(info.train_questions, info.train_scopes)))
    return {"train_questions": [q for q, _ in pairs], "train_scopes": [s for _, s in pairs]}


def _register(trainer, registry: ModelRegistry, info: RunInfo, seconds: float, name: str, target: Path) -> None:
    curves = write_curves(trainer.state.log_history, target / "training")
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    steps = trainer.state.global_step
    metrics = {
        "steps": steps, "seconds": round(seconds, 2), "seconds_per_step": round(seconds / max(steps, 1), 3),
        "examples": info.examples, "tokens_per_epoch": info.dataset_tokens,
        "tokens_seen": int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0),
        "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        "resumed_from": Path(info.resumed_from).name if info.resumed_from else None,
        "processes": trainer.accelerator.num_processes,
        "loss_curve": str(curves["png"]), "log": str(curves["json"]),
    }
    registry.register(ModelVersion(
        name=name, path=str(target.resolve()), base_model=info.base.name, method=info.method,
        parent=info.base.parent.name if info.base.parent else None, data_sha256=info.data_hash,
        config=info.config.model_dump(mode="json"), metrics=metrics, created_at=now(),
        **_trained_questions(info),
    ))
    if not info.config.keep_checkpoints:
        shutil.rmtree(info.work, ignore_errors=True)
    else:
        shutil.rmtree(info.work / "export", ignore_errors=True)


def stop_after_steps(steps: int):
    """A TrainerCallback that raises :class:`TrainingInterrupted` once ``steps`` steps are saved.

    Used by the tests and the CLI's hidden ``--stop-after`` to simulate a crash. It raises in
    ``on_step_begin`` of step N+1: ``on_step_end`` runs before the checkpoint of step N is
    written, so raising there would lose it.
    """
    from transformers import TrainerCallback

    class StopAfterSteps(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step >= steps:
                raise TrainingInterrupted(f"training stopped after {steps} step(s) on request — the "
                                          "checkpoint is saved; re-run the same command to resume")

    return StopAfterSteps()


class TrainingInterrupted(RagftError):
    """Training stopped before the end; re-running the same command resumes from the checkpoint."""


def timed_train(trainer, resume: str | None) -> float:
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    return time.perf_counter() - started
