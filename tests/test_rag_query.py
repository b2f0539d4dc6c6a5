"""Pre-retrieval steps: rewrite, multi-query, HyDE, decomposition.

Parsing and fusion are tested with a scripted stand-in for the *model* (canned replies) over a
real index and the real embedder; one test runs the real SmolLM2 end to end.
"""

from __future__ import annotations

import pytest

from ragft.config import RetrievalConfig
from ragft.corpus import make_chunker
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag.modular import RAGState
from ragft.rag.query import (
    Decompose, HyDE, MultiQuery, QueryRewrite, clean_line, parse_keywords, parse_list, parse_passage,
    trim_repetition,
)
from ragft.rag.registry import StepContext, build_pipeline
from ragft.rag.steps import Retrieve
from ragft.types import Document, Generation

DOCS = {
    "hr/leave.md": "Employees accrue 27 days of annual leave. Unused leave of up to five days carries over.",
    "fleet/siskin.md": "MV Siskin has served route R3 between Port Ardwell and Skerrin since 1998.",
    "customers/fares.md": "Route R3 to Skerrin: adult single £17.80, the highest adult fare on our network.",
    "it/security.md": "Badge code QX-7731 opens the server room. Lost badges must be reported within 24 hours.",
    "canteen.txt": "The staff canteen serves lunch between noon and 14:00. Vegetarian dishes are available.",
}
VACATION = "How much vacation do staff get?"  # shares no content word with hr/leave.md


@pytest.fixture(scope="module")
def index(embedder):
    chunker = make_chunker("sentence", max_chars=200)
    docs = [Document(doc_id=d, text=t, source=d) for d, t in DOCS.items()]
    return HybridIndex.build(docs, chunker, {"kind": "sentence"}, embedder)[0]


class ScriptedLLM:
    """A stand-in for the model: ``reply(conversation) -> str``; counts calls and prompts."""

    name = "scripted"

    def __init__(self, reply):
        self.reply = reply
        self.calls = 0
        self.conversations: list[list[dict]] = []

    def generate(self, conversations, max_new_tokens=None, temperature=None):
        self.calls += 1
        self.conversations.extend(conversations)
        texts = [self.reply(c) for c in conversations]
        return [Generation(text=t, prompt_tokens=sum(len(m["content"].split()) for m in c),
                           completion_tokens=len(t.split()), latency_s=0.01) for c, t in zip(conversations, texts)]


def states(*questions, scope=None):
    return [RAGState(question=q, doc_scope=scope, queries=[q]) for q in questions]


def doc_ids(hits):
    return [h.chunk.doc_id for h in hits]


# ----------------------------------------------------------------------------- parsing
def test_parse_list_strips_numbering_and_bullets_dedupes_and_caps():
    assert parse_list("1. foo bar\n2) bar baz\n- baz qux", "what is it about?") == ["foo bar", "bar baz", "baz qux"]
    messy = ("Here are three ways to ask it:\n1. **Query: When do ferries leave?**\n* When do ferries leave\n"
             "(3) What is it about?\n4. " + "very long line " * 20 + "\n5. Departure times?\n6. Extra one")
    assert parse_list(messy, "What is it about?", limit=2) == ["When do ferries leave?", "Departure times?"]
    assert parse_list("1. 1\n2. 2\n\n", "what is it about?") == []  # numbering only: garbage
    assert parse_list("1. Copied example\n2. Real one here", "q", exclude=["copied example"]) == ["Real one here"]
    assert clean_line("  2. 1.5 hours away") == "1.5 hours away"  # a decimal is not a list marker


def test_repetition_loops_are_cut():
    assert trim_repetition("fare is single-engine, single-engine, single-engine, single-engine") == \
        "fare is single-engine"
    assert trim_repetition("a very very good ferry") == "a very very good ferry"
    assert parse_keywords("Keywords: MV Siskin, adult fare, adult fare, adult fare, adult", "Fare on Siskin?") == \
        "MV Siskin, adult fare"
    assert parse_passage("Leave is 25 days. Leave is 25 days. It carries over.") == "Leave is 25 days. It carries over."
    assert parse_passage("\n  \n") == ""


# ----------------------------------------------------------------------------- rewrite
def test_rewrite_adds_keyword_query_keeps_original_and_charges(index):
    llm = ScriptedLLM(lambda c: "Keywords: annual leave, days, employees, annual leave, annual leave")
    out = QueryRewrite(llm).run(states(VACATION, "Which badge code opens the server room?"))
    assert llm.calls == 1 and len(llm.conversations) == 2  # one batched call for both questions
    assert out[0].queries == [VACATION, "annual leave, days, employees"]
    assert out[0].trace["rewrite"]["query"] == "annual leave, days, employees"
    assert out[0].llm_calls == 1 and out[0].prompt_tokens > 0 and out[0].completion_tokens > 0
    retrieve = Retrieve(index, RetrievalConfig(mode="bm25", top_k=3))
    assert "hr/leave.md" in doc_ids(retrieve.run(out)[0].hits)
    dropped = QueryRewrite(llm, keep_original=False).run(states(VACATION))[0]
    assert dropped.queries == ["annual leave, days, employees"]


@pytest.mark.parametrize("garbage", ["", "   ", "1.", "x " * 200, "Keywords: Question: How long do new staff "
                                     "have to wait before they can book holidays?"])
def test_rewrite_falls_back_to_the_question_on_garbage(garbage):
    out = QueryRewrite(ScriptedLLM(lambda c: garbage), keep_original=False).run(states(VACATION))[0]
    assert out.queries == [VACATION] and out.trace["rewrite"]["fallback"]
    assert out.llm_calls == 1  # a wasted call still costs


# ----------------------------------------------------------------------------- multi-query
def test_multi_query_parses_alternatives_and_fusion_finds_what_only_a_paraphrase_finds(index):
    reply = "1. How many days of annual leave do employees accrue?\n2) Which leave carries over?\n- Staff allowance"
    llm = ScriptedLLM(lambda c: reply)
    out = MultiQuery(llm).run(states(VACATION))[0]
    assert out.queries == [VACATION, "How many days of annual leave do employees accrue?",
                           "Which leave carries over?", "Staff allowance"]
    assert out.trace["multi_query"]["alternatives"] == out.queries[1:]
    assert "3 different ways" in llm.conversations[0][0]["content"]
    bm25 = Retrieve(index, RetrievalConfig(mode="bm25", top_k=3))
    plain = bm25.run(states(VACATION))[0].hits
    assert "hr/leave.md" not in doc_ids(plain)  # lexical search cannot bridge vacation → annual leave
    assert "hr/leave.md" in doc_ids(bm25.run([out])[0].hits)


def test_multi_query_caps_n_dedupes_and_ignores_the_question_and_examples():
    reply = (f"1. {VACATION}\n2. When can new employees take annual leave?\n3. Days off for staff?\n"
             "4. days off for staff\n5. Holiday entitlement?\n6. Another one?")
    out = MultiQuery(ScriptedLLM(lambda c: reply), n=2).run(states(VACATION))[0]
    assert out.queries == [VACATION, "Days off for staff?", "Holiday entitlement?"]
    empty = MultiQuery(ScriptedLLM(lambda c: "")).run(states(VACATION))[0]
    assert empty.queries == [VACATION] and empty.trace["multi_query"]["fallback"]
    with pytest.raises(ConfigError):
        MultiQuery(ScriptedLLM(lambda c: ""), n=0)


# ----------------------------------------------------------------------------- HyDE
def test_hyde_passage_retrieves_the_chunk_the_question_cannot(index):
    passage = "Employees accrue 25 days of annual leave per year, and some leave carries over."
    llm = ScriptedLLM(lambda c: passage)
    out = HyDE(llm, include_question=False).run(states(VACATION))[0]
    assert out.queries == [passage] and out.trace["hyde"]["passage"] == passage
    bm25 = Retrieve(index, RetrievalConfig(mode="bm25", top_k=1))
    assert "hr/leave.md" not in doc_ids(bm25.run(states(VACATION))[0].hits)
    assert doc_ids(bm25.run([out])[0].hits) == ["hr/leave.md"]
    with_question = HyDE(llm).run(states(VACATION))[0]
    assert with_question.queries == [VACATION, passage] and with_question.llm_calls == 1
    fallback = HyDE(ScriptedLLM(lambda c: ""), include_question=False).run(states(VACATION))[0]
    assert fallback.queries == [VACATION]


def test_pre_retrieval_steps_compose(index):
    llm = ScriptedLLM(lambda c: "Keywords: annual leave" if "keywords" in c[0]["content"] else
                      "Employees accrue annual leave.")
    out = HyDE(llm).run(QueryRewrite(llm).run(states(VACATION)))[0]
    assert out.queries == [VACATION, "annual leave", "Employees accrue annual leave."]
    assert out.llm_calls == 2 and set(out.trace) == {"rewrite", "hyde"}


# ----------------------------------------------------------------------------- decompose
SIKSIN = "What is the adult single fare on the route that MV Siskin sails?"


def decompose_reply(conversation):
    system, user = conversation[0]["content"], conversation[-1]["content"]
    if system.startswith("Split"):
        return "1. Which route does MV Siskin sail?\n2. What is the adult single fare on route R3?"
    if system.startswith("Answer the question in a few words"):  # sub-question answers, from their context
        if "MV Siskin sail" in user:
            return "R3" if "MV Siskin has served route R3" in user else "unknown"
        return "£17.80" if "adult single £17.80" in user else "unknown"
    return "£17.80 [1]"  # the final generate step


def test_decompose_retrieves_both_halves_and_answers_subquestions(index):
    llm = ScriptedLLM(decompose_reply)
    step = Decompose(llm, index, RetrievalConfig(mode="hybrid", top_k=3), answer_subquestions=True)
    out = step.run(states(SIKSIN, "Which badge code opens the server room?"))
    assert llm.calls == 2  # one batched call for the plans, one for every sub-answer
    first = out[0]
    assert {"fleet/siskin.md", "customers/fares.md"} <= set(doc_ids(first.hits))
    assert first.trace["decompose"]["sub_questions"] == ["Which route does MV Siskin sail?",
                                                         "What is the adult single fare on route R3?"]
    assert first.context_note == ("Sub-question: Which route does MV Siskin sail? Answer: R3\n"
                                  "Sub-question: What is the adult single fare on route R3? Answer: £17.80")
    assert first.llm_calls == 3 and out[1].llm_calls == 3  # plan + two sub-answers each
    assert [h.rank for h in first.hits] == [1, 2, 3]


def test_decompose_without_answers_and_falls_back_to_the_question(index):
    llm = ScriptedLLM(lambda c: "")
    out = Decompose(llm, index, RetrievalConfig(top_k=2)).run(states("Which badge code opens the server room?"))[0]
    assert out.trace["decompose"]["fallback"] and out.context_note == "" and out.llm_calls == 1
    assert doc_ids(out.hits)[0] == "it/security.md"
    scoped = Decompose(ScriptedLLM(decompose_reply), index, RetrievalConfig(top_k=3))
    hits = scoped.run(states(SIKSIN, scope="customers/fares.md"))[0].hits
    assert hits and set(doc_ids(hits)) == {"customers/fares.md"}


def test_registry_builds_decompose_then_generate(index, embedder):
    llm = ScriptedLLM(decompose_reply)
    ctx = StepContext(index=index, embedder=embedder, llm_for=lambda: llm, retrieval=RetrievalConfig(top_k=4))
    rag = build_pipeline([{"name": "decompose", "params": {"answer_subquestions": True, "top_k": 3}},
                          {"name": "generate"}], ctx)
    assert rag.steps[0].retrieval.top_k == 3 and ctx.retrieval.top_k == 4
    answer = rag.answer(SIKSIN)
    assert answer.text == "£17.80 [1]" and len(answer.hits) == 3 and answer.llm_calls == 4
    final_prompt = llm.conversations[-1][-1]["content"]
    assert "Sub-question: Which route does MV Siskin sail? Answer: R3" in final_prompt
    assert set(answer.timings) == {"decompose", "generate"}
    with pytest.raises(ConfigError):
        build_pipeline([{"name": "decompose", "params": {"top_k": 0}}], ctx)
    with pytest.raises(ConfigError):
        build_pipeline([{"name": "multi_query", "params": {"bogus": 1}}], ctx)


# ----------------------------------------------------------------------------- the real model
@pytest.mark.slow
def test_real_smollm_multi_query_retrieve_generate(index, embedder, small_llm):
    ctx = StepContext(index=index, embedder=embedder, llm_for=lambda: small_llm,
                      retrieval=RetrievalConfig(top_k=2), max_new_tokens=16)
    rag = build_pipeline([{"name": "multi_query", "params": {"n": 2, "max_new_tokens": 32}},
                          {"name": "retrieve"}, {"name": "generate"}], ctx)
    batch = states("Which badge code opens the server room?")
    for step in rag.steps:
        batch = step.run(batch)
    state = batch[0]
    assert state.trace["multi_query"]["raw"]  # the model wrote something
    assert state.queries[0] == state.question and 1 <= len(state.queries) <= 3
    assert all(len(q) <= 3 * max(len(state.question), 20) for q in state.queries)
    assert doc_ids(state.hits)[0] == "it/security.md"
    assert state.answer and state.llm_calls == 2 and state.completion_tokens > 0
