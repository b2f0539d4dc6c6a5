"""A RAG pipeline composed of small steps: pre-retrieval → retrieval → post-retrieval → generation.

Each step is a small class with one method, ``run(states) -> states``, over a batch of
``RAGState`` (batched so that steps calling an LLM make one batched call for all questions).
Steps are named in configuration, each with its typed params, and built by
``ragft.rag.registry.build_pipeline``:

    pipeline: [{name: multi_query, params: {n: 3}}, {name: retrieve, params: {top_k: 15}},
               {name: mmr, params: {lambda_: 0.7}}, {name: compress, params: {max_tokens: 400}},
               {name: generate}]

Every step records what it cost on the state (extra LLM calls, tokens, seconds), so the study's
cost side includes the price of each technique.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragft.types import Answer, Hit


@dataclass
class RAGState:
    """One question travelling through the pipeline."""

    question: str
    doc_scope: str | None = None
    queries: list[str] = field(default_factory=list)  # what retrieval searches with (pre-retrieval may add)
    hits: list[Hit] = field(default_factory=list)
    context_note: str = ""  # extra text for the prompt, e.g. sub-answers of a decomposition
    answer_format: Any = None  # ragft.rag.tasks.AnswerFormat: the kind of answer the task wants
    answer: str = ""
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)  # what steps did, for the report

    def charge(self, generation) -> None:
        """Add one LLM call's cost to this question."""
        self.llm_calls += 1
        self.prompt_tokens += generation.prompt_tokens
        self.completion_tokens += generation.completion_tokens

    def to_answer(self) -> Answer:
        return Answer(question=self.question, text=self.answer, hits=self.hits, prompt_tokens=self.prompt_tokens,
                      completion_tokens=self.completion_tokens, llm_calls=self.llm_calls, timings=dict(self.timings),
                      trace=self.trace)


class Step(Protocol):
    name: str

    def run(self, states: list[RAGState]) -> list[RAGState]: ...


@dataclass
class ModularRAG:
    """Runs its steps in order over a batch of questions and returns ``Answer`` objects."""

    steps: list[Step]

    def answer_batch(self, questions: list[str], doc_scopes: list[str | None] | None = None,
                     formats: list | None = None) -> list[Answer]:
        doc_scopes = doc_scopes or [None] * len(questions)
        formats = formats or [None] * len(questions)
        states = [RAGState(question=q, doc_scope=s, queries=[q], answer_format=f)
                  for q, s, f in zip(questions, doc_scopes, formats)]
        for step in self.steps:
            started = time.perf_counter()
            states = step.run(states)
            # A batched step's wall time is shared equally by the questions in the batch.
            share = (time.perf_counter() - started) / max(len(states), 1)
            for state in states:
                state.timings[step.name] = state.timings.get(step.name, 0.0) + share
        return [state.to_answer() for state in states]

    def answer(self, question: str, doc_scope: str | None = None) -> Answer:
        return self.answer_batch([question], [doc_scope])[0]
