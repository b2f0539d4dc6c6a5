"""Evaluating candidate against incumbent, deciding, and recording the decision.

Both answer the held-out questions with the pipeline the workspace serves, through the study's
own answering code (answers cached under ``<workspace>/runs/improve/records/``, keyed by the
evaluated spec); ``decide`` compares them with a paired bootstrap on one metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ragft.errors import ConfigError
from ragft.deployment import WorkspaceModels, load_deployment, promote_generator, workspace_spec
from ragft.improve.options import (
    EVALUATED,
    KEPT,
    Decision,
    ImproveOptions,
    ImproveResult,
)
from ragft.metrics.stats import bootstrap_ci, paired_bootstrap
from ragft.models.registry import (
    REGISTRY_PREFIX,
    ModelRegistry,
    ModelVersion,
    is_registry_model,
)
from ragft.persist import content_hash
from ragft.rag.variant import VariantSpec
from ragft.types import Preference, QAExample

EVAL_FORMAT = 2  # bump when a cached answer's meaning changes


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
# Evaluation
# ---------------------------------------------------------------------------------------------


def evaluate_and_decide(ws, registry: ModelRegistry, candidate: ModelVersion, incumbent: str,
                        test: list[QAExample], options: ImproveOptions, pairs: list[Preference], resumed: bool,
                        say: Callable[[str], None]) -> ImproveResult:
    """Score incumbent and candidate on the test set, decide, record it, and promote a winner into the
    workspace's deployment."""
    from ragft.metrics.tasks import ANSWER_METRICS

    score = ANSWER_METRICS[options.metric]
    served = evaluation_spec(ws, options.rag, options.variant)
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
    names = (short_name(incumbent), candidate.name)
    decision = decide(scores["current"], scores["candidate"], metric=options.metric, names=names,
                      alpha=options.alpha, n_resamples=options.n_resamples)
    _record(registry, candidate, incumbent, scores, decision, options, served)
    if decision.promote:  # what the workspace serves now answers with the promoted version
        changed = promote_generator(ws, incumbent, versions["candidate"].llm, versions["candidate"].model_version,
                                    f"improve promoted {candidate.name} over {short_name(incumbent)}")
        if changed:
            say(f"deployment: {', '.join(changed)} now answer with {candidate.name} (a running server picks "
                "this up on its next request)")
    return ImproveResult(candidate=registry.get(candidate.name), incumbent=incumbent, pairs=pairs,
                         decision=decision, metric=options.metric, n_questions=len(test), cached=cached,
                         resumed=resumed, answers=answers, scores=scores)


def evaluation_spec(ws, rag: bool, variant: str | None = None) -> VariantSpec:
    """The pipeline candidates are scored with: the deployed ``variant``, else the deployment's
    default when it generates (else the first deployed one that does), otherwise naive RAG
    (``rag``) or closed-book on the workspace's settings — the specs ``ragft serve`` answers with."""
    deployment = load_deployment(ws)
    if variant is not None:
        if deployment is None:
            raise ConfigError(f"--variant {variant}: nothing is deployed in {ws.path} — run `ragft deploy RUN_DIR` "
                              "first, or leave --variant out")
        spec = deployment.variant(variant)
        if not spec.generates:
            raise ConfigError(f"--variant {variant} is {spec.type}: it has no generator to improve — choose one of "
                              f"{', '.join(v.name for v in deployment.variants if v.generates)}")
        return spec
    if deployment is not None:
        spec = next((v for v in [deployment.variant(), *deployment.variants] if v.generates), None)
        if spec is not None:
            return spec
    config = ws.load_config()
    return workspace_spec(config, "rag" if rag else "closed-book", config.llm)


def with_model(spec: VariantSpec, model: str, registry: ModelRegistry, max_new_tokens: int | None) -> VariantSpec:
    """``spec`` answering with ``model`` (a registry name or the base model), greedy."""
    update = {"backend": "transformers", "model": model, "temperature": 0.0, "base_url": None}
    version = registry.get(model) if is_registry_model(model) else None
    llm = spec.llm.model_copy(update=update)
    lengths = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
    return spec.with_llm(llm, version.identity if version else None).model_copy(update=lengths)


def evaluation_records(ws, spec: VariantSpec, test: list[QAExample], models: WorkspaceModels) -> tuple[list[dict], bool]:
    """``spec``'s study records on the held-out questions (cached under ``<ws>/runs/improve``); True
    when every answer came from the cache."""
    from ragft.rag.tasks import answer_format
    from ragft.study.answering import answer_questions
    from ragft.study.records import question_hash, read_records

    key = content_hash({"spec": spec.identity(), "format": EVAL_FORMAT})[:12]
    path = ws.runs_dir / "improve" / "records" / f"{spec.name}-{key}.jsonl"
    saved = read_records(path)
    from_cache = all(saved.get(q.qid, {}).get("question_hash") == question_hash(q, answer_format(q.task_type))
                     for q in test)
    return answer_questions(spec, test, models.resources, path), from_cache


def _record(registry: ModelRegistry, candidate: ModelVersion, incumbent: str, scores: dict[str, list[float]],
            decision: Decision, options: ImproveOptions, served: VariantSpec) -> None:
    """Scores on both sides, the evaluation, then the decision — each one registry event."""
    c = decision.comparison
    key = f"improve:{Path(options.test).stem}"
    registry.record_scores(candidate.name, key, {options.metric: c.mean_b, "n": len(scores["candidate"]),
                                                 "vs": short_name(incumbent), "difference": c.difference,
                                                 "low": c.low, "high": c.high, "p_value": c.p_value})
    if is_registry_model(incumbent):
        registry.record_scores(incumbent, key, {options.metric: c.mean_a, "n": len(scores["current"])})
    setup = (f"{served.name} ({served.type}, spec {served.key()}) on {len(scores['candidate'])} questions from "
             f"{options.test}: {options.metric} {short_name(incumbent)} {c.mean_a:.3f}, {candidate.name} {c.mean_b:.3f}")
    registry.log_event(candidate.name, EVALUATED, setup)
    if decision.promote:
        registry.promote(candidate.name, decision.reason)
    else:
        registry.reject(candidate.name, decision.reason)
        if is_registry_model(incumbent):
            registry.log_event(incumbent, KEPT, f"{candidate.name} rejected: {decision.reason}")


def short_name(model: str) -> str:
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
    for role, name in (("current", short_name(result.incumbent)), ("candidate", result.candidate.name)):
        mean, low, high = bootstrap_ci(result.scores[role])
        table.add_row(name, role, f"{mean:.3f}", f"{low:.3f}–{high:.3f}")
    console.print(table)
    interval = "" if c.low is None else f" (95% CI {c.low:+.3f} to {c.high:+.3f})"
    console.print(f"difference {c.difference:+.3f}{interval}, paired bootstrap p={c.p_value:.4f}", highlight=False)
    if result.decision.promote:
        console.print(f"[green]promoted[/] {result.candidate.name}: it is now the current version", highlight=False)
    else:
        console.print(f"[yellow]kept[/] {short_name(result.incumbent)}; {result.candidate.name} rejected: not "
                      "significantly better (the reason is in its registry log; `ragft models` lists versions)",
                      highlight=False)
