"""Multi-turn questions: a follow-up ("And outside Europe?") is rewritten into a standalone
question before retrieval, and the answer sees the earlier turns.

``condense(history, question, method)`` is the configurable condense step:

- ``auto`` (default): when the follow-up leans on earlier turns — it is short, opens with a
  connective ("and", "what about"), or points back with a pronoun ("it", "they", "that") — the
  previous user question is put in front of it; a self-contained question is left alone. No
  model call, so it costs nothing and works with the 135M built-in model; retrieval gets the
  words the follow-up leaves out.
- ``always``: always prepend the previous user question.
- ``llm``: ask the variant's generator to rewrite the follow-up (for larger models).
- ``none``: the follow-up as it is.

Measured on ``ragft/data/sample/multiturn.jsonl`` by ``benchmarks/condense.py`` (hit@5 of the
follow-up's gold document); see docs/web-and-api.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

CondenseMethod = Literal["auto", "always", "llm", "none"]
CONDENSE_METHODS = ("auto", "always", "llm", "none")
HISTORY_TURNS = 4  # earlier exchanges shown to the generator by default (ConversationConfig.history_turns)
HISTORY_CHARS = 2000  # and at most this much of their text

_CONNECTIVES = re.compile(r"^(and|but|or|so|also|then|what about|how about|what of|and what|same for)\b", re.I)
_BACK_REFERENCES = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|then|former|latter|"
    r"the same|one|ones)\b", re.I)
SHORT_FOLLOW_UP_WORDS = 5  # a question this short almost always leans on the previous turn

REWRITE_PROMPT = (
    "Rewrite the last question so that it can be understood without the conversation. Keep its "
    "meaning; add the subject it refers to. Reply with the rewritten question only."
)


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation."""

    question: str
    answer: str = ""


def needs_context(question: str) -> bool:
    """Whether a follow-up leans on earlier turns (heuristic of the ``auto`` method)."""
    words = re.findall(r"\w+", question)
    return (len(words) <= SHORT_FOLLOW_UP_WORDS or bool(_CONNECTIVES.match(question.strip()))
            or bool(_BACK_REFERENCES.search(question)))


def condense(history: Sequence[Turn], question: str, method: CondenseMethod = "auto", llm=None) -> str:
    """The standalone question to retrieve and answer with (``question`` itself when there is no history)."""
    question = question.strip()
    if not history or method == "none":
        return question
    previous = history[-1].question.strip()
    if method == "llm" and llm is not None:
        return _rewrite(llm, history, question) or question
    if method == "always" or (method in ("auto", "llm") and needs_context(question)):
        return f"{previous} {question}"
    return question


def history_messages(history: Sequence[Turn], turns: int = HISTORY_TURNS) -> list[dict]:
    """The last ``turns`` exchanges as chat messages (user, assistant, …), the newest kept when cut."""
    messages: list[dict] = []
    budget = HISTORY_CHARS
    for turn in reversed(list(history)[-turns:] if turns else []):
        pair = [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
        size = len(turn.question) + len(turn.answer)
        if size > budget:
            break
        budget -= size
        messages = pair + messages
    return [m for m in messages if m["content"]]


def with_history(messages: list[dict], history: Sequence[Turn], system_note: str = "",
                 turns: int = HISTORY_TURNS) -> list[dict]:
    """``[system, user]`` prompt messages with the earlier turns between them, and the client's own
    system message (``system_note``) added to the variant's system prompt."""
    system, rest = (messages[0], messages[1:]) if messages and messages[0]["role"] == "system" else (None, messages)
    head = []
    if system is not None or system_note:
        content = "\n\n".join(part for part in ((system or {}).get("content", ""), system_note) if part)
        head = [{"role": "system", "content": content}]
    return head + history_messages(history, turns) + rest


def _rewrite(llm, history: Sequence[Turn], question: str) -> str:
    transcript = "\n".join(f"User: {t.question}\nAssistant: {t.answer}" for t in list(history)[-HISTORY_TURNS:])
    messages = [{"role": "system", "content": REWRITE_PROMPT},
                {"role": "user", "content": f"{transcript}\nUser: {question}\n\nRewritten question:"}]
    text = llm.generate([messages], max_new_tokens=48)[0].text.strip().splitlines()
    return text[0].strip() if text else ""
