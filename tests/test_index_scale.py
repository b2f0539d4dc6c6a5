"""The embedded index at scale: HNSW dense search (recall, scope filters, saved and mapped), chunks
stored as columns and mapped on load, and older versions (chunks.jsonl) still read."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest
from index_helpers import DIM, BagOfWords, live_manifest, segment_of

from ragft.config import IndexConfig
from ragft.index import ann, chunktable
from ragft.index.store import HybridIndex, Manifest
from ragft.types import Chunk

WORDS = [f"w{i}" for i in range(400)]


def corpus(n: int, per_doc: int = 50) -> tuple[list[Chunk], np.ndarray, Manifest]:
    rng = np.random.default_rng(0)
    chunks = []
    manifest = Manifest(embedder=BagOfWords.name, dim=DIM, chunker={"kind": "test"})
    for i in range(n):
        doc_id = f"doc{i // per_doc:04d}"
        text = " ".join(rng.choice(WORDS, size=8))
        chunks.append(Chunk(f"{doc_id}#{i % per_doc}", doc_id, text, 0, len(text), {"page": i % 7} if i % 3 else {}))
        manifest.documents.setdefault(doc_id, {"sha256": "-", "source": doc_id, "n_chunks": 0, "title": ""})
        manifest.documents[doc_id]["n_chunks"] += 1
    return chunks, BagOfWords().embed([c.text for c in chunks]), manifest


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One 3,000-chunk index saved twice: exact only, and with its HNSW graph."""
    chunks, vectors, manifest = corpus(3000)
    root = tmp_path_factory.mktemp("scale")
    for name, mode in (("exact", "exact"), ("hnsw", "hnsw")):
        HybridIndex(chunks, vectors, manifest, BagOfWords(), settings=IndexConfig(ann=mode)).save(root / name)
    return root, chunks


def as_format_1(folder):
    """Rewrite a saved one-segment index as ragft saved indexes before segments: every file in the
    version folder, no placements in the manifest. Returns the version folder."""
    live = folder / (folder / "CURRENT").read_text()
    segment = segment_of(folder)
    manifest = live_manifest(folder)
    for entry in manifest["documents"].values():
        del entry["segment"], entry["first_row"]
    manifest.update(format_version=1)
    del manifest["segments"]
    for path in segment.iterdir():
        path.rename(live / path.name)
    (live / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(folder / "segments")
    return live


def load(root, name, **settings):
    return HybridIndex.load(root / name, BagOfWords(), IndexConfig(**settings))


def queries(n=60):
    rng = np.random.default_rng(1)
    return [" ".join(rng.choice(WORDS, size=3)) for _ in range(n)]


def test_hnsw_top10_recalls_at_least_98_percent_of_exact_search(saved):
    root, _ = saved
    exact, approximate = load(root, "exact", ann="exact"), load(root, "hnsw", ann="hnsw")
    found = [len({h.chunk.chunk_id for h in approximate.search(q, k=10, mode="dense")}
                 & {h.chunk.chunk_id for h in exact.search(q, k=10, mode="dense")}) / 10 for q in queries()]
    assert np.mean(found) >= 0.98


def test_the_graph_is_saved_with_the_version_and_mapped_on_load(saved):
    root, _ = saved
    assert (segment_of(root / "hnsw") / ann.FILE).is_file() and not (segment_of(root / "exact") / ann.FILE).exists()
    index = load(root, "hnsw", ann="hnsw")
    graph = index.segments[0].graph
    assert graph is not None and graph.ntotal == 3000  # loaded, not rebuilt


def test_auto_switches_to_hnsw_at_the_threshold(saved):
    root, _ = saved
    assert load(root, "hnsw", ann="auto", ann_threshold=3000).segments[0].graph is not None
    assert load(root, "hnsw", ann="auto", ann_threshold=3001).segments[0].graph is None
    assert not ann.wanted(IndexConfig(), 49_999) and ann.wanted(IndexConfig(), 50_000)


@pytest.mark.parametrize("exact_scope_rows", [ann.EXACT_SCOPE_ROWS, 0])  # exact on the scope / filtered graph walk
def test_document_scope_holds_with_hnsw(saved, monkeypatch, exact_scope_rows):
    monkeypatch.setattr(ann, "EXACT_SCOPE_ROWS", exact_scope_rows)
    root, _ = saved
    approximate, exact = load(root, "hnsw", ann="hnsw"), load(root, "exact", ann="exact")
    scope = ["doc0003", "doc0017", "doc0042"]
    for q in queries(20):
        for mode in ("dense", "hybrid"):
            hits = approximate.search(q, k=10, mode=mode, doc_ids=scope)
            assert len(hits) == 10 and {h.chunk.doc_id for h in hits} <= set(scope)
        truth = {h.chunk.chunk_id for h in exact.search(q, k=10, mode="dense", doc_ids=scope)}
        assert len(truth & {h.chunk.chunk_id for h in approximate.search(q, k=10, mode="dense", doc_ids=scope)}) >= 9


def test_chunks_are_mapped_columns_equal_to_what_was_saved(saved):
    root, chunks = saved
    loaded = load(root, "exact").chunks
    assert isinstance(loaded, chunktable.ChunkTable) and len(loaded) == len(chunks)
    assert list(loaded) == chunks and loaded[1234] == chunks[1234] and loaded[-1] == chunks[-1]
    assert loaded[10:13] == chunks[10:13]
    with pytest.raises(IndexError):
        loaded[len(chunks)]


def test_a_version_saved_with_chunks_jsonl_still_loads(saved, tmp_path):
    root, chunks = saved
    index = load(root, "exact")
    index.save(tmp_path / "old")
    live = as_format_1(tmp_path / "old")
    (live / chunktable.FILE).unlink()  # as ragft wrote versions before chunks.arrow
    (live / chunktable.LEGACY_FILE).write_text("".join(json.dumps(asdict(c)) + "\n" for c in chunks))
    old = HybridIndex.load(tmp_path / "old", BagOfWords())
    assert list(old.chunks) == chunks
    q = queries(1)[0]
    assert [h.chunk for h in old.search(q, k=5, doc_ids=["doc0001"])] == [h.chunk for h in index.search(q, k=5, doc_ids=["doc0001"])]
