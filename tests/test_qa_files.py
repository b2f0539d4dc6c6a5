"""QA dataset files: JSONL and CSV parsing, defaults, round trip, and line-precise errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragft.corpus.qa import QAFileError, load_qa_file, save_qa_file
from ragft.errors import RagftError
from ragft.types import QAExample


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def qa_error(path: Path) -> str:
    with pytest.raises(QAFileError) as caught:
        load_qa_file(path)
    message = str(caught.value)
    assert isinstance(caught.value, RagftError)
    assert message.startswith(f"{path}: ") and "\n" not in message and " — " in message
    return message


def test_jsonl_fields_and_defaults(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "qa.jsonl",
        {"id": "a1", "question": "Capital of France?", "answers": ["Paris", "paris"], "task_type": "short_qa",
         "evidence_doc_ids": ["geo.md"], "evidence_texts": ["Paris is the capital."], "doc_scope": "geo.md"},
        "",  # blank lines are ignored
        {"question": " How many days? ", "answer": "25", "source": "handbook"},
        {"qid": 7, "question": "Long?", "answers": "A long answer.", "task_type": "long_form"},
        {"question": "Numeric?", "answer": 42, "metadata": {"split": "test"}},
    )
    first, second, third, fourth = load_qa_file(path)
    assert first == QAExample("a1", "Capital of France?", ["Paris", "paris"], "short_qa",
                              ["geo.md"], ["Paris is the capital."], "geo.md")
    assert (second.qid, second.question, second.answers) == ("q-3", "How many days?", ["25"])
    assert second.task_type == "short_qa"
    assert second.metadata == {"source": "handbook"}
    assert (third.qid, third.answers, third.task_type) == ("7", ["A long answer."], "long_form")
    assert (fourth.answers, fourth.metadata) == (["42"], {"split": "test"})


def test_csv_with_json_lists_and_pipes(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text(
        "\ufeffid,question,answers,evidence_doc_ids,evidence_texts,task_type\n"
        'q1,"Who, exactly?","[""Ann"", ""Ann Lee""]",a.md|b.md,"[""x | y""]",\n'
        "q2,What?,plain answer,,,classification\n",
        encoding="utf-8",
    )
    first, second = load_qa_file(path)
    assert (first.question, first.answers) == ("Who, exactly?", ["Ann", "Ann Lee"])
    assert (first.evidence_doc_ids, first.evidence_texts) == (["a.md", "b.md"], ["x | y"])
    assert first.task_type == "short_qa"
    assert (second.answers, second.evidence_doc_ids) == (["plain answer"], [])
    assert second.task_type == "classification"


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    examples = [
        QAExample("x", "Q?", ["A", "a"], "span_qa", ["d.md"], ["text"], "d.md", {"split": "dev"}),
        QAExample("y", "Ünïcode?", ["é"]),
    ]
    path = tmp_path / "out" / "qa.jsonl"
    save_qa_file(examples, path)
    assert load_qa_file(path) == examples
    assert "Ünïcode" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("lines", "phrases"),
    [
        (['{"question": "ok", "answer": "a"}', '{"question": "broken"'], ["line 2", "invalid json"]),
        (['{"answer": "a"}'], ["line 1", "'question'"]),
        (['{"question": "q", "answers": []}'], ["line 1", "'answers'", "empty"]),
        (['{"question": "q", "answer": "  "}'], ["line 1", "'answer'"]),
        (['{"question": "q", "answer": "a", "task_type": "essay"}'], ["line 1", "unknown task type", "short_qa"]),
        (['["question", "answer"]'], ["line 1", "json object"]),
        (['{"id": "d", "question": "q", "answer": "a"}', '{"id": "d", "question": "r", "answer": "b"}'],
         ["line 2", "duplicate id 'd'", "line 1"]),
    ],
)
def test_malformed_jsonl(tmp_path: Path, lines: list[str], phrases: list[str]) -> None:
    message = qa_error(write_jsonl(tmp_path / "bad.jsonl", *lines)).lower()
    for phrase in phrases:
        assert phrase in message


def test_csv_without_question_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("query,answer\nWhat?,That\n")
    assert "no 'question' column" in qa_error(path)


def test_csv_row_with_too_many_cells(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("question,answer\nWhat?,one,two\n")
    assert "line 2" in qa_error(path)


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n")
    assert "empty" in qa_error(path)


def test_header_only_csv_has_no_questions(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("question,answer\n")
    assert "no questions" in qa_error(path)


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    assert "not found" in qa_error(tmp_path / "missing.jsonl")
    path = tmp_path / "qa.xlsx"
    path.write_bytes(b"PK")
    assert "unsupported" in qa_error(path)
