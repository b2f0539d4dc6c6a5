"""The model registry: versions, lineage, scores, promotion, atomic storage; study hygiene for
fine-tuned variants; ``ragft models`` listing. No model is loaded here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragft.errors import ConfigError
from ragft.models.registry import ModelRegistry, ModelVersion, registry_for, resolve_model


def _fake_model(root: Path, name: str) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return str(folder)


def _version(root: Path, name: str, **kwargs) -> ModelVersion:
    return ModelVersion(name=name, path=_fake_model(root, name), base_model="builtin:smollm2-135m",
                        method=name.split("-")[0], **kwargs)


def test_register_list_get_and_names(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    assert registry.list() == [] and registry.current() is None
    assert registry.next_name("sft") == "sft-1"
    registry.register(_version(registry.root, "sft-1", train_questions=["Who?"]))
    assert registry.next_name("sft") == "sft-2" and registry.next_name("dpo") == "dpo-1"
    registry.register(_version(registry.root, "dpo-1", parent="sft-1"))

    again = ModelRegistry(tmp_path / "models")  # a fresh reader sees everything
    assert [v.name for v in again.list()] == ["sft-1", "dpo-1"]
    got = again.get("registry:dpo-1")
    assert got.parent == "sft-1" and got.status == "candidate" and got.created_at
    assert got.log[0]["event"] == "registered"
    assert again.get("sft-1").train_questions == ["Who?"]

    with pytest.raises(ConfigError, match="known versions: sft-1, dpo-1"):
        again.get("sft-9")
    with pytest.raises(ConfigError, match="already exists"):
        again.register(_version(tmp_path / "other", "sft-1"))


def test_promote_reject_scores_and_log(tmp_path):
    registry = ModelRegistry(tmp_path)
    for name in ("sft-1", "sft-2", "dpo-1"):
        registry.register(_version(tmp_path, name))
    registry.promote("sft-1", "first model")
    registry.promote("dpo-1", "significantly better token F1")
    assert registry.current().name == "dpo-1"
    assert registry.get("sft-1").status == "candidate"  # the previous current goes back to candidate
    registry.reject("sft-2", "not better than current (p=0.4)")
    registry.record_scores("dpo-1", "sample:dpo-closed-book", {"token_f1": 0.21})
    registry.log_event("dpo-1", "feedback", "12 pairs")
    dpo = registry.get("dpo-1")
    assert dpo.scores == {"sample:dpo-closed-book": {"token_f1": 0.21}}
    assert [e["event"] for e in dpo.log] == ["registered", "promoted", "scored", "feedback"]
    assert registry.get("sft-2").status == "rejected"
    assert [e["event"] for e in registry.get("sft-1").log][-1] == "demoted"
    with pytest.raises(ConfigError, match="no model version"):
        registry.promote("nope", "x")


def test_registry_file_is_replaced_atomically_and_corruption_is_reported(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.register(_version(tmp_path, "sft-1"))
    assert json.loads(registry.path.read_text())["versions"][0]["name"] == "sft-1"
    assert not list(tmp_path.glob("registry.json.tmp*"))  # no temp file left behind
    registry.path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        registry.list()


def test_next_name_skips_orphan_folders(tmp_path):
    # A folder left by a crash between the export's rename and the registration is not reused.
    (tmp_path / "sft-3").mkdir()
    assert ModelRegistry(tmp_path).next_name("sft") == "sft-4"


def test_resolve_model(tmp_path):
    registry = registry_for(tmp_path)  # a workspace: its models/ folder
    assert registry.root == tmp_path / "models"
    registry.register(_version(registry.root, "sft-1"))
    path, version = resolve_model("registry:sft-1", registry)
    assert path == str(registry.root / "sft-1") and version.name == "sft-1"
    assert resolve_model("builtin:smollm2-135m", None) == ("builtin:smollm2-135m", None)
    with pytest.raises(ConfigError, match="no registry is configured"):
        resolve_model("registry:sft-1", None)
    (registry.root / "sft-1" / "config.json").unlink()
    with pytest.raises(ConfigError, match="holds no model"):
        resolve_model("registry:sft-1", registry)


def _study(tmp_path: Path, registry_root: Path):
    from ragft.study.study_config import StudyConfig

    test_file = tmp_path / "test.jsonl"
    test_file.write_text(json.dumps({"id": "t1", "question": "When does the summer timetable start?",
                                     "answer": "1 May"}) + "\n")
    return StudyConfig.model_validate({
        "name": "s", "corpus": str(tmp_path), "test": {"path": str(test_file)}, "registry": str(registry_root),
        "models": {"base": {"model": "builtin:smollm2-135m"}, "ft": {"model": "registry:sft-1"}},
        "variants": [{"name": "base", "type": "closed_book", "llm": "base"},
                     {"name": "ft-closed", "type": "closed_book", "llm": "ft"}],
    })


def test_study_resolves_refuses_leaks_and_records_scores(tmp_path):
    from ragft.corpus.datasets import load_dataset
    from ragft.study.study import StudyRunner

    registry = ModelRegistry(tmp_path / "models")
    registry.register(_version(registry.root, "sft-1", train_questions=["Who approves travel claims?"]))
    runner = StudyRunner(_study(tmp_path, registry.root), output_dir=tmp_path / "run")
    assert runner.model_config("ft").model == str(registry.root / "sft-1")
    assert runner.model_config("base").model == "builtin:smollm2-135m"
    questions = load_dataset(runner.config.test)
    runner._check_hygiene(questions)  # no overlap: passes

    results = {"variants": [{"name": "base", "metrics": {"token_f1": {"mean": 0.1}}},
                            {"name": "ft-closed", "metrics": {"token_f1": {"mean": 0.3, "low": 0.2}}}]}
    runner.record_registry_scores(results)
    assert registry.get("sft-1").scores == {"s:ft-closed": {"token_f1": 0.3}}

    # A version trained on (a light rewording of) a test question is refused, naming both.
    registry.register(_version(registry.root, "sft-2",
                               train_questions=["When does the summer timetable start ?"]))
    config = _study(tmp_path, registry.root)
    config.models["ft"].model = "registry:sft-2"
    with pytest.raises(ConfigError, match="ft-closed.*sft-2.*summer timetable"):
        StudyRunner(config, output_dir=tmp_path / "run")._check_hygiene(questions)


def test_models_command_lists_versions_with_lineage(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    registry.register(_version(registry.root, "sft-1", metrics={"steps": 3, "final_loss": 1.25}))
    registry.register(_version(registry.root, "dpo-1", parent="sft-1"))
    result = subprocess.run([sys.executable, "-m", "ragft.cli", "models", "--workspace", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ, COLUMNS="250"))
    assert result.returncode == 0, result.stderr
    assert "Fine-tuned versions" in result.stdout
    assert "builtin:smollm2-135m → sft-1 → dpo-1" in result.stdout
    assert "1.250" in result.stdout


def test_train_command_bad_input_is_one_error_line(tmp_path):
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"question": "Who approves overtime?", "chosen": "The duty manager.",
                                 "rejected": "the duty manager"}) + "\n")
    result = subprocess.run([sys.executable, "-m", "ragft.cli", "train", "dpo", "--workspace", str(tmp_path),
                             "--data", str(prefs)], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, COLUMNS="250"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: preference #0 ('Who approves overtime?'): chosen and rejected are the same answer" in result.stderr
    assert not (tmp_path / "models" / "registry.json").exists()
