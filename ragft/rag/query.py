"""Pre-retrieval techniques: rewrite the question before searching.

Each step is batched (one ``llm.generate`` call for all questions of a batch), charges every LLM
call to its question, records what it produced in ``state.trace[step.name]`` and leaves the
result in ``state.queries``, which the later ``retrieve`` step searches with — several queries
are merged by reciprocal rank fusion (``ragft.rag.steps.Retrieve.search_all``).

- ``rewrite`` — a keyword search query; the original is kept too (``keep_original: true``).
  Pipeline: ``[rewrite, retrieve, generate]``.
- ``multi_query`` — ``n`` (default 3) alternative phrasings, searched with the original.
  Pipeline: ``[multi_query, retrieve, generate]``.
- ``hyde`` — a hypothetical answer passage (HyDE), searched with the question too
  (``include_question: true``). Pipeline: ``[hyde, retrieve, generate]``.
- ``decompose`` — up to ``max_sub`` (default 4) sub-questions, each retrieved; optionally each
  answered into ``state.context_note`` (``answer_subquestions: true``).
  Pipeline: ``[decompose, generate]``.

``decompose`` retrieves itself (one ranking per sub-question, fused by RRF into ``state.hits``),
so it replaces the ``retrieve`` step; a ``retrieve`` after it would search ``state.queries``
(the sub-questions and the question) again and give the same fused ranking.

Small models (the built-in SmolLM2-135M) produce messy output: answers instead of rephrasings,
repetition loops, leaked few-shot examples. Output is parsed defensively — numbering and bullets
stripped, duplicates, leaked examples and lines over ~3× the question's length dropped — and a
step falls back to the original question when nothing usable remains. Steps compose: each adds
its queries to those already in ``state.queries`` (e.g. ``[rewrite, hyde, retrieve, ...]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import Field

from ragft.config import RetrievalConfig
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.models.llm import LLM
from ragft.rag.modular import RAGState
from ragft.rag.params import RetrievalOverrides, StepDef, StepParams
from ragft.rag.steps import Retrieve, format_context, fuse_hits
from ragft.types import Hit

# ----------------------------------------------------------------------------- prompts
# Few-shot examples (as earlier chat turns) are what makes a 135M model follow the format at all.
REWRITE_SYSTEM = "You extract search keywords. Reply with the keywords from the question, nothing else."
REWRITE_EXAMPLES = [
    ("Question: How long do new staff have to wait before they can book holidays?",
     "Keywords: new staff, book holidays, waiting period"),
    ("Question: Who signs off purchase orders above the limit?",
     "Keywords: purchase orders, sign off, approval limit"),
]
MULTI_QUERY_SYSTEM = ("Rephrase the question in {n} different ways. Do not answer it. "
                      "Reply with a numbered list.")
MULTI_QUERY_EXAMPLES = [
    ("How long do new staff have to wait before they can book holidays?",
     "1. When can new employees take annual leave?\n2. What is the waiting period for holidays for new "
     "starters?\n3. After how long may a new hire request time off?"),
    ("Who signs off purchase orders above the limit?",
     "1. Who approves purchase orders over the limit?\n2. Which person must authorise large purchase "
     "orders?\n3. Who gives sign-off when a purchase order exceeds the threshold?"),
]
HYDE_SYSTEM = "Write one or two sentences that could appear in a company document and answer the question."
HYDE_EXAMPLES = [
    ("How long do new staff have to wait before they can book holidays?",
     "New employees may book annual leave once they have completed their three-month probation period."),
    ("Who signs off purchase orders above the limit?",
     "Purchase orders above the approval limit must be signed off by the Finance Director."),
]
DECOMPOSE_SYSTEM = ("Split the question into at most {max_sub} simpler sub-questions. "
                    "Reply with a numbered list.")
DECOMPOSE_EXAMPLES = [
    ("Who manages the depot where the oldest bus is kept?",
     "1. Which is the oldest bus?\n2. At which depot is the oldest bus kept?\n3. Who manages that depot?"),
    ("What is the price of a day ticket?", "1. What is the price of a day ticket?"),
]
SUB_ANSWER_SYSTEM = ("Answer the question in a few words using only the context. "
                     "If the context does not say, reply: unknown.")


def few_shot(system: str, examples: list[tuple[str, str]], user: str) -> list[dict]:
    """A conversation: system prompt, worked examples as earlier turns, then the real request."""
    messages = [{"role": "system", "content": system}]
    for example_user, example_reply in examples:
        messages += [{"role": "user", "content": example_user}, {"role": "assistant", "content": example_reply}]
    return messages + [{"role": "user", "content": user}]


# ----------------------------------------------------------------------------- parsing
_MARKER = re.compile(r"^\s*(?:[-*•+·]+|\(?\d{1,2}[.):\]]|\(?[a-hA-H][.)]|#+|Q\d*[.:])(?=\s|$)\s*")
_LABEL = re.compile(r"^\s*(?:sub-?questions?|questions?|queries|query|search query|keywords?|rephrased|"
                    r"alternatives?|passage|answer)\s*\d*\s*:\s*", re.IGNORECASE)


def normalise(text: str) -> str:
    """Lower case, punctuation and spacing removed: the form used to spot duplicates."""
    return " ".join(re.findall(r"[a-z0-9£$€%]+", text.lower()))


def clean_line(line: str) -> str:
    """One line without list markers, labels, wrapping quotes or markdown emphasis."""
    line = line.strip()
    for _ in range(3):  # "1. Query: **foo**" needs several passes
        before = line
        line = _LABEL.sub("", _MARKER.sub("", line, count=1), count=1).strip()
        line = line.strip("*_`").strip().strip("\"'“”‘’").strip()
        if line == before:
            break
    return line


def trim_repetition(text: str, max_repeats: int = 2) -> str:
    """Cut a degenerate loop ("single-engine, single-engine, single-engine, …") at its start.

    Greedy decoding of a small model often repeats a phrase until the token limit; a run of a
    1–6 word phrase more than ``max_repeats`` times in a row is cut back to one occurrence.
    """
    words = text.split()
    for i in range(len(words)):
        for width in range(1, 7):
            span = words[i:i + width]
            if len(span) < width:
                break
            repeats = 1
            while [w.strip(",.;") for w in words[i + repeats * width:i + (repeats + 1) * width]] == \
                    [w.strip(",.;") for w in span]:
                repeats += 1
            if repeats > max_repeats:
                return " ".join(words[:i + width]).rstrip(",;")
    return text


def _usable(line: str, question: str, max_ratio: float) -> bool:
    if len(normalise(line)) < 3 or not re.search(r"[A-Za-z]", line):
        return False
    if question and len(line) > max_ratio * max(len(question), 20):
        return False
    return not line.endswith(":")  # a preamble such as "Here are three ways to ask it:"


def parse_list(text: str, question: str = "", limit: int = 3, max_ratio: float = 3.0,
               exclude: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The items of a numbered or bulleted list (or plain lines), cleaned and deduplicated.

    Lines longer than ``max_ratio`` × the question, duplicates (also of the question itself and
    of ``exclude``, e.g. the few-shot examples a small model copies) and preambles are dropped;
    at most ``limit`` items are returned, possibly none.
    """
    seen = {normalise(question)} | {normalise(e) for e in exclude}
    items = []
    for raw in text.splitlines():
        line = clean_line(raw)
        if not _usable(line, question, max_ratio):  # judged before trimming: a long ramble is dropped
            continue
        line = trim_repetition(line)
        key = normalise(line)
        if not _usable(line, question, max_ratio) or key in seen:
            continue
        seen.add(key)
        items.append(line)
        if len(items) >= limit:
            break
    return items


def parse_keywords(text: str, question: str, max_ratio: float = 3.0) -> str:
    """A keyword query from ``"Keywords: a, b, b, b"``-style output, or "" when unusable."""
    lines = [clean_line(line) for line in text.splitlines() if clean_line(line)]
    if not lines:
        return ""
    terms, seen = [], set()
    for term in re.split(r"[,;]", lines[0]):
        term = term.strip()
        key = normalise(term)
        # A term that only repeats (the start of) an earlier one is a loop cut off by the token limit.
        if key and not any(earlier.startswith(key) for earlier in seen):
            seen.add(normalise(term))
            terms.append(term)
    query = trim_repetition(", ".join(terms))
    return query if _usable(query, question, max_ratio) else ""


def parse_passage(text: str, max_chars: int = 800) -> str:
    """A hypothetical passage: repetition loops cut, repeated sentences dropped, length capped."""
    text = trim_repetition(" ".join(clean_line(line) for line in text.splitlines() if line.strip()))
    sentences, seen = [], set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if normalise(sentence) and normalise(sentence) not in seen:
            seen.add(normalise(sentence))
            sentences.append(sentence)
    passage = " ".join(sentences)[:max_chars].strip()
    return passage if len(normalise(passage)) >= 3 and re.search(r"[A-Za-z]", passage) else ""


def merge_queries(existing: list[str], new: list[str]) -> list[str]:
    """``existing`` then ``new``, without (normalised) duplicates."""
    merged, seen = [], set()
    for query in [*existing, *new]:
        if normalise(query) and normalise(query) not in seen:
            seen.add(normalise(query))
            merged.append(query)
    return merged


def _example_lines(examples: list[tuple[str, str]]) -> list[str]:
    lines = []
    for user, reply in examples:
        lines.append(clean_line(user))
        lines.extend(clean_line(line) for line in reply.splitlines())
    return lines


# ----------------------------------------------------------------------------- steps
@dataclass
class QueryRewrite:
    """The LLM turns the question into a keyword search query; the original is kept by default."""

    llm: LLM
    keep_original: bool = True
    max_new_tokens: int = 32
    name: str = "rewrite"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        conversations = [few_shot(REWRITE_SYSTEM, REWRITE_EXAMPLES, f"Question: {s.question}") for s in states]
        for state, generation in zip(states, self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)):
            state.charge(generation)
            rewritten = parse_keywords(generation.text, state.question)
            leaked = normalise(rewritten) in {normalise(line) for line in _example_lines(REWRITE_EXAMPLES)}
            rewritten = "" if leaked else rewritten
            queries = merge_queries(state.queries or [state.question], [rewritten] if rewritten else [])
            if not self.keep_original and rewritten:
                queries = [q for q in queries if normalise(q) != normalise(state.question)]
            state.queries = queries
            state.trace[self.name] = {"raw": generation.text, "query": rewritten, "fallback": not rewritten}
        return states


@dataclass
class MultiQuery:
    """The LLM writes ``n`` alternative phrasings; retrieval fuses the original's and theirs."""

    llm: LLM
    n: int = 3
    max_new_tokens: int = 96
    name: str = "multi_query"

    def __post_init__(self):
        if self.n < 1:
            raise ConfigError("multi_query: n must be at least 1")

    def run(self, states: list[RAGState]) -> list[RAGState]:
        system = MULTI_QUERY_SYSTEM.format(n=self.n)
        conversations = [few_shot(system, MULTI_QUERY_EXAMPLES, s.question) for s in states]
        exclude = _example_lines(MULTI_QUERY_EXAMPLES)
        for state, generation in zip(states, self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)):
            state.charge(generation)
            alternatives = parse_list(generation.text, state.question, limit=self.n, exclude=exclude)
            state.queries = merge_queries(state.queries or [state.question], alternatives)
            state.trace[self.name] = {"raw": generation.text, "alternatives": alternatives,
                                      "fallback": not alternatives}
        return states


@dataclass
class HyDE:
    """Hypothetical document embeddings: search with an LLM-written answer passage.

    The passage is wrong in its facts but right in its vocabulary and shape, so it lands near
    the real passage even when the question shares no words with it.
    """

    llm: LLM
    include_question: bool = True
    max_new_tokens: int = 64
    name: str = "hyde"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        conversations = [few_shot(HYDE_SYSTEM, HYDE_EXAMPLES, s.question) for s in states]
        for state, generation in zip(states, self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)):
            state.charge(generation)
            passage = parse_passage(generation.text)
            if passage and not self.include_question:
                existing = [q for q in (state.queries or []) if normalise(q) != normalise(state.question)]
            else:
                existing = state.queries or [state.question]
            state.queries = merge_queries(existing, [passage] if passage else [])
            state.trace[self.name] = {"raw": generation.text, "passage": passage, "fallback": not passage}
        return states


@dataclass
class Decompose:
    """Split the question into sub-questions, retrieve each, fuse the rankings (RRF) into the hits.

    This step retrieves, so the pipeline is ``[decompose, generate]``. With
    ``answer_subquestions`` one more batched LLM call answers every sub-question from its own
    top ``sub_top_k`` hits and the "Sub-question: … Answer: …" lines go into
    ``state.context_note``, which ``generate`` appends to the context. ``include_question`` adds
    the original question's own ranking to the fusion (a guard against poor sub-questions).
    """

    llm: LLM
    index: HybridIndex
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    max_sub: int = 4
    answer_subquestions: bool = False
    include_question: bool = True
    sub_top_k: int = 3
    max_new_tokens: int = 96
    answer_max_new_tokens: int | None = None
    name: str = "decompose"

    def __post_init__(self):
        if self.max_sub < 1:
            raise ConfigError("decompose: max_sub must be at least 1")
        self._retrieve = Retrieve(self.index, self.retrieval)

    def run(self, states: list[RAGState]) -> list[RAGState]:
        system = DECOMPOSE_SYSTEM.format(max_sub=self.max_sub)
        conversations = [few_shot(system, DECOMPOSE_EXAMPLES, s.question) for s in states]
        exclude = _example_lines(DECOMPOSE_EXAMPLES)
        plans: list[tuple[list[str], list[list[Hit]]]] = []
        for state, generation in zip(states, self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)):
            state.charge(generation)
            # The question itself is not excluded: "1. <the question>" is a valid one-part plan.
            subs = parse_list(generation.text, "", limit=self.max_sub, exclude=exclude)
            subs = [s for s in subs if len(s) <= 3 * max(len(state.question), 20)]
            fallback = not subs
            subs = subs or [state.question]
            depth = max(self.retrieval.top_k, self.retrieval.candidates)
            rankings = [self._retrieve.search(sub, state.doc_scope, depth) for sub in subs]
            own = [self._retrieve.search(state.question, state.doc_scope, depth)] \
                if self.include_question and normalise(state.question) not in map(normalise, subs) else []
            state.hits = fuse_hits(rankings + own, self.retrieval.top_k, self.retrieval.rrf_k)
            state.queries = merge_queries(subs, [state.question] if own else [])
            state.trace[self.name] = {"raw": generation.text, "sub_questions": subs, "fallback": fallback,
                                      "sub_hits": [[h.chunk.chunk_id for h in r[:self.sub_top_k]] for r in rankings]}
            plans.append((subs, rankings))
        if self.answer_subquestions:
            self._answer_subquestions(states, plans)
        return states

    def _answer_subquestions(self, states, plans) -> None:
        owners, conversations = [], []
        for position, (subs, rankings) in enumerate(plans):
            for sub, ranking in zip(subs, rankings):
                context = format_context(ranking[:self.sub_top_k])
                conversations.append([{"role": "system", "content": SUB_ANSWER_SYSTEM},
                                      {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {sub}"}])
                owners.append((position, sub))
        generations = self.llm.generate(conversations, max_new_tokens=self.answer_max_new_tokens) if conversations else []
        answers: dict[int, list[tuple[str, str]]] = {}
        for (position, sub), generation in zip(owners, generations):
            states[position].charge(generation)
            answer = trim_repetition(" ".join(generation.text.split())) or "unknown"
            answers.setdefault(position, []).append((sub, answer))
        for position, pairs in answers.items():
            state = states[position]
            lines = "\n".join(f"Sub-question: {sub} Answer: {answer}" for sub, answer in pairs)
            state.context_note = f"{state.context_note}\n{lines}".strip() if state.context_note else lines
            state.trace[self.name]["answers"] = [{"sub_question": s, "answer": a} for s, a in pairs]


# ----------------------------------------------------------------------------- params and builders
class RewriteParams(StepParams):
    keep_original: bool = True
    max_new_tokens: int = Field(32, ge=1)


class MultiQueryParams(StepParams):
    n: int = Field(3, ge=1)
    max_new_tokens: int = Field(96, ge=1)


class HydeParams(StepParams):
    include_question: bool = True
    max_new_tokens: int = Field(64, ge=1)


class DecomposeParams(RetrievalOverrides):
    max_sub: int = Field(4, ge=1)
    answer_subquestions: bool = False
    include_question: bool = True
    sub_top_k: int = Field(3, ge=1)
    max_new_tokens: int = Field(96, ge=1)
    answer_max_new_tokens: int | None = Field(None, ge=1)  # None: the variant's max_new_tokens


def _rewrite(params: RewriteParams, ctx) -> QueryRewrite:
    return QueryRewrite(ctx.llm_for(), **params.model_dump())


def _multi_query(params: MultiQueryParams, ctx) -> MultiQuery:
    return MultiQuery(ctx.llm_for(), **params.model_dump())


def _hyde(params: HydeParams, ctx) -> HyDE:
    return HyDE(ctx.llm_for(), **params.model_dump())


def _decompose(params: DecomposeParams, ctx) -> Decompose:
    own = params.own()
    if own["answer_max_new_tokens"] is None:
        own["answer_max_new_tokens"] = ctx.max_new_tokens
    return Decompose(ctx.llm_for(), ctx.index, params.retrieval(ctx.retrieval), **own)


STEPS = {"rewrite": StepDef(RewriteParams, _rewrite), "multi_query": StepDef(MultiQueryParams, _multi_query),
         "hyde": StepDef(HydeParams, _hyde), "decompose": StepDef(DecomposeParams, _decompose)}
