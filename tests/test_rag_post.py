"""Post-retrieval steps: rerank (embedding, cross-encoder, LLM), MMR, compression, reordering."""

from __future__ import annotations

import numpy as np
import pytest

from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag.modular import RAGState
from ragft.rag.post import lost_in_the_middle_order, whitespace_tokens
from ragft.rag.registry import StepContext, build_pipeline
from ragft.rag.rerank import parse_verdict
from ragft.types import Chunk, Hit
from scripted_llm import ScriptedLLM as BaseScriptedLLM

QUESTION = "How many days of annual leave do employees get?"
ANSWER_SENTENCE = "Employees accrue 27 days of annual leave each year."

# Four passages as a first-stage retriever might rank them: the answer is in the 4th, buried
# between unrelated sentences; the first three are about other things.
PASSAGES = {
    "ops/timetable.md": "The ferry leaves Port Alda at 07:40 every weekday. The last sailing returns at 21:15.",
    "it/security.md": "Badge code QX-7731 opens the server room. Lost badges must be reported within 24 hours.",
    "facilities/canteen.md": "The staff canteen serves lunch between noon and 14:00. Vegetarian dishes are available.",
    "hr/handbook.md": ("Parking permits are issued by facilities. " + ANSWER_SENTENCE
                       + " The office closes at 18:30 on Fridays."),
}


def make_hits(passages: dict[str, str]) -> list[Hit]:
    """One hit per passage, each chunk being a whole (made-up) document, ranked in dict order."""
    return [Hit(Chunk(f"{doc_id}#0", doc_id, text, 0, len(text), {}), score=1.0 - rank / 10, rank=rank)
            for rank, (doc_id, text) in enumerate(passages.items(), start=1)]


class ScriptedLLM(BaseScriptedLLM):
    prompt_tokens, completion_tokens = 10, 1


def ctx(embedder, llm=None, index=None) -> StepContext:
    empty = index or HybridIndex([], np.zeros((0, embedder.dim), np.float32), _manifest(embedder), embedder)
    return StepContext(index=empty, embedder=embedder, llm_for=lambda: llm)


def _manifest(embedder):
    from ragft.index.store import Manifest

    return Manifest(embedder=embedder.name, dim=embedder.dim, chunker={})


def run_step(step, hits, question=QUESTION) -> RAGState:
    [state] = step.run([RAGState(question=question, hits=list(hits), queries=[question])])
    return state


# ------------------------------------------------------------------ rerank


def test_embedding_rerank_moves_the_answer_passage_from_rank_4_to_rank_1(embedder):
    step = build_pipeline([{"name": "rerank", "params": {"top_k": 2}}], ctx(embedder)).steps[0]
    state = run_step(step, make_hits(PASSAGES))
    assert [h.chunk.doc_id for h in state.hits][0] == "hr/handbook.md"
    assert len(state.hits) == 2 and [h.rank for h in state.hits] == [1, 2]
    assert state.hits[0].score > state.hits[1].score
    assert state.trace["rerank"]["before"][3] == "hr/handbook.md#0"


def test_embedding_rerank_uses_the_best_sentence_not_the_whole_passage(embedder):
    # Same passage diluted with more unrelated sentences: the sentence-level max does not change.
    diluted = dict(PASSAGES)
    diluted["hr/handbook.md"] = ("Parking permits are issued by facilities. Printers are on every floor. "
                                 "The lifts are serviced on Mondays. " + ANSWER_SENTENCE)
    step = build_pipeline([{"name": "rerank", "params": {"top_k": 4, "rank_weight": 0}}], ctx(embedder)).steps[0]
    plain = run_step(step, make_hits(PASSAGES)).hits[0]
    noisy = run_step(step, make_hits(diluted)).hits[0]
    assert plain.chunk.doc_id == noisy.chunk.doc_id == "hr/handbook.md"
    assert noisy.score == pytest.approx(plain.score, abs=1e-5)


def test_llm_rerank_batches_one_verdict_per_passage_and_charges_each(embedder):
    llm = ScriptedLLM(lambda c: "Yes." if "27 days" in c[-1]["content"] else "No, it does not.")
    step = build_pipeline([{"name": "rerank", "params": {"method": "llm", "top_k": 3}}], ctx(embedder, llm)).steps[0]
    states = [RAGState(question=QUESTION, hits=make_hits(PASSAGES)),
              RAGState(question="When does the ferry leave?", hits=make_hits(PASSAGES))]
    states = step.run(states)
    assert len(llm.calls) == 1 and len(llm.calls[0]) == 8  # one batched call for 2 questions × 4 passages
    assert states[0].hits[0].chunk.doc_id == "hr/handbook.md"
    # Equal "no" verdicts keep the first retriever's order behind the "yes".
    assert [h.chunk.doc_id for h in states[0].hits[1:]] == ["ops/timetable.md", "it/security.md"]
    assert states[0].llm_calls == 4 and states[0].prompt_tokens == 40
    assert states[0].trace["rerank"]["scoring"] == "verdict"


def test_parse_verdict():
    assert parse_verdict("Yes, the passage says so.") == 1.0
    assert parse_verdict("no") == 0.0
    assert parse_verdict("The answer is NO; yes would be wrong") == 0.0  # the first verdict counts
    assert parse_verdict("The passage is about ferries.") == 0.5


def test_cross_encoder_rerank_loads_a_local_model_and_sorts_by_its_scores(embedder, tmp_path):
    """A tiny randomly initialised cross-encoder made here: the plumbing, not the quality."""
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ragft.models.builtin import builtin_source

    tokenizer = AutoTokenizer.from_pretrained(builtin_source("builtin:all-minilm-l6-v2"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "tiny-ce")
    tokenizer.save_pretrained(tmp_path / "tiny-ce")

    step = build_pipeline([{"name": "rerank", "params": {"model": str(tmp_path / "tiny-ce"), "top_k": 3}}],
                          ctx(embedder)).steps[0]
    hits = make_hits(PASSAGES)
    state = run_step(step, hits)
    expected = CrossEncoder(str(tmp_path / "tiny-ce")).predict([(QUESTION, h.chunk.text) for h in hits])
    order = list(np.argsort(-np.asarray(expected), kind="stable")[:3])
    assert [h.chunk.chunk_id for h in state.hits] == [hits[i].chunk.chunk_id for i in order]


def test_cross_encoder_that_cannot_be_loaded_is_a_config_error_naming_it(embedder, tmp_path):
    with pytest.raises(ConfigError, match="no-such/cross-encoder"):
        build_pipeline([{"name": "rerank", "params": {"model": "no-such/cross-encoder"}}], ctx(embedder))
    with pytest.raises(ConfigError, match=r"params: method: Input should be 'embedding'"):
        build_pipeline([{"name": "rerank", "params": {"method": "magic"}}], ctx(embedder))


# ------------------------------------------------------------------ mmr


def test_mmr_drops_a_near_duplicate_and_keeps_a_diverse_hit(embedder):
    passages = {
        "hr/leave.md": "Employees accrue 27 days of annual leave per year.",
        "hr/leave-copy.md": "Employees accrue 27 days of annual leave each year.",  # near-duplicate
        "hr/leave-copy-2.md": "Employees accrue 27 days of annual leave per year.",  # exact duplicate text
        "hr/carry-over.md": "Up to five unused leave days may be carried over into the next year.",
        "ops/timetable.md": "The ferry leaves Port Alda at 07:40 every weekday.",
    }
    step = build_pipeline([{"name": "mmr", "params": {"top_k": 2}}], ctx(embedder)).steps[0]
    state = run_step(step, make_hits(passages))
    assert [h.chunk.doc_id for h in state.hits] == ["hr/leave.md", "hr/carry-over.md"]
    assert set(state.trace["mmr"]["duplicates"]) == {"hr/leave-copy.md#0", "hr/leave-copy-2.md#0"}


def test_mmr_reuses_index_vectors_for_indexed_chunks(embedder):
    from ragft.corpus import make_chunker
    from ragft.types import Document

    docs = [Document(d, t) for d, t in PASSAGES.items()]
    index, _ = HybridIndex.build(docs, make_chunker("fixed", size=500, overlap=0), {}, embedder)
    calls = []

    class Counting:
        name, dim = embedder.name, embedder.dim

        def embed(self, texts, progress=False):
            calls.append(list(texts))
            return embedder.embed(texts)

    step = build_pipeline([{"name": "mmr", "params": {"top_k": 4}}], ctx(Counting(), index=index)).steps[0]
    hits = [Hit(c, 1.0, i) for i, c in enumerate(index.chunks, start=1)]
    run_step(step, hits)
    assert calls == [[QUESTION]]  # only the question was embedded


# ------------------------------------------------------------------ compress


def test_compress_keeps_the_answer_sentence_within_the_budget_with_exact_offsets(embedder):
    document = PASSAGES["hr/handbook.md"]
    budget = whitespace_tokens(ANSWER_SENTENCE)  # room for the answer sentence and nothing else
    step = build_pipeline([{"name": "compress", "params": {"max_tokens": budget, "tokenizer": "whitespace"}}],
                          ctx(embedder)).steps[0]
    state = run_step(step, make_hits(PASSAGES))
    [hit] = state.hits  # the three irrelevant passages disappeared
    start = document.index(ANSWER_SENTENCE)
    assert hit.chunk.text == ANSWER_SENTENCE == document[hit.chunk.start:hit.chunk.end]
    assert (hit.chunk.start, hit.chunk.end) == (start, start + len(ANSWER_SENTENCE))
    assert hit.chunk.chunk_id == f"hr/handbook.md@{start}-{start + len(ANSWER_SENTENCE)}"
    assert hit.chunk.doc_id == "hr/handbook.md" and hit.chunk.metadata["compressed_from"] == "hr/handbook.md#0"
    assert state.trace["compress"]["tokens_after"] <= budget


def test_compress_keeps_runs_of_sentences_in_document_order(embedder):
    # A chunk that starts mid-document: offsets must be document offsets, not chunk offsets.
    document = "Preamble text here. " + PASSAGES["hr/handbook.md"] + " Ferries to Skerrin run on Sundays."
    start = len("Preamble text here. ")
    text = document[start:]
    hits = [Hit(Chunk("hr/handbook.md#1", "hr/handbook.md", text, start, len(document), {}), 1.0, 1)]
    step = build_pipeline([{"name": "compress", "params": {"max_tokens": 33, "tokenizer": "whitespace"}}],
                          ctx(embedder)).steps[0]
    state = run_step(step, hits)
    kept = [document[h.chunk.start:h.chunk.end] for h in state.hits]
    assert kept == [h.chunk.text for h in state.hits]
    assert any(ANSWER_SENTENCE in k for k in kept)
    assert "Ferries to Skerrin" not in " ".join(kept)
    assert [h.chunk.start for h in state.hits] == sorted(h.chunk.start for h in state.hits)
    # With room for everything, the hit comes back whole as one run.
    everything = build_pipeline([{"name": "compress", "params": {"max_tokens": 500, "tokenizer": "whitespace"}}],
                                ctx(embedder)).steps[0]
    [whole] = run_step(everything, hits).hits
    assert (whole.chunk.start, whole.chunk.end, whole.chunk.text) == (start, len(document), text)


def test_compress_counts_tokens_with_the_llm_tokenizer_when_it_has_one(embedder):
    class Counting(ScriptedLLM):
        def count_tokens(self, text):
            return 1000  # every sentence is over budget: only the best one is kept

    step = build_pipeline([{"name": "compress", "params": {"max_tokens": 50}}],
                          ctx(embedder, Counting(lambda c: ""))).steps[0]
    [hit] = run_step(step, make_hits(PASSAGES)).hits
    assert hit.chunk.text == ANSWER_SENTENCE


# ------------------------------------------------------------------ reorder


def test_reorder_puts_ranks_1_and_2_at_both_ends(embedder):
    hits = make_hits({f"d{i}": f"passage {i}" for i in range(1, 6)})
    step = build_pipeline([{"name": "reorder"}], ctx(embedder)).steps[0]
    state = run_step(step, hits)
    assert [h.rank for h in state.hits] == [1, 3, 5, 4, 2]
    assert lost_in_the_middle_order(4) == [0, 2, 3, 1] and lost_in_the_middle_order(1) == [0]
    assert run_step(step, []).hits == []
