"""Arena rounds waiting for the user's choice: which variant is hiding behind A and B.

Kept in memory (a round is worth nothing after a restart) and bounded, oldest dropped first.
A round is used once: choosing removes it, so a double click cannot store two preferences.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ragft.errors import RagftError


@dataclass
class Round:
    question: str
    variants: tuple[str, str]  # (A, B)
    answers: tuple[str, str]
    contexts: tuple[str, str]
    variant_hashes: tuple[str, str] = ("", "")  # the served specs' keys


class RoundBook:
    def __init__(self, limit: int = 2000):
        self._rounds: OrderedDict[str, Round] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit

    def add(self, round_: Round) -> str:
        round_id = secrets.token_urlsafe(12)
        with self._lock:
            self._rounds[round_id] = round_
            while len(self._rounds) > self.limit:
                self._rounds.popitem(last=False)
        return round_id

    def take(self, round_id: str) -> Round:
        with self._lock:
            round_ = self._rounds.pop(round_id, None)
        if round_ is None:
            raise RagftError(f"arena round {round_id!r} is unknown or already decided — ask a new question")
        return round_
