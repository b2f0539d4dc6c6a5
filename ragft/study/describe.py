"""One plain line per variant saying what it actually runs, for results.json, the report and the console.

A variant's name and its user-written ``description`` say what the author *meant*; this line
is generated from the config, so it says what ran: the model, the pipeline's steps in order
with their key parameters, and how the corpus was chunked, e.g.
``SmolLM2-135M: retrieve (hybrid, top 5) → rerank → generate with citations; recursive chunks
of 800 chars``. No Python reprs: every value is formatted for a reader.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.study.study_config import StepConfig, StudyConfig, VariantConfig

# Steps whose plain name reads badly; the rest are shown as their name with spaces.
STEP_WORDS = {
    "generate": "generate",
    "grounded_generate": "generate with citations",
    "multi_query": "multi-query",
    "hyde": "HyDE",
    "mmr": "MMR",
    "example_queries": "example queries",
    "hypothetical_questions": "hypothetical questions",
}
RETRIEVAL_KEYS = ("mode", "top_k")  # the retrieval settings worth a reader's attention
HIDDEN_PARAMS = {"system_prompt", "prompt", "template"}  # long prose, not a setting
MAX_VALUE_CHARS = 30


def describe_pipeline(variant: VariantConfig, config: StudyConfig) -> str:
    """The model, the steps in order and the chunking of one variant, as one line."""
    if variant.type == "closed_book":
        return f"{model_label(config.models[variant.llm].model)}: no retrieval (answers from the model's weights)"
    steps = variant.pipeline or [StepConfig(name="retrieve")]
    described = [describe_step(step, variant.retrieval) for step in steps]
    if variant.type == "extractive":
        head = "no LLM"
        described.append("best-matching sentence")
    else:
        head = model_label(config.models[variant.llm].model)
        if not variant.pipeline:
            described.append("generate")
    line = f"{head}: {' → '.join(described)}; {describe_chunker(variant.chunker or config.chunker)}"
    if variant.embedder:
        line += f"; fine-tuned embedder {variant.embedder}"
    return line


def describe_step(step: StepConfig, retrieval: RetrievalConfig) -> str:
    """``retrieve (hybrid, top 5)``, ``rerank (top 3)``, ``generate with citations``."""
    params = dict(step.params)
    words = STEP_WORDS.get(step.name, step.name.replace("_", " "))
    if step.name == "retrieve":
        settings = {**retrieval.model_dump(include=set(RETRIEVAL_KEYS)), **params}
        shown = [str(settings["mode"]), f"top {settings['top_k']}"]
        shown += [_param(k, v) for k, v in params.items() if k not in RETRIEVAL_KEYS]
    else:
        shown = [_param(k, v) for k, v in params.items() if k not in HIDDEN_PARAMS]
    shown = [s for s in shown if s]
    return f"{words} ({', '.join(shown)})" if shown else words


def describe_chunker(chunker: ChunkerConfig) -> str:
    """``recursive chunks of 800 chars``, with the overlap when there is one (defaults included)."""
    from ragft.corpus import make_chunker

    try:
        built = make_chunker(chunker.kind, **chunker.params)
    except Exception:  # an invalid config fails elsewhere, with its own message
        return f"{chunker.kind} chunks"
    size = getattr(built, "max_chars", None) or getattr(built, "size", None)
    text = f"{chunker.kind} chunks" + (f" of {size} chars" if size else "")
    overlap = getattr(built, "overlap", 0) or 0
    sentences = getattr(built, "overlap_sentences", 0) or 0
    if overlap:
        text += f", overlap {overlap}"
    elif sentences:
        text += f", overlap {sentences} sentence{'s' if sentences != 1 else ''}"
    return text


def model_label(model: str) -> str:
    """A model as a reader knows it: ``builtin:smollm2-135m`` → ``smollm2-135m``; a path → its folder name."""
    if model.startswith("builtin:"):
        return model.removeprefix("builtin:")
    if "/" in model or "\\" in model:
        return PurePosixPath(model.replace("\\", "/").rstrip("/")).name or model
    return model


def _param(key: str, value) -> str:
    """``top_k`` 3 → ``top 3``; a bool → the key or ``no key``; long or nested values are left out."""
    label = "top" if key == "top_k" else key.replace("_", " ")
    if isinstance(value, bool):
        return label if value else f"no {label}"
    if isinstance(value, (int, float)):
        return f"{label} {value:g}"
    if isinstance(value, str) and len(value) <= MAX_VALUE_CHARS:
        return f"{label} {value}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        joined = ", ".join(map(str, value))
        return f"{label} {joined}" if len(joined) <= MAX_VALUE_CHARS else f"{len(value)} {label}"
    return ""
