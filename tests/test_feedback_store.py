"""The feedback store on a real SQLite file: schema, migrations, concurrency, import/export, pairs."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from ragft.errors import ConfigError, RagftError
from ragft.feedback.schema import MIGRATIONS, SCHEMA_VERSION
from ragft.feedback.store import FeedbackStore


@pytest.fixture
def store(tmp_path):
    s = FeedbackStore(tmp_path / "feedback.sqlite")
    yield s
    s.close()


def test_new_store_is_wal_and_current_schema(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"interactions", "votes", "ratings", "edits", "pairwise", "ai_judgements"} <= tables


def test_opening_an_older_database_upgrades_it_and_keeps_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](conn)  # a file written by the first released schema
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO interactions (question, answer, created_at) VALUES ('q?', 'old answer', 1.0)")
    conn.execute("INSERT INTO votes (interaction_id, vote, created_at) VALUES (1, 'up', 1.0)")
    conn.close()

    store = FeedbackStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.interaction(1)["answer"] == "old answer"
    assert store.counts()["votes"] == 1
    store.record_judgement("q?", ["a", "b"], [1.0, 0.0], ["r"], [(0, 1)], method="ai_judge")  # the new table works
    assert store.counts()["ai_judgements"] == 1
    store.close()
    assert FeedbackStore(path).schema_version == SCHEMA_VERSION  # re-opening is a no-op


def test_a_database_from_a_newer_ragft_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError, match="newer"):
        FeedbackStore(path)


def test_votes_ratings_edits_and_bad_values(store):
    iid = store.record_interaction("Who approves travel?", "The CFO [1].", context="[1] The CFO approves.",
                                   sources=[{"doc_id": "travel.md"}], model_version="base", variant="rag.base")
    store.vote(iid, "up")
    store.rate(iid, 4)
    store.edit(iid, "The Chief Financial Officer.")
    row = store.latest_feedback()[0]
    assert (row["vote"], row["rating"], row["corrected_answer"]) == ("up", 4, "The Chief Financial Officer.")
    assert row["sources"] == [{"doc_id": "travel.md"}]
    for bad in (lambda: store.vote(iid, "sideways"), lambda: store.rate(iid, 6), lambda: store.rate(iid, "x"),
                lambda: store.edit(iid, "  "), lambda: store.vote(999, "up")):
        with pytest.raises(RagftError):
            bad()
    assert store.counts() == {"interactions": 1, "votes": 1, "ratings": 1, "edits": 1, "pairwise": 0,
                              "ai_judgements": 0}


def test_preference_pairs_from_every_source_and_never_identical(store):
    q = "Who approves travel?"
    edited = store.record_interaction(q, "The CEO.", context="ctx")
    store.edit(edited, "The CFO.")
    same_edit = store.record_interaction(q, "The CFO.")
    store.edit(same_edit, "  The   CFO. ")  # only whitespace differs: no pair
    up = store.record_interaction(q, "The CFO approves.", variant="rag.base")
    down = store.record_interaction(q.lower(), "Nobody.", variant="closed-book.base")
    up_again = store.record_interaction(q, "Nobody. ")  # up-voted but the same text as the down-voted one
    store.vote(up, "up"), store.vote(down, "down"), store.vote(up_again, "up")
    store.pairwise(q, "A answer", "B answer", "b", variant_a="x", variant_b="y")
    store.pairwise(q, "tie one", "tie two", "tie")
    store.pairwise(q, "same", " same", "a")
    store.record_judgement(q, ["good", "bad", "good "], [2, -2, 0], ["because"], [(0, 1), (0, 2)], method="ai_judge")

    pairs = store.preference_pairs()
    got = {(p.source, p.chosen, p.rejected) for p in pairs}
    assert got == {("edit", "The CFO.", "The CEO."), ("vote", "The CFO approves.", "Nobody."),
                   ("pairwise", "B answer", "A answer"), ("ai_judge", "good", "bad")}
    edit_pair = next(p for p in pairs if p.source == "edit")
    assert edit_pair.context == "ctx" and edit_pair.question == q
    assert all(" ".join(p.chosen.split()) != " ".join(p.rejected.split()) for p in pairs)
    assert {p.source for p in store.preference_pairs(include_ai=False)} == {"edit", "vote", "pairwise"}


def test_concurrent_writers_lose_nothing(store):
    """50 writers at once (as many browser tabs), 8 interactions each with a vote and a rating."""
    errors = []

    def client(n):
        try:
            for i in range(8):
                iid = store.record_interaction(f"q{n}-{i}", "a")
                store.vote(iid, "up" if i % 2 else "down")
                store.rate(iid, 1 + i % 5)
        except Exception as err:  # pragma: no cover — reported below
            errors.append(err)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.counts()["interactions"] == store.counts()["votes"] == store.counts()["ratings"] == 400


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_import_round_trip(store, tmp_path, suffix):
    iid = store.record_interaction("Q1, with \"quotes\"", "line one\nline two", context="c", sources=["a.md#0"],
                                   model_version="base", variant="rag.base")
    store.vote(iid, "down"), store.rate(iid, 2), store.edit(iid, "better")
    store.pairwise("Q2", "x", "y", "a", variant_a="rag.base", variant_b="closed-book.base")
    path = tmp_path / f"out{suffix}"
    assert store.export(path) == 2

    other = FeedbackStore(tmp_path / "other.sqlite")
    assert other.import_file(path) == {"interaction": 1, "pairwise": 1}
    assert other.export_records() == store.export_records()
    assert [(p.source, p.chosen, p.rejected) for p in other.preference_pairs()] == \
           [(p.source, p.chosen, p.rejected) for p in store.preference_pairs()]
    other.close()


def test_bad_import_names_file_line_and_field_and_imports_nothing(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([
        json.dumps({"question": "ok?", "answer": "fine", "vote": "up"}),
        json.dumps({"question": "q?", "answer": "a", "rating": 9}),
    ]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl: line 2: field 'rating'"):
        store.import_file(path)
    assert store.counts()["interactions"] == 0

    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("question,answer,choice,answer_b\nq,a,maybe,b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.csv: line 2: field 'choice'"):
        store.import_file(csv_path)
    cases = {
        "question,answer\n,a\n": "field 'question'",
        "question,answer,raiting\nq,a,3\n": "field 'raiting': unknown field",
        "question,answer,sources\nq,a,notjson\n": "field 'sources'",
        "question,answer,created_at\nq,a,yesterday\n": "field 'created_at'",
        "question,answer,choice\nq,a,a\n": "field 'answer_b'",
    }
    for text, message in cases.items():
        csv_path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            store.import_file(csv_path)
    with pytest.raises(ConfigError, match="line 1: not valid JSON"):
        path.write_text("{oops\n", encoding="utf-8")
        store.import_file(path)
    with pytest.raises(ConfigError, match=r"\.csv or \.jsonl"):
        store.import_file(tmp_path / "feedback.xlsx")
    assert store.counts()["interactions"] == 0


def test_failed_import_keeps_existing_rows(store, tmp_path):
    store.record_interaction("kept?", "yes")
    path = tmp_path / "half.csv"
    path.write_text("question,answer,vote\nq1,a1,up\nq2,a2,meh\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        store.import_file(path)
    assert [r["question"] for r in store.interactions()] == ["kept?"]


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "feedback.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RagftError, match="feedback"):
        FeedbackStore(path)


def test_cli_import_export_and_one_line_error(tmp_path):
    import subprocess
    import sys

    good = tmp_path / "in.jsonl"
    good.write_text(json.dumps({"question": "q?", "answer": "a", "corrected_answer": "b"}) + "\n", encoding="utf-8")
    run = lambda *args: subprocess.run([sys.executable, "-m", "ragft.cli", "feedback", *args, "-w", str(tmp_path / "ws")],
                                       capture_output=True, text=True, timeout=120)
    done = run("import", str(good))
    assert done.returncode == 0 and "Imported 1 interaction" in done.stdout
    assert run("export", str(tmp_path / "out.csv")).returncode == 0
    assert "corrected_answer" in (tmp_path / "out.csv").read_text(encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer,vote\nq,a,maybe\n", encoding="utf-8")
    failed = run("import", str(bad))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "bad.csv: line 2: field 'vote'" in " ".join(failed.stderr.split())
