"""Model folders on disk: whole models, and LoRA versions stored as adapters.

A LoRA version keeps only its adapter (``adapter_config.json`` + ``adapter_model.safetensors``,
20 MB for SmolLM2-135M at r=16 on every linear layer, against 517 MB merged, and 14–28 GB merged for a 7B
model) and ``ragft-base.json``, which names what it was trained on: a model name
(``builtin:…``, a path or a Hugging Face id) or, for a version trained from another version, that
version's folder relative to its own (so a registry can be moved as a whole).
``load_causal_lm`` follows that chain, loads the base, folds each adapter in
(``merge_and_unload``, in float32) and returns a plain model: generation runs as fast as on a
merged model. ``export_merged`` writes the same merged model as a standalone folder for tools
that know nothing of ragft (vLLM, llama.cpp's converter, the Hub).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ragft.errors import ConfigError

BASE_FILE = "ragft-base.json"


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / BASE_FILE).is_file()


def is_model_dir(path: str | Path) -> bool:
    """A folder ``load_causal_lm`` can load: a whole model or a ragft adapter version."""
    return (Path(path) / "config.json").is_file() or is_adapter_dir(path)


def write_base(folder: Path, base_path: str, base_name: str, parent_version: bool) -> None:
    """Record in an adapter ``folder`` what it was trained on. When that is another version of the
    same registry (``parent_version``: an adapter or a whole model in ``base_path``) it is stored
    relative to ``folder``'s final place, a sibling; else the model's name (``base_name``)."""
    if parent_version:
        record = {"parent_dir": os.path.join("..", Path(base_path).name)}
    else:
        record = {"base_model": base_name}
    (folder / BASE_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")


def base_of(folder: str | Path) -> str:
    """What an adapter folder was trained on, as a path or name ``load_causal_lm`` accepts."""
    from ragft.models.builtin import is_builtin, resolve_llm_path

    try:
        record = json.loads((Path(folder) / BASE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{folder}/{BASE_FILE} cannot be read ({err}) — the adapter version is damaged; "
                          "retrain it or restore the folder") from None
    if "parent_dir" in record:
        parent = (Path(folder) / record["parent_dir"]).resolve()
        if not is_model_dir(parent):
            raise ConfigError(f"{folder} was trained from {parent}, which holds no model — keep a registry's "
                              "versions together")
        return str(parent)
    name = record.get("base_model", "")
    return resolve_llm_path(name, progress=False) if is_builtin(name) else name


def load_causal_lm(path: str | Path, dtype=None):
    """The model in ``path`` with every adapter of its chain merged, in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM

    if not is_adapter_dir(path):
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or "auto")
    from peft import PeftModel

    # Merged in float32: a small LoRA update added to bf16 weights would be partly rounded away.
    base = load_causal_lm(base_of(path), torch.float32)
    with warnings.catch_warnings():  # PEFT calls a transformers method deprecated for v6: not ours to fix
        warnings.simplefilter("ignore", FutureWarning)
        merged = PeftModel.from_pretrained(base, str(path)).merge_and_unload()
    return merged.to(dtype) if dtype is not None else merged


def export_merged(source: str | Path, target: Path) -> Path:
    """Write the model in ``source`` (adapters merged) with its tokenizer to ``target``, atomically."""
    from transformers import AutoTokenizer

    target = Path(target)
    if target.exists():
        raise ConfigError(f"{target} already exists — choose a new folder for the export")
    model = load_causal_lm(source)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
