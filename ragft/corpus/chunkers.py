"""Split Documents into Chunks for indexing.

Every chunker works on character spans of ``doc.text`` and only cuts them out at the end, so
``doc.text[chunk.start:chunk.end] == chunk.text`` holds for every chunk by construction (the
tests check it on random text). Chunks never start or end with whitespace and are never empty.

Chunk metadata carries the document's ``title`` and ``format``, the 1-based ``page`` of the
chunk's first character for PDFs, and — for :class:`RecursiveChunker` under Markdown headings —
the ``heading_path`` ("Leave policy > Parental leave").

Use :func:`make_chunker` to build one from a config name: ``make_chunker("fixed", size=512)``;
each kind's parameters, with their defaults and limits, are a model in :mod:`ragft.config`
(``CHUNKER_PARAMS``). This module holds the fixed-size and sentence chunkers and the factory;
the recursive chunker is in :mod:`ragft.corpus.recursive`, sentence splitting in
:mod:`ragft.corpus.sentences`, the span helpers they share in :mod:`ragft.corpus.chunk_base`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from ragft.config import CHUNKER_PARAMS, FixedChunkerParams, SentenceChunkerParams, describe_params_error
from ragft.corpus.chunk_base import (
    Chunker, Span, build_chunks, check_chunker_params, non_empty_trimmed, param_default,
)
from ragft.corpus.recursive import RecursiveChunker
from ragft.corpus.sentences import split_sentences
from ragft.errors import ConfigError
from ragft.types import Chunk, Document

# ---------------------------------------------------------------------------------------------
# Fixed-size windows
# ---------------------------------------------------------------------------------------------

# How far (in characters) a boundary may move to land on whitespace instead of inside a word.
MAX_SNAP_WINDOW = 32


@dataclass(frozen=True)
class FixedSizeChunker:
    """Windows of at most ``size`` characters, each sharing about ``overlap`` with the last.

    Like LangChain's ``CharacterTextSplitter(chunk_size, chunk_overlap)`` without a separator:
    a window's end moves *back* to the nearest whitespace within a small window (at most
    32 characters) so words are not cut, which keeps ``size`` a hard maximum; the next window's
    start moves *forward* to a word start, so the real overlap is at most ``overlap``. A word
    longer than the window is cut where it must be.
    """

    size: int = param_default(FixedChunkerParams, "size")
    overlap: int = param_default(FixedChunkerParams, "overlap")

    def __post_init__(self) -> None:
        check_chunker_params("fixed chunker", FixedChunkerParams, asdict(self))

    def chunk(self, doc: Document) -> list[Chunk]:
        return build_chunks(doc, self.spans(doc.text))

    def spans(self, text: str, start: int = 0, end: int | None = None) -> list[Span]:
        """The windows over text[start:end] (the whole text by default)."""
        end = len(text) if end is None else end
        # A window this small keeps every step forward at least 3/4 of (size - overlap).
        snap = min(MAX_SNAP_WINDOW, (self.size - self.overlap) // 4)
        spans = []
        while start < end:
            stop = min(start + self.size, end)
            if stop < end:
                stop = _snap_back_to_space(text, start, stop, snap)
            spans.append((start, stop))
            if stop >= end:
                break
            next_start = _snap_forward_to_word(text, stop - self.overlap, stop, snap)
            start = max(next_start, start + 1)
        return spans


def _snap_back_to_space(text: str, floor: int, stop: int, window: int) -> int:
    """The nearest cut at or before ``stop`` that falls on whitespace, else ``stop``."""
    for cut in range(stop, max(floor, stop - window), -1):
        if text[cut].isspace():
            return cut
    return stop


def _snap_forward_to_word(text: str, position: int, ceiling: int, window: int) -> int:
    """The nearest word start at or after ``position`` (and not past ``ceiling``)."""
    for candidate in range(position, min(ceiling, position + window) + 1):
        if candidate == 0 or text[candidate - 1].isspace():
            return candidate
    return position



@dataclass(frozen=True)
class SentenceChunker:
    """Whole sentences grouped up to ``max_chars``; consecutive chunks share
    ``overlap_sentences`` sentences. A sentence longer than ``max_chars`` is cut into
    word-aligned pieces of at most ``max_chars``.
    """

    max_chars: int = param_default(SentenceChunkerParams, "max_chars")
    overlap_sentences: int = param_default(SentenceChunkerParams, "overlap_sentences")

    def __post_init__(self) -> None:
        check_chunker_params("sentence chunker", SentenceChunkerParams, asdict(self))

    def chunk(self, doc: Document) -> list[Chunk]:
        units = self._sentence_units(doc.text)
        return build_chunks(doc, _group_units(units, self.max_chars, self.overlap_sentences))

    def _sentence_units(self, text: str) -> list[Span]:
        cutter = FixedSizeChunker(size=self.max_chars, overlap=0)
        units = []
        for start, end in split_sentences(text):
            if end - start <= self.max_chars:
                units.append((start, end))
            else:
                units.extend(non_empty_trimmed(text, cutter.spans(text, start, end)))
        return units


def _group_units(units: list[Span], max_chars: int, overlap: int) -> list[Span]:
    """Greedy groups of consecutive units, each spanning at most ``max_chars`` characters."""
    groups, first = [], 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and units[last + 1][1] - units[first][0] <= max_chars:
            last += 1
        groups.append((units[first][0], units[last][1]))
        if last == len(units) - 1:
            break
        first = _next_group_start(units, first, last, overlap, max_chars)
    return groups


def _next_group_start(units: list[Span], first: int, last: int, overlap: int, max_chars: int) -> int:
    """Repeat up to ``overlap`` units, but only as many as still leave room for a new one
    (otherwise the next chunk would just be a piece of this one)."""
    start = max(first + 1, last + 1 - overlap)
    while start <= last and units[last + 1][1] - units[start][0] > max_chars:
        start += 1
    return start


# ---------------------------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------------------------

CHUNKERS: dict[str, type] = {
    "fixed": FixedSizeChunker,
    "sentence": SentenceChunker,
    "recursive": RecursiveChunker,
}


def make_chunker(kind: str, **params: Any) -> Chunker:
    """Build a chunker from its config name, e.g. ``make_chunker("recursive", max_chars=800)``;
    ``params`` are checked against the kind's model in ``ragft.config`` (CHUNKER_PARAMS)."""
    chunker_class = CHUNKERS.get(kind)
    if chunker_class is None:
        raise ConfigError(f"unknown chunker {kind!r} — use one of: {', '.join(CHUNKERS)}")
    model = CHUNKER_PARAMS[kind]
    try:
        typed = model.model_validate(params)
    except ValidationError as err:
        raise ConfigError(f"chunker {kind!r}: {describe_params_error(err, model.model_fields)}") from None
    return chunker_class(**typed.model_dump())
