"""A knowledge graph over the chunks, and a retrieval step that walks it (GraphRAG-style).

Multi-hop questions often need two documents that share an entity but few words with the
question: a policy names a *role* ("approved by the Chief Financial Officer") and the org chart
names the *person* holding it. Dense and BM25 retrieval find the first document; the second is
only reachable through the shared entity. This module makes those links explicit.

Extraction (one interface, :class:`Extractor`: ``extract(chunks) -> list[ChunkFacts]``):

- ``pattern`` (default; offline, no LLM) — :class:`PatternExtractor` finds capitalised
  multi-word names ("Port Ardwell", "Audit and Risk Committee"), vessels ("MV Greylag"),
  people (honorifics, or names that hold a role), codes ("KV-3318", "INC-2024-031", "R3"),
  role titles (title-case phrases with a role head word such as Officer, Manager, Director,
  Superintendent, Secretary, Master, Engineer, Chair, Head of …), organisations (… Committee,
  Board, Council, Ferries), and money / dates / quantities as *attribute* nodes. Within a
  sentence, neighbouring mentions are related by the verb phrase between them when it is
  simple ("must be approved by", "reporting to"), otherwise ``co-occurs``; appositions
  ("Aileen Moffat, Chief Financial Officer", "X is the Y", "Role: Person") give ``holds_role``.
- ``llm`` — :class:`LLMExtractor` asks a model for ``subject | relation | object`` lines,
  batched; parsed robustly (bullets, numbering, quotes, ``(s, r, o)`` tuples, ``s -> r -> o``).
  Answers are cached on disk (``cache_dir/graph/llm-triples.jsonl``, one line per chunk, keyed
  by the hash of model name + prompt version + chunk text, appended and fsynced per batch), so
  an interrupted build resumes where it stopped and a rebuild costs no LLM call.

Entity names are normalised into node keys (:func:`normalise`: case, punctuation, possessive
"'s", honorifics and vessel prefixes dropped — "MV Greylag" and "Greylag" are one node), and a
short name that is the unambiguous suffix of a longer one of a compatible type is merged into
it ("Venn" → "Sorcha Venn"). After extraction every node is also linked to each chunk that
mentions it verbatim (:class:`NameMatcher`: names capitalised as names are, roles in any case —
"the port manager"), so a role named in five documents links to all five.

Storage: :class:`KnowledgeGraph` — plain dicts (a directed multigraph: several relations may
join the same pair); every node and edge keeps the chunk ids and document ids it came from.
``save``/``load`` (JSON, atomic replace), ``to_json()``/``export_json(path)`` for other tools,
``export_graphml(path)`` and, when networkx is installed, ``to_networkx()``.

Retrieval: the ``graph`` step (:class:`GraphRetrieve`) sets ``state.hits``:

1. *link* — entities of the question (node names found in it, the pattern extractor's
   mentions, then token overlap and embedding similarity of names ≥ ``link_threshold`` for
   mentions with no exact node), plus the entities of the ``seed_sentences`` sentences most
   similar to the question in the top ``seed_hits`` chunks of the normal retrieval — the bridge:
   the policy sentence that names the role — weighted by their similarity, more when the sentence
   also names one of the question's entities;
2. *expand* ``hops`` (1) steps along edges (weight × IDF, × ``decay`` per hop × relation
   strength, damped by √degree except along ``holds_role``; at most ``max_neighbours`` per
   node, rarest first); for "who" questions the people reached count double;
3. *rank* chunks greedily by the weights of the active entities they mention and of the
   relations between them that they state; an entity covered by a chosen chunk keeps
   ``cover_discount`` of its weight, so the next pick brings in what is still missing (the
   second document). Returns ``top_k``, filled up from the normal retrieval when the graph
   reaches fewer chunks. With ``also_chunks: true`` the graph ranking and the normal hybrid
   ranking (their top ``2 × top_k`` each) are fused by RRF (:func:`ragft.rag.steps.fuse_hits`).

Params: ``extractor`` (pattern | llm), ``hops``, ``also_chunks``, ``seed_hits``,
``seed_sentences``, ``link_threshold``, ``decay``, ``max_neighbours``, ``cover_discount``,
``llm_batch_size``, ``llm_max_new_tokens`` and the retrieval keys (``top_k``, ``mode``, …).
``state.trace["graph"]`` records the build (``source``: built/disk/memory, ``build_seconds``,
``llm_calls``, node and edge counts), the linked entities and the graph's own top chunks.

The graph is built once per index content (and extractor) — kept in memory for the process and
on disk under ``cache_dir/graph/<hash>.json`` — and its build cost (seconds, LLM calls) is
recorded in each state's ``trace["graph"]["build"]``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ragft.config import RetrievalConfig
from ragft.corpus.chunkers import split_sentences
from ragft.errors import ConfigError, RagftError
from ragft.index.store import HybridIndex
from ragft.rag.modular import RAGState
from ragft.rag.steps import Retrieve, fuse_hits
from ragft.rag.structure import RETRIEVAL_PARAMS, check_params, retrieval_from
from ragft.types import Chunk, Hit

GRAPH_FORMAT = 1

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

ROLE_HEADS = frozenset({
    "officer", "manager", "director", "superintendent", "secretary", "master", "engineer", "chair",
    "chairman", "chairwoman", "chairperson", "head", "lead", "executive", "controller", "coordinator",
    "co-ordinator", "supervisor", "inspector", "adviser", "advisor", "auditor", "treasurer", "president",
    "administrator", "nominee", "person", "mate", "bosun", "purser", "steward", "clerk", "analyst",
    "architect", "counsel", "chief", "deputy", "assistant", "owner", "representative", "agent",
    "ombudsman", "commissioner", "minister", "trustee", "partner", "founder", "ceo", "cfo", "coo", "cto",
})
# Words that make a capitalised phrase an organisation (checked before roles: "Board of Directors").
ORG_HEADS = frozenset({
    "committee", "board", "council", "ferries", "ltd", "limited", "plc", "inc", "llc", "gmbh", "authority",
    "directorate", "department", "team", "trust", "agency", "group", "services", "association", "union",
    "company", "bank", "university", "ministry", "commission", "court", "tribunal", "registry", "office",
    "boatbuilders", "institute", "foundation", "society", "corporation", "holdings", "partnership",
})
HONORIFICS = frozenset({"captain", "capt", "mr", "mrs", "ms", "miss", "mx", "dr", "professor", "prof", "sir",
                        "dame", "lord", "lady", "rev", "reverend", "cllr", "councillor"})
VESSEL_PREFIXES = frozenset({"mv", "ms", "ss", "hms", "mt", "rv", "mfv", "hsc"})
STRIP_PREFIXES = HONORIFICS | VESSEL_PREFIXES | {"the"}
_STANDALONE_ROLES = frozenset({"chair", "chairman", "chairwoman", "chairperson", "president", "treasurer",
                               "ombudsman", "ceo", "cfo", "coo", "cto", "cio"})
ATTRIBUTE_TYPES = frozenset({"money", "date", "quantity"})
# Common sentence starters and question words that are capitalised only by position.
STOP = frozenset("""
a an the this that these those each every any all some no none our your their its his her my we you they
it he she i if when where while whilst after before for in on at by to from with without within under over
as and or but not so also there here what which who whom whose why how is are was were be been do does did
can could may might must shall should will would please note see yes one two three four five six seven eight
nine ten first second third new other such between during since until per via about above below only both
either neither besides than then thus however therefore although though because unless whether once
""".split())
MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_CALENDAR_WORDS = frozenset(w.lower() for w in (MONTHS + "|" + DAYS).split("|"))
NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
                "fifty|sixty|hundred|thousand")
UNITS = ("knots?|hours?|hrs?|minutes?|mins?|seconds?|days?|weeks?|months?|years?|passengers?|cars?|vehicles?|"
         "metres?|meters?|m|km|kilometres?|miles?|nautical miles?|tonnes?|tons?|kg|kilograms?|litres?|liters?|"
         "kw|kilowatts?|mw|megawatts?|kwh|spaces?|seats?|berths?|cabins?|crew|staff|employees?|people|persons?|"
         "sailings?|crossings?|vessels?|ships?|routes?|lanes?|decks?|beds?|sessions?|times?|points?|"
         "per cent|percent|%")
_NUM = rf"(?:\d(?:[\d,]*\d)?(?:\.\d+)?|{NUMBER_WORDS})"

_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("date", re.compile(rf"\b(?:(?:{DAYS}),?\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTHS})\.?(?:,?\s+\d{{4}})?\b")),
    ("date", re.compile(rf"\b(?:{MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,\s+\d{{4}}\b")),
    ("date", re.compile(rf"\b(?:{MONTHS})\s+\d{{4}}\b")),
    ("date", re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")),
    ("money", re.compile(r"[£$€]\s?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s?(?:million|billion|bn|m|k)\b)?")),
    ("money", re.compile(r"\b\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:p|pence|GBP|USD|EUR|euros?|dollars?|pounds?)\b")),
    ("code", re.compile(r"\b[A-Z][A-Z0-9]{0,6}(?:[-/][A-Z0-9]+)+\b")),  # KV-3318, INC-2024-031, DG-7
    ("code", re.compile(r"\b[A-Z]{1,3}\d{1,5}[A-Z]?\b")),  # R3, A9, B737
    ("quantity", re.compile(rf"\b{_NUM}\s?(?:(?:running|working|business|nautical|calendar|square|cubic|"
                            rf"wheelchair|car|passenger|crew|sustained)\s+)?(?:{UNITS})(?![\w-])", re.IGNORECASE)),
    ("date", re.compile(r"\b(?:19|20)\d{2}\b")),  # a bare year, last: "built in 1991"
]
_CODE_TOKEN = re.compile(r"^(?:[A-Z][A-Z0-9]{0,6}(?:[-/][A-Z0-9]+)+|[A-Z]{1,3}\d{1,5}[A-Z]?)$")
_WORD = re.compile(r"[^\W\d_][\w'’\-]*[^\W_]|[^\W\d_]|\d+(?:[.,]\d+)*|[^\w\s]")
_KEY_TOKEN = re.compile(r"[£$€]?\d[\d,]*(?:\.\d+)?%?|[^\W\d_]+")
_CONNECTORS = {("of",), ("of", "the"), ("for",), ("for", "the"), ("de",), ("van",), ("von",), ("da",),
               ("del",), ("and",), ("&",), ("on",), ("upon",)}
# Positions after these tokens count as the start of a sentence (list items, table cells, labels).
_INITIAL_AFTER = {":", "|", "-", "*", "•", "#", "(", ";", "–", "—", '"', "“"}


def normalise(name: str) -> str:
    """The node key of an entity name: lower case, no punctuation or possessive "'s", no
    honorific / vessel prefix / leading "the"; numbers keep their currency sign and lose their
    thousands commas. ``normalise("MV Greylag's") == normalise("Greylag") == "greylag"``."""
    return " ".join(_strip_prefixes([t for t, *_ in _key_tokens(name)]))


def _key_tokens(text: str) -> list[tuple[str, int, int, bool]]:
    """(normalised token, start, end, capitalised in the text) for every word or number."""
    clean = unicodedata.normalize("NFKC", text).replace("’", "'")
    if len(clean) != len(text):  # NFKC changed lengths: fall back to the raw text, offsets must hold
        clean = text.replace("’", "'")
    clean = re.sub(r"'s\b", "  ", clean)  # same length: offsets stay valid
    tokens = []
    for match in _KEY_TOKEN.finditer(clean):
        raw = match.group()
        tokens.append((raw.lower().replace(",", ""), match.start(), match.end(), raw[:1].isupper()))
    return tokens


def _strip_prefixes(tokens: list[str]) -> list[str]:
    tokens = list(tokens)
    while len(tokens) > 1 and tokens[0] in STRIP_PREFIXES:
        tokens.pop(0)
    return tokens


def entity_type(name: str) -> str:
    """The type of an entity name by its shape: money, date, quantity, code, vessel, person,
    org, role, or plain ``name`` (a place, a product, a person without a title, …)."""
    stripped = name.strip()
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(stripped)
        if match:
            return kind
    words = [w for w in re.findall(r"[^\W\d_][\w'’\-]*|\d+", stripped)]
    lowered = [w.lower().replace("’", "'").removesuffix("'s") for w in words]
    if not lowered:
        return "name"
    if lowered[0] in VESSEL_PREFIXES and len(lowered) > 1 and words[0].isupper():
        return "vessel"
    if lowered[0] in HONORIFICS and len(lowered) > 1:
        return "person"
    head = lowered[:lowered.index("of")] if "of" in lowered else lowered
    if head and head[-1] in ORG_HEADS:
        return "org"
    if (head and head[0] in {"head", "chair", "director", "chief", "deputy", "secretary"} and "of" in lowered) \
            or any(w in ROLE_HEADS for w in head):
        return "role"
    if any(w in ORG_HEADS for w in lowered):
        return "org"
    return "name"


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """One entity mention in a text: its surface form, node key, type and character span."""

    text: str
    key: str
    type: str
    start: int
    end: int
    initial: bool = False  # at the start of a sentence, line, list item or table cell


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


def find_mentions(text: str, lowercase_vocab: set[str] | frozenset[str] = frozenset(),
                  known_names: set[str] | frozenset[str] = frozenset()) -> list[Mention]:
    """Entity mentions in one sentence (or short text), in order, non-overlapping.

    ``lowercase_vocab`` — words seen in lower case elsewhere in the corpus: a capitalised word
    at the start of a sentence that is also a common lower-case word ("Residents of Carrow
    Isle", "Passengers aged 65") is not part of a name. ``known_names`` — keys of names seen in
    mid-sentence: "Depart Port Ardwell" at the start of a line is "Port Ardwell" when that is a
    known name and "depart port ardwell" is not.
    """
    spans: list[tuple[int, int, str, bool]] = []
    taken = np.zeros(len(text) + 1, dtype=bool)
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if kind == "code" and not any(ch.isdigit() for ch in match.group()):
                continue
            if not taken[start:end].any():
                spans.append((start, end, kind, False))
                taken[start:end] = True
    tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    for start, end, initial in _name_runs(text, tokens, taken, lowercase_vocab, known_names):
        spans.append((start, end, entity_type(text[start:end]), initial))
    mentions = []
    for start, end, kind, initial in sorted(spans):
        surface = re.sub(r"\s+", " ", text[start:end].strip())
        key = normalise(surface)
        if not key or key in STOP or (len(key) < 2 and kind != "code") or (kind == "name" and key.isdigit()) \
                or (kind == "name" and key in _CALENDAR_WORDS):
            continue
        if kind == "role" and " " not in key and key not in _STANDALONE_ROLES:
            continue  # "Owner", "Officer", "Manager" alone name no one in particular
        mentions.append(Mention(surface, key, kind, start, end, initial))
    return mentions


def _is_capitalised(token: str, shouting: bool = False) -> bool:
    if not token[:1].isupper() or _CODE_TOKEN.match(token):
        return False
    letters = [c for c in token if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        # ALL-CAPS: an acronym ("CCTV", "HR"), unless long or in an all-caps heading ("ROOT CAUSE").
        return len(letters) <= 5 and not shouting
    return True


def _is_shouting(tokens) -> bool:
    """An all-caps heading line: two or more all-caps words of three letters or more."""
    return sum(1 for t, _, _ in tokens if len(t) >= 3 and t.isalpha() and t.isupper()) >= 2


def _name_runs(text, tokens, taken, vocab, known=frozenset()) -> list[tuple[int, int, bool]]:
    """Character spans of capitalised runs ("Chair of the Audit and Risk Committee")."""
    runs, i, n = [], 0, len(tokens)
    shouting = _is_shouting(tokens)
    while i < n:
        token, start, end = tokens[i]
        if taken[start] or not _is_capitalised(token, shouting):
            i += 1
            continue
        words = [i]
        j = i + 1
        while j < n:
            tok, s, _ = tokens[j]
            if taken[s]:
                break
            gap = text[tokens[j - 1][2]:s]
            if _is_capitalised(tok, shouting) and gap.strip() == "":
                if "\n" in gap and tokens[j - 1][0].lower() not in STRIP_PREFIXES:
                    break  # a line break ends a name (table cells, headings), except "MV\nTollan Maid"
                if tok.lower() in STRIP_PREFIXES and tok.lower() != "the":
                    break  # "Check MV Brennock Dawn": a vessel prefix or honorific starts a new name
                words.append(j)
                j += 1
                continue
            joined = _connector_join(text, tokens, taken, j, shouting)
            if joined:
                words.extend(range(j, joined + 1))
                j = joined + 1
                continue
            if tok.isdigit() and len(tok) <= 3 and text[tokens[j - 1][2]:s] == " " and len(words) == 1 \
                    and tokens[words[0]][0].lower() not in STOP:
                words.append(j)  # "Stage 2", "Action 4"
                j += 1
            break
        words = _trim_initial(tokens, words, text, vocab, known)
        if words:
            runs.append((tokens[words[0]][1], tokens[words[-1]][2], _is_initial(text, tokens, words[0])))
        i = j
    return runs


def _connector_join(text, tokens, taken, j, shouting=False) -> int | None:
    """Index of the capitalised token that ends ``connector + Capitalised`` at j, else None."""
    for length in (2, 1):
        if j + length >= len(tokens):
            continue
        connector = tuple(tokens[k][0].lower() for k in range(j, j + length))
        if connector not in _CONNECTORS:
            continue
        nxt, s, _ = tokens[j + length]
        if taken[s] or not _is_capitalised(nxt, shouting):
            return None
        if connector[0] in ("and", "&"):
            # "Audit and Risk Committee" joins; "MV Corran Star and MV Greylag" does not.
            if nxt.lower() in STRIP_PREFIXES:
                return None
            k = j + length
            while k + 1 < len(tokens) and _is_capitalised(tokens[k + 1][0], shouting) and not taken[tokens[k + 1][1]]:
                k += 1
            last = tokens[k][0].lower()
            if last not in ORG_HEADS and last not in ROLE_HEADS:
                return None
            return k
        return j + length
    return None


def _is_initial(text, tokens, first) -> bool:
    """Whether token ``first`` starts a sentence, line, list item, table cell or label value."""
    before = text[:tokens[first][1]].rstrip()
    line = before.rsplit("\n", 1)[-1]
    # Nothing alphabetic before it on its line ("14:46 Vessel enters", "1. Scope", "- Chair:").
    return bool(first == 0 or not before or before[-1] in _INITIAL_AFTER or before[-1] in ".!?"
                or not re.search(r"[^\W\d_]", line))


def _trim_initial(tokens, words, text, vocab, known=frozenset()) -> list[int]:
    """Drop sentence-initial capitalised common words and dangling connectors."""
    initial = _is_initial(text, tokens, words[0])
    if initial and len(words) > 1 and known:
        first = tokens[words[0]][0].lower()
        rest_words = words[1:]
        while rest_words and tokens[rest_words[0]][0].lower() in _CONNECTOR_WORDS:
            rest_words = rest_words[1:]
        rest = normalise(text[tokens[rest_words[0]][1]:tokens[words[-1]][2]]) if rest_words else ""
        whole = normalise(text[tokens[words[0]][1]:tokens[words[-1]][2]])
        if rest in known and whole not in known and first not in STRIP_PREFIXES | ROLE_HEADS | ORG_HEADS:
            words = rest_words
    while words:
        word = tokens[words[0]][0].lower()
        if word in STOP:
            words = words[1:]
            continue
        if initial and word in vocab and word not in ROLE_HEADS and word not in STRIP_PREFIXES and word not in ORG_HEADS:
            single = len(words) == 1
            then_connector = len(words) > 1 and tokens[words[1]][0].lower() in {"of", "for", "and", "&", "on"}
            if single or then_connector:
                words = words[1:]
                continue
        break
    while words and tokens[words[0]][0].lower() in {"of", "the", "for", "and", "&", "on", "de", "upon"}:
        words = words[1:]
    while words and tokens[words[-1]][0].lower() in {"of", "the", "for", "and", "&", "on", "de", "upon"}:
        words = words[:-1]
    return words


_APPOSITION = re.compile(r"^\s*(?:[,:(\-–—]\s*)?(?:(?:is|was|as|became|becomes|remains|serves as|acts as)"
                         r"(?:\s+(?:now|currently|also))?(?:\s+(?:the|our|its|their|a|an))?)?\s*$", re.IGNORECASE)
_SIMPLE_PHRASE = re.compile(r"^[a-z][a-z'\- ]{0,60}$")
_TRAILING_ARTICLE = re.compile(r"\s+(?:the|a|an|its|their|our)$")
_PERSONLIKE = frozenset({"person", "name"})


def sentence_relations(sentence: str, mentions: list[Mention]) -> list[tuple[Mention, str, Mention]]:
    """Relations between the mentions of one sentence: appositions give ``holds_role``,
    neighbours joined by a short lower-case phrase get that phrase ("reporting to"), every
    other pair ``co-occurs``."""
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
        if "role" in roles and (roles & _PERSONLIKE) and _APPOSITION.match(between) and (0, i + 1) not in labelled \
                and not role_first_comma:
            person, role = (a, b) if a.type != "role" else (b, a)
            relations.append((person, "holds_role", role))
            labelled.add((i, i + 1))
            continue
        phrase = between.strip().lstrip(",").strip()
        if phrase == ":" and (0, i + 1) not in labelled:
            relations.append((a, "has", b))
            labelled.add((i, i + 1))
            continue
        phrase = _TRAILING_ARTICLE.sub("", phrase)
        if phrase and _SIMPLE_PHRASE.match(phrase) and len(phrase.split()) <= 6 and phrase not in ("and", "or"):
            relations.append((a, phrase, b))
            labelled.add((i, i + 1))
    window = 6  # long table rows and lists: relate each mention to its nearest neighbours only
    for i in range(len(mentions)):
        for j in range(i + 1, min(len(mentions), i + 1 + window)):
            if (i, j) not in labelled and mentions[i].key != mentions[j].key:
                relations.append((mentions[i], "co-occurs", mentions[j]))
    return relations


def _hard_newlines(chunk: Chunk) -> bool:
    return chunk.metadata.get("format") != "pdf"


def lowercase_vocabulary(texts: Iterable[str]) -> set[str]:
    """Words that occur in lower case somewhere (so are common words, not names)."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(w for w in re.findall(r"\b[a-z][a-z'\-]+\b", text))
    return vocab


@dataclass
class PatternExtractor:
    """Rule-based extraction: no model, deterministic, milliseconds per chunk."""

    name: str = "pattern-v1"
    llm_calls: int = 0
    lowercase_vocab: set[str] = field(default_factory=set)
    known_names: set[str] = field(default_factory=set)

    def extract(self, chunks: list[Chunk]) -> list[ChunkFacts]:
        """Two passes: corpus statistics (lower-case words, names seen mid-sentence), then facts."""
        self.lowercase_vocab = lowercase_vocabulary(c.text for c in chunks)
        self.known_names = set()
        for chunk in chunks:
            for start, end in split_sentences(chunk.text, hard_newlines=_hard_newlines(chunk)):
                self.known_names.update(m.key for m in find_mentions(chunk.text[start:end], self.lowercase_vocab)
                                        if not m.initial)
        return [self.extract_one(chunk) for chunk in chunks]

    def extract_one(self, chunk: Chunk) -> ChunkFacts:
        facts = ChunkFacts(chunk.chunk_id)
        for start, end in split_sentences(chunk.text, hard_newlines=_hard_newlines(chunk)):
            sentence = chunk.text[start:end]
            mentions = find_mentions(sentence, self.lowercase_vocab, self.known_names)
            facts.entities.extend((m.text, m.type) for m in mentions)
            facts.relations.extend((a.text, rel, b.text) for a, rel, b in sentence_relations(sentence, mentions))
        return facts


# ---------------------------------------------------------------------------------------------
# LLM extraction
# ---------------------------------------------------------------------------------------------

LLM_PROMPT_VERSION = "triples-v1"
LLM_SYSTEM_PROMPT = (
    "You extract a knowledge graph from a text. Write every fact as one line in the form\n"
    "subject | relation | object\n"
    "Subjects and objects are named things exactly as written in the text: people, job roles, "
    "organisations, vessels, places, codes, amounts of money, dates, quantities. The relation is a "
    "short verb phrase, e.g. holds role, reports to, must be approved by, serves route, was built in. "
    "Write only the lines, nothing else."
)
LLM_EXAMPLE = ("Text:\nAileen Moffat, Chief Financial Officer, approves claims above £500.\n\nTriples:\n"
               "Aileen Moffat | holds role | Chief Financial Officer\n"
               "Chief Financial Officer | approves claims above | £500")
_TRIPLE_SPLIT = re.compile(r"\s*\|\s*|\s*->\s*|\s*→\s*|\s*;\s*")


def parse_triples(text: str, max_len: int = 80) -> list[tuple[str, str, str]]:
    """``subject | relation | object`` lines from a model's answer, tolerating bullets,
    numbering, bold, quotes, tuples ``(s, r, o)``, arrows and header lines; duplicates dropped."""
    triples, seen = [], set()
    for line in text.splitlines():
        line = line.strip()
        line = re.sub(r"^(?:[-*•]|\d+[.)]|\(\d+\))\s*", "", line).replace("**", "").strip()
        if not line:
            continue
        if line.startswith("(") and line.endswith(")") and "|" not in line:
            parts = [p for p in line[1:-1].split(",")]
            if len(parts) > 3:
                parts = [parts[0], parts[1], ",".join(parts[2:])]
        else:
            parts = _TRIPLE_SPLIT.split(line.strip("|"))
        parts = [p.strip().rstrip(".;,").strip("\"'`“”‘’[]").strip() for p in parts]
        if len(parts) < 3:
            continue
        subject, relation, obj = parts[0], parts[1], " ".join(p for p in parts[2:] if p)
        if not subject or not relation or not obj or len(subject) > max_len or len(obj) > max_len:
            continue
        if {subject.lower(), relation.lower()} <= {"subject", "relation", "object", "head", "tail"}:
            continue  # a header line
        relation = re.sub(r"\s+", " ", relation.lower()).strip(" .")
        key = (normalise(subject), relation, normalise(obj))
        if key[0] and key[2] and key not in seen:
            seen.add(key)
            triples.append((subject, relation, obj))
    return triples


class LLMExtractor:
    """Triples from a model, batched, with a resumable on-disk cache (one JSON line per chunk)."""

    def __init__(self, llm, cache_dir: Path | None, batch_size: int = 8, max_new_tokens: int = 256,
                 max_chars: int = 4000):
        self.llm = llm
        self.model = getattr(llm, "name", type(llm).__name__)
        self.name = f"llm:{self.model}:{LLM_PROMPT_VERSION}"
        self.cache_path = Path(cache_dir) / "graph" / "llm-triples.jsonl" if cache_dir else None
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.max_chars = max_chars
        self.llm_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def cache_key(self, chunk_text: str) -> str:
        return hashlib.sha256(f"{self.model}\0{LLM_PROMPT_VERSION}\0{chunk_text}".encode()).hexdigest()

    def messages(self, chunk_text: str) -> list[dict]:
        return [{"role": "system", "content": LLM_SYSTEM_PROMPT},
                {"role": "user", "content": f"{LLM_EXAMPLE}\n\nText:\n{chunk_text[:self.max_chars]}\n\nTriples:"}]

    def _read_cache(self) -> dict[str, list]:
        cached = {}
        if self.cache_path and self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    cached[record["key"]] = record["triples"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line from an interrupted build
        return cached

    def _append(self, records: list[dict]) -> None:
        if not self.cache_path:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.cache_path, "a", encoding="utf-8") as out:
            out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            out.flush()
            os.fsync(out.fileno())

    def extract(self, chunks: list[Chunk]) -> list[ChunkFacts]:
        self.llm_calls = 0
        cached = self._read_cache()
        keys = [self.cache_key(c.text) for c in chunks]
        todo = list(dict.fromkeys(k for k in keys if k not in cached))
        text_of = {k: c.text for k, c in zip(keys, chunks)}
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            generations = self.llm.generate([self.messages(text_of[k]) for k in batch],
                                            max_new_tokens=self.max_new_tokens, temperature=0.0)
            records = []
            for key, generation in zip(batch, generations):
                self.llm_calls += 1
                self.prompt_tokens += generation.prompt_tokens
                self.completion_tokens += generation.completion_tokens
                triples = [list(t) for t in parse_triples(generation.text)]
                cached[key] = triples
                records.append({"key": key, "model": self.model, "triples": triples})
            self._append(records)
        facts = []
        for chunk, key in zip(chunks, keys):
            triples = [tuple(t) for t in cached.get(key, [])]
            entities = [(name, entity_type(name)) for s, _, o in triples for name in (s, o)]
            facts.append(ChunkFacts(chunk.chunk_id, entities, triples))
        return facts


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------

_TYPE_PRIORITY = {"person": 7, "role": 6, "vessel": 6, "org": 5, "code": 5, "money": 4, "date": 4,
                  "quantity": 4, "name": 1, "entity": 0}


@dataclass
class Node:
    key: str
    label: str
    type: str
    chunk_ids: set[str] = field(default_factory=set)
    doc_ids: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)  # surface forms seen
    mentions: int = 0
    type_votes: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "type": self.type, "chunk_ids": sorted(self.chunk_ids),
                "doc_ids": sorted(self.doc_ids), "aliases": sorted(self.aliases), "mentions": self.mentions}


@dataclass
class Edge:
    source: str
    target: str
    relation: str
    chunk_ids: set[str] = field(default_factory=set)
    doc_ids: set[str] = field(default_factory=set)
    count: int = 0

    @property
    def labelled(self) -> bool:
        return self.relation != "co-occurs"

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target, "relation": self.relation,
                "chunk_ids": sorted(self.chunk_ids), "doc_ids": sorted(self.doc_ids), "count": self.count}


class KnowledgeGraph:
    """Entities (nodes keyed by :func:`normalise`) and relations (directed, several per pair),
    each linked to the chunks and documents it came from."""

    def __init__(self, meta: dict[str, Any] | None = None):
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.meta: dict[str, Any] = dict(meta or {})
        self._adjacent: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self._alias: dict[str, str] = {}  # merged key -> surviving key
        self._label_vectors: tuple[list[str], np.ndarray] | None = None

    # ------------------------------------------------------------------ building
    def add_node(self, name: str, type_: str | None = None, chunk_id: str | None = None,
                 doc_id: str | None = None) -> str | None:
        key = self.resolve(normalise(name)) or normalise(name)
        if not key:
            return None
        type_ = type_ or entity_type(name)
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = Node(key, name.strip(), type_)
        node.aliases.add(name.strip())
        node.mentions += 1
        node.type_votes[type_] += 1
        node.type = max(node.type_votes, key=lambda t: (node.type_votes[t] * _TYPE_PRIORITY.get(t, 1), t))
        if chunk_id:
            node.chunk_ids.add(chunk_id)
        if doc_id:
            node.doc_ids.add(doc_id)
        return key

    def add_edge(self, source: str, relation: str, target: str, chunk_id: str | None = None,
                 doc_id: str | None = None) -> None:
        if source == target or source not in self.nodes or target not in self.nodes:
            return
        edge_key = (source, target, relation)
        edge = self.edges.get(edge_key)
        if edge is None:
            edge = self.edges[edge_key] = Edge(source, target, relation)
            self._adjacent[source].add(edge_key)
            self._adjacent[target].add(edge_key)
        edge.count += 1
        if chunk_id:
            edge.chunk_ids.add(chunk_id)
        if doc_id:
            edge.doc_ids.add(doc_id)

    def resolve(self, key: str) -> str | None:
        """The surviving node key for a key (following alias merges), or None."""
        seen = 0
        while key in self._alias and seen < 10:
            key, seen = self._alias[key], seen + 1
        return key if key in self.nodes else None

    def find(self, name: str) -> Node | None:
        """The node of an entity name (any surface form or alias), or None."""
        key = self.resolve(normalise(name))
        return self.nodes.get(key) if key else None

    def merge(self, source: str, target: str) -> None:
        """Fold node ``source`` into ``target`` (aliases, chunk links and edges move over)."""
        if source == target or source not in self.nodes or target not in self.nodes:
            return
        old, new = self.nodes.pop(source), self.nodes[target]
        new.chunk_ids |= old.chunk_ids
        new.doc_ids |= old.doc_ids
        new.aliases |= old.aliases
        new.mentions += old.mentions
        self._alias[source] = target
        for edge_key in list(self._adjacent.pop(source, ())):
            edge = self.edges.pop(edge_key, None)
            if edge is None:
                continue
            for end in (edge.source, edge.target):
                self._adjacent.get(end, set()).discard(edge_key)
            s = target if edge.source == source else edge.source
            t = target if edge.target == source else edge.target
            if s == t:
                continue
            for chunk_id in edge.chunk_ids or {None}:
                self.add_edge(s, edge.relation, t, chunk_id)
            merged = self.edges.get((s, t, edge.relation))
            if merged:
                merged.doc_ids |= edge.doc_ids
                merged.count += max(edge.count - len(edge.chunk_ids or {None}), 0)

    # ------------------------------------------------------------------ queries
    def neighbours(self, key: str) -> list[tuple[str, Edge]]:
        """(other node key, edge) for every edge touching ``key``, either direction."""
        out = []
        for edge_key in self._adjacent.get(key, ()):
            edge = self.edges[edge_key]
            out.append((edge.target if edge.source == key else edge.source, edge))
        return sorted(out, key=lambda item: (item[0], item[1].relation))

    def degree(self, key: str) -> int:
        return len(self._adjacent.get(key, ()))

    def label_vectors(self, embedder) -> tuple[list[str], np.ndarray]:
        """Embeddings of the non-attribute node labels (computed once per graph object)."""
        if self._label_vectors is None:
            keys = sorted(k for k, n in self.nodes.items() if n.type not in ATTRIBUTE_TYPES)
            vectors = embedder.embed([self.nodes[k].label for k in keys]) if keys else np.zeros((0, 1), np.float32)
            self._label_vectors = (keys, vectors)
        return self._label_vectors

    def stats(self) -> dict[str, Any]:
        types = Counter(n.type for n in self.nodes.values())
        relations = Counter("co-occurs" if e.relation == "co-occurs" else
                            ("holds_role" if e.relation == "holds_role" else "other") for e in self.edges.values())
        return {"nodes": len(self.nodes), "edges": len(self.edges), "node_types": dict(sorted(types.items())),
                "edge_kinds": dict(sorted(relations.items()))}

    # ------------------------------------------------------------------ persistence and export
    def to_dict(self) -> dict:
        return {"format": GRAPH_FORMAT, "meta": self.meta,
                "nodes": [self.nodes[k].to_dict() for k in sorted(self.nodes)],
                "edges": [self.edges[k].to_dict() for k in sorted(self.edges)],
                "aliases": dict(sorted(self._alias.items()))}

    @classmethod
    def from_dict(cls, data: dict) -> KnowledgeGraph:
        if data.get("format") != GRAPH_FORMAT:
            raise RagftError(f"knowledge graph format {data.get('format')!r}, this ragft reads {GRAPH_FORMAT}")
        graph = cls(data.get("meta"))
        for item in data["nodes"]:
            graph.nodes[item["key"]] = Node(item["key"], item["label"], item["type"], set(item["chunk_ids"]),
                                            set(item["doc_ids"]), set(item["aliases"]), item.get("mentions", 0),
                                            Counter({item["type"]: 1}))
        for item in data["edges"]:
            edge = Edge(item["source"], item["target"], item["relation"], set(item["chunk_ids"]),
                        set(item["doc_ids"]), item.get("count", 1))
            key = (edge.source, edge.target, edge.relation)
            graph.edges[key] = edge
            graph._adjacent[edge.source].add(key)
            graph._adjacent[edge.target].add(key)
        graph._alias = dict(data.get("aliases", {}))
        return graph

    def save(self, path: Path) -> Path:
        """Write the graph as JSON, atomically (a temporary file then ``os.replace``)."""
        path = Path(path)
        _atomic_write(path, json.dumps(self.to_dict(), ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: Path) -> KnowledgeGraph:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise RagftError(f"{path}: cannot read the knowledge graph ({err})") from None

    def to_json(self) -> dict:
        """The export format: nodes with label, type and degree, edges with their relation, each with
        the chunks and documents it came from."""
        return {
            "nodes": [{"id": k, "label": n.label, "type": n.type, "degree": self.degree(k),
                       "chunk_ids": sorted(n.chunk_ids), "doc_ids": sorted(n.doc_ids)}
                      for k, n in sorted(self.nodes.items())],
            "edges": [{"source": e.source, "target": e.target, "relation": e.relation, "weight": e.count,
                       "chunk_ids": sorted(e.chunk_ids), "doc_ids": sorted(e.doc_ids)}
                      for _, e in sorted(self.edges.items())],
            "stats": self.stats(), "meta": self.meta,
        }

    def export_json(self, path: Path) -> Path:
        """:meth:`to_json` written to ``path`` atomically: the graph for tools other than ragft."""
        _atomic_write(Path(path), json.dumps(self.to_json(), ensure_ascii=False))
        return Path(path)

    def export_graphml(self, path: Path) -> Path:
        """GraphML (readable by networkx, Gephi, yEd, Cytoscape); chunk/doc id lists are JSON strings."""
        ns = "http://graphml.graphdrawing.org/xmlns"
        root = ET.Element("graphml", xmlns=ns)
        keys = [("label", "node", "string"), ("type", "node", "string"), ("degree", "node", "int"),
                ("chunk_ids", "node", "string"), ("doc_ids", "node", "string"),
                ("relation", "edge", "string"), ("weight", "edge", "int"),
                ("edge_chunk_ids", "edge", "string"), ("edge_doc_ids", "edge", "string")]
        for name, domain, kind in keys:
            attr_name = name.removeprefix("edge_")
            ET.SubElement(root, "key", {"id": name, "for": domain, "attr.name": attr_name, "attr.type": kind})
        graph = ET.SubElement(root, "graph", id="G", edgedefault="directed")
        for key, node in sorted(self.nodes.items()):
            element = ET.SubElement(graph, "node", id=key)
            for name, value in (("label", node.label), ("type", node.type), ("degree", self.degree(key)),
                                ("chunk_ids", json.dumps(sorted(node.chunk_ids))),
                                ("doc_ids", json.dumps(sorted(node.doc_ids)))):
                ET.SubElement(element, "data", key=name).text = str(value)
        for i, (_, edge) in enumerate(sorted(self.edges.items())):
            element = ET.SubElement(graph, "edge", id=f"e{i}", source=edge.source, target=edge.target)
            for name, value in (("relation", edge.relation), ("weight", edge.count),
                                ("edge_chunk_ids", json.dumps(sorted(edge.chunk_ids))),
                                ("edge_doc_ids", json.dumps(sorted(edge.doc_ids)))):
                ET.SubElement(element, "data", key=name).text = str(value)
        ET.indent(root)
        _atomic_write(Path(path), ET.tostring(root, encoding="unicode", xml_declaration=True))
        return Path(path)

    def to_networkx(self):
        """A ``networkx.MultiDiGraph`` copy (needs networkx installed)."""
        import networkx as nx

        graph = nx.MultiDiGraph()
        for key, node in self.nodes.items():
            graph.add_node(key, label=node.label, type=node.type, chunk_ids=sorted(node.chunk_ids),
                           doc_ids=sorted(node.doc_ids))
        for edge in self.edges.values():
            graph.add_edge(edge.source, edge.target, key=edge.relation, relation=edge.relation,
                           chunk_ids=sorted(edge.chunk_ids), doc_ids=sorted(edge.doc_ids), weight=edge.count)
        return graph


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


# ---------------------------------------------------------------------------------------------
# Building a graph from chunks
# ---------------------------------------------------------------------------------------------

_CONNECTOR_WORDS = frozenset({"of", "the", "for", "and", "de", "van", "von", "da", "del", "on", "upon"})
_ALIASABLE = {"name", "person", "vessel", "org"}


def build_graph(chunks: list[Chunk], extractor: Extractor | None = None, link_mentions: bool = True) -> KnowledgeGraph:
    """Extract facts from every chunk and assemble them into a graph."""
    extractor = extractor or PatternExtractor()
    started = time.perf_counter()
    facts = extractor.extract(chunks)
    by_id = {c.chunk_id: c for c in chunks}
    graph = KnowledgeGraph()
    for fact in facts:
        chunk = by_id[fact.chunk_id]
        for name, type_ in fact.entities:
            graph.add_node(name, type_, chunk.chunk_id, chunk.doc_id)
        for subject, relation, obj in fact.relations:
            s = graph.add_node(subject, None, chunk.chunk_id, chunk.doc_id)
            o = graph.add_node(obj, None, chunk.chunk_id, chunk.doc_id)
            if s and o:
                if relation in ("holds role", "holds_role", "is", "is the") and "role" in \
                        (graph.nodes[s].type, graph.nodes[o].type) and graph.nodes[s].type != graph.nodes[o].type:
                    if graph.nodes[s].type == "role":
                        s, o = o, s
                    relation = "holds_role"
                graph.add_edge(s, relation, o, chunk.chunk_id, chunk.doc_id)
    _merge_suffix_aliases(graph)
    for edge in graph.edges.values():  # a name that holds a role is a person
        if edge.relation == "holds_role" and graph.nodes[edge.source].type == "name":
            graph.nodes[edge.source].type = "person"
    for node in graph.nodes.values():  # the most frequent surface form is the label
        node.label = _best_label(node)
    if link_mentions:
        _link_mentions(graph, chunks)
    graph.meta.update({"extractor": extractor.name, "chunks": len(chunks),
                       "build_seconds": round(time.perf_counter() - started, 3),
                       "llm_calls": getattr(extractor, "llm_calls", 0), **graph.stats()})
    return graph


def _best_label(node: Node) -> str:
    aliases = sorted(node.aliases, key=lambda a: (-len(a.split()), a))
    return aliases[0] if aliases else node.key


def _merge_suffix_aliases(graph: KnowledgeGraph) -> None:
    """"Venn" → "Sorcha Venn" when it is the suffix of exactly one longer compatible name."""
    by_last: dict[str, list[str]] = defaultdict(list)
    for key, node in graph.nodes.items():
        if node.type in _ALIASABLE and len(key.split()) > 1:
            by_last[key.split()[-1]].append(key)
    for key in sorted(graph.nodes, key=lambda k: len(k.split())):
        node = graph.nodes.get(key)
        if node is None or node.type not in _ALIASABLE:
            continue
        tokens = key.split()
        candidates = [k for k in by_last.get(tokens[-1], ()) if k != key and k in graph.nodes
                      and k.split()[-len(tokens):] == tokens and len(k.split()) > len(tokens)
                      and _compatible(node.type, graph.nodes[k].type)]
        if len(candidates) == 1 and not any(ch.isdigit() for ch in key):
            graph.merge(key, candidates[0])


def _compatible(a: str, b: str) -> bool:
    return a == b or "name" in (a, b)


def _link_mentions(graph: KnowledgeGraph, chunks: list[Chunk]) -> None:
    """Link each node to every chunk that names it verbatim."""
    matcher = NameMatcher(graph)
    for chunk in chunks:
        for key, _, _ in matcher.match(chunk.text):
            node = graph.nodes[key]
            node.chunk_ids.add(chunk.chunk_id)
            node.doc_ids.add(chunk.doc_id)


class NameMatcher:
    """Finds node names in free text by greedy longest n-gram match over normalised tokens.

    Multi-word names match in any case; single words only when capitalised in the text (or a
    code / number), so the role "Chair" does not match "chair" and "Greylag" matches "MV Greylag".
    """

    def __init__(self, graph: KnowledgeGraph, max_n: int = 8):
        self.graph = graph
        self.keys: dict[str, str] = {}
        for key in graph.nodes:
            self.keys[key] = key
        for alias, target in graph._alias.items():
            resolved = graph.resolve(target)
            if resolved:
                self.keys.setdefault(alias, resolved)
        self.max_n = min(max_n, max((len(k.split()) for k in self.keys), default=1))

    def _cased(self, tokens, key: str) -> bool:
        """Names must be capitalised in the text (connectors, numbers and codes aside); roles
        may be lower case ("the port manager")."""
        if self.graph.nodes[key].type in ("role", "money", "date", "quantity", "code"):
            return len(tokens) > 1 or tokens[0][3] or any(ch.isdigit() for ch in tokens[0][0])
        return all(cap or word in _CONNECTOR_WORDS or any(ch.isdigit() for ch in word)
                   for word, _, _, cap in tokens)

    def match(self, text: str) -> list[tuple[str, int, int]]:
        tokens = _key_tokens(text)
        found, i = [], 0
        while i < len(tokens):
            hit = None
            for n in range(min(self.max_n, len(tokens) - i), 0, -1):
                words = [t[0] for t in tokens[i:i + n]]
                if n > 1 and words[0] in STRIP_PREFIXES:
                    continue  # "MV Greylag": let the shorter key at the next position match
                candidate = " ".join(words)
                key = self.keys.get(candidate)
                if key is None or candidate in STOP:
                    continue
                if not self._cased(tokens[i:i + n], key):
                    continue
                hit = (key, tokens[i][1], tokens[i + n - 1][2], n)
                break
            if hit:
                found.append(hit[:3])
                i += hit[3]
            else:
                i += 1
        return found


# ---------------------------------------------------------------------------------------------
# Graph retrieval
# ---------------------------------------------------------------------------------------------

_GRAPH_CACHE: dict[str, KnowledgeGraph] = {}  # per process: index content + extractor -> graph


def index_fingerprint(chunks: list[Chunk], extractor_name: str) -> str:
    """Hash of the chunks' ids and texts plus the extractor: the graph's cache key."""
    digest = hashlib.sha256(f"{GRAPH_FORMAT}\0{extractor_name}\0".encode())
    for chunk in chunks:
        digest.update(chunk.chunk_id.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(chunk.text.encode()).digest())
    return digest.hexdigest()[:20]


def _cached_graph_path(fingerprint: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / "graph" / f"{fingerprint}.json"


def cached_graph(fingerprint: str, cache_dir: Path | None) -> tuple[KnowledgeGraph | None, str]:
    """The graph built earlier for ``fingerprint`` and where it came from ("memory" or "disk"),
    or ``(None, "")`` when neither this process nor ``cache_dir`` has it."""
    if fingerprint in _GRAPH_CACHE:
        return _GRAPH_CACHE[fingerprint], "memory"
    if cache_dir is None or not _cached_graph_path(fingerprint, cache_dir).is_file():
        return None, ""
    graph = _GRAPH_CACHE[fingerprint] = KnowledgeGraph.load(_cached_graph_path(fingerprint, cache_dir))
    return graph, "disk"


def graph_for_index(index: HybridIndex, extractor: Extractor, cache_dir: Path | None) -> tuple[KnowledgeGraph, dict]:
    """The graph of ``index`` (from memory, then disk, else built and saved) and its build record."""
    fingerprint = index_fingerprint(index.chunks, extractor.name)
    started = time.perf_counter()
    graph, source = cached_graph(fingerprint, cache_dir)
    if graph is None:
        graph, source = build_graph(index.chunks, extractor), "built"
        graph.meta["fingerprint"] = fingerprint
        if cache_dir is not None:
            graph.save(_cached_graph_path(fingerprint, cache_dir))
        _GRAPH_CACHE[fingerprint] = graph
    build = {"source": source, "fingerprint": fingerprint, "extractor": graph.meta.get("extractor"),
             "build_seconds": graph.meta.get("build_seconds"), "llm_calls": graph.meta.get("llm_calls", 0),
             "load_seconds": round(time.perf_counter() - started, 3), "nodes": len(graph.nodes),
             "edges": len(graph.edges)}
    return graph, build


_WHO = re.compile(r"^\s*(?:who|whose|whom)\b|\bwhich (?:person|people|director|manager|officer|member)\b|"
                  r"\bname (?:of )?the person\b", re.IGNORECASE)


@dataclass
class GraphRetrieve:
    """Retrieve chunks through the entities the question (and its best evidence) mentions."""

    index: HybridIndex
    embedder: Any
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    extractor: Extractor = field(default_factory=PatternExtractor)
    cache_dir: Path | None = None
    hops: int = 1
    also_chunks: bool = False
    seed_hits: int = 3  # top chunks of the normal retrieval whose best sentences seed entities
    seed_sentences: int = 4
    link_threshold: float = 0.8
    decay: float = 0.5
    max_neighbours: int = 40
    cover_discount: float = 0.3  # weight left to an entity once a chosen chunk covers it
    name: str = "graph"
    graph: KnowledgeGraph | None = None
    build: dict = field(default_factory=dict)

    def _chunks(self) -> dict[str, Chunk]:
        if getattr(self, "_chunk_map", None) is None:
            self._chunk_map = {c.chunk_id: c for c in self.index.chunks}
        return self._chunk_map

    def ensure_graph(self) -> KnowledgeGraph:
        if self.graph is None:
            self.graph, self.build = graph_for_index(self.index, self.extractor, self.cache_dir)
        return self.graph

    def run(self, states: list[RAGState]) -> list[RAGState]:
        graph = self.ensure_graph()
        retriever = Retrieve(self.index, self.retrieval)
        depth = max(self.retrieval.top_k, self.retrieval.candidates)
        k = self.retrieval.top_k
        baseline = [retriever.search(s.question, s.doc_scope, depth) for s in states]
        matcher = NameMatcher(graph)
        links = [self.link(s.question, graph, matcher) for s in states]
        evidence = self._seed_from_hits(states, baseline, links)
        chunk_by_id = self._chunks()
        for state, base, linked, hit_seeds in zip(states, baseline, links, evidence):
            for key, (weight, via) in hit_seeds.items():
                if key not in linked or linked[key][0] < weight:
                    linked[key] = (weight, via)
            active = self.expand(graph, {key: weight for key, (weight, _) in linked.items()})
            if _WHO.search(state.question):  # the answer is a person: favour people reached
                active = {key: w * (2.0 if graph.nodes[key].type == "person" and key not in linked else 1.0)
                          for key, w in active.items()}
            ranked = self.rank_chunks(graph, active, state.doc_scope, limit=depth)
            graph_hits = [Hit(chunk_by_id[cid], score, rank, "graph")
                          for rank, (cid, score) in enumerate(ranked, start=1) if cid in chunk_by_id]
            if self.also_chunks:
                # Each ranking contributes its top 2k only: a chunk ranked 30th by one retriever
                # must not outrank the other retriever's first choice by appearing in both lists.
                state.hits = fuse_hits([base[:2 * k], graph_hits[:2 * k]], k, self.retrieval.rrf_k) \
                    if graph_hits else base[:k]
            else:
                chosen = {h.chunk.chunk_id for h in graph_hits[:k]}
                fill = [h for h in base if h.chunk.chunk_id not in chosen]  # too few graph chunks
                state.hits = [Hit(h.chunk, h.score, rank, h.retriever)
                              for rank, h in enumerate((graph_hits[:k] + fill)[:k], start=1)]
            state.trace[self.name] = {
                "build": self.build,
                "linked": [{"entity": graph.nodes[key].label, "type": graph.nodes[key].type,
                            "weight": round(weight, 3), "via": via}
                           for key, (weight, via) in sorted(linked.items(), key=lambda kv: -kv[1][0])[:12]],
                "expanded": len(active), "graph_chunks": [h.chunk.chunk_id for h in graph_hits[:k]],
            }
        return states

    # ------------------------------------------------------------------ linking
    def link(self, question: str, graph: KnowledgeGraph,
             matcher: NameMatcher | None = None) -> dict[str, tuple[float, str]]:
        """Node key -> (confidence, how it was linked) for the entities the question names."""
        linked: dict[str, tuple[float, str]] = {}
        matcher = matcher or NameMatcher(graph)
        for key, _, _ in matcher.match(question):
            linked[key] = (1.0, "name")
        unlinked = []
        for mention in find_mentions(question):
            key = graph.resolve(mention.key)
            if key:
                linked[key] = (1.0, "name")
            elif mention.type not in ATTRIBUTE_TYPES:
                unlinked.append(mention)
        if unlinked:
            self._fuzzy_link(unlinked, graph, linked)
        return linked

    def _fuzzy_link(self, mentions: list[Mention], graph: KnowledgeGraph, linked: dict) -> None:
        """Token overlap (Jaccard >= 0.5) and embedding similarity (>= link_threshold) of names."""
        by_token: dict[str, set[str]] = defaultdict(set)
        for key in graph.nodes:
            for token in key.split():
                by_token[token].add(key)
        for mention in mentions:
            tokens = set(mention.key.split())
            for key in set().union(*(by_token.get(t, set()) for t in tokens)):
                other = set(key.split())
                overlap = len(tokens & other) / len(tokens | other)
                if overlap >= 0.5 and linked.get(key, (0.0,))[0] < overlap:
                    linked[key] = (overlap, "token_overlap")
        if self.embedder is None:
            return
        keys, vectors = graph.label_vectors(self.embedder)
        if not keys:
            return
        similarity = self.embedder.embed([m.text for m in mentions]) @ vectors.T
        for row in similarity:
            for col in np.flatnonzero(row >= self.link_threshold):
                key, score = keys[col], float(row[col])
                if linked.get(key, (0.0,))[0] < score:
                    linked[key] = (score, "embedding")

    def _seed_from_hits(self, states: list[RAGState], baseline: list[list[Hit]],
                        links: list[dict] | None = None) -> list[dict[str, tuple[float, str]]]:
        """Entities of the sentences most similar to the question in its top retrieved chunks —
        the bridge to a second document — weighted 0.5 × (similarity / best similarity), doubled
        in a sentence that also names an entity the question names ("claims above £500 need
        approval by the Chief Financial Officer")."""
        links = links or [{} for _ in states]
        if self.seed_hits <= 0 or self.embedder is None:
            return [{} for _ in states]
        per_state, texts = [], []
        for state, hits in zip(states, baseline):
            sentences = [hit.chunk.text[s:e] for hit in hits[:self.seed_hits]
                         for s, e in split_sentences(hit.chunk.text, _hard_newlines(hit.chunk))]
            per_state.append((len(texts), sentences))
            texts.extend([state.question] + sentences)
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, 1))
        matcher = NameMatcher(self.ensure_graph())
        seeds = []
        for (start, sentences), linked in zip(per_state, links):
            found: dict[str, tuple[float, str]] = {}
            if sentences:
                similarity = vectors[start + 1:start + 1 + len(sentences)] @ vectors[start]
                order = np.argsort(-similarity)[:self.seed_sentences]
                best = max(float(similarity[order[0]]), 1e-6)
                for i in order:
                    keys = [key for key, _, _ in matcher.match(sentences[i])]
                    anchored = any(key in linked for key in keys)
                    weight = min((1.0 if anchored else 0.5) * max(float(similarity[i]), 0.0) / best, 1.0)
                    for key in keys:
                        if key not in linked and found.get(key, (0.0,))[0] < weight:
                            found[key] = (weight, "evidence")
            seeds.append(found)
        return seeds

    # ------------------------------------------------------------------ expansion and ranking
    def expand(self, graph: KnowledgeGraph, seeds: dict[str, float]) -> dict[str, float]:
        """Spread the seeds' weights ``hops`` steps along edges.

        A seed's weight is its link confidence × its IDF (the company's home port, named in
        forty chunks, says little). Each step passes ``decay`` × relation strength (holds_role 1,
        other labelled relations 0.7, co-occurrence 0.3) × the neighbour's IDF, divided by
        √(number of neighbours) — a personalised-PageRank-like damping so that a hub does not
        hand its weight to everything it touches — to at most ``max_neighbours`` neighbours,
        the rarest first. ``holds_role`` is not damped: a role has one holder, however many
        documents mention the role.
        """
        n_chunks = _n_chunks(graph)
        active = {k: w * _idf(graph, k, n_chunks) for k, w in seeds.items() if k in graph.nodes}
        frontier = dict(active)
        for _ in range(self.hops):
            reached: dict[str, float] = {}
            for key, weight in frontier.items():
                options: dict[str, float] = {}
                for other, edge in graph.neighbours(key):
                    options[other] = max(options.get(other, 0.0), _strength(edge))
                if not options:
                    continue
                best = sorted(options, key=lambda o: (-options[o] * _idf(graph, o, n_chunks), o))[:self.max_neighbours]
                damping = math.sqrt(len(options))
                for other in best:
                    value = weight * self.decay * options[other] * _idf(graph, other, n_chunks)
                    value /= 1.0 if options[other] >= 1.0 else damping
                    if value > max(active.get(other, 0.0), reached.get(other, 0.0)):
                        reached[other] = value
            active.update(reached)
            frontier = reached
        return active

    def rank_chunks(self, graph: KnowledgeGraph, active: dict[str, float], doc_scope: str | None = None,
                    limit: int | None = None) -> list[tuple[str, float]]:
        """Chunks chosen greedily by the weight of the active entities they mention plus, for
        every relation between two active entities that the chunk states, the smaller weight ×
        the relation's strength (the chunk saying *who holds the role* beats one that merely
        names it). Once a chunk is chosen, the entities it covers keep ``cover_discount`` of
        their weight, so the next choice brings in what is still missing — typically the
        second document of a two-hop question."""
        nodes_in: dict[str, set[str]] = defaultdict(set)
        for key in active:
            for chunk_id in graph.nodes[key].chunk_ids:
                nodes_in[chunk_id].add(key)
        edges_in: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        seen_edges = set()
        for key in active:
            for other, edge in graph.neighbours(key):
                edge_key = (edge.source, edge.target, edge.relation)
                if other in active and edge_key not in seen_edges:
                    seen_edges.add(edge_key)
                    for chunk_id in edge.chunk_ids:
                        edges_in[chunk_id].append((edge.source, edge.target, _strength(edge)))
        candidates = set(nodes_in)
        if doc_scope:
            chunks = self._chunks()
            candidates = {c for c in candidates if c in chunks and chunks[c].doc_id == doc_scope}
        remaining = dict(active)

        def score(chunk_id: str) -> float:
            value = sum(remaining[n] for n in nodes_in[chunk_id])
            return value + sum(min(remaining[a], remaining[b]) * st for a, b, st in edges_in.get(chunk_id, ()))

        ranked: list[tuple[str, float]] = []
        limit = len(candidates) if limit is None else min(limit, len(candidates))
        while candidates and len(ranked) < limit:
            best = max(sorted(candidates), key=score)
            value = score(best)
            if value <= 0:
                break
            ranked.append((best, value))
            candidates.discard(best)
            for node in nodes_in[best]:
                remaining[node] *= self.cover_discount
        return ranked


def _strength(edge: Edge) -> float:
    if edge.relation == "holds_role":
        return 1.0
    return 0.7 if edge.labelled else 0.3


def _n_chunks(graph: KnowledgeGraph) -> int:
    return max(int(graph.meta.get("chunks", 0)) or len({c for n in graph.nodes.values() for c in n.chunk_ids}), 1)


def _idf(graph: KnowledgeGraph, key: str, n_chunks: int) -> float:
    """Inverse document frequency of an entity over chunks, scaled to (0, 1]."""
    df = max(len(graph.nodes[key].chunk_ids), 1)
    return math.log(1 + n_chunks / df) / math.log(1 + n_chunks) if n_chunks > 1 else 1.0


# ---------------------------------------------------------------------------------------------
# Step builder
# ---------------------------------------------------------------------------------------------

_GRAPH_PARAMS = ("extractor", "hops", "also_chunks", "seed_hits", "seed_sentences", "link_threshold", "decay",
                 "max_neighbours", "cover_discount", "llm_batch_size", "llm_max_new_tokens", *RETRIEVAL_PARAMS)


def make_extractor(kind: str, ctx=None, batch_size: int = 8, max_new_tokens: int = 256) -> Extractor:
    """``pattern`` or ``llm`` (the variant's model, via ``ctx.llm_for()``)."""
    if kind == "pattern":
        return PatternExtractor()
    if kind == "llm":
        if ctx is None:
            raise ConfigError("the llm extractor needs a model")
        return LLMExtractor(ctx.llm_for(), getattr(ctx, "cache_dir", None), batch_size, max_new_tokens)
    raise ConfigError(f"graph: extractor must be 'pattern' or 'llm', got {kind!r}")


def _positive(params: dict, name: str, default, kind=int, low=0):
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ConfigError(f"graph: {name} must be a number >= {low}, got {value!r}")
    return kind(value)


def _graph(params: dict, ctx) -> GraphRetrieve:
    check_params("graph", params, _GRAPH_PARAMS)
    also_chunks = params.get("also_chunks", False)
    if not isinstance(also_chunks, bool):
        raise ConfigError(f"graph: also_chunks must be true or false, got {also_chunks!r}")
    extractor = make_extractor(params.get("extractor", "pattern"), ctx, _positive(params, "llm_batch_size", 8, low=1),
                               _positive(params, "llm_max_new_tokens", 256, low=1))
    step = GraphRetrieve(
        ctx.index, ctx.embedder, retrieval_from(params, ctx.retrieval), extractor, ctx.cache_dir,
        hops=_positive(params, "hops", 1), also_chunks=also_chunks, seed_hits=_positive(params, "seed_hits", 3),
        seed_sentences=_positive(params, "seed_sentences", 4, low=1),
        cover_discount=_positive(params, "cover_discount", 0.3, float),
        link_threshold=_positive(params, "link_threshold", 0.8, float), decay=_positive(params, "decay", 0.5, float),
        max_neighbours=_positive(params, "max_neighbours", 40, low=1),
    )
    step.ensure_graph()  # built (or loaded) now, so its cost is not in the first batch's latency
    return step


STEPS: dict[str, Callable] = {"graph": _graph}
