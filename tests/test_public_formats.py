"""Public dataset formats read directly (SQuAD, PubMedQA, HotpotQA, MuSiQue, BEIR) and the
input checks that cite file and line. Small hand-written fixtures; no models are loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ragft.corpus.checks import degenerate_answer_warnings, say_warnings, unknown_document_warnings
from ragft.corpus.public_formats import NOT_FOUND, FormatError, detect_format, load_corpus, load_public
from ragft.corpus.qa import load_qa_file, save_qa_file
from ragft.errors import RagftError
from ragft.corpus.datasets import load_dataset
from ragft.study.study import StudyRunner
from ragft.study.study_config import DatasetConfig, load_study_config
from ragft.types import QAExample

SQUAD = {"version": "v2.0", "data": [{"title": "Brennock Ferries", "paragraphs": [
    {"context": "Brennock runs four ferries. MV Siskin entered service in 1998. It sails route R3.",
     "qas": [{"id": "s1", "question": "When did MV Siskin enter service?", "is_impossible": False,
              "answers": [{"text": "1998", "answer_start": 59}, {"text": "in 1998", "answer_start": 56}]},
             {"id": "s2", "question": "Who built MV Siskin?", "is_impossible": True, "answers": [],
              "plausible_answers": [{"text": "Brennock", "answer_start": 0}]}]},
    {"context": "The head office is in Port Ardwell.",
     "qas": [{"id": "s3", "question": "Where is the head office?",
              "answers": [{"text": "Port Ardwell", "answer_start": 22}]}]}]}]}

HOTPOT = [
    {"_id": "h1", "question": "Which ferry is older, Siskin or Dawn?", "answer": "Siskin", "type": "comparison",
     "level": "easy", "supporting_facts": [["MV Siskin", 0], ["MV Dawn", 1], ["MV Dawn", 9]],
     "context": [["MV Siskin", ["MV Siskin was built in 1998.", " She sails route R3."]],
                 ["MV Dawn", ["MV Dawn is new.", " She was built in 2025."]]]},
    {"_id": "h2", "question": "What route does the 1998 ferry sail?", "answer": "R3", "type": "bridge",
     "supporting_facts": [["MV Siskin", 1]],
     "context": [["MV Siskin", ["MV Siskin was built in 1998.", " She sails route R3."]],
                 ["MV Dawn", ["A different Dawn paragraph."]]]},
]


def write(path: Path, value) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


def beir_folder(root: Path) -> Path:
    folder = root / "scifact"
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(folder / "corpus.jsonl", [{"_id": "10", "title": "Tides", "text": "Tides follow the moon."},
                                          {"_id": "MED/2", "title": "", "text": "Ferries need fuel."}])
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "what drives tides"},
                                           {"_id": "q2", "text": "unjudged query"}])
    write(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\t10\t2\nq1\tMED/2\t0\nq1\tgone\t1\n")
    write(folder / "qrels" / "dev.tsv", "query-id\tcorpus-id\tscore\nq2\tMED/2\t1\n")
    return folder


# ------------------------------------------------------------------------------------- formats


def test_squad_paragraphs_are_documents_and_spans_give_sentence_evidence(tmp_path):
    path = write(tmp_path / "dev-v2.0.json", SQUAD)
    dataset = load_public(path)
    assert dataset.format == "squad" == detect_format(path)
    assert [d.doc_id for d in dataset.documents] == ["squad/brennock-ferries-1", "squad/brennock-ferries-2"]
    assert dataset.documents[0].text.startswith("# Brennock Ferries\n\nBrennock runs")
    first, unanswerable, third = dataset.examples
    assert (first.qid, first.answers, first.task_type) == ("s1", ["1998", "in 1998"], "span_qa")
    assert first.evidence_doc_ids == ["squad/brennock-ferries-1"]
    assert first.evidence_texts == ["MV Siskin entered service in 1998."]
    assert (unanswerable.answers, unanswerable.evidence_doc_ids) == ([NOT_FOUND], [])
    assert third.evidence_texts == ["The head office is in Port Ardwell."]
    skipped = load_public(path, unanswerable="skip")
    assert [e.qid for e in skipped.examples] == ["s1", "s3"] and "skipped 1 unanswerable" in skipped.notes[0]


def test_pubmedqa_abstract_is_the_document_and_the_decision_a_label(tmp_path):
    path = write(tmp_path / "ori_pqal.json", {"2163": {
        "QUESTION": "Do ferries reduce congestion?", "CONTEXTS": ["Background text.", "Results text."],
        "LABELS": ["BACKGROUND", "RESULTS"], "final_decision": "Yes", "LONG_ANSWER": "They do."}})
    dataset = load_public(path)
    assert dataset.format == "pubmedqa"
    (document,), (example,) = dataset.documents, dataset.examples
    assert (document.doc_id, document.text) == ("pubmed/2163", "Background text.\n\nResults text.")
    assert (example.answers, example.task_type, example.evidence_doc_ids) == (["yes"], "classification", ["pubmed/2163"])
    assert example.metadata["long_answer"] == "They do."


def test_hotpotqa_paragraphs_are_shared_across_questions(tmp_path):
    dataset = load_public(write(tmp_path / "hotpot_dev_distractor_v1.json", HOTPOT))
    ids = [d.doc_id for d in dataset.documents]
    assert ids[:2] == ["hotpot/mv-siskin", "hotpot/mv-dawn"] and len(ids) == 3  # Siskin once, Dawn twice (texts differ)
    assert ids[2].startswith("hotpot/mv-dawn~")
    first, second = dataset.examples
    assert first.task_type == "multi_hop" and first.metadata == {"type": "comparison", "level": "easy"}
    assert first.evidence_doc_ids == ["hotpot/mv-siskin", "hotpot/mv-dawn"]
    assert first.evidence_texts == ["MV Siskin was built in 1998.", "She was built in 2025."]
    assert second.evidence_doc_ids == ["hotpot/mv-siskin"]
    assert "ignored 1 supporting facts" in dataset.notes[0]  # ["MV Dawn", 9] names no sentence


def test_musique_jsonl_with_aliases_supporting_paragraphs_and_unanswerable(tmp_path):
    paragraphs = [{"idx": 0, "title": "Siskin", "paragraph_text": "Siskin sails R3.", "is_supporting": True},
                  {"idx": 1, "title": "R3", "paragraph_text": "R3 goes to Skerrin.", "is_supporting": True},
                  {"idx": 2, "title": "Dawn", "paragraph_text": "Dawn is new.", "is_supporting": False}]
    path = write_jsonl(tmp_path / "musique_ans_dev.jsonl", [
        {"id": "2hop_1", "question": "Where does Siskin's route go?", "answer": "Skerrin",
         "answer_aliases": ["Skerrin island"], "answerable": True, "paragraphs": paragraphs},
        {"id": "2hop_2", "question": "Who owns Dawn?", "answer": "", "answerable": False, "paragraphs": paragraphs}])
    dataset = load_public(path)
    assert dataset.format == "musique" and len(dataset.documents) == 3
    answerable, unanswerable = dataset.examples
    assert answerable.answers == ["Skerrin", "Skerrin island"]
    assert answerable.evidence_doc_ids == ["musique/siskin", "musique/r3"]
    assert answerable.evidence_texts == ["Siskin sails R3.", "R3 goes to Skerrin."]
    assert answerable.origin == f"{path}: line 1"
    assert unanswerable.answers == [NOT_FOUND] and unanswerable.origin == f"{path}: line 2"


def test_beir_folder_relevant_documents_are_the_evidence(tmp_path):
    folder = beir_folder(tmp_path)
    dataset = load_public(folder)
    assert detect_format(folder) == "beir"
    assert [d.doc_id for d in dataset.documents] == ["beir/10", "beir/med-2"]
    (example,) = dataset.examples  # q2 has no test judgement; MED/2 is judged 0 (not relevant)
    assert (example.qid, example.evidence_doc_ids, example.task_type) == ("q1", ["beir/10"], "long_form")
    assert example.answers == ["# Tides\n\nTides follow the moon."]
    assert "ignored 1 judgements" in dataset.notes[0]
    (dev,) = load_public(folder, qrels="dev").examples
    assert (dev.qid, dev.evidence_doc_ids) == ("q2", ["beir/med-2"])
    with pytest.raises(FormatError, match="choose qrels: one of dev, test"):
        load_public(folder, qrels="train")


@pytest.mark.parametrize("content, phrases", [
    ({"rows": []}, ["unknown dataset format", "SQuAD JSON"]),
    ({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}, ["data[0].paragraphs[0]", "'context' is missing"]),
    ([{"_id": "h", "question": "Q?", "supporting_facts": [], "context": [["T", ["s"]]]}], ["record 1 (id h)", "'answer'"]),
    ("{not json", ["invalid JSON"]),
])
def test_unknown_format_or_missing_field_is_one_line(tmp_path, content, phrases):
    path = write(tmp_path / "data.json", content)
    with pytest.raises(RagftError) as caught:
        load_public(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert all(phrase in message for phrase in phrases), message


def test_detect_tells_qa_files_from_public_formats_and_a_declared_kind_is_checked(tmp_path):
    assert detect_format(write_jsonl(tmp_path / "qa.jsonl", [{"question": "Q?", "answer": "A"}])) == "qa_file"
    assert detect_format(write(tmp_path / "qa.csv", "question,answer\nQ?,A\n")) == "qa_file"
    with pytest.raises(FormatError, match="looks like squad, not hotpotqa"):
        load_public(write(tmp_path / "squad.json", SQUAD), "hotpotqa")
    with pytest.raises(FormatError, match="not a BEIR one"):
        detect_format(tmp_path)


# ------------------------------------------------------------------------------------- study


def test_study_uses_a_squad_file_as_corpus_and_test_set(tmp_path):
    path = write(tmp_path / "squad.json", SQUAD)
    config_path = write(tmp_path / "study.yaml", yaml.safe_dump({
        "name": "squad-mini", "corpus": "squad.json", "test": {"kind": "auto", "path": "squad.json"},
        "variants": [{"name": "extractive", "type": "extractive"}]}))
    config = load_study_config(config_path)
    assert [e.qid for e in load_dataset(config.test)] == ["s1", "s2", "s3"]
    runner = StudyRunner(config, tmp_path / "run")
    assert [d.doc_id for d in runner.documents().documents] == ["squad/brennock-ferries-1", "squad/brennock-ferries-2"]
    assert load_corpus(path).documents[0].metadata["content_sha256"]
    skip = DatasetConfig(kind="squad", path=str(path), unanswerable="skip")
    notes = []
    assert len(load_dataset(skip, notes.append)) == 2 and notes


def test_ingest_a_public_dataset_file_into_a_workspace(tmp_path):
    from ragft.config import WorkspaceConfig
    from ragft.workspace import Workspace, ingest

    class TinyEmbedder:  # a fixed-size hashing embedder: no model is loaded
        name, dim = "tiny-hash", 8

        def embed(self, texts, progress=False):
            import numpy as np

            vectors = np.array([[len(t) % (i + 2) + 1 for i in range(8)] for t in texts], dtype="float32")
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    workspace = Workspace(tmp_path / "ws")
    report, stats = ingest(workspace, write(tmp_path / "hotpot.json", HOTPOT), WorkspaceConfig(), TinyEmbedder())
    assert stats.documents == 3 and workspace.has_index()
    assert sorted(workspace.load_index(None).doc_ids) == sorted(d.doc_id for d in report.documents)


# ------------------------------------------------------------------------------------- checks


def test_csv_evidence_ids_split_on_pipe_and_semicolon_but_texts_only_on_pipe(tmp_path):
    path = write(tmp_path / "qa.csv", 'question,answer,evidence_doc_ids,evidence_texts\n'
                                      'Q?,A,a.pdf;b.html | c.md,"one; still one|two"\n')
    (example,) = load_qa_file(path)
    assert example.evidence_doc_ids == ["a.pdf", "b.html", "c.md"]
    assert example.evidence_texts == ["one; still one", "two"]
    assert example.origin == f"{path}: line 2"


def test_origin_is_not_saved_nor_compared(tmp_path):
    path = write(tmp_path / "qa.jsonl", '{"question": "Q?", "answer": "A"}\n')
    (example,) = load_qa_file(path)
    save_qa_file([example], tmp_path / "copy.jsonl")
    assert "origin" not in (tmp_path / "copy.jsonl").read_text() and "line" not in (tmp_path / "copy.jsonl").read_text()
    assert load_qa_file(tmp_path / "copy.jsonl") == [example]


def test_unknown_evidence_ids_warn_once_each_with_line_count_and_closest_id():
    questions = [QAExample("1", "Q1?", ["A"], evidence_doc_ids=["fleet/siskin.md"], origin="qa.csv: line 2"),
                 QAExample("2", "Q2?", ["A"], evidence_doc_ids=["fleet/siskin.md"], origin="qa.csv: line 3"),
                 QAExample("3", "Q3?", ["A"], evidence_doc_ids=["a.md, b.md"], doc_scope="nowhere.txt",
                           origin="qa.csv: line 4"),
                 QAExample("4", "Q4?", ["A"], evidence_doc_ids=["a.md"], origin="qa.csv: line 5")]
    lines = unknown_document_warnings(questions, ["fleet/siskin-ferry.md", "a.md", "b.md"])
    assert lines[0] == ("qa.csv: line 2: evidence_doc_ids names 'fleet/siskin.md', which is not a document of the "
                        "corpus (2 questions name it) — did you mean 'fleet/siskin-ferry.md'?")
    assert lines[1].startswith("qa.csv: line 4: evidence_doc_ids names 'a.md, b.md'") and "| or ;" in lines[1]
    assert lines[2].startswith("qa.csv: line 4: doc_scope names 'nowhere.txt'")
    assert lines[3].startswith("3 of 4 questions name documents the corpus lacks")


@pytest.mark.parametrize("answer, task_type, problem", [
    (" ,. ", "short_qa", "is empty"), (", 2009", "short_qa", "starts with punctuation"),
    ("x", "short_qa", "single character"), ("word " * 80, "short_qa", "400 characters long"),
    ("7", "short_qa", None), ("word " * 80, "long_form", None), (NOT_FOUND, "span_qa", None), ("£17.80", "short_qa", None),
])
def test_degenerate_gold_answers_are_warned_about(answer, task_type, problem):
    lines = degenerate_answer_warnings([QAExample("q", "Q?", [answer], task_type, origin="qa.jsonl: line 9")])
    if problem is None:
        assert lines == []
    else:
        (line,) = lines
        assert line.startswith("qa.jsonl: line 9: gold answer ") and problem in line


def test_many_warnings_show_five_and_count_the_rest():
    said = []
    say_warnings([f"w{i}" for i in range(8)], said.append)
    assert said == ["w0", "w1", "w2", "w3", "w4", "… and 3 more warnings like these"]


def test_study_warns_about_unknown_ids_and_cites_lines_in_leaks(tmp_path):
    from io import StringIO

    from rich.console import Console

    (tmp_path / "docs").mkdir()
    write(tmp_path / "docs" / "a.md", "Alpha text.")
    write_jsonl(tmp_path / "test.jsonl", [{"question": "What is alpha?", "answer": "x", "evidence_doc_ids": ["b.md"]}])
    write_jsonl(tmp_path / "train.jsonl", [{"question": "Other?", "answer": "y"}, {"question": "What is alpha?", "answer": "z"}])
    config = load_study_config(write(tmp_path / "study.yaml", yaml.safe_dump({
        "name": "s", "corpus": "docs", "test": {"path": "test.jsonl"}, "train": {"path": "train.jsonl"},
        "variants": [{"name": "extractive", "type": "extractive"}]})))
    out = StringIO()
    runner = StudyRunner(config, tmp_path / "run", console=Console(file=out, width=300))
    questions = load_dataset(config.test)
    runner.check_questions(questions, runner.documents().documents)
    printed = out.getvalue()
    assert f"{tmp_path / 'test.jsonl'}: line 1: evidence_doc_ids names 'b.md'" in printed
    assert "did you mean 'a.md'?" in printed and "single character" in printed
    with pytest.raises(RagftError) as caught:
        runner._check_hygiene(questions)
    assert f"test ({tmp_path / 'test.jsonl'}: line 1)" in str(caught.value)
    assert f"train ({tmp_path / 'train.jsonl'}: line 2)" in str(caught.value)
