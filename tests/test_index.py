"""Hybrid index: retrieval quality on a small corpus, persistence, atomic writes, incremental updates."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from index_helpers import segment_of

from ragft.config import WorkspaceConfig
from ragft.corpus import make_chunker
from ragft.errors import RagftError
from ragft.index.store import HybridIndex, reciprocal_rank_fusion
from ragft.types import Document
from ragft.workspace import Workspace, ingest

CHUNKER_CONFIG = {"kind": "sentence", "params": {"max_chars": 200}}

DOCS = {
    "ferry.md": "The Skerry Line ferry leaves Port Alda at 07:40 every weekday. Bicycles travel free of charge.",
    "canteen.txt": "The staff canteen serves lunch between noon and 14:00. Vegetarian dishes are always available.",
    "security.md": "Badge code QX-7731 opens the server room. Lost badges must be reported to facilities within 24 hours.",
    "leave.txt": "Employees accrue 27 days of annual leave. Unused leave of up to five days carries over to the next year.",
}


def documents(overrides: dict[str, str] | None = None) -> list[Document]:
    texts = {**DOCS, **(overrides or {})}
    return [Document(doc_id=d, text=t, source=d) for d, t in texts.items()]


def build(embedder, docs=None, previous=None):
    chunker = make_chunker(CHUNKER_CONFIG["kind"], **CHUNKER_CONFIG["params"])
    return HybridIndex.build(docs or documents(), chunker, CHUNKER_CONFIG, embedder, previous=previous)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_right_document(embedder, mode):
    index, _ = build(embedder)
    assert index.search("When does the ferry depart from Port Alda?", k=1, mode=mode)[0].chunk.doc_id == "ferry.md"
    # A rare code is where BM25 shines and dense models are weak; hybrid must keep it.
    if mode != "dense":
        assert index.search("QX-7731", k=1, mode=mode)[0].chunk.doc_id == "security.md"


def test_dense_understands_paraphrase_bm25_cannot(embedder):
    index, _ = build(embedder)
    question = "How much holiday time do workers get each year?"  # shares no content word with leave.txt
    assert index.search(question, k=1, mode="dense")[0].chunk.doc_id == "leave.txt"
    assert index.search(question, k=1, mode="hybrid")[0].chunk.doc_id == "leave.txt"


def test_hits_are_ranked_chunks_with_offsets(embedder):
    index, _ = build(embedder)
    hits = index.search("lunch hours in the canteen", k=3, mode="hybrid")
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score
    for hit in hits:
        assert DOCS[hit.chunk.doc_id][hit.chunk.start:hit.chunk.end] == hit.chunk.text


def test_document_filter_restricts_search(embedder):
    index, _ = build(embedder)
    hits = index.search("ferry departure time", k=5, doc_ids=["leave.txt"])
    assert hits and {h.chunk.doc_id for h in hits} == {"leave.txt"}
    assert index.search("ferry", k=5, doc_ids=["no-such-doc"]) == []


def test_reciprocal_rank_fusion_weights():
    dense = [(1, 0.9), (2, 0.8)]
    lexical = [(2, 12.0), (3, 5.0)]
    assert [row for row, _ in reciprocal_rank_fusion([dense, lexical], [1, 1], rrf_k=60)][0] == 2
    only_dense = reciprocal_rank_fusion([dense, lexical], [1, 0], rrf_k=60)
    assert [row for row, score in only_dense if score > 0] == [1, 2]


def test_save_and_reload_give_identical_results(embedder, tmp_path):
    index, _ = build(embedder)
    index.save(tmp_path / "index")
    loaded = HybridIndex.load(tmp_path / "index", embedder)
    assert [c.chunk_id for c in loaded.chunks] == [c.chunk_id for c in index.chunks]
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    for mode in ("dense", "bm25", "hybrid"):
        before = [(h.chunk.chunk_id, round(h.score, 6)) for h in index.search("badge lost", k=3, mode=mode)]
        after = [(h.chunk.chunk_id, round(h.score, 6)) for h in loaded.search("badge lost", k=3, mode=mode)]
        assert before == after


def test_interrupted_save_leaves_previous_index_intact(embedder, tmp_path, monkeypatch):
    index, _ = build(embedder)
    index.save(tmp_path / "index")
    changed, _ = build(embedder, documents({"ferry.md": "The ferry now leaves at 08:15."}))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the user pressed Ctrl-C halfway through writing

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        changed.save(tmp_path / "index")
    monkeypatch.undo()
    survivor = HybridIndex.load(tmp_path / "index", embedder)
    assert "07:40" in " ".join(c.text for c in survivor.chunks)
    # The next successful save replaces it and clears the half-written folder.
    changed.save(tmp_path / "index")
    assert "08:15" in " ".join(c.text for c in HybridIndex.load(tmp_path / "index", embedder).chunks)
    folder = tmp_path / "index"
    assert len([p for p in folder.iterdir() if p.name.startswith("v-")]) == 1
    assert len(list((folder / "segments").iterdir())) == 1 and not list(folder.rglob("*.partial"))


def test_save_leaves_another_live_writers_staging_folder_alone(embedder, tmp_path):
    """Two studies sharing an index save side by side; one must not delete the other's staging."""
    index, _ = build(embedder)
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead_writer = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_writer.wait()
    try:
        in_progress = tmp_path / "index" / f"v-20260101-000000-{live_writer.pid}-1.partial"
        abandoned = tmp_path / "index" / f"v-20260101-000000-{dead_writer.pid}-2.partial"
        in_progress.mkdir(parents=True)
        abandoned.mkdir()
        index.save(tmp_path / "index")
        assert in_progress.is_dir() and not abandoned.exists()
    finally:
        live_writer.kill()
        live_writer.wait()


def test_ingesting_an_unchanged_corpus_writes_no_new_version(embedder, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    workspace = Workspace(tmp_path / "ws")
    config = WorkspaceConfig(chunker={"kind": "sentence", "params": {"max_chars": 200}})
    ingest(workspace, corpus, config, embedder)
    first = (workspace.index_dir / "CURRENT").read_text()
    _, stats = ingest(workspace, corpus, config, embedder)
    assert stats.unchanged == 4 and (workspace.index_dir / "CURRENT").read_text() == first
    (corpus / "ferry.md").write_text("The ferry now leaves at 08:15.", encoding="utf-8")
    ingest(workspace, corpus, config, embedder)
    assert (workspace.index_dir / "CURRENT").read_text() != first
    assert "08:15" in " ".join(c.text for c in workspace.load_index(embedder).chunks)


def test_reingest_only_embeds_changed_documents(embedder):
    first, stats = build(embedder)
    assert stats.added == 4 and stats.embedded_chunks == stats.chunks
    docs = documents({"canteen.txt": "The canteen is closed for renovation until March."})
    docs = [d for d in docs if d.doc_id != "leave.txt"] + [Document("new.md", "A new bike shed opened by the gate.")]
    second, stats = build(embedder, docs, previous=first)
    assert (stats.unchanged, stats.changed, stats.added, stats.removed) == (2, 1, 1, 1)
    assert stats.embedded_chunks == len([c for c in second.chunks if c.doc_id in ("canteen.txt", "new.md")])
    # Reused vectors are the very same as freshly computed ones.
    fresh, _ = build(embedder, docs)
    np.testing.assert_allclose(second.embeddings, fresh.embeddings, atol=1e-5)
    assert second.search("renovation", k=1, mode="bm25")[0].chunk.doc_id == "canteen.txt"
    assert all(c.doc_id != "leave.txt" for c in second.chunks)


def test_changed_chunker_reembeds_everything(embedder):
    first, _ = build(embedder)
    chunker = make_chunker("fixed", size=60, overlap=10)
    _, stats = HybridIndex.build(documents(), chunker, {"kind": "fixed", "params": {"size": 60}}, embedder, previous=first)
    assert stats.unchanged == 0 and stats.embedded_chunks == stats.chunks


def test_missing_or_broken_index_is_a_clear_error(embedder, tmp_path):
    with pytest.raises(RagftError, match="no index here — run `ragft ingest PATH` first"):
        HybridIndex.load(tmp_path / "nothing", embedder)
    index, _ = build(embedder)
    index.save(tmp_path / "index")
    (segment_of(tmp_path / "index") / "embeddings.npy").write_bytes(b"not numpy")
    with pytest.raises(RagftError, match="cannot be read .* re-run `ragft ingest`"):
        HybridIndex.load(tmp_path / "index", embedder)


QUERIES = ["When does the ferry depart from Port Alda?", "QX-7731", "badge lost", "lunch hours in the canteen",
           "How much holiday time do workers get each year?", "unused leave carries over", "the of and",
           "zeppelin", "Bicycles travel free"]


def _results(index, mode, doc_ids=None):
    return [[(h.chunk.chunk_id, h.score, h.rank) for h in index.search(q, k=4, mode=mode, doc_ids=doc_ids)]
            for q in QUERIES]


def _assert_same_search(built, loaded):
    for mode in ("bm25", "hybrid", "dense"):
        for doc_ids in (None, ["security.md", "leave.txt"]):
            assert _results(loaded, mode, doc_ids) == _results(built, mode, doc_ids), (mode, doc_ids)


def test_a_loaded_index_uses_the_saved_bm25_and_searches_exactly_like_the_built_one(embedder, tmp_path, monkeypatch):
    from ragft.index import bm25

    index, _ = build(embedder)
    index.save(tmp_path / "index")
    assert (segment_of(tmp_path / "index") / "bm25" / bm25.STAMP).is_file()

    def no_rebuild(texts):
        raise AssertionError("opening a saved index rebuilt BM25")

    monkeypatch.setattr(bm25, "build", no_rebuild)
    loaded = HybridIndex.load(tmp_path / "index", embedder)
    assert isinstance(loaded.embeddings, np.memmap)  # mapped, not read
    _assert_same_search(index, loaded)


@pytest.mark.parametrize("damage", ["no bm25 folder", "another tokenizer", "another chunk count", "torn file",
                                    "missing array"])
def test_a_version_without_a_usable_saved_bm25_rebuilds_it_and_searches_the_same(embedder, tmp_path, damage):
    """Versions saved by an older ragft have no bm25/ folder; a changed tokenizer must not reuse one."""
    import json
    import shutil

    from ragft.index import bm25

    index, _ = build(embedder)
    index.save(tmp_path / "index")
    live = segment_of(tmp_path / "index")
    stamp = live / "bm25" / bm25.STAMP
    if damage == "no bm25 folder":
        shutil.rmtree(live / "bm25")
    elif damage == "another tokenizer":
        stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "tokenizer": "whitespace"}))
    elif damage == "another chunk count":
        stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "num_docs": 3}))
    elif damage == "torn file":
        (live / "bm25" / "params.index.json").write_text("{not json")
    else:
        (live / "bm25" / "data.csc.index.npy").unlink()
    loaded = HybridIndex.load(tmp_path / "index", embedder)
    _assert_same_search(index, loaded)
    # Saving what was loaded writes a complete version again.
    loaded.save(tmp_path / "index")
    assert bm25.load(segment_of(tmp_path / "index"), len(index.chunks)) is not None
