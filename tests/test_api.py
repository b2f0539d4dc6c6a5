"""The Python API mirrors the command: open a workspace, ingest, ask (and follow up), study,
deploy — the same code paths as the CLI, with the session's built-in models."""

from __future__ import annotations

import shutil

import pytest
from serve_helpers import SAMPLE_FILES

import ragft
from ragft.data import sample_docs_dir

pytestmark = pytest.mark.slow


def test_open_ingest_ask_and_follow_up(tmp_path, embedder, small_llm):
    docs = tmp_path / "docs"
    for name in SAMPLE_FILES:
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_docs_dir() / name, docs / name)
    ws = ragft.open_workspace(tmp_path / "ws")
    ws.engine.share_models(embedder=embedder, base_llm=small_llm)
    report, stats = ws.ingest(docs)
    assert stats.documents == 2 and ws.config.corpus == str(docs.resolve())
    assert ws.variants()[0] == "rag.base"  # nothing deployed: naive RAG on the workspace's model

    first = ws.ask("How many days of annual leave do employees get?", max_new_tokens=8)
    assert first.variant == "rag.base" and first.sources[0]["doc_id"] == "hr/leave-policy.md" and first.text
    follow = ws.ask("And after five years of service?", history=[first], max_new_tokens=8)
    assert follow.standalone_question.startswith(first.question)
    assert follow.sources[0]["doc_id"] == "hr/leave-policy.md"


def test_the_api_is_lazy():
    import subprocess
    import sys

    code = "import sys, ragft; assert 'ragft.serve' not in sys.modules and 'torch' not in sys.modules; print(ragft.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_a_langchain_retriever_over_a_workspace(tmp_path, embedder):
    pytest.importorskip("langchain_core", reason="langchain-core is a dev dependency")
    from serve_helpers import make_workspace

    from ragft.integrations.langchain import RagftRetriever

    workspace = make_workspace(tmp_path, embedder)
    retriever = RagftRetriever(workspace=str(workspace), k=2)
    retriever._opened = ragft.open_workspace(workspace)
    retriever._opened.engine.share_models(embedder=embedder)
    docs = retriever.invoke("How many days of annual leave do employees get?")
    assert len(docs) == 2 and docs[0].metadata["doc_id"] == "hr/leave-policy.md" and docs[0].page_content
