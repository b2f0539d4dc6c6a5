"""Training data builders on the built-in sample: SFT and RAFT examples, preferences, hygiene,
synthetic QA (LLM reply parsing, filtering, the offline template fallback's measured quality).

The index here has no embedder (BM25 only), so no model is loaded; the RAFT hard negatives
then come from BM25, as they do whenever dense search is unavailable.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from ragft.corpus import load_folder, load_qa_file, make_chunker
from ragft.data import sample_docs_dir, sample_qa_path
from ragft.errors import ConfigError
from ragft.metrics.hygiene import normalize_text
from ragft.index.store import HybridIndex, Manifest
from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT
from ragft.rag.steps import RAG_SYSTEM_PROMPT, rag_messages
from ragft.tuning.data import (
    RaftOptions, check_no_test_overlap, data_sha256, find_oracle, load_preferences, preference_rows,
    raft_examples, save_preferences, sft_examples,
)
from ragft.tuning.synthetic import SyntheticOptions, filter_pairs, parse_pairs, sentence_question, synthetic_qa
from ragft.types import Chunk, Hit, Preference


@pytest.fixture(scope="module")
def sample_index() -> HybridIndex:
    documents = load_folder(sample_docs_dir()).documents
    chunker = make_chunker("recursive", max_chars=800)
    chunks = [c for d in documents for c in chunker.chunk(d)]
    manifest = Manifest(embedder="none", dim=1, chunker={"kind": "recursive"})
    return HybridIndex(chunks, np.zeros((len(chunks), 1), np.float32), manifest, embedder=None)


@pytest.fixture(scope="module")
def train_qa():
    return load_qa_file(sample_qa_path("train"))


def test_sft_examples_use_the_closed_book_prompt(train_qa):
    examples = sft_examples(train_qa[:3])
    first = examples[0]
    assert first.prompt == [{"role": "system", "content": CLOSED_BOOK_SYSTEM_PROMPT},
                            {"role": "user", "content": train_qa[0].question}]
    assert first.completion == train_qa[0].answers[0]
    assert first.as_row()["completion"] == [{"role": "assistant", "content": train_qa[0].answers[0]}]


def test_raft_examples(sample_index, train_qa):
    qa = train_qa[:40]
    options = RaftOptions(k_distractors=3, p_no_oracle=0.25, seed=1)
    examples = raft_examples(qa, sample_index, options)
    assert len(examples) >= 35  # nearly every gold question's evidence is in some chunk
    by_id = {c.chunk_id: c for c in sample_index.chunks}
    positions = Counter()
    for example in examples:
        meta = example.metadata
        shown = [by_id[c] for c in meta["chunks"]]
        # The prompt is exactly what RAG inference sends for these passages.
        hits = [Hit(chunk=c, score=0.0, rank=i) for i, c in enumerate(shown, start=1)]
        assert example.prompt == rag_messages(example.question, hits)
        assert example.prompt[0]["content"] == RAG_SYSTEM_PROMPT
        assert len(set(meta["chunks"])) == len(shown)
        q = next(q for q in qa if q.qid == meta["qid"])
        if meta["with_oracle"]:
            assert len(shown) == 4 and meta["oracle"] in meta["chunks"]
            number = meta["chunks"].index(meta["oracle"]) + 1
            positions[number] += 1
            assert example.completion.startswith(f"{q.answer} [{number}]")
            quote = example.completion.split('Quote [', 1)[1].split('"')[1]
            assert " ".join(quote.lower().split()) in " ".join(by_id[meta["oracle"]].text.lower().split())
        else:
            assert len(shown) == 3 and meta["oracle"] not in meta["chunks"]
            assert example.completion == q.answer  # from memory, as in the RAFT paper
            # No distractor holds the evidence either.
            for chunk in shown:
                assert q.evidence_texts[0].lower() not in " ".join(chunk.text.lower().split())
    share_without = sum(not e.metadata["with_oracle"] for e in examples) / len(examples)
    assert 0.1 <= share_without <= 0.45
    assert len(positions) >= 3  # the oracle is shuffled, not always first


def test_find_oracle_picks_the_evidence_chunk(sample_index, train_qa):
    q = train_qa[0]  # Greylag bow-thruster oil sampling
    oracle = find_oracle(q, sample_index)
    assert oracle is not None and q.evidence_doc_ids[0] == oracle.doc_id
    assert "500 running hours" in oracle.text


def test_raft_can_train_the_refusal_instead(sample_index, train_qa):
    examples = raft_examples(train_qa[:10], sample_index, RaftOptions(p_no_oracle=1.0, absent_oracle="not_found"))
    assert {e.completion for e in examples} == {"Not found in the documents."}
    with pytest.raises(ConfigError, match="p_no_oracle"):
        raft_examples(train_qa[:1], sample_index, RaftOptions(p_no_oracle=1.5))


def test_hygiene_names_the_leaking_pairs():
    train = ["How often must Greylag's hydraulic oil be sampled?", "Who signs off overtime?"]
    check_no_test_overlap(train, ["What is the car fare on route R2?"])
    with pytest.raises(ConfigError, match="overlap.*Who signs off overtime"):
        check_no_test_overlap(train, ["Who signs off the overtime?"])


def test_hygiene_compares_questions_about_the_same_document_only():
    # CUAD asks one question of every contract: training on contract A's answer is no leak for B.
    question = "What is the governing law of the contract?"
    check_no_test_overlap([question], [question], train_scopes=["a.txt"], test_scopes=["b.txt"])
    with pytest.raises(ConfigError, match="overlap"):
        check_no_test_overlap([question, "Who pays?"], [question], train_scopes=["b.txt", "a.txt"],
                              test_scopes=["b.txt"])
    with pytest.raises(ConfigError, match="overlap"):  # an unscoped question may be about any document
        check_no_test_overlap([question], [question], train_scopes=[None], test_scopes=["b.txt"])
    with pytest.raises(ConfigError, match="overlap"):
        check_no_test_overlap([question], [question], train_scopes=["a.txt"], test_scopes=[None])


def test_preferences_roundtrip_and_bad_pairs(tmp_path):
    prefs = [Preference("Q1?", "good", "bad", context="[1] (from a.md)\nText", source="edit"),
             Preference("Q2?", "yes", "no")]
    path = tmp_path / "prefs.jsonl"
    save_preferences(prefs, path)
    assert load_preferences(path) == prefs
    rows = preference_rows(prefs)
    assert rows[0]["prompt"][0]["content"] == RAG_SYSTEM_PROMPT
    assert rows[0]["prompt"][1]["content"] == "Context:\n[1] (from a.md)\nText\n\nQuestion: Q1?"
    assert rows[1]["prompt"][0]["content"] == CLOSED_BOOK_SYSTEM_PROMPT
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "good"}]

    with pytest.raises(ConfigError, match="preference #1.*same answer"):
        preference_rows([prefs[0], Preference("Q3?", "The fare is £5.", "the fare is £5")])
    with pytest.raises(ConfigError, match="no preference pairs"):
        preference_rows([])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "chosen": "a"}) + "\n")
    with pytest.raises(ConfigError, match="bad.jsonl:1.*rejected"):
        load_preferences(bad)


def test_data_hash_is_stable():
    rows = [{"a": 1, "b": [1, 2]}]
    assert data_sha256(rows) == data_sha256([{"b": [1, 2], "a": 1}]) != data_sha256([{"a": 2, "b": [1, 2]}])


def test_parse_pairs_in_the_usual_shapes():
    assert parse_pairs("Q: Who runs R2?\nA: Brennock Ferries\n\nQ: When?\nA: Daily") == [
        ("Who runs R2?", "Brennock Ferries"), ("When?", "Daily")]
    assert parse_pairs("1. **Question 1:** What is DG-7?\n   **Answer 1:** A form") == [("What is DG-7?", "A form")]
    assert parse_pairs("Q: 1. What is DG-7?\nA: 2. A form") == [("What is DG-7?", "A form")]
    assert parse_pairs('Sure! [{"question": "Why?", "answer": "Because"}]') == [("Why?", "Because")]
    assert parse_pairs("1. How long is the crossing?\nAnswer: 40 minutes") == [
        ("How long is the crossing?", "40 minutes")]
    assert parse_pairs("I cannot help with that.") == []


def test_filter_rejects_unsupported_duplicate_and_leaking_pairs():
    chunk = Chunk("a.md#0", "a.md", "Hazardous goods must be declared 72 hours before sailing on form DG-7.", 0, 70)
    raw = [(chunk, "Which form declares hazardous goods?", "DG-7"),
           (chunk, "Which form declares hazardous goods?", "form DG-7"),  # duplicate question
           (chunk, "How early must goods be declared?", "two weeks"),  # not in the chunk
           (chunk, "Declared when, exactly", "72 hours"),  # not a question
           (chunk, "What is form DG-7 for?", "How are hazardous goods declared?"),  # a small model's echo
           (chunk, "How many hours before sailing must hazardous goods be declared?", "72 hours")]
    report = filter_pairs(raw, ["How many hours before sailing must hazardous goods be declared?"], SyntheticOptions())
    assert [(p.question, p.answer) for p in report.pairs] == [("Which form declares hazardous goods?", "DG-7")]
    assert report.rejected == {"duplicate": 1, "answer not supported by the chunk": 1, "not a question": 1,
                               "answer is a question": 1, "overlaps the test set": 1}
    assert report.pairs[0].evidence_texts == [chunk.text]


def test_template_questions():
    assert sentence_question("The hydraulic oil must be sampled every 500 running hours.")[:2] == (
        "The hydraulic oil must be sampled every how many running hours?", "500 running hours")
    assert sentence_question("Route R2 to Inishmallow: adult single £14.20; car single £61.00.")[:2] == (
        "Route R2 to Inishmallow: adult single how much; car single £61.00?", "£14.20")
    assert sentence_question("The new system will go live on 3 March 2025.")[:2] == (
        "The new system will go live on when?", "3 March 2025")
    assert sentence_question("It is fine.") is None


def test_offline_fallback_quality_on_the_sample(sample_index, train_qa):
    """The measured quality of the template fallback (figures quoted in ragft.tuning.synthetic)."""
    test_questions = [q.question for q in load_qa_file(sample_qa_path("test"))]
    report = synthetic_qa(sample_index.chunks, llm=None, test_questions=test_questions)
    per_chunk = len(report.pairs) / len(sample_index.chunks)
    # Facts people asked about: a gold training answer equal to (or inside) a synthetic answer
    # generated from the same document.
    answers_by_doc: dict[str, list[str]] = {}
    for pair in report.pairs:
        answers_by_doc.setdefault(pair.evidence_doc_ids[0], []).append(normalize_text(pair.answer))
    covered = sum(any(normalize_text(gold) and normalize_text(gold) in synthetic
                      for gold in q.answers for synthetic in answers_by_doc.get(q.evidence_doc_ids[0], []))
                  for q in train_qa)
    recall = covered / len(train_qa)
    print(f"\ntemplate fallback: {report.summary()}; {per_chunk:.2f} pairs/chunk over "
          f"{len(sample_index.chunks)} chunks; gold-answer recall {covered}/{len(train_qa)} = {recall:.0%}")
    assert report.pass_rate >= 0.9 and per_chunk >= 1.0
    assert recall >= 0.1
    rng = random.Random(0)
    for pair in rng.sample(report.pairs, 20):
        assert pair.question.endswith("?") and pair.answer in pair.evidence_texts[0]
