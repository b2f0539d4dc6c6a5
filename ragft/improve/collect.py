"""Collecting what a candidate trains on: the feedback since the last run, plus optional AI feedback.

**Watermark.** ``improve:collected`` stores the highest row id of each feedback table the run
read, so the next run trains only on what came after it (``all_feedback=True`` re-reads all).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ragft.errors import ConfigError
from ragft.improve.options import COLLECTED, ImproveOptions
from ragft.models.registry import ModelRegistry
from ragft.tuning.data import check_no_test_overlap
from ragft.types import Preference, QAExample

FEEDBACK_TABLES = ("interactions", "votes", "edits", "pairwise", "ai_judgements")


def collect(ws, registry: ModelRegistry, incumbent: str, options: ImproveOptions, test: list[QAExample],
            say: Callable[[str], None]) -> tuple[list[Preference], dict[str, int]]:
    """New preference pairs since the watermark (after any AI feedback), and the new watermark.

    ConfigError when there is nothing new to train on: the registry and store are untouched.
    """
    store_path = ws.feedback_path
    if not store_path.exists() and options.questions is None:
        raise ConfigError(_no_feedback_message(ws, "there is no feedback store yet"))
    from ragft.feedback.store import FeedbackStore

    store = FeedbackStore(store_path)
    try:
        since = {t: 0 for t in FEEDBACK_TABLES} if options.all_feedback else last_watermark(registry)
        if options.questions is not None:
            collect_ai_feedback(ws, store, registry, incumbent, options, test, since, say)
        upto = table_marks(store)
        pairs = new_pairs(store, since, upto)
    finally:
        store.close()
    if options.method == "sft":
        others = len(pairs)
        pairs = [p for p in pairs if p.source == "edit"]
        if not pairs:
            raise ConfigError(_no_feedback_message(
                ws, f"no new edits (--method sft trains on corrected answers only; {others} other new pair(s) "
                    "are there — use --method dpo)" if others else "no new edits"))
    if not pairs:
        raise ConfigError(_no_feedback_message(ws, "no new feedback since the last improve run"
                                               if any(since.values()) else "no feedback pairs in the store"))
    say(f"collected {len(pairs)} new pair(s): " + ", ".join(f"{n} {k}" for k, n in count_sources(pairs).items()))
    return pairs, upto


def _no_feedback_message(ws, what: str) -> str:
    return (f"{what} in {ws.feedback_path} — nothing to train on: collect votes, edits or pairwise "
            f"choices with `ragft serve --workspace {ws.path}`, import a file with `ragft feedback import`, "
            "pass --questions FILE for AI feedback, or --all-feedback to reuse feedback already trained on")


def count_sources(pairs: Sequence[Preference]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.source or "other"] = counts.get(pair.source or "other", 0) + 1
    return counts


# ------------------------------------------------------------------------------- watermark
def table_marks(store) -> dict[str, int]:
    """The highest row id of every feedback table (ids only grow: the tables are append-only)."""
    return {t: int(store._read(f"SELECT COALESCE(MAX(id), 0) AS n FROM {t}")[0]["n"]) for t in FEEDBACK_TABLES}


def last_watermark(registry: ModelRegistry) -> dict[str, int]:
    """Element-wise maximum over every improve run's recorded watermark (zeros before the first)."""
    mark = {t: 0 for t in FEEDBACK_TABLES}
    for version in registry.list():
        for entry in version.log:
            if entry.get("event") != COLLECTED:
                continue
            try:
                recorded = json.loads(entry["detail"])["watermark"]
            except (ValueError, KeyError, TypeError):
                continue  # a hand-edited event: ignore rather than fail the run
            for table in FEEDBACK_TABLES:
                mark[table] = max(mark[table], int(recorded.get(table, 0)))
    return mark


def new_pairs(store, since: dict[str, int], upto: dict[str, int]) -> list[Preference]:
    """The store's pairs backed by feedback rows with ids in (since, upto], per table.

    ``upto`` (read before the pairs) keeps feedback that lands during the run for the next run.
    """
    def fresh(table: str, row_id: int) -> bool:
        return since[table] < row_id <= upto[table]

    edited = {r["interaction_id"] for r in store.rows("edits") if fresh("edits", r["id"])}
    voted = {r["interaction_id"] for r in store.rows("votes") if fresh("votes", r["id"])}
    kept = []
    for pair in store.preference_pairs(include_ai=True):
        meta = pair.metadata or {}
        if pair.source == "edit":
            new = meta.get("interaction_id") in edited
        elif pair.source == "pairwise":
            new = fresh("pairwise", meta.get("pairwise_id", 0))
        elif pair.source == "vote":
            new = bool({meta.get("chosen_interaction"), meta.get("rejected_interaction")} & voted)
        elif "judgement_id" in meta:
            new = fresh("ai_judgements", meta["judgement_id"])
        else:
            new = True  # a source this code does not know: train on it rather than lose it
        if new:
            kept.append(pair)
    return kept


# ------------------------------------------------------------------------------- AI feedback (RLAIF)
def collect_ai_feedback(ws, store, registry: ModelRegistry, incumbent: str, options: ImproveOptions,
                        test: list[QAExample], since: dict[str, int], say: Callable[[str], None]) -> None:
    """RLAIF on ``options.questions``, sampled from the incumbent; rounds go into the store.

    Questions already judged since the watermark are skipped, so a re-run after a crash does
    not sample them again.
    """
    from ragft.feedback.ai import FeedbackItem, RLAIFConfig
    from ragft.feedback.ai import collect_ai_feedback as rlaif

    items = _feedback_items(options.questions)
    check_no_test_overlap([i.question for i in items], [q.question for q in test])
    done = {r["question"] for r in store.rows("ai_judgements") if r["id"] > since["ai_judgements"]}
    items = [i for i in items if i.question not in done]
    if not items:
        say("AI feedback: every question was judged since the last improve run — skipped")
        return
    method, judge_name = _judge_choice(options.judge, items)
    sampler = _load_llm(ws, registry, incumbent, options.max_new_tokens)
    if options.rag:
        _add_context(ws, items)
    judge = None
    if method == "ai_judge":
        judge = sampler if judge_name == "self" else _load_llm(ws, registry, judge_name, None)
    config = RLAIFConfig(method=method, n_samples=options.ai_samples, threshold=options.ai_threshold,
                         max_new_tokens=options.max_new_tokens or RLAIFConfig.max_new_tokens)
    say(f"AI feedback on {len(items)} question(s): {options.ai_samples} samples each from {incumbent}, "
        f"judged by {'the gold-answer auto-score' if method == 'auto_score' else judge_name}")
    judgements = rlaif([FeedbackItem(i.question, i.context, i.gold) for i in items], sampler, config,
                       judge=judge, store=store)
    say(f"AI feedback: {sum(len(j.pairs) for j in judgements)} pair(s) from {len(judgements)} question(s)")


def _feedback_items(path: Path):
    from ragft.corpus import load_qa_file
    from ragft.feedback.ai import FeedbackItem

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: questions file for AI feedback not found (--questions)")
    if path.suffix.lower() == ".txt":  # one question a line, no gold answers
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        items = [FeedbackItem(question=line) for line in lines if line]
    else:
        items = [FeedbackItem(question=q.question, gold=q.answer) for q in load_qa_file(path)]
    if not items:
        raise ConfigError(f"{path}: no questions for AI feedback")
    return items


def _judge_choice(judge: str, items) -> tuple[str, str]:
    """(RLAIF method, judge model) for ``--judge``; ``auto`` prefers the gold-answer score."""
    has_gold = all(i.gold for i in items)
    if judge == "auto":
        return ("auto_score", "") if has_gold else ("ai_judge", "self")
    if judge in ("auto-score", "auto_score"):
        if not has_gold:
            raise ConfigError("--judge auto-score needs gold answers: give --questions as a QA file with answers")
        return "auto_score", ""
    return "ai_judge", judge  # "self" or a model


def _add_context(ws, items) -> None:
    """Retrieved context for each AI-feedback question, as naive RAG would show it."""
    from ragft.rag.steps import format_context

    index, retrieval = _workspace_index(ws)
    for item in items:
        item.context = format_context(index.search(
            item.question, k=retrieval.top_k, mode=retrieval.mode, dense_weight=retrieval.dense_weight,
            bm25_weight=retrieval.bm25_weight, rrf_k=retrieval.rrf_k, candidates=retrieval.candidates))


def _workspace_index(ws):
    from ragft.models import load_embedder

    if not ws.has_index():
        raise ConfigError(f"{ws.path}: --rag needs the workspace index — run `ragft ingest PATH --workspace "
                          f"{ws.path}` first, or leave out --rag to evaluate closed-book")
    config = ws.load_config()
    return ws.load_index(load_embedder(config.embedder)), config.retrieval


def _llm_config(ws, registry: ModelRegistry, model: str, max_new_tokens: int | None):
    from ragft.models.registry import resolve_model

    base = ws.load_config().llm
    path = resolve_model(model, registry)[0]
    update = {"backend": "transformers", "model": path, "temperature": 0.0, "base_url": None}
    if max_new_tokens:
        update["max_new_tokens"] = max_new_tokens
    return base.model_copy(update=update)


def _load_llm(ws, registry: ModelRegistry, model: str, max_new_tokens: int | None):
    from ragft.models import load_llm

    return load_llm(_llm_config(ws, registry, model, max_new_tokens), progress=False)
