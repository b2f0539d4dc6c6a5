"""The study configs shipped in configs/ are valid and their datasets load."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.corpus.datasets import load_dataset
from ragft.study.study_config import load_study_config
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


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_names_known_steps_and_keeps_train_apart_from_test(path):
    from ragft.study.study import StudyRunner
    from ragft.rag.registry import all_steps

    if "shared/datasets" in path.read_text() or "cuad-dev" in path.read_text():
        shared_dataset("cuad-dev")
    config = load_study_config(path)
    known = set(all_steps())
    for variant in config.variants:
        assert {step.name for step in variant.pipeline} <= known, variant.name
    questions = load_dataset(config.test)
    StudyRunner(config)._check_hygiene(questions)  # raises on any train/test overlap
