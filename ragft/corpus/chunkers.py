"""Split Documents into Chunks for indexing.

Every chunker works on character spans of ``doc.text`` and only cuts them out at the end, so
``doc.text[chunk.start:chunk.end] == chunk.text`` holds for every chunk by construction (the
tests check it on random text). Chunks never start or end with whitespace and are never empty.

Chunk metadata carries the document's ``title`` and ``format``, the 1-based ``page`` of the
chunk's first character for PDFs, and — for :class:`RecursiveChunker` under Markdown headings —
the ``heading_path`` ("Leave policy > Parental leave").

Use :func:`make_chunker` to build one from a config name: ``make_chunker("fixed", size=512)``.
"""

from __future__ import annotations

import bisect
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ragft.corpus.loaders import page_for_offset
from ragft.errors import ConfigError
from ragft.types import Chunk, Document

Span = tuple[int, int]  # [start, end) character offsets into a document's text


class Chunker(Protocol):
    def chunk(self, doc: Document) -> list[Chunk]: ...


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _trim(text: str, start: int, end: int) -> Span:
    """Shrink a span so that it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _non_empty_trimmed(text: str, spans: list[Span]) -> list[Span]:
    trimmed = (_trim(text, start, end) for start, end in spans)
    return [(start, end) for start, end in trimmed if start < end]


def _between(text: str, separator: re.Pattern, start: int, end: int) -> list[Span]:
    """The trimmed, non-empty pieces of text[start:end] between matches of ``separator``."""
    pieces, piece_start = [], start
    for match in separator.finditer(text, start, end):
        pieces.append((piece_start, match.start()))
        piece_start = match.end()
    pieces.append((piece_start, end))
    return _non_empty_trimmed(text, pieces)


def _build_chunks(
    doc: Document,
    spans: list[Span],
    metadata_at: Callable[[int], dict[str, Any]] | None = None,
) -> list[Chunk]:
    """Cut the spans out of the document; ``metadata_at(start)`` adds chunker-specific fields."""
    chunks = []
    for start, end in _non_empty_trimmed(doc.text, spans):
        metadata = _inherited_metadata(doc, start)
        if metadata_at is not None:
            metadata.update(metadata_at(start))
        chunks.append(
            Chunk(
                chunk_id=f"{doc.doc_id}#{len(chunks)}",
                doc_id=doc.doc_id,
                text=doc.text[start:end],
                start=start,
                end=end,
                metadata=metadata,
            )
        )
    return chunks


def _inherited_metadata(doc: Document, start: int) -> dict[str, Any]:
    metadata = {key: doc.metadata[key] for key in ("title", "format") if key in doc.metadata}
    if doc.metadata.get("page_starts"):
        metadata["page"] = page_for_offset(doc.metadata["page_starts"], start)
    return metadata


def _require_int(owner: str, name: str, value: Any, minimum: int) -> None:
    # bool is an int subclass, but "size: true" in a config is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")


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

    size: int = 1024
    overlap: int = 256

    def __post_init__(self) -> None:
        _require_int("fixed chunker", "size", self.size, 1)
        _require_int("fixed chunker", "overlap", self.overlap, 0)
        if self.overlap >= self.size:
            raise ConfigError(
                f"fixed chunker: overlap ({self.overlap}) must be smaller than size ({self.size})"
            )

    def chunk(self, doc: Document) -> list[Chunk]:
        return _build_chunks(doc, self.spans(doc.text))

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


# ---------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------

# Terminal punctuation, any closing quotes/brackets, then whitespace or the end of the text.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_LINE_BREAK = re.compile(r"\n")
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_DOTTED_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # e.g, i.e, U.S, a.m (final dot cut)

# Words that end with a period without ending the sentence ("Dr. Smith", "No. 5", "Fig. 3").
# "etc." is deliberately absent: it usually does end a sentence, and "etc. and" is caught by
# the lower-case rule anyway.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt rev gen col capt lt sgt hon
    no nos nr vs v fig figs eq eqs sec secs art arts ch chap para p pp vol vols ed eds
    approx ca cf al inc ltd co corp dept est govt univ assn bros
    jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e
    """.split()
)


def split_sentences(text: str, hard_newlines: bool = True) -> list[Span]:
    """Sentence spans of ``text``, trimmed of whitespace, in order.

    A rule-based splitter: a sentence ends at ``.``, ``!`` or ``?`` (plus closing quotes or
    brackets) followed by whitespace, except after an abbreviation ("e.g.", "Dr.", "No."), a
    dotted acronym ("U.S."), a list number at the start of a sentence ("1. Scope"), or when
    the next word starts in lower case. Decimals ("3.5") never match, having no space after
    the dot. Newlines are hard breaks (headings, list items and table rows are their own
    "sentences"); pass ``hard_newlines=False`` for hard-wrapped text such as PDF extractions,
    where only blank lines are hard breaks.

    Known limits: single initials ("J. Smith") do split; "etc." before a capitalised word
    ends the sentence.
    """
    separator = _LINE_BREAK if hard_newlines else _BLANK_LINE
    spans = []
    for start, end in _between(text, separator, 0, len(text)):
        spans.extend(_sentences_in(text, start, end))
    return spans


def _sentences_in(text: str, start: int, end: int) -> list[Span]:
    spans, sentence_start = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _ends_sentence(text, sentence_start, match, end):
            spans.append((sentence_start, match.end()))
            sentence_start = match.end()
    spans.append((sentence_start, end))
    return _non_empty_trimmed(text, spans)


def _ends_sentence(text: str, sentence_start: int, match: re.Match, end: int) -> bool:
    next_char = _next_non_space(text, match.end(), end)
    if next_char is None:
        return True
    if next_char.islower():
        return False
    if "!" in match.group() or "?" in match.group():
        return True
    word_start = _word_start(text, sentence_start, match.start())
    word = text[word_start : match.start()].lstrip("\"'“‘([")
    if word.lower() in ABBREVIATIONS or _DOTTED_ACRONYM.fullmatch(word):
        return False
    # "1. Scope": a list number opens a line or sentence; "in 2023. Next" does end one.
    opens_line = word_start == 0 or text[word_start - 1] == "\n"
    is_list_number = word.isdigit() and (opens_line or not text[sentence_start:word_start].strip())
    return not is_list_number


def _next_non_space(text: str, position: int, end: int) -> str | None:
    while position < end and text[position].isspace():
        position += 1
    return text[position] if position < end else None


def _word_start(text: str, floor: int, position: int) -> int:
    while position > floor and not text[position - 1].isspace():
        position -= 1
    return position


@dataclass(frozen=True)
class SentenceChunker:
    """Whole sentences grouped up to ``max_chars``; consecutive chunks share
    ``overlap_sentences`` sentences. A sentence longer than ``max_chars`` is cut into
    word-aligned pieces of at most ``max_chars``.
    """

    max_chars: int = 600
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        _require_int("sentence chunker", "max_chars", self.max_chars, 1)
        _require_int("sentence chunker", "overlap_sentences", self.overlap_sentences, 0)

    def chunk(self, doc: Document) -> list[Chunk]:
        units = self._sentence_units(doc.text)
        return _build_chunks(doc, _group_units(units, self.max_chars, self.overlap_sentences))

    def _sentence_units(self, text: str) -> list[Span]:
        cutter = FixedSizeChunker(size=self.max_chars, overlap=0)
        units = []
        for start, end in split_sentences(text):
            if end - start <= self.max_chars:
                units.append((start, end))
            else:
                units.extend(_non_empty_trimmed(text, cutter.spans(text, start, end)))
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
# Recursive (structure-aware)
# ---------------------------------------------------------------------------------------------

_HEADING_LINE = re.compile(r"(#{1,6})[ \t]+(.+?)[ \t#]*")
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
            headings.append(Heading(offset, len(match.group(1)), match.group(2)))
        offset += len(line) + 1
    return headings


def heading_paths(headings: list[Heading]) -> list[str]:
    """For each heading, the " > "-joined titles of it and its enclosing headings."""
    paths, stack = [], []
    for heading in headings:
        stack = [h for h in stack if h.level < heading.level] + [heading]
        paths.append(" > ".join(h.title for h in stack))
    return paths


def _paragraphs(text: str, start: int, end: int) -> list[Span]:
    return _between(text, _BLANK_LINE, start, end)


def _lines(text: str, start: int, end: int) -> list[Span]:
    return _between(text, _LINE_BREAK, start, end)


def _sentences(text: str, start: int, end: int) -> list[Span]:
    return _sentences_in(text, start, end)


def _words(text: str, start: int, end: int) -> list[Span]:
    return [match.span() for match in _WORD.finditer(text, start, end)]


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

    max_chars: int = 1000
    overlap: int = 0

    def __post_init__(self) -> None:
        _require_int("recursive chunker", "max_chars", self.max_chars, 1)
        _require_int("recursive chunker", "overlap", self.overlap, 0)
        if self.overlap >= self.max_chars:
            raise ConfigError(
                f"recursive chunker: overlap ({self.overlap}) must be smaller than "
                f"max_chars ({self.max_chars})"
            )

    def chunk(self, doc: Document) -> list[Chunk]:
        headings = markdown_headings(doc.text)
        spans = []
        for section in _sections(doc.text, headings):
            spans.extend(self._split(doc.text, section, level=0))
        return _build_chunks(doc, spans, _heading_path_lookup(headings))

    def _split(self, text: str, span: Span, level: int) -> list[Span]:
        start, end = _trim(text, *span)
        if end - start <= self.max_chars:
            return [(start, end)] if start < end else []
        if level == len(_SPLITTERS):
            return [(cut, min(cut + self.max_chars, end)) for cut in range(start, end, self.max_chars)]
        pieces = [
            small
            for piece in _SPLITTERS[level](text, start, end)
            for small in self._split(text, piece, level + 1)
        ]
        return _merge(pieces, self.max_chars, self.overlap)


def _sections(text: str, headings: list[Heading]) -> list[Span]:
    bounds = sorted({0, len(text), *(heading.start for heading in headings)})
    return list(zip(bounds, bounds[1:]))


def _heading_path_lookup(headings: list[Heading]) -> Callable[[int], dict[str, Any]]:
    starts, paths = [h.start for h in headings], heading_paths(headings)

    def metadata_at(offset: int) -> dict[str, Any]:
        index = bisect.bisect_right(starts, offset) - 1
        return {"heading_path": paths[index]} if index >= 0 else {}

    return metadata_at


def _merge(pieces: list[Span], max_chars: int, overlap: int) -> list[Span]:
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


# ---------------------------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------------------------

CHUNKERS: dict[str, type] = {
    "fixed": FixedSizeChunker,
    "sentence": SentenceChunker,
    "recursive": RecursiveChunker,
}


def make_chunker(kind: str, **params: Any) -> Chunker:
    """Build a chunker from its config name, e.g. ``make_chunker("recursive", max_chars=800)``."""
    chunker_class = CHUNKERS.get(kind)
    if chunker_class is None:
        raise ConfigError(f"unknown chunker {kind!r} — use one of: {', '.join(CHUNKERS)}")
    accepted = list(inspect.signature(chunker_class).parameters)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"chunker {kind!r} has no parameter {', '.join(map(repr, unknown))} — "
            f"it accepts: {', '.join(accepted)}"
        )
    return chunker_class(**params)
