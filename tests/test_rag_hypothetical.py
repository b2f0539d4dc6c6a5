"""The hypothetical-question index: generated questions find their chunks; the questions are cached
on disk, resumed after an interruption, scoped to a document and costed.

The model is a scripted stand-in (canned questions per passage) so the behaviour is exact; the
embedder and the indexes are real.
"""

from __future__ import annotations

import json

import pytest

from ragft.config import RetrievalConfig
from ragft.corpus import make_chunker
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag.hypothetical import (
    HypotheticalQuestions, QuestionCache, parse_questions, question_messages, text_key,
)
from ragft.rag.modular import RAGState
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
QUESTIONS = {  # what the scripted model "generates" for a passage containing the key
    "annual leave": "1. How much vacation do staff get each year?\n2) What happens to untaken holiday?\n"
                    "- How many days off per year?\n4. How much vacation do staff get each year?",
    "MV Siskin": "Here are the questions:\n1. Which crossing does the Siskin work?\n2. Since when has the Siskin sailed?",
    "adult single": "1. How much is a grown-up ticket to Skerrin?",
    "Badge code": "1. How do I get into the server room?\n2. What if I lose my pass?",
    "canteen": "",  # the model produced nothing usable: the chunk is indexed under its own text
}
VACATION = "How much vacation do staff get?"


@pytest.fixture(scope="module")
def index(embedder):
    chunker = make_chunker("sentence", max_chars=200)
    docs = [Document(doc_id=d, text=t, source=d) for d, t in DOCS.items()]
    return HybridIndex.build(docs, chunker, {"kind": "sentence"}, embedder)[0]


class ScriptedLLM:
    """A stand-in for the model; counts generate calls and prompts; can fail on a given call."""

    name = "scripted-question-writer"

    def __init__(self, fail_on_call: int | None = None):
        self.calls = 0
        self.prompts: list[str] = []
        self.fail_on_call = fail_on_call

    def generate(self, conversations, max_new_tokens=None, temperature=None):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("interrupted mid-build")
        out = []
        for conversation in conversations:
            user = conversation[-1]["content"]
            self.prompts.append(user)
            text = next((q for key, q in QUESTIONS.items() if key in user), "")
            out.append(Generation(text=text, prompt_tokens=len(user.split()) + 40,
                                  completion_tokens=len(text.split()), latency_s=0.5))
        return out


def make_step(index, embedder, tmp_path, llm=None, **params):
    params.setdefault("retrieval", RetrievalConfig(top_k=3))
    return HypotheticalQuestions(index, embedder, llm or ScriptedLLM(), tmp_path, progress=False, **params)


def states(*questions, scope=None):
    return [RAGState(question=q, doc_scope=scope, queries=[q]) for q in questions]


def test_parse_questions_drops_preambles_copies_of_the_example_and_duplicates():
    text = ("Sure! Here are 3 questions:\n1. How many days of annual leave can be carried over?\n"
            "2. Which route? \n3. The passage describes the history of the company.\n4. What is the\n"
            "5. When was the company founded?\n6. When was the company founded?\n"
            "7. Who owns the company today?\n8. Who is the chair?")
    assert parse_questions(text, 2) == ["When was the company founded?", "Who owns the company today?"]
    assert parse_questions("", 3) == []
    messages = question_messages("Some passage text.", 3)
    assert messages[0]["content"].startswith("Write 3 questions") and messages[-1]["content"].endswith("passage text.")


def test_a_generated_question_finds_its_chunk(index, embedder, tmp_path):
    bm25 = RetrievalConfig(mode="bm25", top_k=3)
    plain = Retrieve(index, bm25).search(VACATION, None)
    assert "hr/leave.md" not in [h.chunk.doc_id for h in plain]  # nothing in the chunk says "vacation"
    step = make_step(index, embedder, tmp_path, retrieval=bm25)
    state = step.run(states(VACATION))[0]
    assert state.hits[0].chunk.doc_id == "hr/leave.md"
    assert state.hits[0].chunk is index.chunks[0]  # the parent chunk itself, not a question
    assert len({h.chunk.chunk_id for h in state.hits}) == len(state.hits)  # one hit per parent
    assert state.trace["hypothetical_questions"]["matched_questions"][state.hits[0].chunk.chunk_id] == \
        "How much vacation do staff get each year?"
    leave_questions = [c for c in step.question_index.chunks if c.metadata["parent"] == index.chunks[0].chunk_id]
    assert [c.text for c in leave_questions] == ["How much vacation do staff get each year?",
                                                 "What happens to untaken holiday?", "How many days off per year?"]
    assert [c.chunk_id for c in leave_questions] == [f"{index.chunks[0].chunk_id}?{i}" for i in range(3)]
    # Hybrid (dense + BM25 over questions) finds a paraphrase the generated questions share in meaning.
    hybrid = make_step(index, embedder, tmp_path)
    assert hybrid.run(states("Which vessel sails to Skerrin and on which crossing?"))[0].hits[0].chunk.doc_id == \
        "fleet/siskin.md"


def test_questions_are_cached_and_reused_without_llm_calls(index, embedder, tmp_path):
    first_llm = ScriptedLLM()
    first = make_step(index, embedder, tmp_path, llm=first_llm, batch_size=2)
    first.build_index()
    assert first_llm.calls == 3 and len(first_llm.prompts) == len(index.chunks) == 5
    lines = first.cache_path.read_text().splitlines()
    assert len(lines) == 5 and first.cache_path.parent.name == "hypothetical_questions"
    assert first.index_cost["generated"] == 5 and first.index_cost["llm_calls"] == 5

    again_llm = ScriptedLLM()
    again = make_step(index, embedder, tmp_path, llm=again_llm)
    again.build_index()
    assert again_llm.calls == 0  # every chunk's questions came from the cache
    assert [c.text for c in again.question_index.chunks] == [c.text for c in first.question_index.chunks]
    assert again.index_cost["cached"] == 5 and again.index_cost["llm_calls"] == 0
    # The from-scratch price is still known, from the cache records.
    assert again.index_cost["from_scratch_llm_calls"] == 5
    assert again.index_cost["from_scratch_completion_tokens"] == first.index_cost["completion_tokens"] > 0
    assert again.index_cost["from_scratch_generate_seconds"] == pytest.approx(2.5)

    other_n = make_step(index, embedder, tmp_path, n=2)  # a different recipe: a different cache file
    assert other_n.cache_path != first.cache_path


def test_an_interrupted_build_resumes_with_only_the_missing_chunks(index, embedder, tmp_path):
    broken = make_step(index, embedder, tmp_path, llm=ScriptedLLM(fail_on_call=2), batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        broken.build_index()
    saved = [json.loads(line) for line in broken.cache_path.read_text().splitlines()]
    assert len(saved) == 2  # the first batch was saved before the interruption
    with open(broken.cache_path, "a") as torn:
        torn.write('{"key": "torn-li')  # a crash mid-write leaves a torn line; it must not break loading

    resumed_llm = ScriptedLLM()
    resumed = make_step(index, embedder, tmp_path, llm=resumed_llm, batch_size=2)
    resumed.build_index()
    assert len(resumed_llm.prompts) == 3  # only the chunks not yet in the cache
    done = {chunk.text for chunk in index.chunks[:2]}
    assert not any(text in prompt for prompt in resumed_llm.prompts for text in done)
    assert resumed.index_cost["cached"] == 2 and resumed.index_cost["generated"] == 3
    assert resumed.run(states(VACATION))[0].hits[0].chunk.doc_id == "hr/leave.md"


def test_doc_scope_restricts_matches_to_that_document(index, embedder, tmp_path):
    step = make_step(index, embedder, tmp_path)
    scoped = step.run(states(VACATION, scope="canteen.txt"))[0]
    # The canteen chunk got no questions; it is still reachable through its own text.
    assert scoped.hits and {h.chunk.doc_id for h in scoped.hits} == {"canteen.txt"}
    assert step.run(states(VACATION, scope="no/such-doc.md"))[0].hits == []
    assert step.index_cost["chunks_without_questions"] == 1


def test_also_chunks_fuses_with_the_ordinary_chunk_search(index, embedder, tmp_path):
    bm25 = RetrievalConfig(mode="bm25", top_k=3)
    questions_only = make_step(index, embedder, tmp_path, retrieval=bm25).run(states("QX-7731"))[0]
    assert "it/security.md" not in [h.chunk.doc_id for h in questions_only.hits]  # no question names the code
    both = make_step(index, embedder, tmp_path, retrieval=bm25, also_chunks=True).run(states("QX-7731", VACATION))
    assert both[0].hits[0].chunk.doc_id == "it/security.md"
    assert "hr/leave.md" in [h.chunk.doc_id for h in both[1].hits]  # only the question index finds it


def test_several_queries_are_fused_and_index_cost_is_traced_once(index, embedder, tmp_path):
    step = make_step(index, embedder, tmp_path, retrieval=RetrievalConfig(mode="bm25", top_k=3))
    state = RAGState(question=VACATION, queries=[VACATION, "grown-up ticket to Skerrin"])
    first = step.run([state, *states("How do I get into the server room?")])
    assert {"hr/leave.md", "customers/fares.md"} <= {h.chunk.doc_id for h in first[0].hits}
    assert [h.rank for h in first[0].hits] == list(range(1, len(first[0].hits) + 1))
    cost = first[0].trace["hypothetical_questions"]["index_cost"]
    assert first[1].trace["hypothetical_questions"]["index_cost"] == cost
    assert cost["llm_calls"] == 5 and cost["prompt_tokens"] > 0 and cost["completion_tokens"] > 0
    assert cost["questions"] == 3 + 2 + 1 + 2 + 1 and cost["seconds"] >= cost["embed_seconds"]
    later = step.run(states(VACATION))[0]
    assert "index_cost" not in later.trace["hypothetical_questions"]
    assert later.llm_calls == 0  # retrieval itself costs no LLM call; indexing is an offline cost


def test_registry_builds_the_index_at_build_time(index, embedder, tmp_path):
    llm = ScriptedLLM()
    ctx = StepContext(index=index, embedder=embedder, llm_for=lambda: llm, cache_dir=tmp_path,
                      retrieval=RetrievalConfig(top_k=4))
    rag = build_pipeline([{"name": "hypothetical_questions",
                           "params": {"n": 2, "top_k": 2, "progress": False, "also_chunks": True}},
                          {"name": "generate"}], ctx)
    step = rag.steps[0]
    assert llm.calls == 1 and step.question_index is not None  # generated before any question is asked
    assert step.n == 2 and step.retrieval.top_k == 2 and step.also_chunks
    assert step.cache_path.is_relative_to(tmp_path / "hypothetical_questions")
    answer = rag.answer(VACATION)
    assert len(answer.hits) == 2 and answer.hits[0].chunk.doc_id == "hr/leave.md"
    assert answer.llm_calls == 1 and set(answer.timings) == {"hypothetical_questions", "generate"}
    with pytest.raises(ConfigError):
        build_pipeline([{"name": "hypothetical_questions", "params": {"n": 0}}], ctx)
    with pytest.raises(ConfigError):
        build_pipeline([{"name": "hypothetical_questions", "params": {"generator": "big"}}], ctx)


def test_cached_raw_output_is_parsed_again_with_the_current_parser(index, embedder, tmp_path):
    llm = ScriptedLLM()
    step = make_step(index, embedder, tmp_path, llm=llm)
    leave = index.chunks[0]
    QuestionCache(step.cache_path).append([{"key": text_key(leave.text), "questions": ["stale parse"],
                                            "raw": "Sure:\n1. Is vacation carried over to next year?\n2. What is the"}])
    step.build_index()
    assert len(llm.prompts) == 4  # the cached chunk was not generated again
    assert [c.text for c in step.question_index.chunks if c.metadata["parent"] == leave.chunk_id] == \
        ["Is vacation carried over to next year?"]
