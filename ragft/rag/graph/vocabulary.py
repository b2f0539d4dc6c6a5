"""The pattern extractor's words — role and organisation heads, honorifics, stop words, units,
relation cue words — read from ``vocabulary.yaml`` next to this module.

The built-in lists are general-purpose English. To teach the extractor a domain's words, pass
them in the graph step's params; they are added to the built-in ones (and change the graph's
cache key, so a graph is rebuilt for them)::

    pipeline:
      - name: graph
        params:
          vocabulary:
            org_heads: [ferries, boatbuilders]      # "Brennock Ferries" is an organisation
            role_heads: [bosun, purser]             # "Chief Purser" is a role
            units: ["sailings?", "passengers?"]     # "36 sailings" is a quantity
            unit_modifiers: [wheelchair]            # "6 wheelchair spaces"

In Python: ``PatternExtractor(vocabulary=load_vocabulary({"org_heads": ["ferries"]}))``.
Only the keys in :data:`EXTENSIBLE` can be extended; ``units`` entries are regular-expression
fragments (``"hours?"`` matches hour and hours), the others plain lower-case words.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import yaml

from ragft.errors import ConfigError

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yaml")
EXTENSIBLE = ("role_heads", "org_heads", "standalone_roles", "units", "unit_modifiers")


class Vocabulary:
    """The word lists as sets, and the entity patterns (dates, money, codes, quantities) built from them."""

    def __init__(self, words: dict[str, list[str]]):
        self.words = words
        self.digest = hashlib.sha256(json.dumps(words, sort_keys=True).encode()).hexdigest()[:8]
        for key in ("role_heads", "org_heads", "standalone_roles", "role_of_heads", "honorifics",
                    "vessel_prefixes", "stop_words", "connector_words", "dangling_words", "initial_connectors",
                    "role_relations"):
            setattr(self, key, frozenset(words[key]))
        self.strip_prefixes = self.honorifics | self.vessel_prefixes | {"the"}
        self.calendar_words = frozenset(w.lower() for w in words["months"] + words["days"])
        self.name_connectors = {tuple(phrase.split()) for phrase in words["name_connectors"]}
        self.patterns = _entity_patterns(words)
        verbs, adverbs, determiners = (_alternatives(words[k]) for k in
                                       ("apposition_verbs", "apposition_adverbs", "determiners"))
        self.apposition = re.compile(rf"^\s*(?:[,:(\-–—]\s*)?(?:(?:{verbs})(?:\s+(?:{adverbs}))?"
                                     rf"(?:\s+(?:{determiners}))?)?\s*$", re.IGNORECASE)
        self.trailing_determiner = re.compile(rf"\s+(?:{determiners})$")
        self.person_question = re.compile(rf"^\s*(?:who|whose|whom)\b|\bwhich (?:"
                                          rf"{_alternatives(words['person_question_nouns'])})\b|"
                                          r"\bname (?:of )?the person\b", re.IGNORECASE)


def _alternatives(words: list[str]) -> str:
    return "|".join(words)


def _entity_patterns(words: dict[str, list[str]]) -> list[tuple[str, re.Pattern]]:
    """(type, pattern) in the order they claim text: dates, money, codes, quantities, bare years."""
    months, days = _alternatives(words["months"]), _alternatives(words["days"])
    number = rf"(?:\d(?:[\d,]*\d)?(?:\.\d+)?|{_alternatives(words['number_words'])})"
    currency, magnitudes = _alternatives(words["currency_words"]), _alternatives(words["money_magnitudes"])
    modifiers, units = _alternatives(words["unit_modifiers"]), _alternatives(words["units"])
    return [
        ("date", re.compile(rf"\b(?:(?:{days}),?\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{months})\.?(?:,?\s+\d{{4}})?\b")),
        ("date", re.compile(rf"\b(?:{months})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,\s+\d{{4}}\b")),
        ("date", re.compile(rf"\b(?:{months})\s+\d{{4}}\b")),
        ("date", re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")),
        ("money", re.compile(rf"[£$€]\s?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s?(?:{magnitudes})\b)?")),
        ("money", re.compile(rf"\b\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:{currency})\b")),
        ("code", re.compile(r"\b[A-Z][A-Z0-9]{0,6}(?:[-/][A-Z0-9]+)+\b")),  # KV-3318, INC-2024-031, DG-7
        ("code", re.compile(r"\b[A-Z]{1,3}\d{1,5}[A-Z]?\b")),  # R3, A9, B737
        ("quantity", re.compile(rf"\b{number}\s?(?:(?:{modifiers})\s+)?(?:{units})(?![\w-])", re.IGNORECASE)),
        ("date", re.compile(r"\b(?:19|20)\d{2}\b")),  # a bare year, last: "built in 1991"
    ]


@lru_cache(maxsize=1)
def _builtin_words() -> dict[str, tuple[str, ...]]:
    data = yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))
    for key, words in data.items():
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ConfigError(f"{VOCABULARY_FILE}: {key} must be a list of strings (quote yes/no/on/off)")
    return {key: tuple(words) for key, words in data.items()}


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The built-in vocabulary, read once per process."""
    return Vocabulary({key: list(words) for key, words in _builtin_words().items()})


def load_vocabulary(extra: dict[str, list[str]] | None = None) -> Vocabulary:
    """The built-in vocabulary plus ``extra`` domain words (keys from :data:`EXTENSIBLE`)."""
    if not extra:
        return default_vocabulary()
    if not isinstance(extra, dict):
        raise ConfigError(f"graph: vocabulary must be a mapping of word lists, got {extra!r}")
    words = {key: list(values) for key, values in _builtin_words().items()}
    for key, values in extra.items():
        if key not in EXTENSIBLE:
            raise ConfigError(f"graph: vocabulary key {key!r} is not one of {', '.join(EXTENSIBLE)}")
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise ConfigError(f"graph: vocabulary {key} must be a list of words, got {values!r}")
        cleaned = [v.strip() if key == "units" else v.strip().lower() for v in values]
        words[key] += [v for v in dict.fromkeys(cleaned) if v not in words[key]]
    return Vocabulary(words)
