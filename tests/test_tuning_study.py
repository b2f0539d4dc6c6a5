"""A study that fine-tunes its own model (``finetune:``) trains once, scores the fine-tuned
variant through the registry, and reuses the trained version when re-run."""

from __future__ import annotations

import json

import pytest

from ragft.study.study import StudyRunner
from ragft.study.study_config import StudyConfig
from ragft.models.registry import ModelRegistry

pytestmark = pytest.mark.slow


def _files(tmp_path, train_rows: list[dict]):
    """A one-document corpus about funnels, ``train_rows`` to learn from and one test question."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "fleet.md").write_text("The Brennock ferries have bright teal funnels with a white gull.\n")
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in train_rows))
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "Which bird is painted on the funnel?", "answer": "A white gull"}) + "\n")
    return corpus, train, test


def test_study_trains_once_and_scores_the_finetuned_variant(tmp_path, embedder):
    corpus, train, test = _files(tmp_path, [{"question": "What colour are the Brennock funnels?",
                                              "answer": "Bright teal"}])
    config = StudyConfig.model_validate({
        "name": "ft", "corpus": str(corpus), "test": {"path": str(test)}, "train": {"path": str(train)},
        "models": {"small": {"model": "builtin:smollm2-135m", "max_new_tokens": 8}},
        "finetune": {"sft": {"method": "sft", "from_model": "small",
                             "train": {"max_steps": 1, "batch_size": 1, "max_length": 96}}},
        "variants": [{"name": "base", "type": "closed_book", "llm": "small"},
                     {"name": "sft-closed", "type": "closed_book", "llm": "sft"}],
    })
    run = StudyRunner(config.model_copy(deep=True), output_dir=tmp_path / "run").run()
    registry = ModelRegistry(tmp_path / "run" / "models")
    versions = registry.list()
    assert [v.name for v in versions] == ["sft-1"]
    assert versions[0].train_questions == ["What colour are the Brennock funnels?"]
    assert run.records["sft-closed"][0]["answer"] is not None
    # The fine-tuned variant pays for its training in the cost model; the base model does not.
    from ragft.study.cost import cost_report
    from ragft.study.results import build_results, cost_variant

    variants = {v["name"]: v for v in build_results(run, embedder.embed)["variants"]}
    assert variants["sft-closed"]["cost"]["training_seconds"] == versions[0].metrics["seconds"] > 0
    assert variants["base"]["cost"]["training_seconds"] == 0
    trained = cost_report(cost_variant(variants["sft-closed"], run.config))
    hours = versions[0].metrics["seconds"] / 3600
    assert trained.training_runs == 1
    assert trained.training_per_run == pytest.approx(hours * run.config.cost.hardware_usd_per_hour)
    assert cost_report(cost_variant(variants["base"], run.config)).training_runs == 0

    again = StudyRunner(config.model_copy(deep=True), output_dir=tmp_path / "run")
    again.run()
    assert [v.name for v in registry.list()] == ["sft-1"]  # cached: not retrained
    assert again.config.models["sft"].model == "registry:sft-1"


def test_a_study_trains_a_preference_method_through_the_same_table(tmp_path, embedder):
    """``method: dpo`` in a study: the gold answer is preferred over the base model's own wrong
    answer to each train question; the version is registered as DPO and scored; the caller's
    config is left as given (the run works on its own copy)."""
    corpus, train, test = _files(tmp_path, [
        {"question": "What colour are the Brennock funnels?", "answer": "Bright teal"},
        {"question": "What code does the hazardous goods form have?", "answer": "Form DG-7"}])
    config = StudyConfig.model_validate({
        "name": "pref", "corpus": str(corpus), "test": {"path": str(test)}, "train": {"path": str(train)},
        "models": {"small": {"model": "builtin:smollm2-135m", "max_new_tokens": 8}},
        "finetune": {"dpo": {"method": "dpo", "from_model": "small",
                             "train": {"max_steps": 1, "batch_size": 2, "max_length": 96}}},
        "variants": [{"name": "dpo-closed", "type": "closed_book", "llm": "dpo"}], "add_references": False,
    })
    run = StudyRunner(config, output_dir=tmp_path / "run").run()
    (version,) = ModelRegistry(tmp_path / "run" / "models").list()
    assert version.method == "dpo" and sorted(version.train_questions) == sorted(
        ["What colour are the Brennock funnels?", "What code does the hazardous goods form have?"])
    assert run.records["dpo-closed"][0]["answer"] is not None
    assert set(config.models) == {"small"}  # the caller's config was not edited


def test_an_unknown_method_fails_when_the_config_is_loaded():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a training method — use one of sft, raft, dpo, orpo"):
        StudyConfig.model_validate({"name": "x", "corpus": "c", "test": {"path": "t"},
                                    "finetune": {"k": {"method": "ppo"}},
                                    "variants": [{"name": "v", "type": "closed_book", "llm": "k"}]})
