"""A scripted stand-in for the *model* in pipeline-step tests.

Parsing, fusion and cost accounting are tested against canned replies over a real index and the
real embedder; each test module also runs the real SmolLM2 end to end where it matters.
"""

from __future__ import annotations

from ragft.types import Generation


class ScriptedLLM:
    """Answers every conversation with ``reply(conversation)``; records each batch in ``calls``.

    Every reply reports the same token counts (class attributes, overridden per test module),
    so tests can check that a step adds up the cost of its calls.
    """

    name = "scripted"
    prompt_tokens = 50
    completion_tokens = 7

    def __init__(self, reply):
        self.reply = reply
        self.calls: list[list] = []

    def generate(self, conversations, max_new_tokens=None, temperature=None):
        self.calls.append(conversations)
        return [Generation(text=self.reply(c), prompt_tokens=self.prompt_tokens,
                           completion_tokens=self.completion_tokens) for c in conversations]
