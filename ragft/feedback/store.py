"""The feedback store: what people (and AI judges) said about answers, in one SQLite file.

    <workspace>/feedback.sqlite

The tables and their migrations live in ``ragft.feedback.schema``; ``preference_pairs()`` turns
the rows into ``Preference`` pairs for DPO with the pure functions of ``ragft.feedback.pairs``.

Concurrency: the web app writes from many threads and ``ragft improve`` may read at the same
time. The database runs in WAL mode (readers never block the writer), every thread gets its own
connection, every write is one short ``BEGIN IMMEDIATE`` transaction, and ``busy_timeout`` makes
a second writer wait instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragft.errors import RagftError
from ragft.feedback.pairs import (
    pairs_from_ai,
    pairs_from_edits,
    pairs_from_pairwise,
    pairs_from_votes,
    unique_real_pairs,
)
from ragft.feedback.schema import TABLES, migrate
from ragft.feedback.validate import check_choice, check_rating, check_vote, require_text
from ragft.types import Preference

# The text columns of an interaction (besides sources, turn and created_at), as record_interaction names them.
INTERACTION_TEXT = ("question", "context", "answer", "model_version", "variant", "variant_hash", "asked",
                    "conversation")
BUSY_TIMEOUT_MS = 30_000


class FeedbackStore:
    """Feedback in a SQLite file; safe to share between threads (one connection each)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        conn = self._conn()
        self.schema_version = migrate(conn)

    # ----------------------------------------------------------------- connections
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions stay short.
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; safe in WAL mode
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.DatabaseError as err:
                raise RagftError(f"{self.path}: not a usable feedback database ({err})") from None
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction: everything inside commits together or not at all."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self._conn().execute(sql, params).fetchall()]

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # ----------------------------------------------------------------- writing
    def record_interaction(self, question: str, answer: str, context: str = "", sources: list | None = None,
                           model_version: str = "", variant: str = "", created_at: float | None = None,
                           variant_hash: str = "", asked: str = "", conversation: str = "", turn: int = 0) -> int:
        """Store one answered question; returns its id (what votes, ratings and edits refer to).

        ``variant_hash`` is the served spec's key (which exact pipeline and model answered). In a
        conversation ``question`` is the standalone question that was answered, ``asked`` the
        follow-up as typed, ``conversation`` an id and ``turn`` the 0-based position."""
        require_text("question", question)
        with self._write() as conn:
            return self._insert_interaction(conn, {
                "question": question, "answer": answer, "context": context, "sources": sources,
                "model_version": model_version, "variant": variant, "variant_hash": variant_hash,
                "asked": asked, "conversation": conversation, "turn": turn, "created_at": created_at})

    @staticmethod
    def _insert_interaction(conn, row: dict[str, Any]) -> int:
        values = {**{column: row.get(column) or "" for column in INTERACTION_TEXT},
                  "sources": json.dumps(row.get("sources") or [], ensure_ascii=False),
                  "turn": int(row.get("turn") or 0), "created_at": row.get("created_at") or time.time()}
        cursor = conn.execute(f"INSERT INTO interactions ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                              tuple(values.values()))
        return int(cursor.lastrowid)

    def vote(self, interaction_id: int, vote: str) -> int:
        vote = check_vote(vote)
        with self._write() as conn:
            self._require_interaction(conn, interaction_id)
            return self._insert(conn, "votes", interaction_id, "vote", vote)

    def rate(self, interaction_id: int, rating: int) -> int:
        rating = check_rating(rating)
        with self._write() as conn:
            self._require_interaction(conn, interaction_id)
            return self._insert(conn, "ratings", interaction_id, "rating", rating)

    def edit(self, interaction_id: int, corrected_answer: str) -> int:
        require_text("corrected_answer", corrected_answer)
        with self._write() as conn:
            self._require_interaction(conn, interaction_id)
            return self._insert(conn, "edits", interaction_id, "corrected_answer", corrected_answer)

    @staticmethod
    def _insert(conn, table: str, interaction_id: int, column: str, value, created_at: float | None = None) -> int:
        cursor = conn.execute(f"INSERT INTO {table} (interaction_id, {column}, created_at) VALUES (?, ?, ?)",
                              (interaction_id, value, created_at or time.time()))
        return int(cursor.lastrowid)

    @staticmethod
    def _require_interaction(conn, interaction_id: int) -> None:
        if conn.execute("SELECT 1 FROM interactions WHERE id = ?", (interaction_id,)).fetchone() is None:
            raise RagftError(f"interaction_id {interaction_id} does not exist")

    def pairwise(self, question: str, answer_a: str, answer_b: str, choice: str, variant_a: str = "",
                 variant_b: str = "", context: str = "", created_at: float | None = None,
                 variant_hashes: tuple[str, str] = ("", "")) -> int:
        """Store which of two answers to one question was better: 'a', 'b' or 'tie'."""
        require_text("question", question)
        choice = check_choice(choice)
        with self._write() as conn:
            return self._insert_pairwise(conn, question, answer_a, answer_b, choice, variant_a, variant_b,
                                         context, created_at, variant_hashes)

    @staticmethod
    def _insert_pairwise(conn, question, answer_a, answer_b, choice, variant_a, variant_b, context, created_at,
                         variant_hashes=("", "")) -> int:
        cursor = conn.execute(
            "INSERT INTO pairwise (question, context, answer_a, answer_b, variant_a, variant_b, variant_hash_a, "
            "variant_hash_b, choice, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (question, context or "", answer_a or "", answer_b or "", variant_a or "", variant_b or "",
             variant_hashes[0] or "", variant_hashes[1] or "", choice, created_at or time.time()))
        return int(cursor.lastrowid)

    def record_judgement(self, question: str, answers: list[str], scores: list[float], reasons: list[str],
                         pairs: list[tuple[int, int]], method: str, judge: str = "", context: str = "",
                         gold: str = "") -> int:
        """Store one AI-feedback round: sampled answers, their scores, the judge's reasons, the pairs."""
        for chosen, rejected in pairs:
            if not (0 <= chosen < len(answers) and 0 <= rejected < len(answers)):
                raise RagftError(f"pair ({chosen}, {rejected}) refers to an answer that is not among the "
                                 f"{len(answers)} sampled")
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO ai_judgements (question, context, gold, answers, scores, reasons, pairs, method, "
                "judge, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (question, context or "", gold or "", json.dumps(answers, ensure_ascii=False), json.dumps(scores),
                 json.dumps(reasons, ensure_ascii=False), json.dumps([list(p) for p in pairs]), method, judge,
                 time.time()))
            return int(cursor.lastrowid)

    # ----------------------------------------------------------------- reading
    def interaction(self, interaction_id: int) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM interactions WHERE id = ?", (interaction_id,))
        return _decode_interaction(rows[0]) if rows else None

    def interactions(self) -> list[dict[str, Any]]:
        return [_decode_interaction(r) for r in self._read("SELECT * FROM interactions ORDER BY id")]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of one table, oldest first (tests, the dashboard, exports)."""
        if table not in TABLES:
            raise RagftError(f"no feedback table {table!r}")
        return self._read(f"SELECT * FROM {table} ORDER BY id")

    def counts(self) -> dict[str, int]:
        return {t: self._read(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"] for t in TABLES}

    def counts_by_day(self) -> list[dict[str, Any]]:
        """Feedback events per UTC day and kind, for the dashboard's chart."""
        parts = [f"SELECT date(created_at, 'unixepoch') AS day, '{t}' AS kind, COUNT(*) AS n FROM {t} GROUP BY day"
                 for t in ("votes", "ratings", "edits", "pairwise")]
        return self._read(" UNION ALL ".join(parts) + " ORDER BY day, kind")

    def approval_by_model(self) -> dict[str, dict[str, int]]:
        """Per model version: up and down votes (each interaction's latest vote counts once)."""
        rows = self._read(
            "SELECT i.model_version AS model, v.vote AS vote, COUNT(*) AS n FROM interactions i "
            "JOIN votes v ON v.id = (SELECT MAX(id) FROM votes WHERE interaction_id = i.id) "
            "GROUP BY i.model_version, v.vote")
        table: dict[str, dict[str, int]] = defaultdict(lambda: {"up": 0, "down": 0})
        for row in rows:
            table[row["model"]][row["vote"]] = row["n"]
        return dict(table)

    def latest_feedback(self) -> list[dict[str, Any]]:
        """Each interaction with its latest vote, rating and edit (None where there is none)."""
        return [_decode_interaction(r) for r in self._read(
            "SELECT i.*, "
            "(SELECT vote FROM votes WHERE interaction_id = i.id ORDER BY id DESC LIMIT 1) AS vote, "
            "(SELECT rating FROM ratings WHERE interaction_id = i.id ORDER BY id DESC LIMIT 1) AS rating, "
            "(SELECT corrected_answer FROM edits WHERE interaction_id = i.id ORDER BY id DESC LIMIT 1) "
            "AS corrected_answer FROM interactions i ORDER BY i.id")]

    # ----------------------------------------------------------------- preference pairs
    def preference_pairs(self, include_ai: bool = True) -> list[Preference]:
        """Chosen/rejected pairs from edits, pairwise choices, votes and (optionally) AI judgements."""
        feedback = self.latest_feedback()
        pairs = pairs_from_edits(feedback) + pairs_from_pairwise(self.rows("pairwise")) + pairs_from_votes(feedback)
        if include_ai:
            pairs += pairs_from_ai(self.rows("ai_judgements"))
        return unique_real_pairs(pairs)

    # ----------------------------------------------------------------- import / export
    def export(self, path: Path | str) -> int:
        """Write every interaction (with its latest vote, rating, edit) and pairwise choice as
        CSV or JSONL (by extension); returns the number of records written."""
        from ragft.feedback.exchange import write_records

        return write_records(Path(path), self.export_records())

    def export_records(self) -> list[dict[str, Any]]:
        from ragft.feedback.exchange import interaction_record, pairwise_record

        return ([interaction_record(row) for row in self.latest_feedback()]
                + [pairwise_record(row) for row in self.rows("pairwise")])

    def import_file(self, path: Path | str) -> dict[str, int]:
        """Read a CSV or JSONL feedback file; every row is checked first, then all are stored in
        one transaction — a bad file imports nothing. Returns counts per kind."""
        from ragft.feedback.exchange import read_records

        records = read_records(Path(path))
        counts: dict[str, int] = defaultdict(int)
        with self._write() as conn:
            for record in records:
                self._store_record(conn, record)
                counts[record["kind"]] += 1
        return dict(counts)

    def _store_record(self, conn, record: dict[str, Any]) -> None:
        when = record.get("created_at")
        if record["kind"] == "pairwise":
            self._insert_pairwise(conn, record["question"], record["answer"], record["answer_b"], record["choice"],
                                  record.get("variant", ""), record.get("variant_b", ""), record.get("context", ""),
                                  when, (record.get("variant_hash", ""), record.get("variant_hash_b", "")))
            return
        interaction_id = self._insert_interaction(conn, {**record, "created_at": when})
        if record.get("vote"):
            self._insert(conn, "votes", interaction_id, "vote", record["vote"], when)
        if record.get("rating") is not None:
            self._insert(conn, "ratings", interaction_id, "rating", record["rating"], when)
        if record.get("corrected_answer"):
            self._insert(conn, "edits", interaction_id, "corrected_answer", record["corrected_answer"], when)


def _decode_interaction(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    try:
        row["sources"] = json.loads(row.get("sources") or "[]")
    except ValueError:
        row["sources"] = []
    return row
