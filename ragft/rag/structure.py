"""Retrieval structure: what unit is matched and what unit is returned to the model.

Steps here replace (or, for ``metadata_filter``, follow) the plain ``retrieve`` step and set
``state.hits``:

- ``sentence_window`` — match single sentences (precise embeddings), return each matched
  sentence with ±``window`` neighbouring sentences of its document (enough context to answer).
  Overlapping windows merge into one. Each window is a ``Chunk`` with exact offsets into the
  document (``chunk_id = f"{doc_id}@{start}-{end}"``), so evidence metrics stay exact.
- ``parent_child`` (auto-merging) — match small child chunks (sentence chunker, 200 chars);
  when at least ``merge_threshold`` children fall inside the same parent chunk of the main
  index, return that parent once (with its best child's score) instead of the children;
  children below the threshold are returned as they are. ``merge_threshold: 1`` always
  returns parents (the "parent document" / small-to-big retriever).
- ``metadata_filter`` — keep only hits whose document id starts with a prefix, is one of a
  list, or whose chunk metadata has given values. It filters *after* retrieval, so pair it
  with a larger ``retrieve`` ``top_k`` (e.g. 20) and let it cut to ``top_k``; a single
  document scope is better served by the question's ``doc_scope``, which filters inside the
  index search itself.

Sentences are found with :func:`ragft.corpus.sentences.split_sentences`; newlines are hard
breaks except in PDF text, which is hard-wrapped (only blank lines break there).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.corpus.chunkers import make_chunker
from ragft.corpus.sentences import split_sentences
from ragft.errors import ConfigError, RagftError
from ragft.index.store import HybridIndex
from ragft.rag.modular import RAGState
from ragft.rag.params import RetrievalOverrides, StepDef, StepParams
from ragft.rag.steps import Retrieve
from ragft.types import Chunk, Document, Hit

# ---------------------------------------------------------------------------------------------
# Shared helpers (also used by ragft.rag.post and ragft.rag.rerank)
# ---------------------------------------------------------------------------------------------


def hard_newlines(metadata: dict[str, Any]) -> bool:
    """Whether newlines end sentences: not in PDF text, which is hard-wrapped."""
    return metadata.get("format") != "pdf"


def sentence_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """The chunk's sentences as spans *relative to the chunk text*, in order."""
    return split_sentences(chunk.text, hard_newlines=hard_newlines(chunk.metadata))


def span_chunk(doc_id: str, text: str, start: int, end: int, metadata: dict[str, Any] | None = None) -> Chunk:
    """A chunk cut out of a document text at exact offsets, named ``f"{doc_id}@{start}-{end}"``."""
    return Chunk(chunk_id=f"{doc_id}@{start}-{end}", doc_id=doc_id, text=text, start=start, end=end,
                 metadata=dict(metadata or {}))


def renumber(hits: list[Hit]) -> list[Hit]:
    """The hits with ranks 1..n in list order."""
    return [replace(hit, rank=rank) for rank, hit in enumerate(hits, start=1)]


# ---------------------------------------------------------------------------------------------
# A one-sentence-per-chunk index
# ---------------------------------------------------------------------------------------------

SENTENCE_INDEX_CONFIG = {"kind": "one-sentence", "version": 1}


@dataclass(frozen=True)
class OneSentenceChunker:
    """Every sentence its own chunk (never cut, never grouped), ``metadata["sentence"]`` = its
    0-based position in the document. ``SentenceChunker`` groups sentences up to ``max_chars``
    and cuts longer ones into ``max_chars`` pieces, so no setting of it gives exactly this."""

    def chunk(self, doc: Document) -> list[Chunk]:
        inherited = {key: doc.metadata[key] for key in ("title", "format") if key in doc.metadata}
        return [Chunk(chunk_id=f"{doc.doc_id}#s{i}", doc_id=doc.doc_id, text=doc.text[start:end], start=start,
                      end=end, metadata={**inherited, "sentence": i})
                for i, (start, end) in enumerate(split_sentences(doc.text, hard_newlines(doc.metadata)))]


def sentence_index(documents: list[Document], embedder, cache_dir: Path | None = None) -> HybridIndex:
    """An index of single sentences, kept under ``cache_dir/sentence-index`` and updated
    incrementally (only changed documents are re-embedded)."""
    folder = None
    previous = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps([embedder.name, SENTENCE_INDEX_CONFIG]).encode()).hexdigest()[:12]
        folder = Path(cache_dir) / "sentence-index" / key
        try:
            previous = HybridIndex.load(folder, embedder)
        except RagftError:
            previous = None
    index, stats = HybridIndex.build(documents, OneSentenceChunker(), SENTENCE_INDEX_CONFIG, embedder,
                                     previous=previous)
    if folder is not None and (previous is None or stats.embedded_chunks or stats.removed):
        try:
            index.save(folder)
        except OSError:
            pass  # a cache that cannot be written costs time, not correctness
    return index


# ---------------------------------------------------------------------------------------------
# sentence_window
# ---------------------------------------------------------------------------------------------


@dataclass
class _Window:
    doc_id: str
    first: int  # sentence positions, inclusive
    last: int
    score: float
    matched: list[str] = field(default_factory=list)


@dataclass
class SentenceWindow:
    """Match sentences, return ±``window`` sentences around each match (overlaps merged)."""

    sentences: HybridIndex  # one chunk per sentence (see OneSentenceChunker)
    texts: dict[str, str]  # doc_id -> document text
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    window: int = 2
    name: str = "sentence_window"

    def __post_init__(self) -> None:
        self._by_doc: dict[str, list[Chunk]] = {}
        for chunk in self.sentences.chunks:
            self._by_doc.setdefault(chunk.doc_id, []).append(chunk)
        for chunks in self._by_doc.values():
            chunks.sort(key=lambda c: c.start)
        self._position = {c.chunk_id: i for chunks in self._by_doc.values() for i, c in enumerate(chunks)}
        self._retrieve = Retrieve(self.sentences, self.retrieval)

    def run(self, states: list[RAGState]) -> list[RAGState]:
        top_k = self.retrieval.top_k
        depth = top_k * (2 * self.window + 1)  # enough matches to fill top_k windows unless they merge a lot
        for state in states:
            matches = self._retrieve.search_all(state.queries or [state.question], state.doc_scope, depth)
            windows = self._windows(matches, top_k)
            state.hits = [self._hit(w, rank) for rank, w in enumerate(windows, start=1)]
            state.trace[self.name] = {"matched": [m.chunk.chunk_id for m in matches],
                                      "windows": [{"chunk_id": h.chunk.chunk_id, "matched": w.matched}
                                                  for h, w in zip(state.hits, windows)]}
        return states

    def _windows(self, matches: list[Hit], top_k: int) -> list[_Window]:
        windows: list[_Window] = []
        for match in matches:
            if len(windows) >= top_k:
                break
            position = self._position.get(match.chunk.chunk_id)
            doc_id = match.chunk.doc_id
            if position is None or doc_id not in self.texts:
                continue
            last_position = len(self._by_doc[doc_id]) - 1
            new = _Window(doc_id, max(0, position - self.window), min(last_position, position + self.window),
                          match.score, [match.chunk.chunk_id])
            overlapping = [w for w in windows if w.doc_id == doc_id and w.first <= new.last and new.first <= w.last]
            if overlapping:
                # Merge into the best-ranked overlapping window (which keeps its place), absorbing the others.
                keep = overlapping[0]
                for other in overlapping[1:] + [new]:
                    keep.first, keep.last = min(keep.first, other.first), max(keep.last, other.last)
                    keep.score = max(keep.score, other.score)
                    keep.matched.extend(m for m in other.matched if m not in keep.matched)
                windows = [w for w in windows if not any(w is o for o in overlapping[1:])]
            else:
                windows.append(new)
        return windows

    def _hit(self, window: _Window, rank: int) -> Hit:
        sentences = self._by_doc[window.doc_id]
        start, end = sentences[window.first].start, sentences[window.last].end
        metadata = {k: v for k, v in sentences[window.first].metadata.items() if k != "sentence"}
        metadata.update(window=[window.first, window.last], matched=list(window.matched))
        chunk = span_chunk(window.doc_id, self.texts[window.doc_id][start:end], start, end, metadata)
        return Hit(chunk=chunk, score=window.score, rank=rank, retriever="sentence_window")


class SentenceWindowParams(RetrievalOverrides):
    window: int = Field(2, ge=0)  # sentences returned on each side of a matched sentence


def _sentence_window(params: SentenceWindowParams, ctx) -> SentenceWindow:
    if ctx.documents is None:
        raise ConfigError("sentence_window needs the document texts, but this pipeline context has none")
    documents = ctx.documents()
    return SentenceWindow(sentence_index(documents, ctx.embedder, ctx.cache_dir),
                          {d.doc_id: d.text for d in documents}, params.retrieval(ctx.retrieval), params.window)


# ---------------------------------------------------------------------------------------------
# parent_child (auto-merging)
# ---------------------------------------------------------------------------------------------


@dataclass
class ParentChild:
    """Match small children; a parent with ≥ ``merge_threshold`` matching children replaces them."""

    children: HybridIndex  # small chunks
    parents: HybridIndex  # the main index
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    child_k: int = 20  # children matched per question
    merge_threshold: int = 2
    name: str = "parent_child"

    def __post_init__(self) -> None:
        self._parents_by_doc: dict[str, list[Chunk]] = {}
        for chunk in self.parents.chunks:
            self._parents_by_doc.setdefault(chunk.doc_id, []).append(chunk)
        self._retrieve = Retrieve(self.children, self.retrieval)

    def parent_of(self, child: Chunk) -> Chunk | None:
        """The main-index chunk of the same document overlapping the child most (first on ties)."""
        best, best_overlap = None, 0
        for parent in self._parents_by_doc.get(child.doc_id, []):
            overlap = min(parent.end, child.end) - max(parent.start, child.start)
            if overlap > best_overlap:
                best, best_overlap = parent, overlap
        return best

    def run(self, states: list[RAGState]) -> list[RAGState]:
        for state in states:
            children = self._retrieve.search_all(state.queries or [state.question], state.doc_scope, self.child_k)
            groups: dict[str, tuple[Chunk | None, list[Hit]]] = {}
            for child in children:
                parent = self.parent_of(child.chunk)
                key = parent.chunk_id if parent else f"(orphan){child.chunk.chunk_id}"
                groups.setdefault(key, (parent, []))[1].append(child)
            candidates: list[Hit] = []
            merged: dict[str, list[str]] = {}
            for parent, group in groups.values():
                if parent is not None and len(group) >= self.merge_threshold:
                    best = max(group, key=lambda h: h.score)
                    candidates.append(Hit(chunk=parent, score=best.score, rank=0, retriever="parent_child"))
                    merged[parent.chunk_id] = [h.chunk.chunk_id for h in group]
                else:
                    candidates.extend(replace(h, retriever="parent_child:child") for h in group)
            candidates.sort(key=lambda h: -h.score)  # stable: ties keep the children's rank order
            state.hits = renumber(candidates[:self.retrieval.top_k])
            state.trace[self.name] = {"children": [h.chunk.chunk_id for h in children], "merged": merged}
        return states


class ParentChildParams(RetrievalOverrides):
    child_chars: int = Field(200, ge=1)  # the children's size (sentence chunker, max_chars)
    child_k: int | None = Field(None, ge=1)  # children matched per question; None: 4 × the step's top_k
    merge_threshold: int = Field(2, ge=1)  # matching children that make their parent replace them


def _parent_child(params: ParentChildParams, ctx) -> ParentChild:
    retrieval = params.retrieval(ctx.retrieval)
    child_k = params.child_k if params.child_k is not None else 4 * retrieval.top_k
    config = ChunkerConfig(kind="sentence", params={"max_chars": params.child_chars, "overlap_sentences": 0})
    if ctx.index_for_chunker is not None:
        children = ctx.index_for_chunker(config)
    elif ctx.documents is not None:
        children, _ = HybridIndex.build(ctx.documents(), make_chunker(config.kind, **config.params),
                                        config.model_dump(), ctx.embedder)
    else:
        raise ConfigError("parent_child needs a child index: the pipeline context has neither "
                          "index_for_chunker nor documents")
    return ParentChild(children, ctx.index, retrieval, child_k, params.merge_threshold)


# ---------------------------------------------------------------------------------------------
# metadata_filter
# ---------------------------------------------------------------------------------------------


@dataclass
class MetadataFilter:
    """Keep the hits that pass every given condition; place after a ``retrieve`` with a larger top_k."""

    doc_prefixes: tuple[str, ...] = ()
    doc_ids: frozenset[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # key -> value or list of accepted values
    top_k: int | None = None
    name: str = "metadata_filter"

    def keeps(self, hit: Hit) -> bool:
        chunk = hit.chunk
        if self.doc_prefixes and not chunk.doc_id.startswith(self.doc_prefixes):
            return False
        if self.doc_ids is not None and chunk.doc_id not in self.doc_ids:
            return False
        for key, wanted in self.metadata.items():
            accepted = wanted if isinstance(wanted, list | tuple | set) else [wanted]
            if chunk.metadata.get(key) not in accepted:
                return False
        return True

    def run(self, states: list[RAGState]) -> list[RAGState]:
        for state in states:
            kept = [hit for hit in state.hits if self.keeps(hit)]
            state.trace[self.name] = {"before": len(state.hits), "kept": len(kept)}
            state.hits = renumber(kept[:self.top_k] if self.top_k else kept)
        return states


class FilterConditions(StepParams):
    doc_prefix: str | list[str] | None = None  # document ids starting with (one of) these
    doc_ids: str | list[str] | None = None  # exactly these documents
    metadata: dict[str, Any] | None = None  # chunk metadata key -> value or list of accepted values


class MetadataFilterParams(FilterConditions):
    """The conditions directly, or under ``filter:`` (a key given directly wins); at least one."""

    filter: FilterConditions | None = None
    top_k: int | None = Field(None, ge=1)  # None: keep every hit that passes

    @model_validator(mode="after")
    def _has_a_condition(self):
        if not self.conditions():
            raise ValueError("metadata_filter needs a condition: filter: {doc_prefix: 'hr/'}, "
                             "{doc_ids: [...]} or {metadata: {format: pdf}}")
        return self

    def conditions(self) -> dict[str, Any]:
        """The conditions given, under ``filter:`` or directly."""
        nested = self.filter.model_dump(exclude_unset=True) if self.filter is not None else {}
        return {**nested, **self.model_dump(include=set(FilterConditions.model_fields), exclude_unset=True)}


def _metadata_filter(params: MetadataFilterParams, ctx) -> MetadataFilter:
    conditions = params.conditions()
    prefix = conditions.get("doc_prefix") or ()
    doc_ids = conditions.get("doc_ids")
    if isinstance(doc_ids, str):
        doc_ids = [doc_ids]
    return MetadataFilter((prefix,) if isinstance(prefix, str) else tuple(prefix),
                          frozenset(doc_ids) if doc_ids is not None else None,
                          conditions.get("metadata") or {}, params.top_k)


STEPS = {"sentence_window": StepDef(SentenceWindowParams, _sentence_window),
         "parent_child": StepDef(ParentChildParams, _parent_child),
         "metadata_filter": StepDef(MetadataFilterParams, _metadata_filter)}
