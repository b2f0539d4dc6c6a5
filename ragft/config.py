"""Configuration: which models to use, how to chunk, how to retrieve.

Plain pydantic models so that a YAML file, a CLI flag and a Python caller all produce the same
validated object. Nothing here loads a model; ``ragft.models`` turns these into objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

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
    dtype: str = "auto"  # auto (bf16 on GPU and bf16-capable CPUs, else fp32) | float32 | bfloat16 | float16
    # per_prompt: read each prompt alone, decode the batch together (no padded prefill); padded:
    # one padded batch (cheap on GPUs); auto: per_prompt on CPU (ragft.models.decoding)
    prefill: Literal["auto", "per_prompt", "padded"] = "auto"
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0)


class EmbedderConfig(_Strict):
    """A sentence-embedding model (sentence-transformers)."""

    model: str = BUILTIN_EMBEDDER
    batch_size: int = Field(64, ge=1)
    device: str = "auto"


class FixedChunkerParams(_Strict):
    """``fixed``: windows of at most ``size`` characters sharing about ``overlap`` with the last."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "size: true" or "size: 1.5" is a mistake

    size: int = Field(1024, ge=1)
    overlap: int = Field(256, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self):
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


class SentenceChunkerParams(_Strict):
    """``sentence``: whole sentences grouped up to ``max_chars``, sharing ``overlap_sentences``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_chars: int = Field(600, ge=1)
    overlap_sentences: int = Field(1, ge=0)


class RecursiveChunkerParams(_Strict):
    """``recursive``: structure-aware chunks of at most ``max_chars``, repeating up to ``overlap``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_chars: int = Field(1000, ge=1)
    overlap: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _overlap_below_max_chars(self):
        if self.overlap >= self.max_chars:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than max_chars ({self.max_chars})")
        return self


# The chunker kinds and their parameters (the chunker classes live in ragft.corpus.chunkers).
CHUNKER_PARAMS: dict[str, type[_Strict]] = {
    "fixed": FixedChunkerParams,
    "sentence": SentenceChunkerParams,
    "recursive": RecursiveChunkerParams,
}


class ChunkerConfig(_Strict):
    """How documents are cut into chunks; ``params`` go to the chunker class.

    ``params`` is checked against the kind's model above when the config is loaded, but kept as
    given (defaults are not filled in): index keys hash ``model_dump()``.
    """

    kind: Literal["fixed", "sentence", "recursive"] = "recursive"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _params_fit_the_kind(self):
        self.typed_params()
        return self

    def typed_params(self) -> _Strict:
        """``params`` validated into the kind's model (defaults filled in); ValueError naming the field."""
        model = CHUNKER_PARAMS[self.kind]
        try:
            return model.model_validate(self.params)
        except ValidationError as err:
            raise ValueError(f"{self.kind} chunker params: {describe_params_error(err, model.model_fields)}") from None


class RetrievalConfig(_Strict):
    """How chunks are retrieved for a question."""

    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    top_k: int = Field(5, ge=1)
    dense_weight: float = Field(1.0, ge=0.0)  # weights of the two rankings in reciprocal rank fusion
    bm25_weight: float = Field(1.0, ge=0.0)
    rrf_k: int = Field(60, ge=1)  # the usual RRF constant (Cormack et al., 2009)
    candidates: int = Field(50, ge=1)  # per-retriever depth fed into fusion


class ConversationConfig(_Strict):
    """Multi-turn chat (``ragft.rag.conversation``): how a follow-up becomes a standalone question
    (auto: prepend the previous question when the follow-up leans on it; always; llm: the
    variant's generator rewrites it; none) and how many earlier exchanges the generator sees."""

    condense: Literal["auto", "always", "llm", "none"] = "auto"
    history_turns: int = Field(4, ge=0, le=20)


def parse_threads(value: Any) -> int | str:
    """A ``threads`` setting: "auto" or a whole number ≥ 1 (also given as text)."""
    if value == "auto":
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"{value!r} — give a number of threads (1 or more) or auto")


# CPU threads for torch in this process: "auto" (every usable core) or a count (ragft.models.threads)
Threads = Annotated[Union[int, str], BeforeValidator(parse_threads)]


class IndexConfig(_Strict):
    """Where the chunk index lives and how dense search runs (``ragft.index.backend``).

    ``embedded`` (default): version folders in the workspace; dense search exact below
    ``ann_threshold`` chunks, HNSW (faiss) above it, or always one of them (``ann: exact|hnsw``).
    ``milvus``: a Milvus collection — ``uri`` a local ``.db`` file (Milvus Lite, embedded) or a
    server/cluster URL (``http://host:19530``); default: ``milvus.db`` in the index folder.
    """

    backend: Literal["embedded", "milvus"] = "embedded"
    uri: str | None = None
    ann: Literal["auto", "exact", "hnsw"] = "auto"
    ann_threshold: int = Field(50_000, ge=0)
    # HNSW search depth (raised to the requested depth when that is larger): 512 keeps hybrid
    # recall@10 ≥ 0.98 at 100 k and 1 M chunks, where 128 gave 0.976 at 100 k (retrieval_scale.py)
    ef_search: int = Field(512, ge=1)


class WorkspaceConfig(_Strict):
    """Everything ``ragft ingest`` / ``ragft ask`` need; stored as ``ragft.yaml`` in a workspace."""

    llm: LLMConfig = Field(default_factory=LLMConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    chunker: ChunkerConfig = Field(default_factory=ChunkerConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    corpus: str | None = None  # the folder (or dataset file) last ingested: a study on the workspace reads it
    conversation: ConversationConfig = Field(default_factory=ConversationConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    threads: Threads = "auto"


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
        where = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")  # our own validators' sentences, as written
        parts.append(f"{where}: {message}" if where else message)
    more = len(err.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def describe_params_error(err: ValidationError, accepted: Iterable[str]) -> str:
    """``describe_validation_error``, plus the ``accepted`` names when a key is unknown (a typo)."""
    text = describe_validation_error(err)
    if any(item["type"] in ("extra_forbidden", "unexpected_keyword_argument") for item in err.errors()):
        text += f" — it accepts: {', '.join(accepted) or 'no params'}"
    return text


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
