"""Extraction: one interface, :class:`Extractor` (``extract(chunks) -> list[ChunkFacts]``), and
the offline rule-based :class:`PatternExtractor` (the default; no LLM, milliseconds per chunk).

Within a sentence the pattern extractor relates neighbouring mentions (:mod:`.mentions`) by the
verb phrase between them when it is simple ("must be approved by", "reporting to"), otherwise
``co-occurs``; appositions ("Aileen Moffat, Chief Financial Officer", "X is the Y", "Role:
Person") give ``holds_role``. Its words come from a :class:`~.vocabulary.Vocabulary`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ragft.corpus.sentences import split_sentences
from ragft.rag.graph.mentions import Mention, entity_type, find_mentions
from ragft.rag.graph.vocabulary import Vocabulary, default_vocabulary
from ragft.types import Chunk

PATTERN_VERSION = "pattern-v2"
_SIMPLE_PHRASE = re.compile(r"^[a-z][a-z'\- ]{0,60}$")
_PERSONLIKE = frozenset({"person", "name"})


@dataclass
class ChunkFacts:
    """What an extractor found in one chunk: entities (surface, type) and relation triples."""

    chunk_id: str
    entities: list[tuple[str, str]] = field(default_factory=list)
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (subject, relation, object)


class Extractor(Protocol):
    name: str  # part of the graph's cache key
    llm_calls: int  # LLM calls made by the last extract()

    def extract(self, chunks: list[Chunk]) -> list[ChunkFacts]: ...


def sentence_relations(sentence: str, mentions: list[Mention],
                       vocabulary: Vocabulary | None = None) -> list[tuple[Mention, str, Mention]]:
    """Relations between the mentions of one sentence: appositions give ``holds_role``,
    neighbours joined by a short lower-case phrase get that phrase ("reporting to"), every
    other pair ``co-occurs``."""
    vocab = vocabulary or default_vocabulary()
    relations: list[tuple[Mention, str, Mention]] = []
    labelled: set[tuple[int, int]] = set()
    # "- Port Manager, Port Ardwell: Gideon Marsh" — a role label line.
    if len(mentions) >= 2 and mentions[0].type == "role":
        colon = sentence.find(":", mentions[0].end)
        if 0 <= colon - mentions[0].end <= 40 and not sentence[:mentions[0].start].strip(" -*•#\t"):
            after = [i for i, m in enumerate(mentions) if m.start > colon]
            if after and mentions[after[0]].type in _PERSONLIKE:
                relations.append((mentions[after[0]], "holds_role", mentions[0]))
                labelled.add((0, after[0]))
    for i in range(len(mentions) - 1):
        a, b = mentions[i], mentions[i + 1]
        between = sentence[a.end:b.start]
        roles = {a.type, b.type}
        role_first_comma = a.type == "role" and between.strip() == "," and \
            not sentence[b.end:].lstrip().startswith(",")
        if "role" in roles and (roles & _PERSONLIKE) and vocab.apposition.match(between) \
                and (0, i + 1) not in labelled and not role_first_comma:
            person, role = (a, b) if a.type != "role" else (b, a)
            relations.append((person, "holds_role", role))
            labelled.add((i, i + 1))
            continue
        phrase = between.strip().lstrip(",").strip()
        if phrase == ":" and (0, i + 1) not in labelled:
            relations.append((a, "has", b))
            labelled.add((i, i + 1))
            continue
        phrase = vocab.trailing_determiner.sub("", phrase)
        if phrase and _SIMPLE_PHRASE.match(phrase) and len(phrase.split()) <= 6 and phrase not in ("and", "or"):
            relations.append((a, phrase, b))
            labelled.add((i, i + 1))
    window = 6  # long table rows and lists: relate each mention to its nearest neighbours only
    for i in range(len(mentions)):
        for j in range(i + 1, min(len(mentions), i + 1 + window)):
            if (i, j) not in labelled and mentions[i].key != mentions[j].key:
                relations.append((mentions[i], "co-occurs", mentions[j]))
    return relations


def hard_newlines(chunk: Chunk) -> bool:
    """Whether a line break in the chunk ends a sentence (everywhere but in PDF text)."""
    return chunk.metadata.get("format") != "pdf"


def lowercase_vocabulary(texts: Iterable[str]) -> set[str]:
    """Words that occur in lower case somewhere (so are common words, not names)."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(w for w in re.findall(r"\b[a-z][a-z'\-]+\b", text))
    return vocab


@dataclass
class PatternExtractor:
    """Rule-based extraction: no model, deterministic, milliseconds per chunk.

    Its ``name`` (part of the graph's cache key) carries the vocabulary's digest, so a graph is
    rebuilt when the words change."""

    name: str = ""
    llm_calls: int = 0
    lowercase_vocab: set[str] = field(default_factory=set)
    known_names: set[str] = field(default_factory=set)
    vocabulary: Vocabulary = field(default_factory=default_vocabulary)

    def __post_init__(self) -> None:
        self.name = self.name or f"{PATTERN_VERSION}+{self.vocabulary.digest}"

    def entity_type(self, name: str) -> str:
        return entity_type(name, self.vocabulary)

    def extract(self, chunks: list[Chunk]) -> list[ChunkFacts]:
        """Two passes: corpus statistics (lower-case words, names seen mid-sentence), then facts."""
        self.lowercase_vocab = lowercase_vocabulary(c.text for c in chunks)
        self.known_names = set()
        for chunk in chunks:
            for start, end in split_sentences(chunk.text, hard_newlines=hard_newlines(chunk)):
                self.known_names.update(m.key for m in find_mentions(chunk.text[start:end], self.lowercase_vocab,
                                                                     vocabulary=self.vocabulary)
                                        if not m.initial)
        return [self.extract_one(chunk) for chunk in chunks]

    def extract_one(self, chunk: Chunk) -> ChunkFacts:
        facts = ChunkFacts(chunk.chunk_id)
        for start, end in split_sentences(chunk.text, hard_newlines=hard_newlines(chunk)):
            sentence = chunk.text[start:end]
            mentions = find_mentions(sentence, self.lowercase_vocab, self.known_names, self.vocabulary)
            facts.entities.extend((m.text, m.type) for m in mentions)
            facts.relations.extend((a.text, rel, b.text)
                                   for a, rel, b in sentence_relations(sentence, mentions, self.vocabulary))
        return facts
