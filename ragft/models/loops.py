"""Answers that loop: small models under greedy decoding often repeat a sentence until the token
limit ("The Chief Executive Officer. The Chief Executive Officer. …").

Two guards, both on the generated text only — never on the prompt, so copying a phrase from the
retrieved context is never penalised (HF's ``repetition_penalty`` and ``no_repeat_ngram_size``
look at the prompt too, which hurts RAG):

- ``RepeatStop``: a stopping criterion that ends a row once its last ``LOOP_TOKENS`` generated
  tokens already occurred earlier in that row (a loop has started: stop paying for it);
- ``trim_repetition``: the text cut at the first sentence or line that repeats an earlier one,
  and at a short phrase repeated three times in a row.
A non-repeating answer is untouched by either.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOOP_TOKENS = 8  # a generated run of this many tokens seen before means the answer is looping
LOOP_WORDS = 8  # the text is cut where a run of this many words echoes an earlier one
_ENDING_JOIN = re.compile(r"[\s,;]+(and|or|but|so|then)$", re.I)  # "…, and" left where an echo was cut
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD_LOOP = re.compile(r"\b((?:\S+\s+){0,4}?\S+)(?:[\s,;]+\1\b){2,}", re.I)


def trim_repetition(text: str) -> str:
    """``text`` up to the first sentence (or line) that repeats an earlier one, or the first run of
    ``LOOP_WORDS`` words that echoes an earlier one, with a phrase repeated three or more times in
    a row kept once."""
    text = _cut_echo(_WORD_LOOP.sub(r"\1", text))
    seen: set[str] = set()
    kept: list[str] = []
    position = 0
    for match in list(_SENTENCE_END.finditer(text)) + [None]:
        end = match.start() if match else len(text)
        sentence = text[position:end]
        key = " ".join(sentence.lower().split()).rstrip(".!?;:, ")
        if key and key in seen:
            break
        if key:
            seen.add(key)
        kept.append(text[position:match.end() if match else len(text)])
        position = match.end() if match else len(text)
    return "".join(kept).strip()


def _cut_echo(text: str, size: int = 0) -> str:
    """``text`` before the first run of words (case-folded) that already occurred: a loop that
    restarts mid-sentence ("…, and the Board approved the launch of a tender for")."""
    size = size or LOOP_WORDS
    words = list(re.finditer(r"\S+", text))
    seen: set[tuple[str, ...]] = set()
    for start in range(len(words) - size + 1):
        run = tuple(w.group().lower().strip(".,;:!?\"'()") for w in words[start:start + size])
        if run in seen:
            return _ENDING_JOIN.sub("", text[:words[start].start()].rstrip(" ,;:-—\n"))
        seen.add(run)
    return text


def is_looping(tokens: list[int], window: int = LOOP_TOKENS) -> bool:
    """Whether the last ``window`` tokens already occur earlier in ``tokens``."""
    if len(tokens) < 2 * window:
        return False
    tail = tokens[-window:]
    return any(tokens[start:start + window] == tail for start in range(len(tokens) - window))


_DEADLINE = threading.local()  # per thread: when (monotonic s) and on what signal its job must stop generating


@contextmanager
def generation_deadline(seconds: float | None, cancel: threading.Event | None = None) -> Iterator[None]:
    """Generations on this thread inside the block stop at their next token once ``seconds`` have
    passed (a server's per-request limit; None: none) or ``cancel`` is set (a server shutting down)."""
    previous = getattr(_DEADLINE, "limits", None)
    _DEADLINE.limits = (None if seconds is None else time.monotonic() + seconds, cancel)
    try:
        yield
    finally:
        _DEADLINE.limits = previous


def _past_deadline() -> bool:
    at, cancel = getattr(_DEADLINE, "limits", None) or (None, None)
    return (at is not None and time.monotonic() > at) or (cancel is not None and cancel.is_set())


def repeat_stop(prompt_width: int, window: int = LOOP_TOKENS):
    """A transformers stopping criterion: True for rows whose generated tokens started looping,
    and for every row once this thread's deadline passed or its job was cancelled."""
    import torch
    from transformers import StoppingCriteria

    class RepeatStop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            if _past_deadline():
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            rows = [is_looping(row[prompt_width:].tolist(), window) for row in input_ids]
            return torch.tensor(rows, dtype=torch.bool, device=input_ids.device)

    return RepeatStop()
