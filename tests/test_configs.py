"""The study configs shipped in configs/ are valid and their datasets load."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.eval.study import load_dataset
from ragft.eval.study_config import load_study_config
from conftest import shared_dataset

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_sample_config_loads_its_questions():
    config = load_study_config(CONFIGS / "sample.yaml")
    questions = load_dataset(config.test)
    assert len(questions) >= 50 and config.train is not None
    assert {v.type for v in config.variants} >= {"closed_book", "rag"}


@pytest.mark.parametrize("name, expected", [("energous.yaml", 32), ("cuad.yaml", 100)])
def test_shared_dataset_configs(name, expected):
    shared_dataset("cuad-dev")
    config = load_study_config(CONFIGS / name)
    questions = load_dataset(config.test)
    assert len(questions) == expected
    assert all(q.doc_scope and q.evidence_texts for q in questions)
