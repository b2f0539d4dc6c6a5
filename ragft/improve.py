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
   question the candidate's lineage was trained on) with the pipeline the workspace serves — its
   deployed variant (``ragft deploy``), else closed-book or naive RAG (``--rag``) — answered by
   the study's own code (``ragft.study.answering``), on one metric (token F1 by default), paired
   bootstrap.
5. **Decide**: promote only when the candidate is better with p < alpha; otherwise reject it
   with the means, difference, CI and p-value as the reason, and keep the current version. A
   promotion also swaps the generator in the workspace's deployment, so a running server answers
   with the new version from its next request.

Every step is an event in the registry (``improve:collected``, ``scored``, ``improve:evaluated``,
``promoted``/``rejected``, ``improve:kept`` on the incumbent).

**Watermark.** ``improve:collected`` stores the highest row id of each feedback table the run
read, so the next run trains only on what came after it (``all_feedback=True`` re-reads all).
The watermark advances when a candidate is trained, whether or not it is promoted: a rejected
candidate's feedback is spent, and the next run waits for new feedback.

**Resuming.** Training resumes from its checkpoints (same data and settings → same work folder).
A candidate that was trained but not yet decided (a crash during evaluation) is picked up by the
next run instead of training another. Evaluation answers are study records under
``<workspace>/runs/improve/records/``, keyed by the evaluated spec, so the incumbent is not re-asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, RagftError
from ragft.metrics.stats import Comparison, bootstrap_ci, paired_bootstrap
from ragft.persist import content_hash
from ragft.tuning.data import ChatExample, check_no_test_overlap, preference_prompt
from ragft.models.registry import REGISTRY_PREFIX, ModelRegistry, ModelVersion, is_registry_model
from ragft.deployment import WorkspaceModels, load_deployment, promote_generator
from ragft.rag.variant import AnswerResources, VariantSpec
from ragft.types import Preference, QAExample

COLLECTED = "improve:collected"
EVALUATED = "improve:evaluated"
KEPT = "improve:kept"
FEEDBACK_TABLES = ("interactions", "votes", "edits", "pairwise", "ai_judgements")
METHODS = ("dpo", "sft")
EVAL_FORMAT = 2  # bump when a cached answer's meaning changes


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
    registry = ModelRegistry(ws.models_dir)
    test = _load_test(options.test)
    pending = _pending_candidate(registry)
    if pending is not None:
        say(f"resuming: candidate {pending.name} was trained by an earlier improve run but not yet decided")
        candidate, pairs, incumbent = pending, [], _incumbent_of(pending)
        _check_lineage_hygiene(registry, [REGISTRY_PREFIX + candidate.name, incumbent], test)
    else:
        incumbent = _incumbent(registry, ws, options.rag)
        _check_lineage_hygiene(registry, [incumbent], test)  # before any sampling or training
        pairs, watermark = collect(ws, registry, incumbent, options, test, say)
        candidate = _train(pairs, incumbent, registry, options, test, say)
        registry.log_event(candidate.name, COLLECTED, json.dumps(
            {"watermark": watermark, "pairs": len(pairs), "sources": _count_sources(pairs),
             "incumbent": incumbent}))
    return _evaluate_and_decide(ws, registry, candidate, incumbent, test, options, pairs, pending is not None, say)


def _check_options(options: ImproveOptions) -> None:
    from ragft.metrics.tasks import ANSWER_METRICS

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
def _incumbent(registry: ModelRegistry, ws, rag: bool = False) -> str:
    """What the candidate starts from and must beat: the deployed pipeline's generator, else the
    current version, else the workspace model."""
    current = registry.current()
    if load_deployment(ws) is not None:
        llm, where = evaluation_spec(ws, rag).llm, ws.deployment_path
    elif current is not None:
        return REGISTRY_PREFIX + current.name
    else:
        llm, where = ws.load_config().llm, ws.config_path
    if llm.backend != "transformers":
        raise ConfigError(f"{where}: llm.backend is {llm.backend!r} — improve trains local weights; set "
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
    say(f"collected {len(pairs)} new pair(s): " + ", ".join(f"{n} {k}" for k, n in _count_sources(pairs).items()))
    return pairs, upto


def _no_feedback_message(ws, what: str) -> str:
    return (f"{what} in {ws.feedback_path} — nothing to train on: collect votes, edits or pairwise "
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
    from ragft.metrics.tasks import ANSWER_METRICS

    score = ANSWER_METRICS[options.metric]
    served = evaluation_spec(ws, options.rag)
    say(f"scoring with the served pipeline {served.name} ({served.type}), the study's answering code")
    cached: list[str] = []
    answers, versions = {}, {}
    models = WorkspaceModels(ws)
    for role, model in (("current", incumbent), ("candidate", REGISTRY_PREFIX + candidate.name)):
        spec = with_model(served, model, registry, options.max_new_tokens)
        versions[role] = spec
        records, from_cache = evaluation_records(ws, spec, test, models)
        answers[role] = [r["answer"] for r in records]
        if from_cache:
            cached.append(model)
    scores = {role: [score(a, q.answers) for a, q in zip(answers[role], test)] for role in answers}
    names = (_short(incumbent), candidate.name)
    decision = decide(scores["current"], scores["candidate"], metric=options.metric, names=names,
                      alpha=options.alpha, n_resamples=options.n_resamples)
    _record(registry, candidate, incumbent, scores, decision, options, served)
    if decision.promote:  # what the workspace serves now answers with the promoted version
        changed = promote_generator(ws, incumbent, versions["candidate"].llm, versions["candidate"].model_version,
                                    f"improve promoted {candidate.name} over {_short(incumbent)}")
        if changed:
            say(f"deployment: {', '.join(changed)} now answer with {candidate.name} (a running server picks "
                "this up on its next request)")
    return ImproveResult(candidate=registry.get(candidate.name), incumbent=incumbent, pairs=pairs,
                         decision=decision, metric=options.metric, n_questions=len(test), cached=cached,
                         resumed=resumed, answers=answers, scores=scores)


def evaluation_spec(ws, rag: bool) -> VariantSpec:
    """The pipeline candidates are scored with: the workspace's deployed variant when it generates
    (else the first deployed one that does), otherwise naive RAG (``rag``) or closed-book on the
    workspace's settings — the same specs ``ragft serve`` answers with."""
    deployment = load_deployment(ws)
    if deployment is not None:
        spec = next((v for v in [deployment.variant(), *deployment.variants] if v.generates), None)
        if spec is not None:
            return spec
    config = ws.load_config()
    return VariantSpec(name="rag.base" if rag else "closed-book.base", type="rag" if rag else "closed_book",
                       llm=config.llm, embedder=config.embedder, chunker=config.chunker, retrieval=config.retrieval)


def with_model(spec: VariantSpec, model: str, registry: ModelRegistry, max_new_tokens: int | None) -> VariantSpec:
    """``spec`` answering with ``model`` (a registry name or the base model), greedy."""
    update = {"backend": "transformers", "model": model, "temperature": 0.0, "base_url": None}
    version = registry.get(model) if is_registry_model(model) else None
    llm = spec.llm.model_copy(update=update)
    lengths = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
    return spec.with_llm(llm, f"{version.name}@{version.data_sha256[:12]}" if version else None).model_copy(
        update=lengths)


def evaluation_records(ws, spec: VariantSpec, test: list[QAExample], models: WorkspaceModels) -> tuple[list[dict], bool]:
    """``spec``'s study records on the held-out questions (cached under ``<ws>/runs/improve``); True
    when every answer came from the cache."""
    from ragft.study.answering import answer_questions
    from ragft.rag.tasks import answer_format
    from ragft.study.records import question_hash, read_records

    key = content_hash({"spec": spec.identity(), "format": EVAL_FORMAT})[:12]
    path = ws.runs_dir / "improve" / "records" / f"{spec.name}-{key}.jsonl"
    saved = read_records(path)
    from_cache = all(saved.get(q.qid, {}).get("question_hash") == question_hash(q, answer_format(q.task_type))
                     for q in test)
    resources = AnswerResources(embedder_for=models.embedder_for, llm_for=models.llm_for, index_for=models.index_for,
                                cache_dir=ws.cache_dir)
    return answer_questions(spec, test, resources, path), from_cache


def _record(registry: ModelRegistry, candidate: ModelVersion, incumbent: str, scores: dict[str, list[float]],
            decision: Decision, options: ImproveOptions, served: VariantSpec) -> None:
    """Scores on both sides, the evaluation, then the decision — each one registry event."""
    c = decision.comparison
    key = f"improve:{Path(options.test).stem}"
    registry.record_scores(candidate.name, key, {options.metric: c.mean_b, "n": len(scores["candidate"]),
                                                 "vs": _short(incumbent), "difference": c.difference,
                                                 "low": c.low, "high": c.high, "p_value": c.p_value})
    if is_registry_model(incumbent):
        registry.record_scores(incumbent, key, {options.metric: c.mean_a, "n": len(scores["current"])})
    setup = (f"{served.name} ({served.type}, spec {served.key()}) on {len(scores['candidate'])} questions from "
             f"{options.test}: {options.metric} {_short(incumbent)} {c.mean_a:.3f}, {candidate.name} {c.mean_b:.3f}")
    registry.log_event(candidate.name, EVALUATED, setup)
    if decision.promote:
        registry.promote(candidate.name, decision.reason)
    else:
        registry.reject(candidate.name, decision.reason)
        if is_registry_model(incumbent):
            registry.log_event(incumbent, KEPT, f"{candidate.name} rejected: {decision.reason}")


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
