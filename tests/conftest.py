"""Shared fixtures. Heavy models load once per test session and are shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def shared_dataset(*parts: str) -> Path:
    """A path under ../shared/datasets, or skip the test when that folder is not beside the repo."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/datasets is only beside the repo in dev and CI)")
    return path


@pytest.fixture(scope="session")
def embedder():
    from ragft.config import EmbedderConfig
    from ragft.models import load_embedder

    return load_embedder(EmbedderConfig())


@pytest.fixture(scope="session")
def small_llm():
    """The built-in SmolLM2-135M (converted once into the ragft cache, then reused)."""
    from ragft.config import LLMConfig
    from ragft.models import load_llm

    return load_llm(LLMConfig(max_new_tokens=24, batch_size=4), progress=False)
