"""Retrieval-structure steps: sentence windows, parent/child auto-merging, metadata filters."""

from __future__ import annotations

import pytest

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.corpus import make_chunker
from ragft.corpus.sentences import split_sentences
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag.modular import RAGState
from ragft.rag.registry import StepContext, build_pipeline
from ragft.rag.structure import OneSentenceChunker, SentenceWindow, sentence_index
from ragft.types import Chunk, Document, Hit

HANDBOOK = (
    "Welcome to the Port Alda office. "
    "The reception desk opens at 08:00. "
    "Visitors sign in at reception. "
    "Staff receive a photo badge on their first day. "
    "Badge code QX-7731 opens the server room. "
    "Lost badges must be reported to facilities within 24 hours. "
    "The canteen serves lunch between noon and 14:00. "
    "Vegetarian dishes are always available. "
    "Bicycles may be parked in the courtyard. "
    "The office closes at 18:30."
)

POLICIES = """# Annual leave

Employees accrue 27 days of annual leave. Up to five unused days carry over to the next year.
Leave is booked in the HR portal.

# Security

Badge code QX-7731 opens the server room. Lost badges must be reported to facilities within 24 hours.
Visitors are escorted at all times.

# Canteen

The canteen serves lunch between noon and 14:00. Vegetarian dishes are always available.
"""


_BUILT: dict = {}


def build_index(documents, kind, embedder, **params):
    """A small index, built once per test session for the same documents and chunker."""
    key = (tuple((d.doc_id, d.text) for d in documents), kind, tuple(sorted(params.items())))
    if key not in _BUILT:
        config = ChunkerConfig(kind=kind, params=params)
        _BUILT[key], _ = HybridIndex.build(documents, make_chunker(kind, **params), config.model_dump(), embedder)
    return _BUILT[key]


def context(embedder, documents, tmp_path, main=None, **kwargs) -> StepContext:
    main = main or build_index(documents, "recursive", embedder, max_chars=400)
    return StepContext(index=main, embedder=embedder, llm_for=lambda: None, documents=lambda: documents,
                       index_for_chunker=lambda c: build_index(documents, c.kind, embedder, **c.params),
                       cache_dir=tmp_path, **kwargs)


def run(pipeline, question, doc_scope=None) -> RAGState:
    state = RAGState(question=question, doc_scope=doc_scope, queries=[question])
    for step in pipeline.steps:
        [state] = step.run([state])
    return state


# ------------------------------------------------------------------ sentence_window


def test_one_sentence_chunker_gives_exactly_one_sentence_per_chunk():
    doc = Document("h.md", HANDBOOK, metadata={"format": "markdown"})
    chunks = OneSentenceChunker().chunk(doc)
    assert [(c.start, c.end) for c in chunks] == split_sentences(HANDBOOK)
    assert len(chunks) == 10 and all(HANDBOOK[c.start:c.end] == c.text for c in chunks)


def test_sentence_window_returns_the_window_around_the_match_with_exact_offsets(embedder, tmp_path):
    docs = [Document("office/handbook.md", HANDBOOK), Document("hr/policies.md", POLICIES)]
    pipeline = build_pipeline([{"name": "sentence_window", "params": {"window": 1, "top_k": 1}}],
                              context(embedder, docs, tmp_path))
    state = run(pipeline, "What are the opening hours of the reception desk?", doc_scope="office/handbook.md")
    [hit] = state.hits
    sentences = split_sentences(HANDBOOK)
    start, end = sentences[0][0], sentences[2][1]  # the match is sentence 1: its window is 0..2
    assert (hit.chunk.start, hit.chunk.end) == (start, end)
    assert hit.chunk.text == HANDBOOK[start:end]
    assert hit.chunk.chunk_id == f"office/handbook.md@{start}-{end}"
    assert hit.chunk.metadata["window"] == [0, 2]
    assert state.trace["sentence_window"]["matched"][0] == "office/handbook.md#s1"


def test_sentence_windows_of_neighbouring_matches_merge(embedder, tmp_path):
    docs = [Document("office/handbook.md", HANDBOOK)]
    pipeline = build_pipeline([{"name": "sentence_window", "params": {"window": 1, "top_k": 2}}],
                              context(embedder, docs, tmp_path))
    state = run(pipeline, "lost badges and the badge code for the server room")
    sentences = split_sentences(HANDBOOK)
    first = state.hits[0].chunk
    # Sentences 4 (badge code) and 5 (lost badges) both match; their windows 3..5 and 4..6 merge
    # (with any further overlapping match, e.g. sentence 3 on photo badges) into one passage.
    assert {"office/handbook.md#s4", "office/handbook.md#s5"} <= set(first.metadata["matched"])
    assert first.start <= sentences[3][0] and first.end >= sentences[6][1]
    assert first.text == HANDBOOK[first.start:first.end]
    spans = [(h.chunk.start, h.chunk.end) for h in state.hits]
    assert all(a_end <= b_start or b_end <= a_start  # no two returned windows overlap
               for i, (a_start, a_end) in enumerate(spans) for (b_start, b_end) in spans[i + 1:])


def test_window_merging_is_transitive_and_stops_at_top_k(embedder):
    doc = Document("d.md", HANDBOOK)
    index, _ = HybridIndex.build([doc], OneSentenceChunker(), {"kind": "one-sentence"}, embedder)
    step = SentenceWindow(index, {"d.md": HANDBOOK}, RetrievalConfig(top_k=2), window=1)
    chunk = {c.metadata["sentence"]: c for c in index.chunks}
    matches = [Hit(chunk[i], 1.0 - r / 100, r) for r, i in enumerate([2, 6, 4, 9, 0], start=1)]
    windows = step._windows(matches, top_k=3)
    # 2 → 1..3; 6 → 5..7; 4 → 3..5 bridges both into 1..7; 9 → 8..9; 0 → 0..1 extends 1..7 to 0..7.
    assert [(w.first, w.last) for w in windows] == [(0, 7), (8, 9)]
    assert windows[0].matched == ["d.md#s2", "d.md#s6", "d.md#s4", "d.md#s0"]
    assert windows[0].score == matches[0].score
    # Matches are consumed in rank order only until top_k windows exist.
    assert [(w.first, w.last) for w in step._windows(matches, top_k=2)] == [(1, 3), (5, 7)]


def test_sentence_index_is_cached_and_reused(embedder, tmp_path):
    docs = [Document("d.md", HANDBOOK)]
    first = sentence_index(docs, embedder, tmp_path)
    assert list((tmp_path / "sentence-index").iterdir())
    calls = []

    class Counting:
        name, dim = embedder.name, embedder.dim

        def embed(self, texts, progress=False):
            calls.append(len(texts))
            return embedder.embed(texts)

    again = sentence_index(docs, Counting(), tmp_path)
    assert sum(calls) == 0 and [c.text for c in again.chunks] == [c.text for c in first.chunks]


# ------------------------------------------------------------------ parent_child


def test_parent_child_returns_the_parent_of_two_matching_children_once(embedder, tmp_path):
    docs = [Document("hr/policies.md", POLICIES)]
    main = build_index(docs, "recursive", embedder, max_chars=300)  # one parent per section
    assert len(main.chunks) == 3
    security = next(c for c in main.chunks if "Badge code" in c.text)
    pipeline = build_pipeline(
        [{"name": "parent_child", "params": {"child_chars": 80, "child_k": 3, "merge_threshold": 2, "top_k": 3}}],
        context(embedder, docs, tmp_path, main=main))
    state = run(pipeline, "badge code for the server room and reporting lost badges")
    parents = [h for h in state.hits if h.chunk.chunk_id == security.chunk_id]
    assert len(parents) == 1 and state.hits[0].chunk.chunk_id == security.chunk_id
    assert len(state.trace["parent_child"]["merged"][security.chunk_id]) >= 2
    # No child of the merged parent is returned beside it.
    assert not any(h.chunk.chunk_id != security.chunk_id and security.start <= h.chunk.start < security.end
                   for h in state.hits)
    assert [h.rank for h in state.hits] == list(range(1, len(state.hits) + 1))


def test_parent_child_keeps_a_lone_child_below_the_threshold(embedder, tmp_path):
    docs = [Document("hr/policies.md", POLICIES)]
    main = build_index(docs, "recursive", embedder, max_chars=300)
    pipeline = build_pipeline(
        [{"name": "parent_child", "params": {"child_chars": 80, "child_k": 1, "top_k": 1}}],
        context(embedder, docs, tmp_path, main=main))
    [hit] = run(pipeline, "How many days of annual leave do employees accrue?").hits
    assert hit.chunk.text.endswith("Employees accrue 27 days of annual leave.")  # the child itself,
    assert "carry over" not in hit.chunk.text  # not its section
    with_parents = build_pipeline(
        [{"name": "parent_child", "params": {"child_chars": 80, "child_k": 1, "top_k": 1, "merge_threshold": 1}}],
        context(embedder, docs, tmp_path, main=main))
    [parent] = run(with_parents, "How many days of annual leave do employees accrue?").hits
    assert parent.chunk.text.startswith("# Annual leave") and "HR portal" in parent.chunk.text


def test_parent_of_picks_the_most_overlapping_parent(embedder, tmp_path):
    docs = [Document("hr/policies.md", POLICIES)]
    main = build_index(docs, "recursive", embedder, max_chars=300)
    step = build_pipeline([{"name": "parent_child"}], context(embedder, docs, tmp_path, main=main)).steps[0]
    start = POLICIES.index("Lost badges")
    child = Chunk("x", "hr/policies.md", POLICIES[start:start + 20], start, start + 20)
    assert "Lost badges" in step.parent_of(child).text
    assert step.parent_of(Chunk("y", "other.md", "z", 0, 1)) is None


# ------------------------------------------------------------------ metadata_filter

FILTER_DOCS = [
    Document("hr/leave.md", "Employees accrue 27 days of annual leave. Unused leave carries over."),
    Document("hr/travel.md", "Staff travelling on business may claim the leave day after a night crossing."),
    Document("it/security.md", "Annual security training about leave of absence for laptops is mandatory."),
    Document("ops/timetable.md", "The ferry leaves Port Alda at 07:40. Leave your car on deck 2."),
]


def test_metadata_filter_keeps_only_hr_documents(embedder, tmp_path):
    ctx = context(embedder, FILTER_DOCS, tmp_path)
    pipeline = build_pipeline([{"name": "retrieve", "params": {"top_k": 10}},
                               {"name": "metadata_filter", "params": {"filter": {"doc_prefix": "hr/"}, "top_k": 5}}],
                              ctx)
    state = run(pipeline, "leave")
    assert state.hits and {h.chunk.doc_id for h in state.hits} == {"hr/leave.md", "hr/travel.md"}
    assert [h.rank for h in state.hits] == list(range(1, len(state.hits) + 1))
    assert state.trace["metadata_filter"]["before"] == 4

    by_id = build_pipeline([{"name": "retrieve", "params": {"top_k": 10}},
                            {"name": "metadata_filter", "params": {"doc_ids": ["ops/timetable.md"]}}], ctx)
    assert {h.chunk.doc_id for h in run(by_id, "leave").hits} == {"ops/timetable.md"}


def test_metadata_filter_on_chunk_metadata_and_bad_configs(embedder, tmp_path):
    ctx = context(embedder, FILTER_DOCS, tmp_path)
    step = build_pipeline([{"name": "metadata_filter", "params": {"metadata": {"format": ["pdf", "docx"]}}}],
                          ctx).steps[0]
    hits = [Hit(Chunk(f"c{i}", "d", "t", 0, 1, {"format": f}), 1.0, i) for i, f in enumerate(["pdf", "md", "docx"], 1)]
    [state] = step.run([RAGState("q", hits=hits)])
    assert [h.chunk.chunk_id for h in state.hits] == ["c1", "c3"]
    with pytest.raises(ConfigError, match="needs a condition"):
        build_pipeline([{"name": "metadata_filter"}], ctx)
    with pytest.raises(ConfigError, match=r"'metadata_filter' params: prefix: Extra inputs are not permitted — it accepts: doc_prefix"):
        build_pipeline([{"name": "metadata_filter", "params": {"prefix": "hr/"}}], ctx)
    with pytest.raises(ConfigError, match=r"'sentence_window' params: window: Input should be greater than or equal to 0"):
        build_pipeline([{"name": "sentence_window", "params": {"window": -1}}], ctx)
