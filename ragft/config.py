"""Configuration: which models to use, how to chunk, how to retrieve.

Plain pydantic models so that a YAML file, a CLI flag and a Python caller all produce the same
validated object. Nothing here loads a model; ``ragft.models`` turns these into objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragft.errors import ConfigError
from ragft.persist import atomic_write_text

BUILTIN_LLM = "builtin:smollm2-135m"
BUILTIN_EMBEDDER = "builtin:all-minilm-l6-v2"


class _Strict(BaseModel):
    # A typo in a YAML key should be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class LLMConfig(_Strict):
    """A generator model: local transformers weights or an OpenAI-compatible endpoint."""

    backend: Literal["transformers", "openai"] = "transformers"
    # transformers: "builtin:smollm2-135m", a Hugging Face model id or a local path.
    # openai: the model name the server expects.
    model: str = BUILTIN_LLM
    base_url: str | None = None  # openai backend, e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the key
    max_new_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    batch_size: int = Field(8, ge=1)  # prompts per forward pass (transformers) or in flight (openai)
    device: str = "auto"  # auto | cpu | cuda | cuda:1 | mps
    dtype: str = "auto"  # auto (fp32 on CPU, bf16 on GPU) | float32 | bfloat16 | float16
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0)


class EmbedderConfig(_Strict):
    """A sentence-embedding model (sentence-transformers)."""

    model: str = BUILTIN_EMBEDDER
    batch_size: int = Field(64, ge=1)
    device: str = "auto"


class ChunkerConfig(_Strict):
    """How documents are cut into chunks; ``params`` go to the chunker class."""

    kind: Literal["fixed", "sentence", "recursive"] = "recursive"
    params: dict[str, Any] = Field(default_factory=dict)


class RetrievalConfig(_Strict):
    """How chunks are retrieved for a question."""

    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    top_k: int = Field(5, ge=1)
    dense_weight: float = Field(1.0, ge=0.0)  # weights of the two rankings in reciprocal rank fusion
    bm25_weight: float = Field(1.0, ge=0.0)
    rrf_k: int = Field(60, ge=1)  # the usual RRF constant (Cormack et al., 2009)
    candidates: int = Field(50, ge=1)  # per-retriever depth fed into fusion


class WorkspaceConfig(_Strict):
    """Everything ``ragft ingest`` / ``ragft ask`` need; stored as ``ragft.yaml`` in a workspace."""

    llm: LLMConfig = Field(default_factory=LLMConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    chunker: ChunkerConfig = Field(default_factory=ChunkerConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    corpus: str | None = None  # the folder (or dataset file) last ingested: a study on the workspace reads it


def load_yaml_model(path: Path, model_type: type[BaseModel]) -> Any:
    """Read ``path`` as YAML into ``model_type``; every problem becomes one ConfigError line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found — check the path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({_first_line(err)}) — fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return model_type.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {describe_validation_error(err)}") from None


def save_yaml_model(model: BaseModel, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))


def describe_validation_error(err: ValidationError) -> str:
    """pydantic's errors as 'field.path: message' pairs, one sentence."""
    parts = []
    for item in err.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = len(err.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
