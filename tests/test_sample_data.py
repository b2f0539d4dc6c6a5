"""Checks on the built-in sample domain (ragft/data/sample): documents, QA files, leakage.

The sample is a fictional ferry operator ("Brennock Ferries"). These tests keep it honest:
every evidence sentence must really be in its document, every gold answer must be in its
evidence, and no test question may be a (near-)copy of a training question.
"""

from __future__ import annotations

import json
import re
import string
from functools import lru_cache
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "ragft" / "data" / "sample"
DOCS = SAMPLE / "docs"
FORMATS = {".md", ".txt", ".html", ".pdf", ".docx"}
TASK_TYPES = {"short_qa", "multi_hop", "classification"}
REQUIRED = {
    "id": str,
    "question": str,
    "answers": list,
    "task_type": str,
    "evidence_doc_ids": list,
    "evidence_texts": list,
}
SIMILARITY_LIMIT = 0.5  # max Jaccard (word trigrams and char 5-grams) between test and train


# --------------------------------------------------------------------------- helpers


def _raw_text(path: Path) -> str:
    """Text of one document exactly as ragft's own loader reads it."""
    from ragft.corpus import load_document

    return load_document(path).text


def _norm(text: str) -> str:
    """Collapse every whitespace run to one space and lowercase."""
    return re.sub(r"\s+", " ", text).strip().lower()


@lru_cache(maxsize=None)
def doc_text(doc_id: str) -> str:
    """Normalised text of ``docs/<doc_id>`` (cached: PDFs are parsed once per session)."""
    return _norm(_raw_text(DOCS / doc_id))


def _doc_ids() -> list[str]:
    return sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*") if p.is_file())


def _load(name: str) -> list[dict]:
    rows = []
    with open(SAMPLE / name, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            assert line.strip(), f"{name}:{lineno}: blank line"
            rows.append(json.loads(line))
    return rows


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return _load("train.jsonl")


@pytest.fixture(scope="module")
def heldout() -> list[dict]:
    return _load("test.jsonl")


def _words(question: str) -> list[str]:
    table = str.maketrans({c: " " for c in string.punctuation + "£’‘“”"})
    return question.lower().translate(table).split()


def _trigrams(question: str) -> set[tuple[str, ...]]:
    w = _words(question)
    return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}


def _char5(question: str) -> set[str]:
    s = " ".join(_words(question))
    return {s[i : i + 5] for i in range(len(s) - 4)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if (a or b) else 0.0


# --------------------------------------------------------------------------- documents


def test_documents_count_and_formats():
    ids = _doc_ids()
    assert len(ids) >= 25, ids
    suffixes = {Path(i).suffix.lower() for i in ids}
    assert FORMATS <= suffixes, f"missing formats: {FORMATS - suffixes}"
    assert suffixes <= FORMATS, f"unexpected file types: {suffixes - FORMATS}"


def test_documents_have_reasonable_length():
    for doc_id in _doc_ids():
        n = len(doc_text(doc_id).split())
        assert 200 <= n <= 900, f"{doc_id}: {n} words"


def test_html_loader_text_excludes_script_and_style():
    html = [d for d in _doc_ids() if d.endswith(".html")]
    assert html
    for doc_id in html:
        raw = (DOCS / doc_id).read_text(encoding="utf-8").lower()
        assert "<script" in raw or "<style" in raw, f"{doc_id} should exercise script/style stripping"
        text = doc_text(doc_id)
        for marker in ("function", "{", "font-family", "datalayer", "queryselector"):
            assert marker not in text, f"{doc_id}: '{marker}' leaked into the text"


def test_sample_is_small():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 1_500_000, f"sample is {total} bytes"


def test_readme_lists_every_document():
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    missing = [d for d in _doc_ids() if d not in readme]
    assert not missing, f"README.md does not list: {missing}"


# --------------------------------------------------------------------------- QA files


def test_split_sizes(train, heldout):
    assert len(train) >= 150
    assert len(heldout) >= 50


@pytest.mark.parametrize("name", ["train.jsonl", "test.jsonl"])
def test_records_are_well_formed(name):
    rows = _load(name)
    prefix = name.split(".")[0] + "-"
    ids = [r.get("id") for r in rows]
    assert len(set(ids)) == len(ids), "duplicate ids"
    for r in rows:
        for key, typ in REQUIRED.items():
            assert isinstance(r.get(key), typ), f"{r.get('id')}: field {key!r} missing or not {typ.__name__}"
        assert r["id"].startswith(prefix), r["id"]
        assert r["question"].strip().endswith("?") or r["question"].strip().endswith("."), r["id"]
        assert r["task_type"] in TASK_TYPES, r["id"]
        assert r["answers"] and all(isinstance(a, str) and a.strip() for a in r["answers"]), r["id"]
        assert len(r["answers"][0].split()) <= 8, f"{r['id']}: canonical answer too long"
        assert r["evidence_doc_ids"], f"{r['id']}: no evidence"
        assert len(r["evidence_doc_ids"]) == len(r["evidence_texts"]), r["id"]
        for text in r["evidence_texts"]:
            assert isinstance(text, str) and text.strip() and "\n" not in text, r["id"]
        if r["task_type"] == "classification":
            assert r["answers"] in (["yes"], ["no"]), r["id"]
        if r["task_type"] == "multi_hop":
            assert len(set(r["evidence_doc_ids"])) >= 2, f"{r['id']}: multi_hop needs two documents"


def test_task_type_mix(train, heldout):
    for rows in (train, heldout):
        n_cls = sum(r["task_type"] == "classification" for r in rows)
        assert 0.05 <= n_cls / len(rows) <= 0.2
    assert sum(len(set(r["evidence_doc_ids"])) >= 2 for r in heldout) >= 10
    assert sum(r["task_type"] == "multi_hop" for r in heldout) >= 12
    assert sum(r["task_type"] == "multi_hop" for r in train) >= 5


def test_evidence_docs_exist(train, heldout):
    known = set(_doc_ids())
    for r in train + heldout:
        for doc_id in r["evidence_doc_ids"]:
            assert "\\" not in doc_id and not doc_id.startswith("/"), doc_id
            assert doc_id in known, f"{r['id']}: unknown document {doc_id}"


def test_evidence_text_is_in_document(train, heldout):
    problems = []
    for r in train + heldout:
        for doc_id, text in zip(r["evidence_doc_ids"], r["evidence_texts"]):
            if _norm(text) not in doc_text(doc_id):
                problems.append(f"{r['id']}: {doc_id}: {text!r}")
    assert not problems, "\n".join(problems)


def test_gold_answer_is_in_evidence(train, heldout):
    problems = []
    for r in train + heldout:
        if r["task_type"] == "classification":
            continue
        evidence = _norm(" ".join(r["evidence_texts"]))
        if not any(_norm(a) in evidence for a in r["answers"]):
            problems.append(f"{r['id']}: none of {r['answers']} in its evidence")
    assert not problems, "\n".join(problems)


def test_every_document_is_used(train, heldout):
    used = {d for r in train + heldout for d in r["evidence_doc_ids"]}
    assert set(_doc_ids()) <= used, f"documents with no questions: {set(_doc_ids()) - used}"


# --------------------------------------------------------------------------- leakage


def test_no_test_question_copied_into_train(train, heldout):
    train_norm = {" ".join(_words(r["question"])) for r in train}
    dupes = [r["id"] for r in heldout if " ".join(_words(r["question"])) in train_norm]
    assert not dupes, f"test questions also in train: {dupes}"
    assert len({" ".join(_words(r["question"])) for r in heldout}) == len(heldout), "duplicate test questions"


def test_no_near_duplicate_test_questions(train, heldout):
    train_tri = [_trigrams(r["question"]) for r in train]
    train_c5 = [_char5(r["question"]) for r in train]
    problems = []
    for r in heldout:
        tri, c5 = _trigrams(r["question"]), _char5(r["question"])
        worst_tri = max(_jaccard(tri, t) for t in train_tri)
        worst_c5 = max(_jaccard(c5, t) for t in train_c5)
        if worst_tri >= SIMILARITY_LIMIT or worst_c5 >= SIMILARITY_LIMIT:
            problems.append(f"{r['id']}: trigram={worst_tri:.2f} char5={worst_c5:.2f} {r['question']!r}")
    assert not problems, "\n".join(problems)


def test_test_facts_are_taught_in_train(train, heldout):
    """Knowledge injection needs overlap of *facts*: most test evidence also backs a train question."""
    train_evidence = {(d, _norm(t)) for r in train for d, t in zip(r["evidence_doc_ids"], r["evidence_texts"])}
    train_answers = {_norm(a) for r in train for a in r["answers"]}
    covered = 0
    for r in heldout:
        ev = set(zip(r["evidence_doc_ids"], (_norm(t) for t in r["evidence_texts"])))
        if ev & train_evidence and {_norm(a) for a in r["answers"]} & train_answers:
            covered += 1
    assert covered >= 40, f"only {covered} test questions have their fact in train"
