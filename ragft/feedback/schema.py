"""The feedback database's schema, as ordered migrations.

Tables (append-only; a later click never overwrites an earlier one):

    interactions   a question, the context shown to the model, the answer, its sources (JSON),
                   the model version, the variant and the hash of its spec that produced it; for
                   a chat turn also the follow-up as typed, its conversation and turn number
    votes          up / down on an interaction
    ratings        1–5 on an interaction
    edits          a corrected answer for an interaction
    pairwise       two answers to one question, which one was better (a | b | tie)
    ai_judgements  sampled answers, a judge's ranking and reasons, and the pairs it supports

Schema changes are ordered migration functions; ``PRAGMA user_version`` records how many have
run, so opening a file written by an older ragft upgrades it in place (in one transaction).
Append a function to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ragft.errors import ConfigError

TABLES = ("interactions", "votes", "ratings", "edits", "pairwise", "ai_judgements")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Statement by statement: sqlite3's executescript() would COMMIT the migration's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _m1_initial(conn: sqlite3.Connection) -> None:
    _run_script(conn, """
        CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            question TEXT NOT NULL,
            context TEXT NOT NULL DEFAULT '',
            answer TEXT NOT NULL,
            sources TEXT NOT NULL DEFAULT '[]',
            model_version TEXT NOT NULL DEFAULT '',
            variant TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        );
        CREATE TABLE votes (
            id INTEGER PRIMARY KEY,
            interaction_id INTEGER NOT NULL REFERENCES interactions(id),
            vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
            created_at REAL NOT NULL
        );
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY,
            interaction_id INTEGER NOT NULL REFERENCES interactions(id),
            rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
            created_at REAL NOT NULL
        );
        CREATE TABLE edits (
            id INTEGER PRIMARY KEY,
            interaction_id INTEGER NOT NULL REFERENCES interactions(id),
            corrected_answer TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE pairwise (
            id INTEGER PRIMARY KEY,
            question TEXT NOT NULL,
            context TEXT NOT NULL DEFAULT '',
            answer_a TEXT NOT NULL,
            answer_b TEXT NOT NULL,
            variant_a TEXT NOT NULL DEFAULT '',
            variant_b TEXT NOT NULL DEFAULT '',
            choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie')),
            created_at REAL NOT NULL
        );
    """)


def _m2_ai_judgements_and_time_indexes(conn: sqlite3.Connection) -> None:
    _run_script(conn, """
        CREATE TABLE ai_judgements (
            id INTEGER PRIMARY KEY,
            question TEXT NOT NULL,
            context TEXT NOT NULL DEFAULT '',
            gold TEXT NOT NULL DEFAULT '',
            answers TEXT NOT NULL,          -- JSON list of the sampled answers
            scores TEXT NOT NULL,           -- JSON list, one score per answer (votes or similarity)
            reasons TEXT NOT NULL,          -- JSON list of the judge's reasons
            pairs TEXT NOT NULL,            -- JSON list of [chosen index, rejected index]
            method TEXT NOT NULL,           -- "ai_judge" | "auto_score"
            judge TEXT NOT NULL DEFAULT '', -- judge model or scoring function
            created_at REAL NOT NULL
        );
        CREATE INDEX interactions_created ON interactions(created_at);
        CREATE INDEX votes_interaction ON votes(interaction_id);
        CREATE INDEX ratings_interaction ON ratings(interaction_id);
        CREATE INDEX edits_interaction ON edits(interaction_id);
    """)


def _m3_variant_hash(conn: sqlite3.Connection) -> None:
    """Which exact pipeline answered: the served VariantSpec's key (ragft.rag.variant)."""
    _run_script(conn, """
        ALTER TABLE interactions ADD COLUMN variant_hash TEXT NOT NULL DEFAULT '';
        ALTER TABLE pairwise ADD COLUMN variant_hash_a TEXT NOT NULL DEFAULT '';
        ALTER TABLE pairwise ADD COLUMN variant_hash_b TEXT NOT NULL DEFAULT ''
    """)


def _m4_conversations(conn: sqlite3.Connection) -> None:
    """Multi-turn chats: ``question`` holds the standalone question that was answered (a follow-up
    rewritten from its history), ``asked`` the follow-up as typed, ``conversation`` and ``turn``
    where it sits — so feedback on a turn keeps its conversation and trains on a self-contained question."""
    _run_script(conn, """
        ALTER TABLE interactions ADD COLUMN asked TEXT NOT NULL DEFAULT '';
        ALTER TABLE interactions ADD COLUMN conversation TEXT NOT NULL DEFAULT '';
        ALTER TABLE interactions ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX interactions_conversation ON interactions(conversation, turn)
    """)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_initial, _m2_ai_judgements_and_time_indexes,
                                                          _m3_variant_hash, _m4_conversations]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Run the migrations a database lacks (all in one transaction); returns the new version."""
    conn.execute("BEGIN IMMEDIATE")  # re-read the version under the write lock: two openers, one upgrade
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"feedback database schema version {version} is newer than this ragft "
                              f"understands ({SCHEMA_VERSION}) — upgrade ragft")
        for number in range(version, target):
            MIGRATIONS[number](conn)
        conn.execute(f"PRAGMA user_version = {max(version, target)}")
        conn.execute("COMMIT")
        return max(version, target)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
