"""Fine-tuning the retriever's embedder: the pairs it learns from, that training moves questions
towards their evidence, that it is cached, and that a study variant can retrieve with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragft.config import EmbedderConfig
from ragft.corpus import make_chunker
from ragft.errors import ConfigError
from ragft.study.study import StudyRunner
from ragft.study.study_config import StudyConfig
from ragft.models import load_embedder
from ragft.tuning.embedder import EmbedderTrainConfig, RetrievalPair, finetune_embedder, retrieval_pairs
from ragft.types import Document, QAExample

CLAUSES = [
    "1. Term. This agreement starts on 1 March 2020 and runs for three years.",
    "2. Renewal. It renews for one-year terms unless either party gives ninety days' written notice.",
    "3. Governing law. The laws of the State of Delaware govern this agreement.",
    "4. Payment. The distributor pays each invoice within thirty days of receipt.",
]
CONTRACT = Document("supply.txt", "\n\n".join(CLAUSES))


def _question(qid: str, question: str, evidence: list[str]) -> QAExample:
    return QAExample(qid, question, ["x"], evidence_doc_ids=["supply.txt"], evidence_texts=evidence,
                     doc_scope="supply.txt")


def test_pairs_hold_the_evidence_chunk_and_a_negative_from_the_same_document():
    chunker = make_chunker("fixed", size=120, overlap=0)
    examples = [
        _question("q1", "How can renewal be stopped?", ["unless either party gives ninety days' written notice"]),
        _question("q2", "What is the governing law?", ["The laws of the State of Delaware"]),
        _question("q3", "Who is the auditor?", ["The auditor is Smith & Co"]),  # not in the contract: skipped
        _question("q4", "What is the warranty?", []),  # no evidence known: skipped
    ]
    pairs = retrieval_pairs(examples, {"supply.txt": CONTRACT}, chunker)
    assert [p.question for p in pairs] == ["How can renewal be stopped?", "What is the governing law?"]
    assert "ninety days' written notice" in pairs[0].positive
    assert "Delaware" in pairs[1].positive
    for pair in pairs:
        assert pair.negative and pair.negative in CONTRACT.text and pair.negative != pair.positive
    assert "ninety days" not in pairs[0].negative and "Delaware" not in pairs[1].negative


def test_no_pairs_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no training pairs"):
        finetune_embedder([], EmbedderTrainConfig(), tmp_path)


@pytest.mark.slow
def test_training_pulls_questions_towards_their_evidence_and_is_cached(tmp_path, embedder):
    pairs = [RetrievalPair("How can renewal be stopped?", CLAUSES[1], CLAUSES[0]),
             RetrievalPair("Which state's law applies?", CLAUSES[2], CLAUSES[3]),
             RetrievalPair("When are invoices due?", CLAUSES[3], CLAUSES[2]),
             RetrievalPair("How long does the agreement last?", CLAUSES[0], CLAUSES[1])]

    def margins(model) -> np.ndarray:  # similarity to the positive minus similarity to the negative
        questions = model.embed([p.question for p in pairs])
        positives, negatives = model.embed([p.positive for p in pairs]), model.embed([p.negative for p in pairs])
        return (questions * positives).sum(1) - (questions * negatives).sum(1)

    config = EmbedderTrainConfig(epochs=4, batch_size=2, learning_rate=1e-4, max_seq_length=64)
    path, info = finetune_embedder(pairs, config, tmp_path, progress=False)
    assert info["pairs"] == 4 and info["steps"] == 8 and info["seconds"] > 0
    tuned = load_embedder(EmbedderConfig(model=str(path)))
    assert margins(tuned).mean() > margins(embedder).mean() + 0.05
    assert not list(tmp_path.glob("*.tmp"))  # written aside, then renamed into place

    again_path, again = finetune_embedder(pairs, config, tmp_path, progress=False)
    assert again_path == path and again == info  # the same pairs and settings: reused, not retrained


def _study(tmp_path, **extra) -> dict:
    corpus = tmp_path / "docs"
    corpus.mkdir(exist_ok=True)
    (corpus / "supply.txt").write_text(CONTRACT.text)
    (corpus / "lease.txt").write_text("1. Rent. The tenant pays rent monthly.\n\n2. Law. English law governs this "
                                      "lease.\n\n3. Notice. Either party may end the lease with six months' notice.")
    train = tmp_path / "train.jsonl"
    rows = [{"question": "What jurisdiction's rules apply to the tenancy?", "answer": "English law", "evidence_doc_ids": ["lease.txt"],
             "evidence_texts": ["English law governs this lease"]},
            {"question": "How can the lease be ended?", "answer": "six months' notice",
             "evidence_doc_ids": ["lease.txt"], "evidence_texts": ["end the lease with six months' notice"]}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "Which law governs the supply agreement?", "answer": "Delaware",
                                "evidence_doc_ids": ["supply.txt"],
                                "evidence_texts": ["The laws of the State of Delaware"]}) + "\n")
    return {"name": "emb", "corpus": str(corpus), "test": {"path": str(test)}, "train": {"path": str(train)},
            "chunker": {"kind": "fixed", "params": {"size": 120, "overlap": 0}}, **extra}


@pytest.mark.slow
def test_a_study_variant_retrieves_with_the_embedder_it_trained(tmp_path):
    config = StudyConfig.model_validate(_study(
        tmp_path, finetune_embedders={"tuned": {"train": {"epochs": 1, "batch_size": 2, "max_seq_length": 64}}},
        variants=[{"name": "plain", "type": "extractive", "retrieval": {"top_k": 2}},
                  {"name": "tuned", "type": "extractive", "retrieval": {"top_k": 2}, "embedder": "tuned"}]))
    run = StudyRunner(config.model_copy(deep=True), output_dir=tmp_path / "run").run()
    trained = list((tmp_path / "run" / "embedders").iterdir())
    assert len(trained) == 1 and (trained[0] / "ragft-training.json").exists()
    assert len(list((tmp_path / "run" / "indexes").iterdir())) == 2  # the corpus embedded by each embedder
    assert run.training["tuned"]["seconds"] > 0 and run.training["tuned"]["embedder"] == trained[0].name
    assert "plain" not in run.training
    assert run.records["tuned"][0]["retrieved"]

    again = StudyRunner(config.model_copy(deep=True), output_dir=tmp_path / "run")
    again.run()  # answers and the trained embedder are reused
    assert list((tmp_path / "run" / "embedders").iterdir()) == trained


def test_a_variant_may_only_name_an_embedder_the_study_trains(tmp_path):
    with pytest.raises(ValueError, match="uses embedder 'tuned', which is not in finetune_embedders"):
        StudyConfig.model_validate(_study(tmp_path, variants=[
            {"name": "x", "type": "extractive", "embedder": "tuned"}]))
    without_train = _study(tmp_path, finetune_embedders={"tuned": {}},
                           variants=[{"name": "x", "type": "extractive", "embedder": "tuned"}])
    del without_train["train"]
    with pytest.raises(ValueError, match="no train set"):
        StudyConfig.model_validate(without_train)


@pytest.mark.slow
def test_cli_trains_an_embedder_and_ingest_uses_it(tmp_path):
    from test_cli import ragft

    from ragft.workspace import Workspace

    study = _study(tmp_path)  # writes the corpus and a train file with evidence
    workspace = tmp_path / "ws"
    assert ragft("ingest", study["corpus"], "--chunker", "fixed", "--chunk-size", "120", "--chunk-overlap", "0",
                 workspace=workspace).returncode == 0
    missing = ragft("train", "embedder", "--data", study["train"]["path"], workspace=workspace)
    assert missing.returncode != 0 and "--docs FOLDER" in missing.stderr and "Traceback" not in missing.stderr

    trained = ragft("train", "embedder", "--data", study["train"]["path"], "--docs", study["corpus"],
                    "--epochs", "1", "--batch-size", "2", workspace=workspace)
    assert trained.returncode == 0, trained.stderr
    assert "2 question → evidence-chunk pairs" in trained.stderr
    path = next(line.split("embedder: ", 1)[1] for line in trained.stdout.splitlines() if line.startswith("embedder: "))
    assert Path(path).parent == workspace / "embedders"

    again = ragft("ingest", study["corpus"], "--embedder", path, workspace=workspace)
    assert again.returncode == 0, again.stderr
    assert "0 unchanged" in again.stdout  # a new embedder: every chunk embedded again
    assert Workspace(workspace).load_config().embedder.model == path


def test_only_some_variants_trains_only_what_they_use(tmp_path):
    from ragft.cli.studies import _keep_variants

    config = StudyConfig.model_validate(_study(
        tmp_path, models={"small": {"model": "builtin:smollm2-135m"}},
        finetune={"sft": {"from_model": "small"}}, finetune_embedders={"tuned": {}},
        variants=[{"name": "plain", "type": "extractive"},
                  {"name": "tuned", "type": "extractive", "embedder": "tuned"},
                  {"name": "sft", "type": "closed_book", "llm": "sft"}]))
    _keep_variants(config, ["plain", "tuned"])
    assert config.finetune == {} and list(config.finetune_embedders) == ["tuned"]
