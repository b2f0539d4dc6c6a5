"""The structure-aware chunker: Markdown sections, then paragraphs, lines, sentences, words."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from ragft.config import RecursiveChunkerParams
from ragft.corpus.chunk_base import (
    Span, build_chunks, check_chunker_params, param_default, pieces_between, trim_span,
)
from ragft.corpus.sentences import BLANK_LINE, LINE_BREAK, sentences_in
from ragft.types import Chunk, Document

# The closing "#"s and blanks are stripped off the title in code (heading_title): a lazy
# "(.+?)[ \t#]*" re-scans every run of blanks or "#"s, O(n²) on a long line.
_HEADING_LINE = re.compile(r"(#{1,6})[ \t]+(.+)")
_CODE_FENCE = re.compile(r"(```|~~~)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Heading:
    start: int  # offset of the heading line
    level: int  # 1 for "#", 2 for "##", …
    title: str


def markdown_headings(text: str) -> list[Heading]:
    """ATX headings ("## Title") in order, ignoring lines inside ``` / ~~~ code fences."""
    headings, in_fence, offset = [], False, 0
    for line in text.split("\n"):
        stripped = line.strip()
        if _CODE_FENCE.match(stripped):
            in_fence = not in_fence
        elif not in_fence and (match := _HEADING_LINE.fullmatch(stripped)):
            headings.append(Heading(offset, len(match.group(1)), heading_title(match.group(2))))
        offset += len(line) + 1
    return headings


def heading_title(rest: str) -> str:
    """A heading's title from the text after its "#"s and blank: without closing "#"s and
    blanks (``## Leave ##`` → ``Leave``), but never empty (``# #`` → ``#``)."""
    return rest.rstrip(" \t#") or rest[:1]


def heading_paths(headings: list[Heading]) -> list[str]:
    """For each heading, the " > "-joined titles of it and its enclosing headings."""
    paths, stack = [], []
    for heading in headings:
        stack = [h for h in stack if h.level < heading.level] + [heading]
        paths.append(" > ".join(h.title for h in stack))
    return paths


def _paragraphs(text: str, start: int, end: int) -> list[Span]:
    return pieces_between(text, BLANK_LINE, start, end)


def _lines(text: str, start: int, end: int) -> list[Span]:
    return pieces_between(text, LINE_BREAK, start, end)


def _sentences(text: str, start: int, end: int) -> list[Span]:
    return sentences_in(text, start, end)


def _words(text: str, start: int, end: int) -> Iterator[Span]:
    # A generator: a long line without sentence ends is one span per word, which as a list
    # cost ~34 bytes of memory per character of text (688 MB for a 20 MB line).
    return (match.span() for match in _WORD.finditer(text, start, end))


# Coarsest first; a piece still too long after the last splitter is cut every max_chars.
_SPLITTERS = (_paragraphs, _lines, _sentences, _words)


@dataclass(frozen=True)
class RecursiveChunker:
    """Structure-aware chunks of at most ``max_chars``, like LangChain's
    ``RecursiveCharacterTextSplitter``.

    The text is first cut into Markdown sections (a heading and its body); sections are never
    merged, so each chunk has one exact ``heading_path``. A section longer than ``max_chars``
    is split by blank-line paragraphs, then lines, then sentences, then words — each level only
    where the previous one left a piece too long — and small neighbouring pieces are merged
    back up to ``max_chars``. With ``overlap > 0`` a new chunk repeats trailing pieces of the
    previous one, up to ``overlap`` characters.
    """

    max_chars: int = param_default(RecursiveChunkerParams, "max_chars")
    overlap: int = param_default(RecursiveChunkerParams, "overlap")

    def __post_init__(self) -> None:
        check_chunker_params("recursive chunker", RecursiveChunkerParams, asdict(self))

    def chunk(self, doc: Document) -> list[Chunk]:
        headings = markdown_headings(doc.text)
        spans = []
        for section in _sections(doc.text, headings):
            spans.extend(self._split(doc.text, section, level=0))
        return build_chunks(doc, spans, _heading_path_lookup(headings))

    def _split(self, text: str, span: Span, level: int) -> list[Span]:
        start, end = trim_span(text, *span)
        if end - start <= self.max_chars:
            return [(start, end)] if start < end else []
        if level == len(_SPLITTERS):
            return _cuts(start, end, self.max_chars)
        if _SPLITTERS[level] is _words:  # words hold no whitespace: no trimming, no recursion
            pieces = _word_pieces(text, start, end, self.max_chars)
        else:  # lazily, so that _merge holds one chunk's pieces at a time
            pieces = (
                small
                for piece in _SPLITTERS[level](text, start, end)
                for small in self._split(text, piece, level + 1)
            )
        return _merge(pieces, self.max_chars, self.overlap)


def _cuts(start: int, end: int, max_chars: int) -> list[Span]:
    return [(cut, min(cut + max_chars, end)) for cut in range(start, end, max_chars)]


def _word_pieces(text: str, start: int, end: int, max_chars: int) -> Iterator[Span]:
    """What splitting each word of text[start:end] further would give: the word, or its cuts."""
    for word_start, word_end in _words(text, start, end):
        if word_end - word_start <= max_chars:
            yield word_start, word_end
        else:
            yield from _cuts(word_start, word_end, max_chars)


def _sections(text: str, headings: list[Heading]) -> list[Span]:
    bounds = sorted({0, len(text), *(heading.start for heading in headings)})
    return list(zip(bounds, bounds[1:]))


def _heading_path_lookup(headings: list[Heading]) -> Callable[[int], dict[str, Any]]:
    starts, paths = [h.start for h in headings], heading_paths(headings)

    def metadata_at(offset: int) -> dict[str, Any]:
        index = bisect.bisect_right(starts, offset) - 1
        return {"heading_path": paths[index]} if index >= 0 else {}

    return metadata_at


def _merge(pieces: Iterable[Span], max_chars: int, overlap: int) -> list[Span]:
    """Join consecutive pieces into spans of at most ``max_chars`` characters."""
    merged: list[Span] = []
    current: list[Span] = []
    for piece in pieces:
        if current and piece[1] - current[0][0] > max_chars:
            merged.append((current[0][0], current[-1][1]))
            current = _overlap_tail(current, piece, max_chars, overlap)
        current.append(piece)
    if current:
        merged.append((current[0][0], current[-1][1]))
    return merged


def _overlap_tail(closed: list[Span], next_piece: Span, max_chars: int, overlap: int) -> list[Span]:
    """Trailing pieces of the closed chunk to repeat before ``next_piece``: at most ``overlap``
    characters, never the whole closed chunk, and leaving room for ``next_piece``."""
    tail: list[Span] = []
    for piece in reversed(closed[1:]):
        if closed[-1][1] - piece[0] > overlap or next_piece[1] - piece[0] > max_chars:
            break
        tail.insert(0, piece)
    return tail

