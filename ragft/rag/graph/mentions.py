"""Entity mentions in text: node keys (:func:`normalise`), types by shape (:func:`entity_type`)
and the rule-based mention finder (:func:`find_mentions`) — capitalised multi-word names
("Port Ardwell", "Audit and Risk Committee"), vessels ("MV Greylag"), people (honorifics),
codes ("KV-3318", "R3"), role titles, organisations, and money / dates / quantities.

The words these rules use come from :mod:`ragft.rag.graph.vocabulary`; every function that
classifies takes an optional ``vocabulary`` (default: the built-in one).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from ragft.rag.graph.vocabulary import Vocabulary, default_vocabulary

ATTRIBUTE_TYPES = frozenset({"money", "date", "quantity"})
_CODE_TOKEN = re.compile(r"^(?:[A-Z][A-Z0-9]{0,6}(?:[-/][A-Z0-9]+)+|[A-Z]{1,3}\d{1,5}[A-Z]?)$")
_WORD = re.compile(r"[^\W\d_][\w'’\-]*[^\W_]|[^\W\d_]|\d+(?:[.,]\d+)*|[^\w\s]")
_KEY_TOKEN = re.compile(r"[£$€]?\d[\d,]*(?:\.\d+)?%?|[^\W\d_]+")
# Positions after these tokens count as the start of a sentence (list items, table cells, labels).
_INITIAL_AFTER = {":", "|", "-", "*", "•", "#", "(", ";", "–", "—", '"', "“"}


@dataclass(frozen=True)
class Mention:
    """One entity mention in a text: its surface form, node key, type and character span."""

    text: str
    key: str
    type: str
    start: int
    end: int
    initial: bool = False  # at the start of a sentence, line, list item or table cell


def normalise(name: str) -> str:
    """The node key of an entity name: lower case, no punctuation or possessive "'s", no
    honorific / vessel prefix / leading "the"; numbers keep their currency sign and lose their
    thousands commas. ``normalise("MV Greylag's") == normalise("Greylag") == "greylag"``."""
    return " ".join(strip_prefixes([t for t, *_ in key_tokens(name)]))


def key_tokens(text: str) -> list[tuple[str, int, int, bool]]:
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


def strip_prefixes(tokens: list[str]) -> list[str]:
    """Drop leading honorifics, vessel prefixes and "the" (keeping at least one token)."""
    prefixes = default_vocabulary().strip_prefixes
    tokens = list(tokens)
    while len(tokens) > 1 and tokens[0] in prefixes:
        tokens.pop(0)
    return tokens


def entity_type(name: str, vocabulary: Vocabulary | None = None) -> str:
    """The type of an entity name by its shape: money, date, quantity, code, vessel, person,
    org, role, or plain ``name`` (a place, a product, a person without a title, …)."""
    vocab = vocabulary or default_vocabulary()
    stripped = name.strip()
    for kind, pattern in vocab.patterns:
        match = pattern.fullmatch(stripped)
        if match:
            return kind
    words = [w for w in re.findall(r"[^\W\d_][\w'’\-]*|\d+", stripped)]
    lowered = [w.lower().replace("’", "'").removesuffix("'s") for w in words]
    if not lowered:
        return "name"
    if lowered[0] in vocab.vessel_prefixes and len(lowered) > 1 and words[0].isupper():
        return "vessel"
    if lowered[0] in vocab.honorifics and len(lowered) > 1:
        return "person"
    head = lowered[:lowered.index("of")] if "of" in lowered else lowered
    if head and head[-1] in vocab.org_heads:
        return "org"
    if (head and head[0] in vocab.role_of_heads and "of" in lowered) or any(w in vocab.role_heads for w in head):
        return "role"
    if any(w in vocab.org_heads for w in lowered):
        return "org"
    return "name"


def find_mentions(text: str, lowercase_vocab: set[str] | frozenset[str] = frozenset(),
                  known_names: set[str] | frozenset[str] = frozenset(),
                  vocabulary: Vocabulary | None = None) -> list[Mention]:
    """Entity mentions in one sentence (or short text), in order, non-overlapping.

    ``lowercase_vocab`` — words seen in lower case elsewhere in the corpus: a capitalised word
    at the start of a sentence that is also a common lower-case word ("Residents of Carrow
    Isle", "Passengers aged 65") is not part of a name. ``known_names`` — keys of names seen in
    mid-sentence: "Depart Port Ardwell" at the start of a line is "Port Ardwell" when that is a
    known name and "depart port ardwell" is not.
    """
    vocab = vocabulary or default_vocabulary()
    spans: list[tuple[int, int, str, bool]] = []
    taken = np.zeros(len(text) + 1, dtype=bool)
    for kind, pattern in vocab.patterns:
        for match in pattern.finditer(text):
            start, end = match.span()
            if kind == "code" and not any(ch.isdigit() for ch in match.group()):
                continue
            if not taken[start:end].any():
                spans.append((start, end, kind, False))
                taken[start:end] = True
    tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    for start, end, initial in _name_runs(text, tokens, taken, lowercase_vocab, known_names, vocab):
        spans.append((start, end, entity_type(text[start:end], vocab), initial))
    mentions = []
    for start, end, kind, initial in sorted(spans):
        surface = re.sub(r"\s+", " ", text[start:end].strip())
        key = normalise(surface)
        if not key or key in vocab.stop_words or (len(key) < 2 and kind != "code") \
                or (kind == "name" and key.isdigit()) or (kind == "name" and key in vocab.calendar_words):
            continue
        if kind == "role" and " " not in key and key not in vocab.standalone_roles:
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


def _name_runs(text, tokens, taken, lowercase, known, vocab: Vocabulary) -> list[tuple[int, int, bool]]:
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
                if "\n" in gap and tokens[j - 1][0].lower() not in vocab.strip_prefixes:
                    break  # a line break ends a name (table cells, headings), except "MV\nTollan Maid"
                if tok.lower() in vocab.strip_prefixes and tok.lower() != "the":
                    break  # "Check MV Brennock Dawn": a vessel prefix or honorific starts a new name
                words.append(j)
                j += 1
                continue
            joined = _connector_join(text, tokens, taken, j, vocab, shouting)
            if joined:
                words.extend(range(j, joined + 1))
                j = joined + 1
                continue
            if tok.isdigit() and len(tok) <= 3 and text[tokens[j - 1][2]:s] == " " and len(words) == 1 \
                    and tokens[words[0]][0].lower() not in vocab.stop_words:
                words.append(j)  # "Stage 2", "Action 4"
                j += 1
            break
        words = _trim_initial(tokens, words, text, lowercase, known, vocab)
        if words:
            runs.append((tokens[words[0]][1], tokens[words[-1]][2], _is_initial(text, tokens, words[0])))
        i = j
    return runs


def _connector_join(text, tokens, taken, j, vocab: Vocabulary, shouting=False) -> int | None:
    """Index of the capitalised token that ends ``connector + Capitalised`` at j, else None."""
    for length in (2, 1):
        if j + length >= len(tokens):
            continue
        connector = tuple(tokens[k][0].lower() for k in range(j, j + length))
        if connector not in vocab.name_connectors:
            continue
        nxt, s, _ = tokens[j + length]
        if taken[s] or not _is_capitalised(nxt, shouting):
            return None
        if connector[0] in ("and", "&"):
            # "Audit and Risk Committee" joins; "MV Corran Star and MV Greylag" does not.
            if nxt.lower() in vocab.strip_prefixes:
                return None
            k = j + length
            while k + 1 < len(tokens) and _is_capitalised(tokens[k + 1][0], shouting) and not taken[tokens[k + 1][1]]:
                k += 1
            last = tokens[k][0].lower()
            if last not in vocab.org_heads and last not in vocab.role_heads:
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


def _trim_initial(tokens, words, text, lowercase, known, vocab: Vocabulary) -> list[int]:
    """Drop sentence-initial capitalised common words and dangling connectors."""
    initial = _is_initial(text, tokens, words[0])
    keeps_name = vocab.strip_prefixes | vocab.role_heads | vocab.org_heads  # words that belong to a name
    if initial and len(words) > 1 and known:
        first = tokens[words[0]][0].lower()
        rest_words = words[1:]
        while rest_words and tokens[rest_words[0]][0].lower() in vocab.connector_words:
            rest_words = rest_words[1:]
        rest = normalise(text[tokens[rest_words[0]][1]:tokens[words[-1]][2]]) if rest_words else ""
        whole = normalise(text[tokens[words[0]][1]:tokens[words[-1]][2]])
        if rest in known and whole not in known and first not in keeps_name:
            words = rest_words
    while words:
        word = tokens[words[0]][0].lower()
        if word in vocab.stop_words:
            words = words[1:]
            continue
        if initial and word in lowercase and word not in keeps_name:
            single = len(words) == 1
            then_connector = len(words) > 1 and tokens[words[1]][0].lower() in vocab.initial_connectors
            if single or then_connector:
                words = words[1:]
                continue
        break
    while words and tokens[words[0]][0].lower() in vocab.dangling_words:
        words = words[1:]
    while words and tokens[words[-1]][0].lower() in vocab.dangling_words:
        words = words[:-1]
    return words
