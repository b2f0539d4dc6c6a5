"""``ragft improve``: close the loop from feedback to a better model, promoted only on evidence.

One run on a workspace (``<ws>/feedback.sqlite``, ``<ws>/models/registry.json``):

1. **Collect** the feedback stored since the last improve run — edits (the correction is chosen
   over the original answer), pairwise choices, up- over down-voted answers — plus optional AI
   feedback (RLAIF, ``ragft.feedback.ai``) on ``--questions``, sampled from the current version.
   The judge defaults to ``auto``: the tutorial's automatic score (token-overlap recall against
   the gold answer, threshold 0.5) when every question has a gold answer — deterministic and
   usable offline with the built-in 135M model, which is a poor judge of its own answers — else
   the current model itself as the judge (``self``), or any model named with ``--judge``.
2. **Build pairs**: the store drops identical sides and repeats; a run with nothing new stops
   with a ``ConfigError`` saying where feedback comes from.
3. **Train** a candidate: DPO from the current version (the workspace's model when none is
   current), or SFT on the edits only (``method="sft"``).
4. **Evaluate** candidate and current on held-out questions (refused when they overlap any
   question the candidate's lineage was trained on) with the same pipeline — closed-book, or
   naive RAG over the workspace index — on one metric (token F1 by default), paired bootstrap.
5. **Decide**: promote only when the candidate is better with p < alpha; otherwise reject it
   with the means, difference, CI and p-value as the reason, and keep the current version.

Every step is an event in the registry (``improve:collected``, ``scored``, ``improve:evaluated``,
``promoted``/``rejected``, ``improve:kept`` on the incumbent).

**Watermark.** ``improve:collected`` stores the highest row id of each feedback table the run
read, so the next run trains only on what came after it (``all_feedback=True`` re-reads all).
The watermark advances when a candidate is trained, whether or not it is promoted: a rejected
candidate's feedback is spent, and the next run waits for new feedback.

**Resuming.** Training resumes from its checkpoints (same data and settings → same work folder).
A candidate that was trained but not yet decided (a crash during evaluation) is picked up by the
next run instead of training another. Evaluation answers are cached per model in
``<version folder>/eval/`` (``<models>/.eval/`` for a base model outside the registry), keyed by
the questions, the pipeline and the generation settings, so the incumbent is not re-asked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, RagftError
from ragft.metrics.stats import Comparison, bootstrap_ci, paired_bootstrap
from ragft.persist import atomic_write_text, content_hash
from ragft.tuning.data import ChatExample, check_no_test_overlap, preference_prompt
from ragft.models.registry import REGISTRY_PREFIX, ModelRegistry, ModelVersion, is_registry_model
from ragft.types import Preference, QAExample

COLLECTED = "improve:collected"
EVALUATED = "improve:evaluated"
KEPT = "improve:kept"
FEEDBACK_TABLES = ("interactions", "votes", "edits", "pairwise", "ai_judgements")
METHODS = ("dpo", "sft")
EVAL_FORMAT = 1  # bump when a cached answer's meaning changes


@dataclass
class ImproveOptions:
    test: Path  # held-out QA file (question + gold answers) the decision is made on
    method: str = "dpo"  # "dpo" (all pairs) | "sft" (edits only)
    questions: Path | None = None  # QA file (or .txt, one question a line) for AI feedback
    judge: str = "auto"  # auto | auto-score | self | a model (builtin:…, path, HF id, registry:NAME)
    ai_samples: int = 4
    ai_threshold: float = 0.5  # auto-score: acceptable at or above this similarity to gold
    rag: bool = False  # evaluate (and sample AI feedback) with naive RAG over the workspace index
    metric: str = "token_f1"
    alpha: float = 0.05
    n_resamples: int = 10_000
    all_feedback: bool = False  # ignore the watermark: train on every stored pair
    max_new_tokens: int | None = None  # answer length in evaluation [the workspace's llm setting]
    config_file: Path | None = None  # YAML of trainer settings
    train: dict[str, Any] = field(default_factory=dict)  # trainer overrides (max_steps, learning_rate, …)


@dataclass
class Decision:
    promote: bool
    comparison: Comparison
    reason: str


@dataclass
class ImproveResult:
    candidate: ModelVersion
    incumbent: str  # "registry:NAME" or the base model it was compared with
    pairs: list[Preference]  # what the candidate was trained on (empty when resumed)
    decision: Decision
    metric: str
    n_questions: int
    cached: list[str]  # models whose evaluation answers came from the cache
    resumed: bool = False
    answers: dict[str, list[str]] = field(default_factory=dict)  # "current"/"candidate" -> answers
    scores: dict[str, list[float]] = field(default_factory=dict)  # the same, per-question metric values


# ---------------------------------------------------------------------------------------------
# The decision (pure: real score lists in, a reason out)
# ---------------------------------------------------------------------------------------------


def decide(current: Sequence[float], candidate: Sequence[float], *, metric: str = "token_f1",
           names: tuple[str, str] = ("current", "candidate"), alpha: float = 0.05,
           n_resamples: int = 10_000) -> Decision:
    """Promote only when the candidate is better on the same questions: p < alpha and diff > 0.

    The paired bootstrap resamples the per-question differences, so question difficulty cancels.
    A single test (no correction) is right here: one candidate against one incumbent.
    """
    comparison = paired_bootstrap(current, candidate, n_resamples=n_resamples, alpha=alpha, names=names)
    promote = comparison.significant and comparison.difference > 0
    interval = ("" if comparison.low is None else
                f", {comparison.confidence:.0%} CI {comparison.low:+.3f} to {comparison.high:+.3f}")
    verdict = ("significantly better: promoted" if promote else
               f"not significantly better (promotion needs p < {alpha:g} and a positive difference): "
               f"{names[0]} kept")
    reason = (f"{metric} on {len(current)} held-out questions: {names[1]} "
              f"{comparison.mean_b:.3f} vs {names[0]} {comparison.mean_a:.3f}, difference "
              f"{comparison.difference:+.3f}{interval}, paired bootstrap p={comparison.p_value:.4f} — {verdict}")
    return Decision(promote, comparison, reason)


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def improve(workspace: Path | str, options: ImproveOptions, say: Callable[[str], None] = print) -> ImproveResult:
    """Run the whole loop once on ``workspace``; see the module docstring."""
    from ragft.workspace import Workspace

    _check_options(options)
    ws = Workspace(Path(workspace))
    registry = ModelRegistry(ws.path / "models")
    test = _load_test(options.test)
    pending = _pending_candidate(registry)
    if pending is not None:
        say(f"resuming: candidate {pending.name} was trained by an earlier improve run but not yet decided")
        candidate, pairs, incumbent = pending, [], _incumbent_of(pending)
        _check_lineage_hygiene(registry, [REGISTRY_PREFIX + candidate.name, incumbent], test)
    else:
        incumbent = _incumbent(registry, ws)
        _check_lineage_hygiene(registry, [incumbent], test)  # before any sampling or training
        pairs, watermark = collect(ws, registry, incumbent, options, test, say)
        candidate = _train(pairs, incumbent, registry, options, test, say)
        registry.log_event(candidate.name, COLLECTED, json.dumps(
            {"watermark": watermark, "pairs": len(pairs), "sources": _count_sources(pairs),
             "incumbent": incumbent}))
    return _evaluate_and_decide(ws, registry, candidate, incumbent, test, options, pairs, pending is not None, say)


def _check_options(options: ImproveOptions) -> None:
    from ragft.metrics.metrics import ANSWER_METRICS

    if options.method not in METHODS:
        raise ConfigError(f"--method {options.method!r} — use dpo (all feedback pairs) or sft (edits only)")
    if options.method == "sft" and options.questions is not None:
        raise ConfigError("--questions collects AI preference pairs, which --method sft (edits only) does not "
                          "use — use --method dpo, or leave out --questions")
    if options.metric not in ANSWER_METRICS:
        raise ConfigError(f"--metric {options.metric!r} is not an answer metric — use one of "
                          f"{', '.join(ANSWER_METRICS)}")
    if not 0 < options.alpha < 1:
        raise ConfigError(f"--alpha must be between 0 and 1, got {options.alpha}")


def _load_test(path: Path) -> list[QAExample]:
    from ragft.corpus import load_qa_file

    if not Path(path).is_file():
        raise ConfigError(f"{path}: test QA file not found — give held-out questions with gold answers (--test)")
    test = load_qa_file(path)
    if len(test) < 2:
        raise ConfigError(f"{path}: {len(test)} test question — a paired significance test needs at least 2 "
                          "(a few dozen to detect real gains)")
    return test


# ------------------------------------------------------------------------------- who is current
def _incumbent(registry: ModelRegistry, ws) -> str:
    """What the candidate starts from and must beat: the current version, else the workspace model."""
    current = registry.current()
    if current is not None:
        return REGISTRY_PREFIX + current.name
    llm = ws.load_config().llm
    if llm.backend != "transformers":
        raise ConfigError(f"{ws.config_path}: llm.backend is {llm.backend!r} — improve trains local weights; set "
                          "llm.backend: transformers with a local or Hugging Face model")
    return llm.model


def _incumbent_of(candidate: ModelVersion) -> str:
    """The incumbent a pending candidate was trained against (from its collected event)."""
    for entry in reversed(candidate.log):
        if entry.get("event") == COLLECTED:
            try:
                return json.loads(entry["detail"])["incumbent"]
            except (ValueError, KeyError, TypeError):
                break
    return REGISTRY_PREFIX + candidate.parent if candidate.parent else candidate.base_model


def _pending_candidate(registry: ModelRegistry) -> ModelVersion | None:
    """A version an improve run trained and never decided on (the run stopped in evaluation)."""
    for version in reversed(registry.list()):
        events = {entry.get("event") for entry in version.log}
        if COLLECTED in events and not events & {"promoted", "rejected"} and version.status == "candidate":
            return version
    return None


# ------------------------------------------------------------------------------- collection
def collect(ws, registry: ModelRegistry, incumbent: str, options: ImproveOptions, test: list[QAExample],
            say: Callable[[str], None]) -> tuple[list[Preference], dict[str, int]]:
    """New preference pairs since the watermark (after any AI feedback), and the new watermark.

    ConfigError when there is nothing new to train on: the registry and store are untouched.
    """
    store_path = ws.path / "feedback.sqlite"
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
    say(f"collected {len(pairs)} new pair(s): " + ", ".join(f"{n} {k}" for k, n in _count_sources(pairs).items()))
    return pairs, upto


def _no_feedback_message(ws, what: str) -> str:
    return (f"{what} in {ws.path / 'feedback.sqlite'} — nothing to train on: collect votes, edits or pairwise "
            f"choices with `ragft serve --workspace {ws.path}`, import a file with `ragft feedback import`, "
            "pass --questions FILE for AI feedback, or --all-feedback to reuse feedback already trained on")


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


def _count_sources(pairs: Sequence[Preference]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.source or "other"] = counts.get(pair.source or "other", 0) + 1
    return counts


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


# ------------------------------------------------------------------------------- training
def _train(pairs: list[Preference], incumbent: str, registry: ModelRegistry, options: ImproveOptions,
           test: list[QAExample], say: Callable[[str], None]) -> ModelVersion:
    """DPO (or SFT on edits) from the incumbent; the trainers refuse test-set leaks themselves."""
    from ragft.tuning.preference import train_dpo
    from ragft.tuning.run import make_config
    from ragft.tuning.sft import train_sft

    test_questions = [q.question for q in test]
    check_no_test_overlap([p.question for p in pairs], test_questions)  # before anything is loaded
    config = make_config(options.method, options.config_file, {"base_model": incumbent, **options.train})
    say(f"training a {options.method} candidate from {incumbent} on {len(pairs)} pair(s)")
    if options.method == "sft":
        examples = [ChatExample(preference_prompt(p), p.chosen, p.question, {"kind": "edit"}) for p in pairs]
        version = train_sft(examples, config, registry, method="sft", test_questions=test_questions)
    else:
        version = train_dpo(pairs, config, registry, test_questions=test_questions)
    m = version.metrics
    say(f"trained {version.name}: {m.get('steps')} steps in {m.get('seconds')} s, loss {m.get('first_loss')} → "
        f"{m.get('final_loss')}")
    return version


def _check_lineage_hygiene(registry: ModelRegistry, models: Sequence[str], test: list[QAExample]) -> None:
    """Refuse test questions that any registry model in ``models`` (or its ancestors) trained on."""
    versions = {v.name: v for v in registry.list()}
    trained: list[str] = []
    for model in models:
        name = model.removeprefix(REGISTRY_PREFIX) if is_registry_model(model) else None
        seen: set[str] = set()
        while name in versions and name not in seen:  # a corrupt parent cycle must not loop forever
            seen.add(name)
            trained += versions[name].train_questions
            name = versions[name].parent
    try:
        check_no_test_overlap(list(dict.fromkeys(trained)), [q.question for q in test])
    except RagftError as err:
        raise ConfigError(f"the test set overlaps questions the models were trained on — {err}") from None


# ------------------------------------------------------------------------------- evaluation
def _evaluate_and_decide(ws, registry: ModelRegistry, candidate: ModelVersion, incumbent: str,
                         test: list[QAExample], options: ImproveOptions, pairs: list[Preference], resumed: bool,
                         say: Callable[[str], None]) -> ImproveResult:
    from ragft.metrics.metrics import ANSWER_METRICS

    score = ANSWER_METRICS[options.metric]
    cached: list[str] = []
    answers = {}
    for role, model in (("current", incumbent), ("candidate", REGISTRY_PREFIX + candidate.name)):
        answers[role], from_cache = evaluation_answers(ws, registry, model, test, options, say)
        if from_cache:
            cached.append(model)
    scores = {role: [score(a, q.answers) for a, q in zip(answers[role], test)] for role in answers}
    names = (_short(incumbent), candidate.name)
    decision = decide(scores["current"], scores["candidate"], metric=options.metric, names=names,
                      alpha=options.alpha, n_resamples=options.n_resamples)
    _record(registry, candidate, incumbent, scores, decision, options)
    return ImproveResult(candidate=registry.get(candidate.name), incumbent=incumbent, pairs=pairs,
                         decision=decision, metric=options.metric, n_questions=len(test), cached=cached,
                         resumed=resumed, answers=answers, scores=scores)


def _record(registry: ModelRegistry, candidate: ModelVersion, incumbent: str, scores: dict[str, list[float]],
            decision: Decision, options: ImproveOptions) -> None:
    """Scores on both sides, the evaluation, then the decision — each one registry event."""
    c = decision.comparison
    key = f"improve:{Path(options.test).stem}"
    registry.record_scores(candidate.name, key, {options.metric: c.mean_b, "n": len(scores["candidate"]),
                                                 "vs": _short(incumbent), "difference": c.difference,
                                                 "low": c.low, "high": c.high, "p_value": c.p_value})
    if is_registry_model(incumbent):
        registry.record_scores(incumbent, key, {options.metric: c.mean_a, "n": len(scores["current"])})
    setup = (f"{'naive RAG' if options.rag else 'closed-book'} on {len(scores['candidate'])} questions from "
             f"{options.test}: {options.metric} {_short(incumbent)} {c.mean_a:.3f}, {candidate.name} {c.mean_b:.3f}")
    registry.log_event(candidate.name, EVALUATED, setup)
    if decision.promote:
        registry.promote(candidate.name, decision.reason)
    else:
        registry.reject(candidate.name, decision.reason)
        if is_registry_model(incumbent):
            registry.log_event(incumbent, KEPT, f"{candidate.name} rejected: {decision.reason}")


def evaluation_answers(ws, registry: ModelRegistry, model: str, test: list[QAExample], options: ImproveOptions,
                       say: Callable[[str], None]) -> tuple[list[str], bool]:
    """``model``'s answers to the test questions (cached on disk); True when from the cache."""
    index, retrieval = _workspace_index(ws) if options.rag else (None, None)
    llm_config = _llm_config(ws, registry, model, options.max_new_tokens)
    key = _eval_key(test, options, llm_config, index, retrieval)
    path = _cache_path(registry, model, llm_config.model, key)
    cached = _read_cache(path, test)
    if cached is not None:
        say(f"{_short(model)}: {len(test)} answers from the cache ({path.parent})")
        return cached, True
    from ragft.models import load_llm
    from ragft.rag.pipeline import ClosedBook, naive_rag

    say(f"{_short(model)}: answering {len(test)} test question(s) {'with naive RAG' if options.rag else 'closed-book'}")
    llm = load_llm(llm_config, progress=False)
    pipeline = naive_rag(index, llm, retrieval) if options.rag else ClosedBook(llm)
    answers = [a.text for a in pipeline.answer_batch([q.question for q in test], [q.doc_scope for q in test])]
    _write_cache(path, test, answers, model)
    return answers, False


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


def _workspace_index(ws):
    from ragft.models import load_embedder

    if not ws.has_index():
        raise ConfigError(f"{ws.path}: --rag needs the workspace index — run `ragft ingest PATH --workspace "
                          f"{ws.path}` first, or leave out --rag to evaluate closed-book")
    config = ws.load_config()
    return ws.load_index(load_embedder(config.embedder)), config.retrieval


def _eval_key(test: list[QAExample], options: ImproveOptions, llm_config, index, retrieval) -> str:
    """Everything that decides the answers except the weights (the cache lives with the weights)."""
    from ragft.rag.pipeline import CLOSED_BOOK_SYSTEM_PROMPT
    from ragft.rag.steps import RAG_SYSTEM_PROMPT

    recipe = {"format": EVAL_FORMAT, "questions": [(q.question, q.doc_scope) for q in test],
              "llm": llm_config.model_dump(exclude={"model", "batch_size", "timeout_s", "max_retries", "device"}),
              "pipeline": "rag" if options.rag else "closed_book",
              "prompt": RAG_SYSTEM_PROMPT if options.rag else CLOSED_BOOK_SYSTEM_PROMPT}
    if index is not None:
        recipe["index"] = asdict(index.manifest)
        recipe["retrieval"] = retrieval.model_dump()
    return content_hash(recipe)[:16]


def _cache_path(registry: ModelRegistry, model: str, path: str, key: str) -> Path:
    if is_registry_model(model):
        return Path(path) / "eval" / f"improve-{key}.json"
    model_hash = hashlib.sha256(path.encode()).hexdigest()[:12]  # a base model outside the registry
    return registry.root / ".eval" / f"{model_hash}-{key}.json"


def _read_cache(path: Path, test: list[QAExample]) -> list[str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        answers = data["answers"]
        if data["questions"] == [q.question for q in test] and len(answers) == len(test):
            return [str(a) for a in answers]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or torn: answer again
    return None


def _write_cache(path: Path, test: list[QAExample], answers: list[str], model: str) -> None:
    atomic_write_text(path, json.dumps({"model": model, "questions": [q.question for q in test], "answers": answers},
                                       ensure_ascii=False, indent=1))


def _short(model: str) -> str:
    return model.removeprefix(REGISTRY_PREFIX)


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


def print_summary(result: ImproveResult, console) -> None:
    """A short rich table: both models' means with CIs, the difference, p and the decision."""
    from rich.table import Table

    from ragft.study.scoring import LABELS

    c = result.decision.comparison
    label = LABELS.get(result.metric, result.metric)
    table = Table(title=f"ragft improve: {label} on {result.n_questions} held-out questions")
    for column in ("model", "role", label, "95% CI"):
        table.add_column(column)
    for role, name in (("current", _short(result.incumbent)), ("candidate", result.candidate.name)):
        mean, low, high = bootstrap_ci(result.scores[role])
        table.add_row(name, role, f"{mean:.3f}", f"{low:.3f}–{high:.3f}")
    console.print(table)
    interval = "" if c.low is None else f" (95% CI {c.low:+.3f} to {c.high:+.3f})"
    console.print(f"difference {c.difference:+.3f}{interval}, paired bootstrap p={c.p_value:.4f}", highlight=False)
    if result.decision.promote:
        console.print(f"[green]promoted[/] {result.candidate.name}: it is now the current version", highlight=False)
    else:
        console.print(f"[yellow]kept[/] {_short(result.incumbent)}; {result.candidate.name} rejected: not "
                      "significantly better (the reason is in its registry log; `ragft models` lists versions)",
                      highlight=False)
