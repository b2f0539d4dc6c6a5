"""The generated variant line: the pipeline as it ran, in words (no dict reprs, no "hybrid top-5" for a
retrieve → rerank → cited pipeline)."""

from __future__ import annotations

from ragft.study.describe import describe_pipeline, model_label
from ragft.study.study_config import StudyConfig


def _config(*variants: dict) -> StudyConfig:
    return StudyConfig.model_validate({
        "name": "d", "corpus": "corpus", "test": {"kind": "qa_file", "path": "t.jsonl"},
        "models": {"small": {"model": "builtin:smollm2-135m"}, "hf": {"model": "HuggingFaceTB/SmolLM2-135M"}},
        "chunker": {"kind": "recursive", "params": {"max_chars": 800}}, "variants": list(variants),
    })


def _line(variant: dict) -> str:
    config = _config(variant)
    return describe_pipeline(config.variants[0], config)


def test_retrieve_rerank_cited_pipeline_is_described_step_by_step():
    line = _line({"name": "cited", "type": "rag", "llm": "hf", "retrieval": {"mode": "hybrid", "top_k": 5},
                  "pipeline": [{"name": "retrieve"}, {"name": "rerank", "params": {"top_k": 3}},
                               {"name": "grounded_generate", "params": {"system_prompt": "Cite. " * 40}}]})
    assert line == ("SmolLM2-135M: retrieve (hybrid, top 5) → rerank (top 3) → generate with citations; "
                    "recursive chunks of 800 chars")


def test_naive_rag_closed_book_and_extractive():
    assert _line({"name": "rag", "type": "rag", "llm": "small", "retrieval": {"mode": "dense", "top_k": 4}}) == \
        "smollm2-135m: retrieve (dense, top 4) → generate; recursive chunks of 800 chars"
    assert _line({"name": "cb", "type": "closed_book", "llm": "small"}).startswith("smollm2-135m: no retrieval")
    extractive = _line({"name": "x", "type": "extractive", "chunker": {"kind": "fixed", "params": {"size": 300}}})
    assert extractive == "no LLM: retrieve (hybrid, top 5) → best-matching sentence; fixed chunks of 300 chars, overlap 256"


def test_no_python_reprs_and_model_labels():
    line = _line({"name": "q", "type": "rag", "llm": "small",
                  "pipeline": [{"name": "multi_query", "params": {"n": 3}},
                               {"name": "rewrite", "params": {"keep_original": True}},
                               {"name": "retrieve", "params": {"top_k": 8}},
                               {"name": "metadata_filter", "params": {"metadata": {"format": "pdf"}}},
                               {"name": "generate"}]})
    assert "{" not in line and "[" not in line and "'" not in line
    assert "multi-query (n 3) → rewrite (keep original) → retrieve (hybrid, top 8)" in line
    assert "metadata filter → generate" in line  # a nested value is left out
    assert model_label("/models/runs/sft-v3/") == "sft-v3" and model_label("registry:sft") == "registry:sft"
