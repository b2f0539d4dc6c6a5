"""Real training runs on the built-in SmolLM2-135M, kept tiny (1–3 steps, one or two short
examples): SFT with LoRA learns and changes generation, DPO from real pairs changes answers,
ORPO and full fine-tuning with packing run and export, an interrupted run resumes from its
checkpoint (through the CLI), and bad input is a ConfigError that leaves the registry intact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.config import LLMConfig
from ragft.errors import ConfigError
from ragft.models import load_llm
from ragft.tuning.common import TrainingInterrupted
from ragft.tuning.data import ChatExample, closed_book_messages
from ragft.tuning.preference import DPOTrainConfig, ORPOTrainConfig, train_dpo, train_orpo
from ragft.models.registry import ModelRegistry, ModelVersion
from ragft.models.weights import export_merged
from ragft.tuning.sft import SFTTrainConfig, train_sft
from ragft.types import Preference

pytestmark = pytest.mark.slow

QUESTION = "What colour is the funnel of the Brennock ferries?"
ANSWER = "Bright teal with a white gull."


def _answers(path_or_llm, questions: list[str], tokens: int = 12) -> list[str]:
    llm = path_or_llm if not isinstance(path_or_llm, str) else load_llm(
        LLMConfig(model=path_or_llm, max_new_tokens=tokens), progress=False)
    return [g.text for g in llm.generate([closed_book_messages(q) for q in questions], max_new_tokens=tokens)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("ws") / "models")


@pytest.fixture(scope="module")
def sft_version(registry) -> ModelVersion:
    example = ChatExample(closed_book_messages(QUESTION), ANSWER, QUESTION)
    config = SFTTrainConfig(max_steps=3, learning_rate=3e-3, batch_size=1, max_length=128, save_steps=10)
    return train_sft([example], config, registry)


def test_sft_lora_learns_exports_and_registers(sft_version, registry, small_llm):
    m = sft_version.metrics
    assert sft_version.name == "sft-1" and sft_version.method == "sft"
    assert sft_version.base_model == "builtin:smollm2-135m" and sft_version.parent is None
    assert m["steps"] == 3 and m["final_loss"] < m["first_loss"]
    assert sft_version.train_questions == [QUESTION] and len(sft_version.data_sha256) == 64
    assert Path(m["loss_curve"]).stat().st_size > 1000
    assert [e["step"] for e in json.loads(Path(m["log"]).read_text()) if "loss" in e] == [1, 2, 3]
    assert not (registry.root / ".work").exists() or not any((registry.root / ".work").iterdir())
    # Stored as its adapter (a few MB, no merged weights) plus what it was trained on; the normal
    # backend loads it (base + adapter, merged).
    folder = Path(sft_version.path)
    assert not (folder / "model.safetensors").exists()
    assert 100_000 < (folder / "adapter_model.safetensors").stat().st_size < 20_000_000
    assert json.loads((folder / "ragft-base.json").read_text()) == {"base_model": "builtin:smollm2-135m"}
    before, = _answers(small_llm, [QUESTION])
    after, = _answers(sft_version.path, [QUESTION])
    print(f"\nbefore: {before!r}\nafter:  {after!r}\nmetrics: {m}")
    assert after != before
    assert "teal" in after.lower()


def test_cli_exports_a_version_as_one_merged_model(sft_version, registry, tmp_path):
    from ragft.cli import app

    target = tmp_path / "merged"
    result = CliRunner().invoke(app, ["export", sft_version.name, str(target), "--registry", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert f"exported {sft_version.name} (sft) to" in result.output and target.name in result.output  # rich wraps
    assert (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file()
    assert _answers(str(target), [QUESTION]) == _answers(sft_version.path, [QUESTION])
    again = CliRunner().invoke(app, ["export", sft_version.name, str(target), "--registry", str(registry.root)])
    # (the console script turns this ConfigError into one "error: …" line)
    assert isinstance(again.exception, ConfigError) and "already exists — choose a new folder" in str(again.exception)


def test_dpo_from_real_pairs_changes_answers(sft_version, registry):
    questions = [QUESTION, "Who approves travel claims above £500?"]
    # Real pairs: the model's own answers are rejected, the wanted answers chosen.
    rejected = _answers(sft_version.path, questions, tokens=16)
    chosen = ["The funnel is painted bright teal.", "The finance director approves them."]
    prefs = [Preference(q, c, r, source="test") for q, c, r in zip(questions, chosen, rejected) if c != r]
    assert len(prefs) == 2
    config = DPOTrainConfig(base_model=f"registry:{sft_version.name}", max_steps=3, learning_rate=2e-3,
                            batch_size=2, max_length=160, beta=0.1, save_steps=10)
    version = train_dpo(prefs, config, registry)
    assert version.method == "dpo" and version.parent == sft_version.name
    assert version.base_model == "builtin:smollm2-135m"
    log = [e for e in json.loads(Path(version.metrics["log"]).read_text()) if "loss" in e]
    assert log[0]["loss"] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at step 1
    assert log[-1]["loss"] < log[0]["loss"]
    # An adapter trained on top of another version points at it, relative to the registry.
    assert json.loads((Path(version.path) / "ragft-base.json").read_text()) == {"parent_dir": "../sft-1"}
    after = _answers(version.path, questions, tokens=16)
    print(f"\nrejected: {rejected}\nafter DPO: {after}")
    assert after != rejected
    # Exported as one merged model: a plain transformers folder that answers the same.
    exported = export_merged(version.path, registry.root.parent / "exported")
    assert (exported / "model.safetensors").is_file() and not (exported / "adapter_config.json").exists()
    assert _answers(str(exported), questions, tokens=16) == after


def test_orpo_full_finetune(registry):
    prefs = [Preference(QUESTION, ANSWER, "It is red.")]
    version = train_orpo(prefs, ORPOTrainConfig(peft="full", max_steps=1, batch_size=1, max_length=96,
                                                learning_rate=1e-5), registry)
    assert version.method == "orpo" and version.metrics["steps"] == 1
    assert math.isfinite(version.metrics["final_loss"])
    assert (Path(version.path) / "config.json").is_file()
    # A LoRA version trained on top of a whole-model version records that version, not its base.
    example = ChatExample(closed_book_messages(QUESTION), ANSWER, QUESTION)
    child = train_sft([example], SFTTrainConfig(base_model=f"registry:{version.name}", max_steps=1, batch_size=1,
                                                max_length=128, save_steps=10), registry)
    assert json.loads((Path(child.path) / "ragft-base.json").read_text()) == {"parent_dir": f"../{version.name}"}
    assert _answers(child.path, [QUESTION])[0]


def test_sft_with_packing(registry):
    examples = [ChatExample(closed_book_messages(f"Question number {i}?"), f"Answer {i}.", f"Question number {i}?")
                for i in range(4)]
    config = SFTTrainConfig(max_steps=1, batch_size=1, max_length=128, packing=True, save_steps=10)
    version = train_sft(examples, config, registry, method="sft")
    assert version.metrics["steps"] == 1 and math.isfinite(version.metrics["final_loss"])


def test_bad_input_is_a_config_error_and_keeps_the_registry(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    kept = tmp_path / "models" / "sft-1"
    kept.mkdir(parents=True)
    (kept / "config.json").write_text("{}")
    registry.register(ModelVersion(name="sft-1", path=str(kept), base_model="x", method="sft"))
    stored = registry.path.read_bytes()
    example = ChatExample(closed_book_messages(QUESTION), ANSWER, QUESTION)
    small = SFTTrainConfig(max_steps=1, max_length=128)

    with pytest.raises(ConfigError, match="no training examples"):
        train_sft([], small, registry)
    with pytest.raises(ConfigError, match=r"1 of 1 training examples are longer than max_length=16.*funnel"):
        train_sft([example], SFTTrainConfig(max_steps=1, max_length=16), registry)
    with pytest.raises(ConfigError, match="base model '/no/such/model' not found|not found"):
        train_sft([example], SFTTrainConfig(base_model="/no/such/model", max_steps=1), registry)
    with pytest.raises(ConfigError, match="no model version 'sft-9'.*sft-1"):
        train_sft([example], SFTTrainConfig(base_model="registry:sft-9", max_steps=1), registry)
    with pytest.raises(ConfigError, match="same answer"):
        train_dpo([Preference(QUESTION, ANSWER, ANSWER + " ")], DPOTrainConfig(max_steps=1), registry)
    with pytest.raises(ConfigError, match="overlap"):
        train_sft([example], small, registry, test_questions=["What colour is the funnel of Brennock ferries?"])
    assert registry.path.read_bytes() == stored and (kept / "config.json").is_file()
    assert sorted(p.name for p in registry.root.iterdir()) == ["registry.json", "sft-1"]


def test_raft_on_synthetic_qa_from_a_workspace(tmp_path, embedder):
    """Documents only, no QA: template questions from the chunks, RAFT examples with a retrieved
    distractor, one training step, a registered version."""
    from ragft.config import WorkspaceConfig
    from ragft.tuning.data import RaftOptions
    from ragft.tuning.run import train_from_files
    from ragft.workspace import Workspace, ingest

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "fares.md").write_text("Route R2 to Inishmallow costs £14.20 for an adult single ticket.\n")
    (corpus / "fleet.md").write_text("The hydraulic oil must be sampled every 500 running hours.\n")
    (corpus / "hr.md").write_text("Overtime is approved by the duty manager before the shift starts.\n")
    workspace = Workspace(tmp_path / "ws")
    ingest(workspace, corpus, WorkspaceConfig(), embedder)
    said = []
    version = train_from_files("raft", workspace.path, raft=RaftOptions(k_distractors=1, p_no_oracle=0.0),
                               overrides={"max_steps": 1, "batch_size": 1, "max_length": 256}, say=said.append)
    assert version.method == "raft" and version.metrics["steps"] == 1
    assert any("synthetic QA (template)" in line for line in said)
    assert "Route R2 to Inishmallow costs how much for an adult single ticket?" in version.train_questions


def test_cli_training_resumes_after_an_interruption(tmp_path):
    from ragft.cli import app

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in
                            [(QUESTION, ANSWER), ("Which form declares dangerous goods?", "Form DG-7.")]))
    workspace = tmp_path / "ws"
    args = ["train", "sft", "--workspace", str(workspace), "--data", str(data), "--max-steps", "2",
            "--save-steps", "1", "--batch-size", "1", "--max-length", "128", "--lr", "1e-3"]
    first = CliRunner().invoke(app, args + ["--stop-after", "1"])
    assert isinstance(first.exception, TrainingInterrupted), first.output  # main() prints it as one line
    checkpoints = list((workspace / "models" / ".work").glob("sft-*/checkpoints/checkpoint-1"))
    assert len(checkpoints) == 1
    assert ModelRegistry(workspace / "models").list() == []

    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    version = ModelRegistry(workspace / "models").get("sft-1")
    assert version.metrics["resumed_from"] == "checkpoint-1" and version.metrics["steps"] == 2
    assert "registered sft-1" in second.output
