"""The manifest's document table is written once and each version lists only its changes to it,
so an ingest that changes one document of many writes one entry, not the whole table."""

from __future__ import annotations

import json

from index_helpers import corpus, ingest, live_manifest

from ragft.index import versions


def stored_manifest(folder) -> dict:
    return json.loads((folder / versions.live_version(folder) / versions.MANIFEST).read_text())


def tables(folder) -> list[str]:
    return sorted(p.name for p in (folder / versions.DOCUMENTS).iterdir())


def test_changing_one_document_of_many_writes_its_entry_not_the_table(tmp_path):
    folder = tmp_path / "index"
    texts = corpus(120)
    first = ingest(folder, texts)
    [table] = tables(folder)
    assert stored_manifest(folder)["documents_changed"] == {}
    assert live_manifest(folder)["documents"] == first.manifest.documents

    changed = {**texts, "doc007": "w1 w2 w3 w4. w99 w98 w97 w96."}
    del changed["doc030"]
    index = ingest(folder, changed)
    stored = stored_manifest(folder)
    assert tables(folder) == [table] and stored["documents_table"] == table  # the table was not rewritten
    assert set(stored["documents_changed"]) == {"doc007", "doc030"} and stored["documents_changed"]["doc030"] is None
    assert live_manifest(folder)["documents"] == index.manifest.documents
    assert "doc030" not in index.manifest.documents and len(index.manifest.documents) == 119


def test_a_new_table_replaces_the_old_once_the_changes_outgrow_it(tmp_path, monkeypatch):
    monkeypatch.setattr(versions, "table_changes_limit", lambda n_documents: 2)
    folder = tmp_path / "index"
    texts = corpus(30)
    ingest(folder, texts)
    [first_table] = tables(folder)
    for n, doc_id in enumerate(["doc001", "doc002"]):
        texts = {**texts, doc_id: f"w{n} w200. w201 w202."}
        ingest(folder, texts)
    assert tables(folder) == [first_table] and len(stored_manifest(folder)["documents_changed"]) == 2
    texts = {**texts, "doc003": "w3 w200. w201 w202."}
    index = ingest(folder, texts)  # three changes: past the limit
    [table] = tables(folder)
    assert table != first_table and stored_manifest(folder)["documents_changed"] == {}
    assert live_manifest(folder)["documents"] == index.manifest.documents
    assert index.search("w3 w200", k=1, mode="bm25")[0].chunk.doc_id == "doc003"


def test_a_format_2_manifest_holding_the_whole_table_is_read_and_the_next_save_starts_a_table(tmp_path):
    folder = tmp_path / "index"
    texts = corpus(20)
    ingest(folder, texts)
    live = folder / versions.live_version(folder)
    whole = live_manifest(folder)
    whole["format_version"] = 2
    (live / versions.MANIFEST).write_text(json.dumps(whole))
    for table in (folder / versions.DOCUMENTS).iterdir():
        for path in table.iterdir():
            path.unlink()
        table.rmdir()

    texts = {**texts, "doc004": "w4 w200. w201 w202."}
    index = ingest(folder, texts)
    assert len(tables(folder)) == 1 and stored_manifest(folder)["documents_changed"] == {}
    assert live_manifest(folder)["documents"] == index.manifest.documents and len(index.manifest.documents) == 20
