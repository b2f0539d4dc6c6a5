"""Example-based query expansion: search with the evidence of similar *training* questions.

HyDE asks the LLM to imagine what the answer passage looks like; when a labelled training set
exists there is no need to imagine: the gold evidence of the training questions most similar to
the user's question *is* what such a passage looks like in this domain. CUAD is the clear case:
every contract is asked the same 41 clause questions, so "Governing Law" clauses highlighted in
other contracts show the retriever the wording to look for in this one.

The step adds up to ``max_queries`` of those evidence texts as extra queries; ``retrieve`` (or
any step that reads ``state.queries``) then fuses the rankings with reciprocal rank fusion.

Leakage guard: an example scoped to the same document as the question (the same contract) is
never used — its evidence would be the answer itself. The study's hygiene check separately
refuses a test set whose questions overlap the training set within a document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from ragft.errors import ConfigError
from ragft.models.embedder import Embedder
from ragft.rag.modular import RAGState
from ragft.rag.params import StepDef, StepParams
from ragft.rag.query import merge_queries
from ragft.types import QAExample


@dataclass
class ExampleQueries:
    """Add the evidence of the most similar training questions as extra search queries."""

    examples: list[QAExample]
    embedder: Embedder
    n_examples: int = 5  # similar training questions consulted per question
    max_queries: int = 5  # extra queries added (one evidence text each)
    min_similarity: float = 0.6  # cosine between questions; below it an example is not "similar"
    max_chars: int = 600  # long clauses are cut: the embedder reads ~256 tokens anyway
    name: str = "example_queries"
    _vectors: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.n_examples < 1 or self.max_queries < 1:
            raise ConfigError("example_queries: n_examples and max_queries must be at least 1")
        # Only examples with something to search with are useful.
        self.examples = [e for e in self.examples if e.evidence_texts or e.answers]

    def run(self, states: list[RAGState]) -> list[RAGState]:
        if not self.examples:
            return states
        if self._vectors is None:  # embedded once, on first use
            self._vectors = self.embedder.embed([e.question for e in self.examples])
        similarities = self.embedder.embed([s.question for s in states]) @ self._vectors.T
        for state, row in zip(states, similarities):
            used, texts = self._nearest(state, row)
            state.queries = merge_queries(state.queries or [state.question], texts)
            state.trace[self.name] = {"examples": used, "queries_added": len(texts)}
        return states

    def _nearest(self, state: RAGState, similarity: np.ndarray) -> tuple[list[dict], list[str]]:
        used, texts = [], []
        for position in np.argsort(-similarity, kind="stable"):
            example = self.examples[position]
            if similarity[position] < self.min_similarity or len(used) >= self.n_examples:
                break
            if state.doc_scope and example.doc_scope == state.doc_scope:
                continue  # the same document: its evidence is this question's answer
            used.append({"qid": example.qid, "similarity": round(float(similarity[position]), 3)})
            for text in example.evidence_texts or example.answers[:1]:
                if len(texts) < self.max_queries:
                    texts.append(text[:self.max_chars])
        return used, texts


class ExampleQueriesParams(StepParams):
    n_examples: int = Field(5, ge=1)  # similar training questions consulted per question
    max_queries: int = Field(5, ge=1)  # extra queries added (one evidence text each)
    min_similarity: float = 0.6  # cosine between questions; below it an example is not "similar"
    max_chars: int = Field(600, ge=1)  # long clauses are cut: the embedder reads ~256 tokens anyway


def _example_queries(params: ExampleQueriesParams, ctx) -> ExampleQueries:
    if ctx.train_examples is None:
        raise ConfigError("example_queries needs labelled training questions: give the study a "
                          "'train:' dataset (its questions' evidence becomes extra queries)")
    return ExampleQueries(ctx.train_examples(), ctx.embedder, **params.model_dump())


STEPS = {"example_queries": StepDef(ExampleQueriesParams, _example_queries)}
