"""Example-based query expansion, and extractive variants with a retrieval pipeline.

A real index and the real embedder; the "training set" is labelled questions about *other*
documents of the same kind, as CUAD's other contracts are for one contract.
"""

from __future__ import annotations

import pytest

from ragft.config import RetrievalConfig
from ragft.corpus import make_chunker
from ragft.errors import ConfigError
from ragft.corpus.datasets import split_by_document
from ragft.rag.variant import ExtractiveBaseline
from ragft.index.store import HybridIndex
from ragft.rag.examples import ExampleQueries
from ragft.rag.modular import ModularRAG
from ragft.rag.registry import StepContext, build_pipeline
from ragft.rag.steps import Retrieve
from ragft.types import Document, QAExample

# Two "contracts" with clauses in legal wording the question does not share.
CONTRACTS = {
    "acme.txt": ("This Agreement shall be construed in accordance with the laws of the State of Delaware. "
                 "Acme shall deliver the units within thirty days of each purchase order. "
                 "The parties shall meet quarterly to review the marketing plan. "
                 "All invoices are payable in United States dollars. "
                 "Which sales territory applies to each distributor is set out in Schedule B."),
    "zeta.txt": ("Zeta may audit the books of the Distributor once per calendar year. "
                 "This contract is governed by and interpreted under the laws of England and Wales. "
                 "Prices are fixed for the first twelve months."),
}
# The plain question lands on a decoy ("Which sales territory…"), not the governing-law clause.
QUESTION = "Which legal system?"


def example(qid, scope, evidence):
    return QAExample(qid=qid, question="Which state or country's law governs the contract?",
                     answers=[evidence], evidence_texts=[evidence], evidence_doc_ids=[scope], doc_scope=scope)


TRAIN = [
    example("other1", "other1.txt", "This Agreement shall be governed by the laws of the State of New York."),
    example("other2", "other2.txt", "This contract shall be governed by and construed under the laws of Ontario."),
    example("zeta", "zeta.txt", "This contract is governed by and interpreted under the laws of England and Wales."),
    QAExample(qid="unrelated", question="How many days of notice are needed to cancel an order?",
              answers=["ten days"], evidence_texts=["Orders may be cancelled on ten days written notice."]),
]


@pytest.fixture(scope="module")
def index(embedder):
    docs = [Document(doc_id=d, text=t, source=d) for d, t in CONTRACTS.items()]
    return HybridIndex.build(docs, make_chunker("sentence", max_chars=120), {"kind": "sentence"}, embedder)[0]


def run(step, question=QUESTION, scope="acme.txt"):
    from ragft.rag.modular import RAGState

    return step.run([RAGState(question=question, doc_scope=scope, queries=[question])])[0]


def test_similar_examples_add_their_evidence_as_queries(embedder):
    state = run(ExampleQueries(TRAIN, embedder, n_examples=5, min_similarity=0.3))
    assert state.queries[0] == QUESTION
    assert "This Agreement shall be governed by the laws of the State of New York." in state.queries
    assert not any("ten days" in q for q in state.queries)  # a dissimilar question is not used
    used = [u["qid"] for u in state.trace["example_queries"]["examples"]]
    assert "unrelated" not in used


def test_examples_about_the_same_document_are_never_used(embedder):
    """Their evidence is the answer itself: using it would leak the gold clause."""
    state = run(ExampleQueries(TRAIN, embedder, min_similarity=0.3), scope="zeta.txt")
    assert "zeta" not in [u["qid"] for u in state.trace["example_queries"]["examples"]]
    assert not any("England and Wales" in q for q in state.queries)


def test_example_queries_find_the_clause_the_question_alone_misses(index, embedder):
    retrieve = Retrieve(index, RetrievalConfig(mode="dense", top_k=1))
    plain = ModularRAG([retrieve]).answer(QUESTION, "acme.txt")
    expanded = ModularRAG([ExampleQueries(TRAIN, embedder, min_similarity=0.3), retrieve]).answer(QUESTION, "acme.txt")
    assert "Delaware" not in plain.hits[0].chunk.text  # the plain question ranks another sentence first
    assert "Delaware" in expanded.hits[0].chunk.text


def test_the_step_needs_a_training_set(index, embedder):
    context = StepContext(index=index, embedder=embedder, llm_for=lambda: None)
    with pytest.raises(ConfigError, match="train"):
        build_pipeline([{"name": "example_queries"}, {"name": "retrieve"}], context)
    context.train_examples = lambda: TRAIN
    pipeline = build_pipeline([{"name": "example_queries", "params": {"min_similarity": 0.3}},
                               {"name": "retrieve", "params": {"top_k": 1, "mode": "dense"}}], context)
    assert "Delaware" in pipeline.answer(QUESTION, "acme.txt").hits[0].chunk.text


def test_extractive_variant_answers_from_its_pipeline_without_an_llm(index, embedder):
    steps = [ExampleQueries(TRAIN, embedder, min_similarity=0.3), Retrieve(index, RetrievalConfig(mode="dense", top_k=1))]
    answer = ExtractiveBaseline(index, embedder, RetrievalConfig(), steps).answer_batch([QUESTION], ["acme.txt"])[0]
    assert "Delaware" in answer.text and answer.llm_calls == 0
    assert set(answer.timings) == {"example_queries", "retrieve", "extract"}


def test_split_by_document_keeps_every_question_of_a_document_together():
    questions = [QAExample(qid=f"{d}-{i}", question=f"q{i}", answers=["a"], doc_scope=f"doc{d}.txt")
                 for d in range(40) for i in range(3)]
    test = split_by_document(questions, "test", 0.25, seed=1)
    train = split_by_document(questions, "train", 0.25, seed=1)
    assert len(test) + len(train) == len(questions)
    assert not {q.doc_scope for q in test} & {q.doc_scope for q in train}
    assert 0.1 < len(test) / len(questions) < 0.45
    assert split_by_document(questions, "test", 0.25, seed=1) == test  # reproducible
