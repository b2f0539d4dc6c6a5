"""An ingest writes what changed: a changed document's chunks go to a new segment, the old ones
become dead rows that no search returns, segments are folded when too many or too dead, and a
writer that lost the segments it built on writes everything anew."""

from __future__ import annotations


import numpy as np
import pytest
from index_helpers import BagOfWords, build, corpus, ingest, live_manifest

from ragft.index import bm25, segments
from ragft.index.store import HybridIndex


def segment_files(folder) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in (folder / "segments").rglob("*") if p.is_file()}


QUERIES = ["w1 w2 w3", "w17 w250", "w99", "w5 w6 w7 w8 w9", "w150 w151 w152"]


def ranked(index: HybridIndex, mode: str, doc_ids=None, k: int = 8) -> list[str]:
    return [h.chunk.chunk_id for q in QUERIES for h in index.search(q, k=k, mode=mode, doc_ids=doc_ids)]


def test_changing_one_document_writes_only_its_chunks_and_searches_like_a_full_rebuild(tmp_path):
    folder = tmp_path / "index"
    texts = corpus(60)
    ingest(folder, texts)
    before = segment_files(folder)
    changed = {**texts, "doc007": "w1 w2 w3 w4. w99 w98 w97 w96."}
    del changed["doc030"]
    index = ingest(folder, changed)

    after = segment_files(folder)
    assert {f: t for f, t in after.items() if f in before} == before  # the first segment untouched
    [new] = [s for s in live_manifest(folder)["segments"] if not any(f.startswith(f"segments/{s['name']}") for f in before)]
    assert new["rows"] == sum(c.doc_id == "doc007" for c in build(changed).chunks)  # doc007's new chunks alone
    assert len(index.chunks) == len(build(changed).chunks) and len(index.segments) == 2

    full = build(changed)
    for mode in ("dense", "hybrid", "bm25"):
        found = ranked(index, mode)
        assert not any(c.startswith(("doc030#", "doc007#")) and c not in {x.chunk_id for x in full.chunks}
                       for c in found)
        if mode == "dense":  # same vectors: exactly the same ranking
            assert found == ranked(full, mode)
    assert index.search("w99 w98 w97 w96", k=1, mode="bm25")[0].chunk.doc_id == "doc007"
    assert ranked(index, "hybrid", ["doc030"]) == []
    assert {c for c in ranked(index, "dense", ["doc007", "doc008"])} <= {c.chunk_id for c in index.chunks
                                                                         if c.doc_id in ("doc007", "doc008")}
    assert [c.chunk_id for c in index.chunks] != [] and all(c.doc_id != "doc030" for c in index.chunks)
    row = [c.chunk_id for c in index.chunks].index("doc007#0")
    np.testing.assert_allclose(index.embeddings[row], BagOfWords().embed([index.chunks[row].text])[0], rtol=1e-6)


def test_removing_a_document_writes_no_segment(tmp_path):
    folder = tmp_path / "index"
    texts = corpus(20)
    ingest(folder, texts)
    before = segment_files(folder)
    index = ingest(folder, {d: t for d, t in texts.items() if d != "doc003"})
    assert segment_files(folder) == before
    assert "doc003" not in {c.doc_id for c in index.chunks} and "doc003" not in ranked(index, "bm25")


def test_bm25_over_segments_weighs_words_by_their_rarity_in_the_whole_corpus():
    texts = [f"w{i} w{i + 1} w{i + 2}" for i in range(0, 60, 2)] + ["w1 w200 w201", "w1 w2 w202"]
    whole = bm25.build(texts)
    parts = [bm25.build(texts[:25]), bm25.build(texts[25:])]
    for query in ("w1", "w200 w1", "w2 w3 w202", "w59 w60"):
        split = np.concatenate(bm25.scores_across(parts, query))
        # every text has three words, so the length normalisation agrees and the scores are equal
        np.testing.assert_allclose(split, bm25.scores(whole, query, len(texts)), rtol=1e-5)


def test_segments_are_folded_when_too_many_and_when_mostly_dead(tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "MAX_SEGMENTS", 3)
    folder = tmp_path / "index"
    texts = corpus(40)
    ingest(folder, texts)
    for round_ in range(6):
        texts = {**texts, f"doc{round_:03d}": f"w{round_} w{round_ + 1}. w{round_ + 2} new{round_}."}
        index = ingest(folder, texts)
        assert len(index.segments) <= 3
        assert index.search(f"new{round_}", k=1, mode="bm25")[0].chunk.doc_id == f"doc{round_:03d}"
    assert len(list((folder / "segments").iterdir())) == len(index.segments)  # folded ones removed
    assert sorted(ranked(index, "dense")) == sorted(ranked(build(texts), "dense"))

    mostly_changed = {d: (t + " w299." if int(d[3:]) < 30 else t) for d, t in texts.items()}
    index = ingest(folder, mostly_changed)
    assert len(index.segments) == 1 and len(index.chunks) == len(build(mostly_changed).chunks)


def test_a_writer_whose_segments_were_removed_meanwhile_writes_everything(tmp_path):
    folder = tmp_path / "index"
    texts = corpus(15)
    ingest(folder, texts)
    stale = HybridIndex.load(folder, BagOfWords())
    build(corpus(15, seed=1)).save(folder)  # another writer: a whole new index, the old segment removed
    changed = {**texts, "doc001": "w7 w8 w9. fresh words."}
    build(changed, stale).save(folder)
    index = HybridIndex.load(folder, BagOfWords())
    assert sorted(c.chunk_id for c in index.chunks) == sorted(c.chunk_id for c in build(changed).chunks)
    assert index.search("fresh words", k=1, mode="bm25")[0].chunk.doc_id == "doc001"


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_dead_rows_are_skipped_by_the_hnsw_walk_too(tmp_path, mode):
    from ragft.config import IndexConfig

    folder = tmp_path / "index"
    texts = corpus(50)
    ingest(folder, texts)
    changed = {d: ("w250 w251. w252 w253." if d in ("doc010", "doc011") else t) for d, t in texts.items()}
    build(changed, HybridIndex.load(folder, BagOfWords())).save(folder)
    index = HybridIndex.load(folder, BagOfWords(), IndexConfig(ann="hnsw"))
    assert index.segments[0].graph is None or index.segments[0].graph.ntotal == len(index.segments[0])
    live = {c.chunk_id for c in index.chunks}
    for query in QUERIES + ["w250 w251 w252"]:
        hits = index.search(query, k=10, mode=mode)
        assert len(hits) == 10 and {h.chunk.chunk_id for h in hits} <= live


def test_documents_without_chunks_survive_incremental_ingests(tmp_path):
    folder = tmp_path / "index"
    ingest(folder, {"blank": "   "})
    index = ingest(folder, {"blank": "   ", "doc001": "w1 w2 w3."})
    assert set(index.doc_ids) == {"blank", "doc001"} and [c.doc_id for c in index.chunks] == ["doc001"]
    index = ingest(folder, {"blank": "   "})
    assert index.doc_ids == ["blank"] and len(index.chunks) == 0 and index.search("w1") == []


def test_an_index_opened_without_its_graph_reads_it_from_disk_when_first_needed(tmp_path, monkeypatch):
    from ragft.config import IndexConfig
    from ragft.index import ann

    folder = tmp_path / "index"
    index = build(corpus(30))
    index.settings = IndexConfig(ann="hnsw")
    index.save(folder)
    opened = HybridIndex.load(folder, BagOfWords(), IndexConfig(ann="exact"))  # as an ingest opens it
    assert opened.segments[0].graph is None
    monkeypatch.setattr(ann, "build", lambda vectors: pytest.fail("the saved graph was rebuilt"))
    opened.settings = IndexConfig(ann="hnsw")
    assert len(opened.search("w1 w2", k=5, mode="dense")) == 5
    assert opened.segments[0].graph.ntotal == len(opened.chunks)
