"""What kind of answer a question wants, and how a generator is told (or constrained) to give it.

A classification question ("Can passengers use Wi-Fi on MV Siskin?", gold "no") is scored by
label accuracy, so the model must be asked for a label — and, where the backend can score
text, the label is *chosen* by the model's likelihood of each one rather than parsed from free
text (a 135M model asked "yes or no?" still often writes a sentence with no label in it).
Short-answer tasks need nothing extra: the RAG and closed-book prompts already ask for the
short answer first.

Generation steps read ``RAGState.answer_format``; ``None`` means "answer as usual".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_LABELS = ("yes", "no", "maybe")


@dataclass(frozen=True)
class AnswerFormat:
    """An instruction appended to the question, and the labels to choose from (if any)."""

    instruction: str = ""
    choices: tuple[str, ...] = ()

    def apply(self, user_message: str) -> str:
        return f"{user_message}\n\n{self.instruction}" if self.instruction else user_message

    def fingerprint(self) -> list:
        return [self.instruction, list(self.choices)]


def answer_format(task_type: str, labels: Sequence[str] = DEFAULT_LABELS) -> AnswerFormat | None:
    """The answer format a task type asks for; None when the default prompts already fit it."""
    if task_type != "classification":
        return None
    labels = tuple(labels) or DEFAULT_LABELS
    spelled = ", ".join(labels[:-1]) + f" or {labels[-1]}" if len(labels) > 1 else labels[0]
    return AnswerFormat(instruction=f"Answer with one word: {spelled}.", choices=labels)


def with_format(messages: list[dict], answer_format: AnswerFormat | None) -> list[dict]:
    """The conversation with the format's instruction added to its last user message."""
    if answer_format is None or not answer_format.instruction:
        return messages
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return [dict(m, content=answer_format.apply(m["content"])) if i == last_user else m
            for i, m in enumerate(messages)]


def supports_choice(llm) -> bool:
    """Whether the backend can score labels by likelihood (a local model can; a chat API cannot)."""
    return callable(getattr(llm, "choose", None))


def answer_with_formats(llm, conversations: list[list[dict]], formats: list[AnswerFormat | None],
                        max_new_tokens: int | None = None) -> list[tuple]:
    """(Generation, label scores or None) per conversation: labels chosen by likelihood where the
    format has choices and the backend supports it, free generation (with the instruction) else."""
    conversations = [with_format(c, f) for c, f in zip(conversations, formats)]
    choose = [i for i, f in enumerate(formats) if f is not None and f.choices and supports_choice(llm)]
    chosen = set(choose)
    free = [i for i in range(len(conversations)) if i not in chosen]
    results: list[tuple | None] = [None] * len(conversations)
    if choose:
        for i, picked in zip(choose, llm.choose([conversations[i] for i in choose], [formats[i].choices for i in choose])):
            results[i] = picked
    if free:
        for i, generation in zip(free, llm.generate([conversations[i] for i in free], max_new_tokens=max_new_tokens)):
            results[i] = (generation, None)
    return results
