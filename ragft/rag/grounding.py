"""Grounded generation: answer only from the context, quote the support, or abstain.

- ``grounded_generate`` — a ``generate`` whose prompt (:data:`GROUNDED_SYSTEM_PROMPT`) asks for
  the short answer followed by the supporting text quoted in double quotes, and exactly
  :data:`ABSTENTION` when the context lacks the answer. After generation,
  :func:`quote_check` compares every quoted string with the context shown to the model and
  records in ``state.trace["grounded_generate"]`` a ``status``:

  * ``abstained`` — the answer is an abstention (:func:`is_abstention`);
  * ``grounded`` — it quotes, and every quote occurs in the context (case, whitespace and
    quote-mark style ignored; ``...`` inside a quote separates pieces checked separately);
  * ``ungrounded`` — at least one quote is not in the context (``missing`` lists them);
  * ``no_quote`` — it answers without quoting.

  ``on_ungrounded: abstain`` replaces an ungrounded answer with the abstention (default
  ``keep``); ``strip_quotes: true`` returns only the answer part (quotes and ``[n]`` citations
  removed, the full text stays in the trace) for metrics that penalise extra words.
- :func:`is_abstention` / :func:`wrong_abstention_rate` — for the study: the share of
  answerable questions (gold answer not itself an abstention) where the model abstained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from ragft.rag.modular import RAGState
from ragft.rag.params import StepDef, StepParams
from ragft.rag.steps import format_context, rag_messages
from ragft.rag.tasks import with_format

ABSTENTION = "Not found in the documents."

GROUNDED_SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages, never your own knowledge. "
    "Give the short answer first, then quote the sentence of the context that supports it, in "
    'double quotes, and cite its passage, like: 20 working days. "send a full written response '
    'within 20 working days" [2]. '
    f"If the passages do not contain the answer, reply exactly: {ABSTENTION}"
)

# Phrases that mean "I cannot answer from these documents" (matched case-insensitively, with
# curly apostrophes straightened).
_ABSTENTION_PATTERNS = [
    r"\bnot (?:be )?found in the (?:provided |given )?(?:documents?|context|passages?|texts?|sources?)",
    r"\b(?:the )?(?:provided |given )?(?:documents?|context|passages?|texts?|sources?) (?:do|does|did) not "
    r"(?:say|mention|contain|specify|state|provide|include|give|tell|answer|cover)",
    r"\b(?:documents?|context|passages?) (?:has|have|contains?) no (?:information|mention|answer)",
    r"\bi (?:do not|don't|dont) know\b",
    r"\b(?:there is|there's) no (?:information|mention|answer)\b",
    r"\bno (?:relevant )?information (?:is |was )?(?:available|provided|given|found)\b",
    r"\bnot (?:mentioned|stated|specified|provided|given|covered) in the (?:documents?|context|passages?|texts?)",
    r"\bi (?:cannot|can't|can not|could not|couldn't|am unable to) (?:find|answer|determine|tell|say)\b",
]
_ABSTENTION = re.compile("|".join(f"(?:{p})" for p in _ABSTENTION_PATTERNS), re.IGNORECASE)


def is_abstention(text: str) -> bool:
    """Whether an answer declines to answer ("Not found in the documents.", "I don't know", …)."""
    return bool(_ABSTENTION.search(text.replace("’", "'").replace("‘", "'")))


def wrong_abstention_rate(answers: list[str], golds: list[str | list[str]]) -> float:
    """Share of answerable questions where the model abstained.

    A question is answerable when no gold alias is itself an abstention (``golds`` holds one
    answer or a list of aliases per question). 0.0 when no question is answerable.
    """
    if len(answers) != len(golds):
        raise ValueError(f"{len(answers)} answers but {len(golds)} gold answers")
    answerable = [answer for answer, gold in zip(answers, golds)
                  if not any(is_abstention(g) for g in ([gold] if isinstance(gold, str) else gold))]
    if not answerable:
        return 0.0
    return sum(is_abstention(a) for a in answerable) / len(answerable)


# ---------------------------------------------------------------------------------------------
# Quote checking
# ---------------------------------------------------------------------------------------------

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|«([^»]+)»')
_ELLIPSIS = re.compile(r"\.\.\.|…")
_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.lower().split())


def quoted_strings(answer: str) -> list[str]:
    """The texts inside double quotes (straight, curly or «guillemets») of an answer."""
    return [next(g for g in match.groups() if g is not None).strip() for match in _QUOTED.finditer(answer)]


@dataclass
class QuoteCheck:
    status: str  # grounded | ungrounded | no_quote | abstained
    quotes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # quotes not found in the context

    @property
    def grounded(self) -> bool:
        return self.status == "grounded"


def quote_check(answer: str, context: str, min_chars: int = 4) -> QuoteCheck:
    """Check that every quote of ``answer`` occurs in ``context``.

    Matching ignores case, runs of whitespace and curly-vs-straight quote marks; a trailing
    full stop or comma inside the quote is ignored, ``...`` splits a quote into pieces that must
    each occur. Quotes shorter than ``min_chars`` (e.g. a quoted "no") are not evidence and are
    skipped.
    """
    if is_abstention(answer):
        return QuoteCheck("abstained")
    haystack = _normalise(context)
    quotes = [q for q in quoted_strings(answer) if len(q) >= min_chars]
    if not quotes:
        return QuoteCheck("no_quote")
    missing = []
    for quote in quotes:
        pieces = [_normalise(p).strip(" .,;:") for p in _ELLIPSIS.split(quote)]
        if not all(piece in haystack for piece in pieces if piece):
            missing.append(quote)
    return QuoteCheck("ungrounded" if missing else "grounded", quotes, missing)


def strip_quotes(answer: str) -> str:
    """The answer without its quoted support and ``[n]`` citations ("20 days. "…" [2]" → "20 days.")."""
    text = _CITATION.sub("", _QUOTED.sub("", answer))
    text = re.sub(r"\s+([.,;:])", r"\1", " ".join(text.split()))
    stripped = text.strip(" -—–:;,")
    return stripped or answer.strip()


# ---------------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------------


@dataclass
class GroundedGenerate:
    """Generate from the context with quoted support, then check the quotes against it."""

    llm: Any
    system_prompt: str = GROUNDED_SYSTEM_PROMPT
    max_new_tokens: int | None = None
    on_ungrounded: Literal["keep", "abstain"] = "keep"
    strip_quotes: bool = False
    name: str = "grounded_generate"

    def run(self, states: list[RAGState]) -> list[RAGState]:
        conversations = [with_format(rag_messages(s.question, s.hits, self.system_prompt, s.context_note),
                                     s.answer_format) for s in states]
        for state, generation in zip(states, self.llm.generate(conversations, max_new_tokens=self.max_new_tokens)):
            state.charge(generation)
            context = format_context(state.hits) + ("\n\n" + state.context_note if state.context_note else "")
            check = quote_check(generation.text, context)
            answer = generation.text
            if check.status == "ungrounded" and self.on_ungrounded == "abstain":
                answer = ABSTENTION
            elif self.strip_quotes and check.status != "abstained":
                answer = strip_quotes(answer)
            state.answer = answer
            state.trace[self.name] = {"status": check.status, "quotes": check.quotes, "missing": check.missing,
                                      "abstained": is_abstention(answer), "raw_answer": generation.text}
        return states


class GroundedGenerateParams(StepParams):
    system_prompt: str = GROUNDED_SYSTEM_PROMPT
    max_new_tokens: int | None = Field(None, ge=1)  # None: the variant's max_new_tokens
    on_ungrounded: Literal["keep", "abstain"] = "keep"
    strip_quotes: bool = False


def _grounded_generate(params: GroundedGenerateParams, ctx) -> GroundedGenerate:
    values = params.model_dump()
    if values["max_new_tokens"] is None:
        values["max_new_tokens"] = ctx.max_new_tokens
    return GroundedGenerate(ctx.llm_for(), **values)


STEPS = {"grounded_generate": StepDef(GroundedGenerateParams, _grounded_generate)}
