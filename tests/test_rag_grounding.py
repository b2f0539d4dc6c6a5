"""Grounded generation: quote checking, abstention detection, and a real model through a pipeline."""

from __future__ import annotations

import pytest

from ragft.config import ChunkerConfig
from ragft.corpus import make_chunker
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag.grounding import (
    ABSTENTION,
    GROUNDED_SYSTEM_PROMPT,
    is_abstention,
    quote_check,
    quoted_strings,
    strip_quotes,
    wrong_abstention_rate,
)
from ragft.rag.modular import RAGState
from ragft.rag.registry import StepContext, build_pipeline
from ragft.types import Chunk, Document, Hit
from scripted_llm import ScriptedLLM

CONTEXT_TEXT = "Stage 2 complaints: we send a full written response within 20 working days."
HITS = [Hit(Chunk("c.txt#0", "c.txt", CONTEXT_TEXT, 0, len(CONTEXT_TEXT)), 1.0, 1)]
QUESTION = "How long does the company have to answer a Stage 2 complaint?"




def grounded(llm, embedder, **params):
    ctx = StepContext(index=None, embedder=embedder, llm_for=lambda: llm)  # type: ignore[arg-type]
    return build_pipeline([{"name": "grounded_generate", "params": params}], ctx).steps[0]


def answer(step, question=QUESTION, hits=HITS) -> RAGState:
    [state] = step.run([RAGState(question=question, hits=list(hits), queries=[question])])
    return state


# ------------------------------------------------------------------ abstention


@pytest.mark.parametrize("text", [
    "Not found in the documents.", "not found in the documents", "The answer is not found in the provided context.",
    "The documents do not say.", "The document does not mention a deadline.", "I don't know.", "I DO NOT KNOW",
    "I don’t know", "There is no information about that.", "I cannot find that in the passages.",
])
def test_is_abstention_recognises_ways_of_declining(text):
    assert is_abstention(text)


@pytest.mark.parametrize("text", [
    "20 working days", "no", "Not until 2026.", "The documents are stored in the archive.",
    "Staff cannot bring pets on board.", "Lost property is found in the office.", "",
])
def test_is_abstention_leaves_real_answers_alone(text):
    assert not is_abstention(text)


def test_wrong_abstention_rate_counts_abstentions_on_answerable_questions_only():
    answers = ["Not found in the documents.", "20 working days", "I don't know", "Not found in the documents.", "£12"]
    golds = ["20 working days", ["twenty days", "20 days"], "Isla Greer", "Not found in the documents.", "£12"]
    # Answerable: 1, 2, 3, 5 (4's gold is an abstention); abstained wrongly on 1 and 3.
    assert wrong_abstention_rate(answers, golds) == pytest.approx(2 / 4)
    assert wrong_abstention_rate(["I don't know"], ["The documents do not say."]) == 0.0
    assert wrong_abstention_rate([], []) == 0.0
    with pytest.raises(ValueError):
        wrong_abstention_rate(["a"], [])


# ------------------------------------------------------------------ quotes


def test_quote_check_statuses():
    context = f"[1] (from c.txt)\n{CONTEXT_TEXT}"
    ok = quote_check('20 working days. "We send a full  written response within 20 working days." [1]', context)
    assert ok.status == "grounded" and ok.grounded and ok.missing == []
    curly = quote_check("20 working days “send a full written response … 20 working days”", context)
    assert curly.status == "grounded"
    made_up = quote_check('30 days. "responses are sent within 30 days"', context)
    assert made_up.status == "ungrounded" and made_up.missing == ["responses are sent within 30 days"]
    assert quote_check("20 working days.", context).status == "no_quote"
    assert quote_check('"no"', context).status == "no_quote"  # too short to be evidence
    assert quote_check(ABSTENTION, context).status == "abstained"


def test_quoted_strings_and_strip_quotes():
    text = '20 working days. "send a full written response within 20 working days" [1]'
    assert quoted_strings(text) == ["send a full written response within 20 working days"]
    assert strip_quotes(text) == "20 working days."
    assert strip_quotes('"only a quote"') == '"only a quote"'  # nothing left: keep the answer


# ------------------------------------------------------------------ the step


def test_grounded_generate_prompt_and_abstention(embedder):
    llm = ScriptedLLM(lambda c: "Not found in the documents.")
    state = answer(grounded(llm, embedder))
    [[conversation]] = llm.calls
    assert conversation[0]["content"] == GROUNDED_SYSTEM_PROMPT
    assert "Not found in the documents." in conversation[0]["content"] and "quote" in conversation[0]["content"]
    assert CONTEXT_TEXT in conversation[1]["content"] and QUESTION in conversation[1]["content"]
    assert is_abstention(state.answer)
    assert state.trace["grounded_generate"]["status"] == "abstained" and state.trace["grounded_generate"]["abstained"]
    assert (state.llm_calls, state.prompt_tokens, state.completion_tokens) == (1, 50, 7)


def test_grounded_generate_marks_and_optionally_replaces_ungrounded_answers(embedder):
    fabricated = '30 days. "Complaints are answered within 30 days." [1]'
    kept = answer(grounded(ScriptedLLM(lambda c: fabricated), embedder))
    assert kept.answer == fabricated and kept.trace["grounded_generate"]["status"] == "ungrounded"
    replaced = answer(grounded(ScriptedLLM(lambda c: fabricated), embedder, on_ungrounded="abstain"))
    assert replaced.answer == ABSTENTION and replaced.trace["grounded_generate"]["raw_answer"] == fabricated

    supported = '20 working days. "a full written response within 20 working days" [1]'
    state = answer(grounded(ScriptedLLM(lambda c: supported), embedder, strip_quotes=True))
    assert state.answer == "20 working days."
    assert state.trace["grounded_generate"]["status"] == "grounded"
    with pytest.raises(ConfigError, match="on_ungrounded"):
        grounded(ScriptedLLM(lambda c: ""), embedder, on_ungrounded="maybe")


def test_grounded_generate_batches_questions(embedder):
    llm = ScriptedLLM(lambda c: "20 working days." if "Stage 2" in c[1]["content"] else "I don't know")
    step = grounded(llm, embedder)
    states = step.run([RAGState(question=QUESTION, hits=HITS), RAGState(question="Who is the CEO?", hits=[])])
    assert len(llm.calls) == 1 and len(llm.calls[0]) == 2
    assert [s.trace["grounded_generate"]["status"] for s in states] == ["no_quote", "abstained"]


# ------------------------------------------------------------------ a real model, end to end

DOCS = {
    "hr/leave.md": "Employees accrue 27 days of annual leave. Up to five unused days carry over to the next year.",
    "it/security.md": "Badge code QX-7731 opens the server room. Lost badges must be reported within 24 hours.",
    "ops/ferry.md": "The Skerry Line ferry leaves Port Alda at 07:40 every weekday. Bicycles travel free.",
    "facilities/canteen.md": "The staff canteen serves lunch between noon and 14:00. Vegetarian dishes are available.",
}


def test_advanced_pipeline_with_the_real_small_model(embedder, small_llm, tmp_path):
    docs = [Document(d, t) for d, t in DOCS.items()]
    config = ChunkerConfig(kind="sentence", params={"max_chars": 200})
    index, _ = HybridIndex.build(docs, make_chunker(config.kind, **config.params), config.model_dump(), embedder)
    ctx = StepContext(index=index, embedder=embedder, llm_for=lambda: small_llm, documents=lambda: docs,
                      cache_dir=tmp_path, max_new_tokens=16)
    pipeline = build_pipeline([
        {"name": "retrieve", "params": {"top_k": 4}},
        {"name": "rerank", "params": {"method": "llm", "top_k": 3}},  # P(yes) from the real model's logits
        {"name": "compress", "params": {"max_tokens": 40}},  # counted with the model's tokenizer
        {"name": "reorder"},
        {"name": "grounded_generate"},
    ], ctx)
    [result] = pipeline.answer_batch(["How many days of annual leave do employees accrue?"])
    assert isinstance(result.text, str) and result.text
    assert result.llm_calls == 4 + 1  # four relevance judgements, one answer
    assert result.prompt_tokens > 0 and result.completion_tokens >= 4
    assert set(result.timings) == {"retrieve", "rerank", "compress", "reorder", "grounded_generate"}
    assert sum(small_llm.count_tokens(h.chunk.text) for h in result.hits) <= 40 or len(result.hits) == 1
    for hit in result.hits:
        assert DOCS[hit.chunk.doc_id][hit.chunk.start:hit.chunk.end] == hit.chunk.text
        assert hit.chunk.chunk_id == f"{hit.chunk.doc_id}@{hit.chunk.start}-{hit.chunk.end}"


def test_llm_rerank_probabilities_from_the_real_model(embedder, small_llm):
    from ragft.rag.rerank import relevance_messages, yes_probabilities

    conversations = [relevance_messages("What colour is the sky?", "The sky is blue."),
                     relevance_messages("What colour is the sky?", "The sky is blue.")]
    one, same = yes_probabilities(small_llm, conversations, batch_size=1)
    batched = yes_probabilities(small_llm, conversations + [relevance_messages("Q?", "A much longer passage " * 20)],
                                batch_size=3)
    assert 0.0 <= float(one.text) <= 1.0 and one.prompt_tokens > 10 and one.completion_tokens == 1
    # Left padding in a batch must not change a prompt's score.
    assert float(batched[0].text) == pytest.approx(float(one.text), abs=2e-3)
