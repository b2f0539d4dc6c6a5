"""An OpenAI ``messages`` list read as a conversation: the question (the last user message), the
earlier exchanges, the client's system messages, and a key that ties the turns of one chat
together in the feedback store (the API is stateless: every request carries the whole history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragft.errors import RagftError
from ragft.persist import content_hash
from ragft.rag.conversation import Turn

SOURCES_FOOTER = "\n\nSources: "  # what ragft appends to answers (openai_api._footer); not part of a turn


@dataclass
class Dialogue:
    question: str
    history: list[Turn] = field(default_factory=list)
    system: str = ""  # the client's system messages, joined
    key: str = ""  # the conversation's id: a hash of how it started

    @property
    def turn(self) -> int:
        return len(self.history)

    @property
    def size(self) -> int:
        """Characters of text the model would be asked to read (question, history, system)."""
        return len(self.question) + len(self.system) + sum(len(t.question) + len(t.answer) for t in self.history)


def read_dialogue(messages: list[Any]) -> Dialogue:
    """``messages`` (objects with ``role`` and ``content``) as a Dialogue; a RagftError naming the
    field when there is no user message with text."""
    system, turns, pending = [], [], None
    for message in messages:
        text = _text(message.content)
        if message.role in ("system", "developer"):
            system.append(text)
        elif message.role == "user":
            if pending is not None:
                turns.append(Turn(pending))
            pending = text
        elif message.role == "assistant" and pending is not None:
            turns.append(Turn(pending, text.split(SOURCES_FOOTER)[0].strip()))
            pending = None
    if not pending:
        raise RagftError("field 'messages': needs a user message with text content, last")
    start = [*system, turns[0].question if turns else pending]
    return Dialogue(pending, turns, "\n\n".join(s for s in system if s), "api-" + content_hash(start)[:16])


def _text(content) -> str:
    if isinstance(content, list):  # [{"type": "text", "text": ...}, …] (other part types are refused earlier)
        content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    return (content or "").strip()
