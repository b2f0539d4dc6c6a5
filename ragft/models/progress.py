"""Who is waiting for generations: a hook the study sets around a batch, which LLM backends call.

A pipeline step calls ``llm.generate`` deep inside a variant; threading an ``on_progress``
argument through every step would touch them all. Instead the study sets a callback in a
context variable for the duration of a batch (:func:`on_generated`), and the backends report
each finished sub-batch or request with :func:`report_generated`. Outside such a block nothing
is reported and nothing costs anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_HOOK: ContextVar[Callable[[int], None] | None] = ContextVar("ragft_generation_hook", default=None)


@contextmanager
def on_generated(callback: Callable[[int], None]) -> Iterator[None]:
    """Call ``callback(n)`` whenever an LLM finishes ``n`` more generations inside this block."""
    token = _HOOK.set(callback)
    try:
        yield
    finally:
        _HOOK.reset(token)


def generation_hook() -> Callable[[int], None] | None:
    """The hook in force here (worker threads do not inherit context: capture it before fanning out)."""
    return _HOOK.get()


def report_generated(n: int, hook: Callable[[int], None] | None = None) -> None:
    """Tell whoever is waiting that ``n`` more generations are done."""
    hook = hook or _HOOK.get()
    if hook is not None and n:
        hook(n)
