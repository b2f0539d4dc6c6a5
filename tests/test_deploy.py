"""From a finished study to a served pipeline: specs saved by the study, ``deploy`` into a
workspace, the server and ``ask`` answering with exactly the spec the study scored — and a study
run on a workspace, reusing its index and landing where the dashboard lists it. No LLM: the
extractive reader is a full pipeline (retrieve, then quote), so these run in seconds."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from test_study import EXTRACTIVE, EXTRACTIVE_DENSE, write_study

from ragft.config import ChunkerConfig, EmbedderConfig, LLMConfig, RetrievalConfig, WorkspaceConfig
from ragft.deployment import load_deployment
from ragft.errors import RagftError
from ragft.rag.variant import StepConfig, VariantSpec
from ragft.serve.engine import Engine
from ragft.study.deploy import deploy_study, read_specs
from ragft.study.run import run_study
from ragft.study.study_config import load_study_config
from ragft.workspace import Workspace, ingest


@pytest.fixture(scope="module")
def study_run(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("deploy")
    path = write_study(root, [EXTRACTIVE, EXTRACTIVE_DENSE], add_references=False)
    outcome = run_study(load_study_config(path))
    return root, outcome


def test_the_study_saves_the_specs_it_scored(study_run):
    _, outcome = study_run
    specs, _ = read_specs(outcome.run_dir)
    assert [s.name for s in specs] == ["extractive", "extractive-dense"]
    assert specs[1].retrieval.mode == "dense" and specs[1].chunker.kind == "sentence" and specs[1].llm is None


def test_deploy_serves_the_named_variant_with_the_studys_own_answers(study_run, embedder, tmp_path):
    _, outcome = study_run
    workspace = Workspace(tmp_path / "ws")  # no index of its own: the study's is used
    deployment = deploy_study(outcome.run_dir, workspace, "extractive-dense")
    assert load_deployment(workspace) == deployment and deployment.default == "extractive-dense"

    engine = Engine(workspace)
    engine.share_models(embedder=embedder)
    served = engine.default_variant()
    assert served.name == "extractive-dense" and served.origin == "deployed"
    records = {r["question"]: r for r in _records(outcome.run_dir, "extractive-dense")}
    for question, record in records.items():  # served = measured: the very same answer and sources
        result = engine.answer(served, question)
        assert result.text == record["answer"]
        assert [s["chunk_id"] for s in result.sources()] == [h["chunk_id"] for h in record["retrieved"]]

    with pytest.raises(RagftError, match="choose from: extractive, extractive-dense"):
        deploy_study(outcome.run_dir, workspace, "nope")


def test_deploy_without_a_name_takes_the_recommendation_or_says_what_to_do(study_run, tmp_path):
    _, outcome = study_run
    recommended = outcome.results["recommendation"].get("variant")
    workspace = Workspace(tmp_path / "ws")
    if recommended:
        assert deploy_study(outcome.run_dir, workspace).default == recommended
    else:
        with pytest.raises(RagftError, match="choose one with --variant"):
            deploy_study(outcome.run_dir, workspace)


def test_ask_and_the_api_use_the_deployed_variant(study_run, tmp_path):
    _, outcome = study_run
    workspace = tmp_path / "ws"
    deployed = subprocess.run([sys.executable, "-m", "ragft.cli", "deploy", str(outcome.run_dir), "--variant",
                               "extractive", "-w", str(workspace)], capture_output=True, text=True, timeout=300)
    assert deployed.returncode == 0, deployed.stderr
    record = _records(outcome.run_dir, "extractive")[0]
    asked = subprocess.run([sys.executable, "-m", "ragft.cli", "ask", record["question"], "-w", str(workspace),
                            "--json"], capture_output=True, text=True, timeout=300)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert (answer["variant"], answer["answer"]) == ("extractive", record["answer"])

    from ragft.serve.app import create_app
    from ragft.serve.settings import ServeSettings

    with TestClient(create_app(ServeSettings(workspace=workspace))) as client:
        listed = {m["id"]: m["ragft"] for m in client.get("/v1/models").json()["data"]}
        assert {"extractive", "extractive-dense", "rag.base", "closed-book.base"} <= set(listed)
        assert listed["extractive"]["default"] and listed["extractive"]["variant_hash"] == answer["variant_hash"]
        one = client.get("/v1/models/extractive-dense").json()
        assert one["id"] == "extractive-dense" and one["ragft"]["pipeline"] == "extractive"
        assert client.get("/v1/models/nope").status_code in (400, 404)


def test_a_study_on_a_workspace_reuses_its_index_and_lands_in_its_runs(tmp_path, embedder):
    path = write_study(tmp_path, [EXTRACTIVE], add_references=False)
    config = load_study_config(path)
    workspace = Workspace(tmp_path / "ws")
    ingest(workspace, tmp_path / "corpus", WorkspaceConfig(chunker=config.chunker), embedder)
    live = (workspace.index_dir / "CURRENT").read_text()
    config.output_dir, config.corpus = None, None  # the workspace's corpus, the workspace's runs/
    outcome = run_study(config, workspace=workspace)
    assert outcome.run_dir == workspace.runs_dir / "tiny" and (outcome.run_dir / "report.html").is_file()
    assert (workspace.index_dir / "CURRENT").read_text() == live  # the same index version: reused
    assert not (outcome.run_dir / "indexes").exists()

    from ragft.serve.app import create_app
    from ragft.serve.settings import ServeSettings

    with TestClient(create_app(ServeSettings(workspace=workspace.path))) as client:
        assert "tiny" in client.get("/dashboard").text
        assert client.get("/reports/tiny/report.html").status_code == 200


def test_a_study_corpus_other_than_the_workspaces_is_refused(tmp_path, embedder):
    from ragft.errors import ConfigError
    from ragft.study.study import study_corpus

    path = write_study(tmp_path, [EXTRACTIVE], add_references=False)
    config = load_study_config(path)
    workspace = Workspace(tmp_path / "ws")
    workspace.save_config(WorkspaceConfig(corpus=str(tmp_path / "elsewhere")))
    with pytest.raises(ConfigError, match="is not the workspace's"):
        study_corpus(config, workspace)
    config.corpus = None
    assert study_corpus(config, workspace) == str(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="names no corpus"):
        study_corpus(config, None)


def test_a_spec_key_follows_what_changes_answers_only():
    spec = VariantSpec(name="a", type="rag", llm=LLMConfig(), pipeline=[StepConfig(name="retrieve")])
    assert spec.model_copy(update={"name": "b", "description": "x"}).key() == spec.key()
    assert spec.model_copy(update={"llm": LLMConfig(batch_size=32)}).key() == spec.key()  # speed only
    assert spec.model_copy(update={"retrieval": RetrievalConfig(top_k=9)}).key() != spec.key()
    assert spec.model_copy(update={"chunker": ChunkerConfig(kind="fixed")}).key() != spec.key()
    closed = VariantSpec(name="c", type="closed_book", llm=LLMConfig())
    assert closed.model_copy(update={"retrieval": RetrievalConfig(top_k=9)}).key() == closed.key()  # unused
    here, there = (VariantSpec(name="e", type="extractive", embedder=EmbedderConfig(model=f"{root}/tuned-abc"))
                   for root in ("/runs/one/embedders", "/moved/embedders"))
    assert here.key() == there.key()  # a moved run folder keeps its caches


def _records(run_dir, variant: str) -> list[dict]:
    (path,) = (p for p in (run_dir / "records").glob("*.jsonl") if re.fullmatch(rf"{variant}-[0-9a-f]{{12}}\.jsonl", p.name))
    return [json.loads(line) for line in path.read_text().splitlines()]
