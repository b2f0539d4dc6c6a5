"""Chunkers: exact-substring property, size limits, sentence rules, heading paths, factory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragft.corpus.chunkers import FixedSizeChunker, SentenceChunker, make_chunker
from ragft.corpus.recursive import RecursiveChunker
from ragft.corpus.sentences import split_sentences
from ragft.errors import ConfigError
from ragft.types import Chunk, Document

# Text built from words, punctuation, newlines and headings exercises every splitter.
_TOKENS = st.sampled_from(
    ["word", "Dr.", "e.g.", "3.5", "end.", "Why?", "\n", "\n\n", "# Title\n", "## Sub\n", "  ", "x" * 40]
)
documents = st.lists(_TOKENS, max_size=120).map(" ".join).map(lambda text: Document("doc.md", text))
chunkers = st.one_of(
    st.builds(FixedSizeChunker, size=st.integers(5, 300), overlap=st.integers(0, 4)),
    st.builds(SentenceChunker, max_chars=st.integers(5, 300), overlap_sentences=st.integers(0, 2)),
    st.builds(RecursiveChunker, max_chars=st.integers(5, 300), overlap=st.integers(0, 4)),
)


def assert_well_formed(doc: Document, chunks: list[Chunk], max_chars: int) -> None:
    for index, chunk in enumerate(chunks):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.chunk_id == f"{doc.doc_id}#{index}" and chunk.doc_id == doc.doc_id
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= max_chars


def chunk_limit(chunker) -> int:
    return getattr(chunker, "size", None) or chunker.max_chars


@settings(max_examples=150, deadline=None)
@given(doc=documents, chunker=chunkers)
def test_every_chunk_is_an_exact_bounded_substring(doc: Document, chunker) -> None:
    chunks = chunker.chunk(doc)
    assert_well_formed(doc, chunks, chunk_limit(chunker))
    # Every non-space character is covered by some chunk: nothing is lost.
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_split_sentences_spans_are_trimmed_and_ordered(text: str) -> None:
    spans = split_sentences(text)
    for (start, end), following in zip(spans, spans[1:] + [(len(text), len(text))]):
        assert 0 <= start < end <= following[0]
        assert text[start:end] == text[start:end].strip()


# ---------------------------------------------------------------------------------------------
# Sentence splitting
# ---------------------------------------------------------------------------------------------


def sentences(text: str, **options) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text, **options)]


def test_split_sentences_handles_abbreviations_and_decimals() -> None:
    text = (
        "Dr. Smith paid 3.5 EUR, e.g. for coffee. See No. 5 and Fig. 2 today! "
        'Is the U.S. office open? He said "Yes." Then he left.'
    )
    assert sentences(text) == [
        "Dr. Smith paid 3.5 EUR, e.g. for coffee.",
        "See No. 5 and Fig. 2 today!",
        "Is the U.S. office open?",
        'He said "Yes."',
        "Then he left.",
    ]


def test_split_sentences_newlines_are_hard_breaks_unless_disabled() -> None:
    text = "# Scope\n1. Applies to all staff\nwrapped line. Next\n\nNew paragraph."
    assert sentences(text) == ["# Scope", "1. Applies to all staff", "wrapped line.", "Next", "New paragraph."]
    assert sentences(text, hard_newlines=False)[-2:] == ["Next", "New paragraph."]
    assert "1. Applies to all staff\nwrapped line." in sentences(text, hard_newlines=False)[0]


def test_split_sentences_lowercase_continuation_does_not_split() -> None:
    assert sentences("Bring pens, paper etc. and a laptop. Done.") == [
        "Bring pens, paper etc. and a laptop.",
        "Done.",
    ]


# ---------------------------------------------------------------------------------------------
# Each chunker
# ---------------------------------------------------------------------------------------------

WORDS = " ".join(f"word{i:03d}" for i in range(300))  # 2,399 characters of 7-letter words


def test_fixed_size_overlaps_and_does_not_cut_words() -> None:
    doc = Document("w.txt", WORDS)
    chunks = FixedSizeChunker(size=100, overlap=30).chunk(doc)
    assert_well_formed(doc, chunks, 100)
    for previous, chunk in zip(chunks, chunks[1:]):
        assert 0 < previous.end - chunk.start <= 30
    assert all(set(c.text.split()) <= set(WORDS.split()) for c in chunks)  # whole words only
    assert chunks[-1].end == len(WORDS)


def test_fixed_size_defaults_match_the_tutorial() -> None:
    assert (FixedSizeChunker().size, FixedSizeChunker().overlap) == (1024, 256)


def test_sentence_chunker_groups_whole_sentences_with_overlap() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(20))
    doc = Document("s.txt", text)
    chunks = SentenceChunker(max_chars=100, overlap_sentences=1).chunk(doc)
    assert_well_formed(doc, chunks, 100)
    for previous, chunk in zip(chunks, chunks[1:]):
        assert chunk.text.startswith(sentences(previous.text)[-1])  # one sentence repeated
    assert all(c.text.endswith("here.") for c in chunks)


def test_sentence_chunker_cuts_an_overlong_sentence() -> None:
    doc = Document("long.txt", WORDS + ".")
    assert_well_formed(doc, SentenceChunker(max_chars=200).chunk(doc), 200)


LEAVE_POLICY = """# Leave policy

All staff are covered.

## Annual leave

""" + " ".join(["Staff get 25 days of paid leave each year."] * 10) + """

## Parental leave

Parents get 16 weeks.

```
# a comment in code, not a heading
```

# Travel

Trains first.
"""


def test_recursive_chunker_heading_paths_and_limits() -> None:
    doc = Document("policy.md", LEAVE_POLICY, metadata={"title": "Leave policy", "format": "markdown"})
    chunks = RecursiveChunker(max_chars=200).chunk(doc)
    assert_well_formed(doc, chunks, 200)
    paths = [c.metadata.get("heading_path") for c in chunks]
    assert paths[0] == "Leave policy"
    assert "Leave policy > Annual leave" in paths
    parental = [c for c in chunks if c.metadata["heading_path"] == "Leave policy > Parental leave"]
    assert len(parental) == 1 and "# a comment in code" in parental[0].text
    assert chunks[-1].metadata["heading_path"] == "Travel"
    assert all(c.metadata["title"] == "Leave policy" and c.metadata["format"] == "markdown" for c in chunks)
    # Long paragraphs are split at sentence ends, not inside words.
    assert all(c.text.endswith((".", "leave", "```")) for c in chunks)


def test_recursive_chunker_keeps_small_text_whole_and_has_no_path_without_headings() -> None:
    doc = Document("plain.txt", "One paragraph.\n\nAnother one.")
    (chunk,) = RecursiveChunker().chunk(doc)
    assert chunk.text == doc.text and "heading_path" not in chunk.metadata


def test_recursive_chunker_overlap() -> None:
    text = "\n".join(f"Line {i} of the file." for i in range(40))
    doc = Document("lines.txt", text)
    chunks = RecursiveChunker(max_chars=120, overlap=40).chunk(doc)
    assert_well_formed(doc, chunks, 120)
    assert all(0 < a.end - b.start <= 40 for a, b in zip(chunks, chunks[1:]))


def test_pdf_chunks_carry_their_start_page() -> None:
    page_one, page_two = "First page text. " * 5, "Second page text. " * 5
    text = page_one.strip() + "\n\n" + page_two.strip()
    doc = Document("x.pdf", text, metadata={"format": "pdf", "page_starts": [0, len(page_one.strip()) + 2]})
    chunks = SentenceChunker(max_chars=60, overlap_sentences=0).chunk(doc)
    assert chunks[0].metadata["page"] == 1
    assert chunks[-1].metadata["page"] == 2
    assert all(c.metadata["page"] == (1 if c.start < doc.metadata["page_starts"][1] else 2) for c in chunks)


# ---------------------------------------------------------------------------------------------
# Factory and validation
# ---------------------------------------------------------------------------------------------


def test_make_chunker_builds_each_kind() -> None:
    assert make_chunker("fixed", size=10, overlap=2) == FixedSizeChunker(10, 2)
    assert make_chunker("sentence") == SentenceChunker()
    assert make_chunker("recursive", max_chars=50) == RecursiveChunker(max_chars=50)


def test_make_chunker_unknown_kind_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="fixed, sentence, recursive"):
        make_chunker("semantic")


def test_make_chunker_unknown_parameter_lists_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="chunk_size.*size, overlap"):
        make_chunker("fixed", chunk_size=10)


@pytest.mark.parametrize(
    "build",
    [
        lambda: FixedSizeChunker(size=0),
        lambda: FixedSizeChunker(size=10, overlap=10),
        lambda: SentenceChunker(max_chars=-1),
        lambda: RecursiveChunker(max_chars=100, overlap=100),
        lambda: FixedSizeChunker(size="100"),
    ],
)
def test_invalid_parameters_raise_config_error(build) -> None:
    with pytest.raises(ConfigError):
        build()
