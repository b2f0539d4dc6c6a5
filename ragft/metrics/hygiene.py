"""Catch test questions that leak from the training set.

A fine-tuned model scored on questions it was trained on (or on light rewordings of them)
measures memory, not skill; the KDD 2024 tutorial made exactly that mistake. ``find_overlaps``
flags, for each test question, the most similar training question when it is an exact
duplicate after normalisation, or when its word 3-gram or character 5-gram Jaccard similarity
reaches the threshold. Word 3-grams catch reordered clauses; character 5-grams catch small
edits such as one word swapped or a typo, which break every word 3-gram around them.

Comparing every pair would be slow for 10k × 1k questions, so candidates come from an inverted
index with prefix filtering (Bayardo et al., "Scaling up all pairs similarity search", 2007):
with grams ordered rarest first, two sets whose Jaccard similarity is at least t must share a
gram among the first |S| − ⌈t·|S|⌉ + 1 of each. Only those prefixes are indexed, rare grams
have short posting lists, and only the few candidates found are compared in full.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

from ragft.errors import ConfigError, RagftError

WORD_SHINGLE = 3
CHAR_SHINGLE = 5


@dataclass(frozen=True)
class Overlap:
    """Test question ``test_index`` closely matches training question ``train_index``."""

    test_index: int
    train_index: int
    similarity: float  # Jaccard similarity of the ``kind`` of shingles; 1.0 for "exact"
    kind: str  # "exact", "word_3gram" or "char_5gram"


def normalize_text(text: str) -> str:
    """Lowercase, punctuation to spaces, white space collapsed."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.lower()).split())


def word_shingles(normalized: str, size: int = WORD_SHINGLE) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than ``size`` words is one shingle of all its words."""
    words = normalized.split()
    if len(words) <= size:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def char_shingles(normalized: str, size: int = CHAR_SHINGLE) -> set[str]:
    """Character n-grams; a text shorter than ``size`` characters is one shingle."""
    if len(normalized) <= size:
        return {normalized} if normalized else set()
    return {normalized[i : i + size] for i in range(len(normalized) - size + 1)}


def jaccard(a: set, b: set) -> float:
    """|A ∩ B| / |A ∪ B|, 0.0 for two empty sets."""
    shared = len(a & b)  # the union's size follows from it, without building the union
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0


def _prefix_length(size: int, threshold: float) -> int:
    # The small epsilon keeps float error (0.6 × 5 = 3.0000000000000004) from shortening the
    # prefix, which could miss a pair; a longer prefix only costs time.
    return size - math.ceil(threshold * size - 1e-9) + 1


def _similar_pairs(
    train_sets: Sequence[set[Hashable]], test_sets: Sequence[set[Hashable]], threshold: float
) -> Iterator[tuple[int, int, float]]:
    """(test_index, train_index, Jaccard) for every pair at or above ``threshold``."""
    frequency = Counter(gram for grams in (*train_sets, *test_sets) for gram in grams)

    def prefix(grams: set[Hashable]) -> list[Hashable]:
        rarest_first = sorted(grams, key=lambda gram: (frequency[gram], gram))
        return rarest_first[: _prefix_length(len(grams), threshold)]

    index: dict[Hashable, list[int]] = defaultdict(list)
    for train_index, grams in enumerate(train_sets):
        for gram in prefix(grams):
            index[gram].append(train_index)

    for test_index, grams in enumerate(test_sets):
        if not grams:
            continue
        candidates = {train_index for gram in prefix(grams) for train_index in index.get(gram, ())}
        for train_index in candidates:
            other = train_sets[train_index]
            # Length filter: sets of very different sizes cannot reach the threshold.
            if min(len(grams), len(other)) < threshold * max(len(grams), len(other)):
                continue
            similarity = jaccard(grams, other)
            if similarity >= threshold:
                yield test_index, train_index, similarity


def _exact_pairs(train_normalized: Sequence[str], test_normalized: Sequence[str]) -> Iterator[tuple[int, int, float]]:
    first_train_index: dict[str, int] = {}
    for train_index, text in enumerate(train_normalized):
        first_train_index.setdefault(text, train_index)
    for test_index, text in enumerate(test_normalized):
        if text and text in first_train_index:
            yield test_index, first_train_index[text], 1.0


def find_overlaps(train_texts: Sequence[str], test_texts: Sequence[str], threshold: float = 0.6) -> list[Overlap]:
    """For each leaking test question, its closest training question, sorted by test index.

    One ``Overlap`` per test question: an exact duplicate wins, otherwise the highest
    similarity of either shingle kind (ties go to the lower training index).
    """
    if not 0 < threshold <= 1:
        raise ConfigError(f"overlap threshold must be in (0, 1], got {threshold}")
    train_normalized = [normalize_text(text) for text in train_texts]
    test_normalized = [normalize_text(text) for text in test_texts]

    best: dict[int, Overlap] = {}

    def keep_best(pairs: Iterator[tuple[int, int, float]], kind: str) -> None:
        for test_index, train_index, similarity in pairs:
            current = best.get(test_index)
            if current is None or (
                current.kind != "exact"  # an exact duplicate is the clearest evidence; keep it
                and (similarity, -train_index) > (current.similarity, -current.train_index)
            ):
                best[test_index] = Overlap(test_index, train_index, similarity, kind)

    keep_best(_exact_pairs(train_normalized, test_normalized), "exact")
    for kind, shingles in (("word_3gram", word_shingles), ("char_5gram", char_shingles)):
        train_sets = [shingles(text) for text in train_normalized]
        test_sets = [shingles(text) for text in test_normalized]
        keep_best(_similar_pairs(train_sets, test_sets, threshold), kind)
    return [best[test_index] for test_index in sorted(best)]


def assert_no_overlap(
    train: Sequence[str], test: Sequence[str], what: str = "questions", threshold: float = 0.6, examples: int = 3,
    *, train_where: Sequence[str] | None = None, test_where: Sequence[str] | None = None,
) -> None:
    """Raise ``RagftError`` when any test text nearly duplicates a training text.

    The message says how many leak and shows the first few pairs, so the split can be fixed.
    Each text is cited by its ``*_where`` label ("qa.csv: line 12") when given, else by its
    1-based position ("#1"), so the user can find the record in the file.
    """
    overlaps = find_overlaps(train, test, threshold)
    if not overlaps:
        return
    shown = "; ".join(
        f"test {_cite(test_where, o.test_index)} {_clip(test[o.test_index])!r} ~ train "
        f"{_cite(train_where, o.train_index)} {_clip(train[o.train_index])!r} ({o.kind} {o.similarity:.2f})"
        for o in overlaps[:examples]
    )
    raise RagftError(
        f"{len(overlaps)} of {len(test)} test {what} overlap the training {what} "
        f"(similarity >= {threshold}): {shown}. Remove them from one side of the split."
    )


def _cite(labels: Sequence[str] | None, index: int) -> str:
    label = labels[index] if labels is not None and index < len(labels) else ""
    if not label:
        return f"#{index + 1}"
    return label if label.startswith("#") else f"({label})"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
