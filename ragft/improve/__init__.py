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
from collections.abc import Callable
from pathlib import Path

from ragft.deployment import load_deployment
from ragft.errors import ConfigError
from ragft.improve.collect import (
    FEEDBACK_TABLES,
    collect,
    count_sources,
    last_watermark,
    new_pairs,
    table_marks,
)
from ragft.improve.evaluate import (
    decide,
    evaluate_and_decide,
    evaluation_spec,
    print_summary,
)
from ragft.improve.options import (
    COLLECTED,
    METHODS,
    Decision,
    ImproveOptions,
    ImproveResult,
)
from ragft.improve.train import check_lineage_hygiene, train_candidate
from ragft.models.registry import REGISTRY_PREFIX, ModelRegistry, ModelVersion
from ragft.types import QAExample

__all__ = [
    "COLLECTED",
    "FEEDBACK_TABLES",
    "Decision",
    "ImproveOptions",
    "ImproveResult",
    "collect",
    "decide",
    "improve",
    "last_watermark",
    "new_pairs",
    "print_summary",
    "table_marks",
]


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
        check_lineage_hygiene(registry, [REGISTRY_PREFIX + candidate.name, incumbent], test)
    else:
        incumbent = _incumbent(registry, ws, options.rag, options.variant)
        check_lineage_hygiene(registry, [incumbent], test)  # before any sampling or training
        pairs, watermark = collect(ws, registry, incumbent, options, test, say)
        candidate = train_candidate(pairs, incumbent, registry, options, test, say)
        registry.log_event(candidate.name, COLLECTED, json.dumps(
            {"watermark": watermark, "pairs": len(pairs), "sources": count_sources(pairs),
             "incumbent": incumbent}))
    return evaluate_and_decide(ws, registry, candidate, incumbent, test, options, pairs, pending is not None, say)


def _check_options(options: ImproveOptions) -> None:
    from ragft.metrics.tasks import ANSWER_METRICS

    if options.method not in METHODS:
        raise ConfigError(f"--method {options.method!r} — use dpo or orpo (all feedback pairs) or sft (edits only)")
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
def _incumbent(registry: ModelRegistry, ws, rag: bool = False, variant: str | None = None) -> str:
    """What the candidate starts from and must beat: the deployed pipeline's generator, else the
    current version, else the workspace model."""
    current = registry.current()
    if load_deployment(ws) is not None:
        llm, where = evaluation_spec(ws, rag, variant).llm, ws.deployment_path
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
