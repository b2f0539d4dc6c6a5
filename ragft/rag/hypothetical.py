"""The hypothetical-question index: search questions the chunks answer, return the chunks.

At indexing time the LLM writes ``n`` questions for every chunk of the variant's index. The
questions are embedded and indexed (a ``HybridIndex`` whose "chunks" are the questions, with
``chunk_id = f"{parent_chunk_id}?{i}"`` and ``metadata["parent"]``); a user's question is then
matched question-to-question — the same kind of text, phrased the same way — and every match
returns its parent chunk (best score per chunk, duplicates removed), top ``top_k``. With
``also_chunks: true`` that ranking is fused (RRF) with the ordinary hybrid search over the chunks.

The step sets ``state.hits``, so it replaces ``retrieve``::

    pipeline: [{name: hypothetical_questions, params: {n: 3}}, {name: generate}]

When earlier steps put several queries in ``state.queries`` (e.g. ``multi_query``), each is
searched and the rankings are fused. ``state.doc_scope`` restricts matches to that document.

Cost and caching. Generating questions for a whole corpus is the expensive part (one LLM call
per chunk; minutes for a few hundred chunks with the 135M model on CPU). Questions are cached
in ``ctx.cache_dir / "hypothetical_questions" / <key>.jsonl`` where ``key`` hashes the model
name, the prompt version, ``n`` and ``max_new_tokens``; lines (the raw output, the parsed
questions and the call's tokens and seconds) are keyed by the chunk text's SHA-256 and appended
batch by batch (fsync'd), so an interrupted build resumes where it stopped
and later runs — other variants, other studies sharing the cache — reuse them. The question
index is built when the step is built (not charged to the first questions' latency); what it
cost is in ``step.index_cost`` and, once, in the trace of the first batch's states
(``state.trace["hypothetical_questions"]["index_cost"]``): LLM calls, tokens and seconds spent
now, and the same for building from scratch (``from_scratch_*``, summed from the cache records,
so a fully cached run still reports the real indexing price).

The questions come from the variant's own LLM (``ctx.llm_for()``). To generate them with a
bigger model, configure that model as the variant's ``llm`` (it then also answers), or run a
variant with the bigger model once to fill the cache — the cache key names the model.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from ragft.config import RetrievalConfig
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex, Manifest
from ragft.models.embedder import Embedder
from ragft.models.llm import LLM
from ragft.rag.modular import RAGState
from ragft.rag.params import RetrievalOverrides, StepDef
from ragft.rag.query import clean_line, few_shot, parse_list
from ragft.rag.steps import Retrieve, fuse_hits
from ragft.persist import append_jsonl, read_jsonl, text_sha256
from ragft.types import Chunk, Hit

# Bump when the prompt changes: cached questions are then regenerated. (The raw output is cached
# too and parsed again on load, so a change in parsing needs no regeneration.)
PROMPT_VERSION = 1
QUESTIONS_SYSTEM = "Write {n} questions that the passage answers. Reply with a numbered list."
QUESTIONS_EXAMPLE = (
    "Passage:\nStaff may carry over up to five days of unused annual leave into the next year. "
    "Requests go to the line manager.",
    "1. How many days of annual leave can be carried over?\n2. Who approves leave requests?\n"
    "3. What happens to unused holiday at the end of the year?",
)
MAX_PASSAGE_CHARS = 1200  # longer chunks are cut in the prompt (the questions come from their start)
MAX_QUESTION_CHARS = 300


def question_messages(text: str, n: int) -> list[dict]:
    """The conversation that asks for ``n`` questions about one chunk."""
    return few_shot(QUESTIONS_SYSTEM.format(n=n), [QUESTIONS_EXAMPLE],
                    "Passage:\n" + text.strip()[:MAX_PASSAGE_CHARS])


def parse_questions(text: str, n: int) -> list[str]:
    """At most ``n`` distinct questions from the model's list.

    Only lines that are questions count: a small model also writes comments on the passage
    ("The passage provides details about …"), lines cut off by the token limit ("What is the")
    and copies of the prompt's example questions, which are all dropped.
    """
    example = [clean_line(line) for line in QUESTIONS_EXAMPLE[1].splitlines()]
    items = parse_list(text, "", limit=n * 4, exclude=example)
    return [q for q in items if q.endswith("?") and len(q) <= MAX_QUESTION_CHARS and len(q.split()) >= 3][:n]


def text_key(text: str) -> str:
    return text_sha256(text)


@dataclass
class QuestionCache:
    """Append-only JSONL of generated questions, one line per chunk text; torn lines are ignored."""

    path: Path

    def load(self) -> dict[str, dict]:
        records: dict[str, dict] = {}
        for record in read_jsonl(self.path):
            try:
                records[record["key"]] = record
            except (KeyError, TypeError):
                continue
        return records

    def append(self, records: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_jsonl(self.path, records)


@dataclass
class HypotheticalQuestions:
    """Retrieve chunks by matching the question against questions generated for each chunk."""

    index: HybridIndex
    embedder: Embedder
    llm: LLM
    cache_dir: Path = Path(".ragft-cache")
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    n: int = 3
    also_chunks: bool = False
    batch_size: int = 16  # chunks per generate call, and per append to the cache (the resume granularity)
    max_new_tokens: int = 64
    fallback_to_text: bool = True  # a chunk with no usable question is indexed under its own text
    progress: bool = True
    name: str = "hypothetical_questions"

    def __post_init__(self):
        if self.n < 1 or self.batch_size < 1:
            raise ConfigError("hypothetical_questions: n and batch_size must be at least 1")
        self.cache_dir = Path(self.cache_dir)
        self.question_index: HybridIndex | None = None
        self.index_cost: dict = {}
        self._cost_reported = False
        self._chunks_by_id = {chunk.chunk_id: chunk for chunk in self.index.chunks}
        self._retrieve = Retrieve(self.index, self.retrieval)

    # ----------------------------------------------------------------- indexing
    @property
    def cache_path(self) -> Path:
        key = hashlib.sha256(json.dumps([self.llm.name, PROMPT_VERSION, self.n, self.max_new_tokens]).encode())
        return self.cache_dir / "hypothetical_questions" / f"{key.hexdigest()[:16]}.jsonl"

    def build_index(self) -> HybridIndex:
        """Generate (or read from the cache) every chunk's questions and index them."""
        if self.question_index is not None:
            return self.question_index
        started = time.perf_counter()
        cache = QuestionCache(self.cache_path)
        records = cache.load()
        for record in records.values():  # parse again: parsing may have improved since generation
            if "raw" in record:
                record["questions"] = parse_questions(record["raw"], self.n)
        todo: dict[str, str] = {}  # text key -> text, each distinct chunk text once
        for chunk in self.index.chunks:
            key = text_key(chunk.text)
            if key not in records:
                todo.setdefault(key, chunk.text)
        distinct = {text_key(c.text) for c in self.index.chunks}
        cost = {"chunks": len(self.index.chunks), "cached": len(distinct) - len(todo),
                "generated": 0, "llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "generate_seconds": 0.0}
        self.index_cost = cost
        if todo:
            generate_started = time.perf_counter()
            self._generate(list(todo.items()), cache, records, cost)
            cost["generate_seconds"] = time.perf_counter() - generate_started

        questions: list[Chunk] = []
        without = 0
        for chunk in self.index.chunks:
            asked = records[text_key(chunk.text)]["questions"]
            if not asked and self.fallback_to_text:
                asked, without = [chunk.text], without + 1
            questions.extend(Chunk(chunk_id=f"{chunk.chunk_id}?{i}", doc_id=chunk.doc_id, text=q, start=chunk.start,
                                   end=chunk.end, metadata={"parent": chunk.chunk_id})
                             for i, q in enumerate(asked))
        embed_started = time.perf_counter()
        vectors = self.embedder.embed([q.text for q in questions], progress=False) if questions \
            else np.zeros((0, self.embedder.dim), np.float32)
        documents = {}
        for q in questions:
            documents.setdefault(q.doc_id, {"n_chunks": 0})["n_chunks"] += 1
        manifest = Manifest(embedder=self.embedder.name, dim=self.embedder.dim, documents=documents,
                            chunker={"kind": "hypothetical_questions", "n": self.n, "cache": self.cache_path.name})
        self.question_index = HybridIndex(questions, np.asarray(vectors, dtype=np.float32), manifest, self.embedder)
        used = [records[k] for k in distinct]
        cost.update(
            questions=len(questions), chunks_without_questions=without,
            embed_seconds=time.perf_counter() - embed_started, seconds=time.perf_counter() - started,
            from_scratch_llm_calls=len(used),
            from_scratch_prompt_tokens=sum(r.get("prompt_tokens", 0) for r in used),
            from_scratch_completion_tokens=sum(r.get("completion_tokens", 0) for r in used),
            from_scratch_generate_seconds=round(sum(r.get("latency_s", 0.0) for r in used), 3),
            cache_file=str(self.cache_path),
        )
        return self.question_index

    def _generate(self, todo: list[tuple[str, str]], cache: QuestionCache, records: dict, cost: dict) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        progress = Progress(TextColumn("[bold]hypothetical questions"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                            disable=not self.progress)
        with progress:
            task = progress.add_task("questions", total=len(todo))
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start:start + self.batch_size]
                generations = self.llm.generate([question_messages(text, self.n) for _, text in batch],
                                                max_new_tokens=self.max_new_tokens)
                fresh = [{"key": key, "questions": parse_questions(g.text, self.n), "raw": g.text,
                          "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                          "latency_s": round(g.latency_s, 4)} for (key, _), g in zip(batch, generations)]
                cache.append(fresh)  # saved per batch: an interruption loses one batch at most
                records.update({r["key"]: r for r in fresh})
                cost["generated"] += len(fresh)
                cost["llm_calls"] += len(fresh)
                cost["prompt_tokens"] += sum(g.prompt_tokens for g in generations)
                cost["completion_tokens"] += sum(g.completion_tokens for g in generations)
                progress.advance(task, len(batch))

    # ----------------------------------------------------------------- search
    def search(self, query: str, doc_scope: str | None = None, k: int | None = None) -> list[Hit]:
        """Parent chunks of the best-matching questions, best question score per chunk."""
        return [hit for hit, _ in self._parent_ranking(query, doc_scope, k or self.retrieval.top_k)]

    def _parent_ranking(self, query: str, doc_scope: str | None, k: int) -> list[tuple[Hit, str]]:
        r = self.retrieval
        matches = self.build_index().search(
            query, k=max(k, r.candidates) * self.n, mode=r.mode, dense_weight=r.dense_weight,
            bm25_weight=r.bm25_weight, rrf_k=r.rrf_k, candidates=r.candidates * self.n,
            doc_ids=[doc_scope] if doc_scope else None)
        ranking, seen = [], set()
        for match in matches:  # sorted best first, so a parent's first match is its best
            parent = match.chunk.metadata["parent"]
            if parent in seen or parent not in self._chunks_by_id:
                continue
            seen.add(parent)
            hit = Hit(chunk=self._chunks_by_id[parent], score=match.score, rank=len(ranking) + 1,
                      retriever="hypothetical_questions")
            ranking.append((hit, match.chunk.text))
            if len(ranking) >= k:
                break
        return ranking

    def search_all(self, queries: list[str], doc_scope: str | None) -> list[Hit]:
        """Fused top-k over every query (and over the chunk index too with ``also_chunks``)."""
        return self._search_all(queries, doc_scope)[0]

    def _search_all(self, queries: list[str], doc_scope: str | None) -> tuple[list[Hit], dict[str, str]]:
        top_k = self.retrieval.top_k
        depth = max(top_k, self.retrieval.candidates)
        matched: dict[str, str] = {}  # parent chunk id -> the generated question that matched best
        rankings = []
        for query in queries:
            ranking = self._parent_ranking(query, doc_scope, depth)
            rankings.append([hit for hit, _ in ranking])
            for hit, question in ranking:
                matched.setdefault(hit.chunk.chunk_id, question)
        if self.also_chunks:
            rankings += [self._retrieve.search(q, doc_scope, depth) for q in queries]
        if len(rankings) == 1:
            hits = [Hit(h.chunk, h.score, rank, h.retriever) for rank, h in enumerate(rankings[0][:top_k], 1)]
        else:
            hits = fuse_hits(rankings, top_k, self.retrieval.rrf_k)
        return hits, matched

    def run(self, states: list[RAGState]) -> list[RAGState]:
        self.build_index()
        for state in states:
            queries = state.queries or [state.question]
            state.hits, matched = self._search_all(queries, state.doc_scope)
            trace = {"matched_questions": {h.chunk.chunk_id: matched.get(h.chunk.chunk_id) for h in state.hits}}
            if not self._cost_reported:
                trace["index_cost"] = dict(self.index_cost)
            state.trace[self.name] = trace
        self._cost_reported = True
        return states


class HypotheticalQuestionsParams(RetrievalOverrides):
    n: int = Field(3, ge=1)  # questions generated per chunk
    also_chunks: bool = False  # fuse with the ordinary search over the chunks
    batch_size: int = Field(16, ge=1)  # chunks per generate call and per cache append
    max_new_tokens: int = Field(64, ge=1)
    fallback_to_text: bool = True  # a chunk with no usable question is indexed under its own text
    progress: bool = True


def _hypothetical_questions(params: HypotheticalQuestionsParams, ctx) -> HypotheticalQuestions:
    step = HypotheticalQuestions(ctx.index, ctx.embedder, ctx.llm_for(), ctx.cache_dir, params.retrieval(ctx.retrieval),
                                 **params.own())
    step.build_index()  # at build time: indexing is not part of any question's latency
    return step


STEPS = {"hypothetical_questions": StepDef(HypotheticalQuestionsParams, _hypothetical_questions)}
