"""Which variants every other one is compared with, and the trivial references a verdict needs.

"Does this beat closed-book *and* naive RAG?" is two questions, so a study compares with
several baselines, each its own Holm-corrected family. The references say what a trivial
answer scores — closed-book (the model alone), the extractive reader (no model), and for
classification the majority label — so a variant that merely matches them is seen for what it is.
"""

from __future__ import annotations

from ragft.metrics.labels import parse_label
from ragft.study.study_config import StudyConfig, VariantConfig
from ragft.rag.variant import RETRIEVING_TYPES, USES_LLM
from ragft.rag.tasks import DEFAULT_LABELS
from ragft.types import QAExample

MAJORITY_LABEL = "majority-label"  # the reference that always answers the most common gold label
NAIVE_STEPS = {"retrieve", "generate"}


def default_baselines(config: StudyConfig, has_classification: bool = False) -> list[str]:
    """``baseline`` (the older single setting) first, then ``baselines`` — or, when that list is
    not given, closed-book and the first naive RAG variant (else the first variant); the majority
    label joins when the study has classification questions."""
    names = [v.name for v in config.variants]
    if config.baselines:
        chosen = [config.baseline, *config.baselines]
    else:
        # Baselines run the base model: "does fine-tuning beat the model as it came?"
        closed = next((v.name for v in config.variants if v.type == "closed_book" and not _fine_tuned(config, v)), None)
        naive = next((v.name for v in config.variants if is_naive_rag(v) and not _fine_tuned(config, v)), None)
        chosen = [config.baseline, closed, naive]
    chosen = list(dict.fromkeys(b for b in chosen if b in names)) or names[:1]
    return chosen + ([MAJORITY_LABEL] if has_classification else [])


def _fine_tuned(config: StudyConfig, variant: VariantConfig) -> bool:
    return variant.llm in config.finetune


def is_naive_rag(variant: VariantConfig) -> bool:
    return variant.type == "rag" and all(step.name in NAIVE_STEPS for step in variant.pipeline)


def missing_references(config: StudyConfig) -> list[VariantConfig]:
    """Closed-book and extractive references to add when the study has none (``add_references``)."""
    if not config.add_references:
        return []
    names = {v.name for v in config.variants}
    references = []
    generating = [v for v in config.variants if v.type in USES_LLM]
    if generating and not any(v.type == "closed_book" and not _fine_tuned(config, v) for v in config.variants):
        llm = generating[0].llm
        base = config.finetune[llm].from_model if llm in config.finetune else llm
        references.append(VariantConfig(name=_free_name("closed-book", names), type="closed_book", llm=base,
                                        description="reference: the base model alone, no retrieval"))
    retrieving = [v for v in config.variants if v.type in RETRIEVING_TYPES]
    if retrieving and not any(v.type == "extractive" for v in config.variants):
        first = retrieving[0]
        references.append(VariantConfig(name=_free_name("extractive", names), type="extractive",
                                        retrieval=first.retrieval, chunker=first.chunker, embedder=first.embedder,
                                        description="reference: no LLM, the retrieved sentence most like the question"))
    return references


def _free_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def study_labels(configured: list[str] | None, questions: list[QAExample]) -> tuple[str, ...]:
    """The labels classification questions choose from: the configured ones, else every gold
    label seen in the questions given (yes/no/maybe first, in that order)."""
    if configured:
        return tuple(configured)
    seen = {gold_label(q) for q in questions if q.task_type == "classification"}
    ordered = [label for label in DEFAULT_LABELS if label in seen] + sorted(seen - set(DEFAULT_LABELS))
    return tuple(ordered) if len(ordered) >= 2 else DEFAULT_LABELS


def majority_label_counts(train: list[QAExample], test: list[QAExample]) -> tuple[dict[str, int], str]:
    """Gold label counts for the majority-label reference: from the training questions when they
    hold classification questions (honest), else from the test set (said to be optimistic)."""
    for source, pool in (("train", train), ("test", test)):
        golds = [gold_label(q) for q in pool if q.task_type == "classification"]
        if golds:
            return {label: golds.count(label) for label in dict.fromkeys(golds)}, source
    return {}, ""


def gold_label(question: QAExample) -> str:
    """A classification question's gold label, normalised ("Yes." → "yes")."""
    return parse_label(question.answer) or " ".join(question.answer.lower().strip(" .!").split())
