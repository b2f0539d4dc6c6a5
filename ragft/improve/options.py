"""What an improve run takes (``ImproveOptions``), decides (``Decision``) and returns
(``ImproveResult``), and the names of the registry events it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.metrics.stats import Comparison
from ragft.models.registry import ModelVersion
from ragft.types import Preference

# Registry events (see the ragft.improve docstring).
COLLECTED = "improve:collected"  # on the candidate: the watermark, pair counts and incumbent
EVALUATED = "improve:evaluated"
KEPT = "improve:kept"  # on the incumbent when a candidate is rejected
METHODS = ("dpo", "orpo", "sft")  # rows of ragft.tuning.methods that learn from feedback pairs or edits


@dataclass
class ImproveOptions:
    test: Path  # held-out QA file (question + gold answers) the decision is made on
    method: str = "dpo"  # "dpo" | "orpo" (all pairs) | "sft" (edits only)
    questions: Path | None = None  # QA file (or .txt, one question a line) for AI feedback
    judge: str = "auto"  # auto | auto-score | self | a model (builtin:…, path, HF id, registry:NAME)
    ai_samples: int = 4
    ai_threshold: float = 0.5  # auto-score: acceptable at or above this similarity to gold
    rag: bool = False  # nothing deployed: evaluate (and sample AI feedback) with naive RAG over the workspace index
    variant: str | None = None  # the deployed variant to score with [its default, if it generates]
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
