"""Typed step parameters: what every technique module's params model builds on.

Each technique module exports ``STEPS = {name: StepDef(ParamsModel, build)}``; the registry
validates a step's ``params`` dict into its model (unknown keys and wrong types are errors
naming the field) and calls ``build(params, ctx)`` with the validated model. A model's
defaults are the step's defaults; a field that defaults to ``None`` takes its value from the
context (the variant's retrieval settings, system prompt or ``max_new_tokens``) — each such
field says so where it is declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

from pydantic import ConfigDict, create_model

from ragft.config import RetrievalConfig, _Strict


class StepParams(_Strict):
    """Base of every step's params: unknown keys are errors, and values are not coerced ("yes" is
    not true, 1.5 not an integer) — as the hand-written checks these models replace."""

    model_config = ConfigDict(extra="forbid", strict=True)


class StepDef(NamedTuple):
    """One registered step: its params model and ``build(params, ctx) -> Step``."""

    params: type[StepParams]
    build: Callable[[Any, Any], Any]


RETRIEVAL_FIELDS = frozenset(RetrievalConfig.model_fields)


class _RetrievalOverridesBase(StepParams):
    def retrieval(self, base: RetrievalConfig) -> RetrievalConfig:
        """``base`` (the variant's retrieval settings) with the retrieval keys given here."""
        return base.model_copy(update=self.model_dump(include=RETRIEVAL_FIELDS, exclude_none=True))

    def own(self) -> dict[str, Any]:
        """The step's own params (everything but the retrieval keys)."""
        return self.model_dump(exclude=RETRIEVAL_FIELDS)


def _optional(info) -> tuple[Any, None]:
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return annotation | None, None


# The variant's retrieval settings (``top_k``, ``mode``, …) that a retrieving step may override:
# every field of RetrievalConfig, with its type and limits, defaulting to None = the variant's value.
RetrievalOverrides: type[_RetrievalOverridesBase] = create_model(
    "RetrievalOverrides", __base__=_RetrievalOverridesBase,
    **{name: _optional(info) for name, info in RetrievalConfig.model_fields.items()},
)
