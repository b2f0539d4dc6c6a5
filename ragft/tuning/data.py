"""Training data for the trainers: SFT and RAFT examples, preference pairs, hygiene and hashing.

Every supervised example is a :class:`ChatExample`: the prompt messages exactly as inference
sends them (the closed-book prompt of ``ragft.rag.pipeline.ClosedBook`` or the RAG prompt of
``ragft.rag.steps.rag_messages``) and the assistant's target reply. The trainers apply the
model's own chat template and compute the loss on the reply only.

RAFT (Zhang et al., 2024, "RAFT: Adapting Language Model to Domain Specific RAG"): each example
shows the question with its oracle chunk among ``k`` distractor chunks — hard negatives found by
retrieval, in shuffled order — and a share of examples (``p_no_oracle``) shows distractors only,
so the model learns both to find and quote the evidence and not to trust every passage. The
target answers first and cites the passage (the RAG system prompt asks for exactly that), then
quotes the evidence sentence. Without the oracle the target still gives the gold answer, from
memory, as in the paper (``absent_oracle="not_found"`` trains the refusal instead).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from ragft.config import describe_params_error
from ragft.errors import ConfigError, RagftError
from ragft.metrics.hygiene import assert_no_overlap, normalize_text
from ragft.index.store import HybridIndex
from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT
from ragft.rag.steps import RAG_SYSTEM_PROMPT, rag_messages
from ragft.types import Chunk, Hit, Preference, QAExample

NOT_FOUND = "Not found in the documents."


@dataclass
class ChatExample:
    """One supervised example: the prompt messages and the assistant reply to learn."""

    prompt: list[dict]  # [{"role": "system"|"user", "content": …}, …] exactly as at inference
    completion: str
    question: str  # the question asked, for hygiene checks and the registry's train_questions
    metadata: dict = field(default_factory=dict)

    def as_row(self) -> dict:
        """TRL's conversational prompt-completion format (loss on the completion only)."""
        return {"prompt": self.prompt, "completion": [{"role": "assistant", "content": self.completion}]}


# ---------------------------------------------------------------------------------------------
# Plain SFT from gold QA
# ---------------------------------------------------------------------------------------------


def closed_book_messages(question: str, system_prompt: str = CLOSED_BOOK_SYSTEM_PROMPT) -> list[dict]:
    """The prompt ``ClosedBook`` sends — kept identical so training matches inference."""
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]


def sft_examples(qa: Sequence[QAExample], system_prompt: str = CLOSED_BOOK_SYSTEM_PROMPT) -> list[ChatExample]:
    """Closed-book SFT: question → the canonical gold answer."""
    return [ChatExample(closed_book_messages(q.question, system_prompt), q.answer, q.question,
                        {"qid": q.qid, "kind": "sft", "doc_scope": q.doc_scope})
            for q in qa if q.question.strip() and q.answer.strip()]


# ---------------------------------------------------------------------------------------------
# RAFT
# ---------------------------------------------------------------------------------------------


@dataclass
class RaftOptions:
    """How RAFT examples are built. The annotations are the rules: :func:`raft_options` checks a
    dict (a study's ``finetune.<name>.raft``) against them, and ``raft_examples`` its options."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # an unknown key is an error, not ignored

    k_distractors: Annotated[int, Field(ge=0)] = 4  # the prompt shows 1 + k passages (k when the oracle is left out)
    p_no_oracle: Annotated[float, Field(ge=0, le=1)] = 0.2  # share of examples without the oracle chunk
    quote_evidence: bool = True  # add the evidence sentence after the answer
    # "memory" (answer anyway, as RAFT) | "not_found" (train the refusal)
    absent_oracle: Literal["memory", "not_found"] = "memory"
    retrieval_mode: Literal["dense", "bm25", "hybrid"] = "hybrid"  # how hard negatives are found
    seed: int = 0
    system_prompt: str = RAG_SYSTEM_PROMPT


def raft_options(values: dict[str, Any]) -> RaftOptions:
    """``values`` checked against RaftOptions' annotations; a ConfigError naming the field."""
    try:
        return TypeAdapter(RaftOptions).validate_python(values)
    except ValidationError as err:
        raise ConfigError(describe_params_error(err, [f.name for f in dataclasses.fields(RaftOptions)])) from None


def raft_examples(qa: Sequence[QAExample], index: HybridIndex, options: RaftOptions | None = None) -> list[ChatExample]:
    """One RAFT example per question whose oracle chunk can be found in ``index``.

    Questions whose evidence is in no chunk are skipped (``find_oracle`` returns None for them).
    """
    options = raft_options(dataclasses.asdict(options or RaftOptions()))
    rng = random.Random(options.seed)
    examples = []
    for q in qa:
        oracle = find_oracle(q, index)
        if oracle is None or not q.answer.strip():
            continue
        distractors = hard_negatives(q, oracle, index, options.k_distractors, options.retrieval_mode, rng)
        with_oracle = rng.random() >= options.p_no_oracle
        chunks = distractors + ([oracle] if with_oracle else [])
        rng.shuffle(chunks)
        hits = [Hit(chunk=c, score=0.0, rank=i, retriever="raft") for i, c in enumerate(chunks, start=1)]
        target = _raft_target(q, oracle, chunks, with_oracle, options)
        examples.append(ChatExample(rag_messages(q.question, hits, options.system_prompt), target, q.question,
                                    {"qid": q.qid, "kind": "raft", "oracle": oracle.chunk_id, "doc_scope": q.doc_scope,
                                     "with_oracle": with_oracle, "chunks": [c.chunk_id for c in chunks]}))
    return examples


def find_oracle(q: QAExample, index: HybridIndex) -> Chunk | None:
    """The chunk holding (most of) the question's evidence text; None when none holds half of it.

    Falls back to the chunk holding the gold answer when the example has no evidence text.
    """
    candidates = [c for c in index.chunks if not q.evidence_doc_ids or c.doc_id in q.evidence_doc_ids]
    needles = [t for t in q.evidence_texts if t.strip()] or [a for a in q.answers if a.strip()]
    best, best_share = None, 0.0
    for chunk in candidates:
        haystack = _squash(chunk.text)
        share = max((_contained_share(_squash(n), haystack) for n in needles), default=0.0)
        if share > best_share:
            best, best_share = chunk, share
    return best if best_share >= 0.5 else None


def hard_negatives(q: QAExample, oracle: Chunk, index: HybridIndex, k: int, mode: str,
                   rng: random.Random) -> list[Chunk]:
    """The top retrieved chunks that are not the oracle and do not contain the evidence.

    Hard negatives (passages a retriever confuses with the answer) teach the model to read
    rather than to copy the first passage; random chunks top the list up when retrieval runs dry.
    """
    if k <= 0:
        return []
    mode = mode if index.embedder is not None else "bm25"  # dense search needs the embedder
    needles = [_squash(t) for t in q.evidence_texts if t.strip()]
    # Within the question's document scope, as inference retrieves for it (CUAD-style questions).
    hits = index.search(q.question, k=k + 10, mode=mode, doc_ids=[q.doc_scope] if q.doc_scope else None)
    picked = [h.chunk for h in hits if h.chunk.chunk_id != oracle.chunk_id
              and not any(_contained_share(n, _squash(h.chunk.text)) >= 0.5 for n in needles)][:k]
    if len(picked) < k:
        taken = {c.chunk_id for c in picked} | {oracle.chunk_id}
        rest = [c for c in index.chunks if c.chunk_id not in taken
                and not any(_contained_share(n, _squash(c.text)) >= 0.5 for n in needles)]
        picked += rng.sample(rest, min(k - len(picked), len(rest)))
    return picked


def evidence_sentence(q: QAExample, oracle: Chunk) -> str:
    """The sentence to quote: the gold evidence text when the chunk holds it, else the chunk's
    sentence sharing most words with the answer."""
    from ragft.corpus.sentences import split_sentences

    for text in q.evidence_texts:
        if text.strip() and _contained_share(_squash(text), _squash(oracle.text)) >= 0.999:
            return " ".join(text.split())
    answer_words = set(normalize_text(q.answer).split())
    sentences = [oracle.text[s:e] for s, e in split_sentences(oracle.text, hard_newlines=False)] or [oracle.text]
    best = max(sentences, key=lambda s: len(answer_words & set(normalize_text(s).split())))
    return " ".join(best.split())


def _raft_target(q: QAExample, oracle: Chunk, shown: list[Chunk], with_oracle: bool, options: RaftOptions) -> str:
    if not with_oracle:
        return q.answer if options.absent_oracle == "memory" else NOT_FOUND
    number = next(i for i, c in enumerate(shown, start=1) if c.chunk_id == oracle.chunk_id)
    # Answer first, then the citation: the RAG system prompt asks for exactly this shape, and
    # the study scores the start of the reply. The quote shows the model where the answer was.
    target = f"{q.answer} [{number}]"
    if options.quote_evidence:
        target += f'\nQuote [{number}]: "{evidence_sentence(q, oracle)}"'
    return target


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def _contained_share(needle: str, haystack: str) -> float:
    """1.0 when ``needle`` is in ``haystack``; else the share of its words found there in order."""
    if not needle:
        return 0.0
    if needle in haystack:
        return 1.0
    words = needle.split()
    # The longest run of consecutive needle words present in the haystack: robust to the
    # evidence straddling a chunk boundary (then about half of it is in each neighbour).
    best = 0
    for start in range(len(words)):
        if len(words) - start <= best:
            break
        end = start + best + 1
        while end <= len(words) and " ".join(words[start:end]) in haystack:
            best = end - start
            end += 1
    return best / len(words)


# ---------------------------------------------------------------------------------------------
# Preferences
# ---------------------------------------------------------------------------------------------


def preference_prompt(pref: Preference) -> list[dict]:
    """The prompt a preference's answers were written for, as inference builds it.

    ``metadata["messages"]`` wins when the producer stored the exact prompt; otherwise a
    context means the RAG prompt (with the context as given) and no context the closed-book one.
    """
    messages = pref.metadata.get("messages") if pref.metadata else None
    if messages:
        return [m for m in messages if m.get("role") != "assistant"]
    if pref.context.strip():
        return [{"role": "system", "content": RAG_SYSTEM_PROMPT},
                {"role": "user", "content": f"Context:\n{pref.context}\n\nQuestion: {pref.question}"}]
    return closed_book_messages(pref.question)


def preferences_from_qa(qa: Sequence[QAExample], own_answers: Sequence[str], max_f1: float = 0.5) -> list[Preference]:
    """Preference pairs without human feedback: the gold answer chosen over the model's own answer
    to the same question, kept only where that answer is wrong (token F1 with every gold answer
    below ``max_f1``) — a model is not taught to avoid what it already gets right."""
    from ragft.metrics.tasks import ANSWER_METRICS

    f1 = ANSWER_METRICS["token_f1"]
    return [Preference(question=q.question, chosen=q.answer, rejected=own, source="own_answer",
                       reason=f"the model's own answer (token F1 {f1(own, q.answers):.2f}) vs the gold answer")
            for q, own in zip(qa, own_answers)
            if own.strip() and normalize_text(own) != normalize_text(q.answer) and f1(own, q.answers) < max_f1]


def check_preferences(prefs: Sequence[Preference]) -> None:
    """ConfigError for an empty set, an empty answer or a pair whose answers do not differ."""
    if not prefs:
        raise ConfigError("no preference pairs to train on — collect feedback or give a preference JSONL file")
    for i, pref in enumerate(prefs):
        if not pref.question.strip() or not pref.chosen.strip() or not pref.rejected.strip():
            raise ConfigError(f"preference #{i} ({_clip(pref.question)!r}) has an empty question, chosen or "
                              "rejected answer — fix or drop it")
        if normalize_text(pref.chosen) == normalize_text(pref.rejected):
            raise ConfigError(f"preference #{i} ({_clip(pref.question)!r}): chosen and rejected are the same "
                              f"answer ({_clip(pref.chosen)!r}) — a pair must differ to teach anything; drop it")


def preference_rows(prefs: Sequence[Preference]) -> list[dict]:
    """TRL's conversational preference format: prompt messages, chosen and rejected replies."""
    check_preferences(prefs)
    return [{"prompt": preference_prompt(p), "chosen": [{"role": "assistant", "content": p.chosen}],
             "rejected": [{"role": "assistant", "content": p.rejected}]} for p in prefs]


def load_preferences(path: Path | str) -> list[Preference]:
    """Read preference pairs from JSONL (one object per line: question, chosen, rejected, …)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: preference file not found")
    known = {f.name for f in dataclasses.fields(Preference)}
    prefs = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            missing = [k for k in ("question", "chosen", "rejected") if not isinstance(record.get(k), str)]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            prefs.append(Preference(**{k: v for k, v in record.items() if k in known}))
        except (ValueError, TypeError, AttributeError) as err:
            raise ConfigError(f"{path}:{line_no}: not a preference pair ({err}) — each line needs question, "
                              "chosen and rejected strings") from None
    return prefs


def save_preferences(prefs: Sequence[Preference], path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(dataclasses.asdict(p), ensure_ascii=False) + "\n" for p in prefs),
                    encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Hygiene and hashing
# ---------------------------------------------------------------------------------------------


def check_no_test_overlap(train_questions: Sequence[str], test_questions: Sequence[str],
                          threshold: float = 0.6, *, train_scopes: Sequence[str | None] | None = None,
                          test_scopes: Sequence[str | None] | None = None,
                          train_where: Sequence[str] | None = None, test_where: Sequence[str] | None = None) -> None:
    """ConfigError naming the offending pairs when any test question (nearly) duplicates a
    training question — exact after normalisation, or word 3-gram / character 5-gram Jaccard
    similarity at or above ``threshold`` (``ragft.metrics.hygiene``).

    Scopes (the document a question asks about; None: any) limit the comparison to questions
    that could be about the same document: CUAD asks the same question of every contract, and
    learning one contract's answer does not leak another's. ``*_where`` label each question
    ("qa.csv: line 12") for the message; without them it cites 1-based positions.
    """
    if not train_questions or not test_questions:
        return
    train_scopes = list(train_scopes) if train_scopes else [None] * len(train_questions)
    test_scopes = list(test_scopes) if test_scopes else [None] * len(test_questions)
    train_where = list(train_where) if train_where else [f"#{i}" for i in range(1, len(train_questions) + 1)]
    test_where = list(test_where) if test_where else [f"#{i}" for i in range(1, len(test_questions) + 1)]
    for scope in dict.fromkeys(test_scopes):
        test = [(q, w) for q, s, w in zip(test_questions, test_scopes, test_where) if s == scope]
        train = [(q, w) for q, s, w in zip(train_questions, train_scopes, train_where)
                 if scope is None or s is None or s == scope]
        if not train:
            continue
        try:
            assert_no_overlap([q for q, _ in train], [q for q, _ in test], what="questions", threshold=threshold,
                              train_where=[w for _, w in train], test_where=[w for _, w in test])
        except ConfigError:
            raise
        except RagftError as err:
            raise ConfigError(f"training data leaks into the test set: {err}") from None


def data_sha256(rows: Sequence[dict]) -> str:
    """A stable hash of training rows (key order and whitespace of the JSON do not matter)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def save_examples(examples: Sequence[ChatExample], path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(dataclasses.asdict(e), ensure_ascii=False) + "\n" for e in examples),
                    encoding="utf-8")


def load_examples(path: Path | str) -> list[ChatExample]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: training data file not found")
    try:
        return [ChatExample(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path}: not ragft chat examples ({err})") from None


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

