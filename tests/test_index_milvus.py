"""The Milvus backend against the real engine (Milvus Lite, embedded): incremental upserts and
deletes proportional to the change, document scope, and a study, deploy and the served API run
unchanged on it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from index_helpers import BagOfWords
from test_study import EXTRACTIVE, EXTRACTIVE_DENSE, write_study

from ragft.config import IndexConfig, WorkspaceConfig
from ragft.errors import RagftError
from ragft.index.milvus import MilvusIndex, client_for
from ragft.workspace import Workspace, ingest

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install -e .)")
MILVUS = IndexConfig(backend="milvus")


def write_corpus(folder, n=40, changed=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        text = f"Document {i} talks about w{i} and w{i + 1}. It also mentions w{i * 2} twice: w{i * 2}."
        (folder / f"d{i:02d}.txt").write_text(changed if i == 7 and changed else text, encoding="utf-8")


def test_an_ingest_upserts_only_what_changed_and_deletes_what_left(tmp_path):
    docs, workspace = tmp_path / "docs", Workspace(tmp_path / "ws")
    config = WorkspaceConfig(index=MILVUS, chunker={"kind": "sentence", "params": {"max_chars": 60}})
    write_corpus(docs)
    _, first = ingest(workspace, docs, config, BagOfWords())
    assert (first.added, first.embedded_chunks) == (40, first.chunks) and first.chunks >= 80
    assert not (workspace.index_dir / "CURRENT").exists()  # no version folder: the chunks are in Milvus

    write_corpus(docs, changed="Now only about w77.")
    (docs / "d39.txt").unlink()
    _, second = ingest(workspace, docs, config, BagOfWords())
    assert (second.changed, second.removed, second.unchanged) == (1, 1, 38)
    assert second.embedded_chunks == 1  # the changed document's one chunk, nothing else re-embedded

    index = workspace.load_index(BagOfWords())
    assert isinstance(index, MilvusIndex) and len(index.chunks) == second.chunks == first.chunks - 2 - 1
    stored = client_for(str(workspace.index_dir / "milvus.db"))
    counted = stored.query(index.collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert counted == second.chunks
    assert [h.chunk.text for h in index.search("w77", k=1, mode="bm25")] == ["Now only about w77."]
    assert not index.search("w39", k=5, mode="bm25", doc_ids=["d39.txt"])  # deleted


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_document_scope_filters_every_mode(tmp_path, mode):
    docs, workspace = tmp_path / "docs", Workspace(tmp_path / "ws")
    write_corpus(docs)
    ingest(workspace, docs, WorkspaceConfig(index=MILVUS), BagOfWords())
    index = workspace.load_index(BagOfWords())
    hits = index.search("w4 w5", k=5, mode=mode, doc_ids=["d04.txt", "d20.txt"])
    assert hits and {h.chunk.doc_id for h in hits} <= {"d04.txt", "d20.txt"}
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert hits[0].chunk.doc_id == "d04.txt" if mode != "dense" else True  # the only one with both words
    assert index.search("w4", k=5, mode=mode, doc_ids=[]) == []


def test_an_unreachable_uri_is_one_line_naming_the_field(tmp_path):
    with pytest.raises(RagftError, match=r"index.uri '/nonexistent-dir/x.db': cannot reach Milvus"):
        client_for("/nonexistent-dir/x.db")


def test_a_study_deploy_and_the_api_run_unchanged_on_milvus(tmp_path, embedder):
    from ragft.serve.app import create_app
    from ragft.serve.settings import ServeSettings
    from ragft.study.deploy import deploy_study
    from ragft.study.run import run_study
    from ragft.study.study_config import load_study_config

    path = write_study(tmp_path, [EXTRACTIVE, EXTRACTIVE_DENSE], add_references=False)
    config = load_study_config(path)
    workspace = Workspace(tmp_path / "ws")
    ingest(workspace, tmp_path / "corpus", WorkspaceConfig(chunker=config.chunker, index=MILVUS), embedder)
    config.output_dir, config.corpus = None, None
    outcome = run_study(config, workspace=workspace)
    assert (outcome.run_dir / "report.html").is_file()
    scored = {v["name"]: v for v in outcome.results["variants"]}
    assert scored["extractive"]["metrics"]["evidence_hit"]["mean"] == 1.0  # retrieval on Milvus found the evidence
    assert not (workspace.index_dir / "CURRENT").exists() and (workspace.index_dir / "milvus.json").is_file()

    deploy_study(outcome.run_dir, workspace, variant="extractive")
    with TestClient(create_app(ServeSettings(workspace=workspace.path))) as client:
        reply = client.post("/v1/chat/completions", json={
            "model": "extractive", "messages": [{"role": "user", "content": "Which code opens the server room?"}]})
        assert reply.status_code == 200, reply.text
        assert "QX-7731" in reply.json()["choices"][0]["message"]["content"]
