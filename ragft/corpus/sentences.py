"""Rule-based sentence splitting (:func:`split_sentences`), shared by the chunkers and the steps
that work on sentences (compression, reranking, sentence windows)."""

from __future__ import annotations

import re

from ragft.corpus.chunk_base import Span, non_empty_trimmed, pieces_between

# Terminal punctuation, any closing quotes/brackets, then whitespace or the end of the text.
# A match only starts at the first mark of a run and never backtracks (backtracking could only
# end the match before a mark or quote, never before whitespace), so a run of n marks costs
# O(n), not O(n²): "a" + 40,000 dots + "b" took 27 s with a plain [.!?]+.
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++[\"'”’)\]]*+(?=\s|$)")
LINE_BREAK = re.compile(r"\n")
BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
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
    separator = LINE_BREAK if hard_newlines else BLANK_LINE
    spans = []
    for start, end in pieces_between(text, separator, 0, len(text)):
        spans.extend(sentences_in(text, start, end))
    return spans


def sentences_in(text: str, start: int, end: int) -> list[Span]:
    spans, sentence_start = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _ends_sentence(text, sentence_start, match, end):
            spans.append((sentence_start, match.end()))
            sentence_start = match.end()
    spans.append((sentence_start, end))
    return non_empty_trimmed(text, spans)


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

