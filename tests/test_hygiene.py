"""Near-duplicate detection between training and test questions."""

from __future__ import annotations

import random

import pytest

from ragft.errors import ConfigError, RagftError
from ragft.metrics import hygiene

TRAIN = [
    "What is the governing law of this agreement?",
    "Which party is responsible for obtaining insurance coverage?",
    "Can either party terminate the contract for convenience?",
    "How long does the initial term of the agreement last?",
]


def test_normalize_text():
    assert hygiene.normalize_text("  What's the   LAW?!\n") == "what s the law"


def test_shingles_of_short_texts():
    assert hygiene.word_shingles("two words") == {("two", "words")}
    assert hygiene.char_shingles("abc") == {"abc"}
    assert hygiene.word_shingles("") == set() and hygiene.char_shingles("") == set()


@pytest.mark.parametrize(
    ("test_question", "train_index", "exact"),
    [
        ("What is the governing law of this agreement?", 0, True),
        ("what is the GOVERNING law of this agreement", 0, True),  # case and punctuation only
        ("What is the governing law of the agreement?", 0, False),  # one word swapped
        ("Which party is responsible for obtaining insurance cover?", 1, False),  # word shortened
        ("Can either party terminate this contract for convenience?", 2, False),
    ],
)
def test_light_rewording_is_caught(test_question, train_index, exact):
    [overlap] = hygiene.find_overlaps(TRAIN, [test_question])
    assert overlap.train_index == train_index
    if exact:
        assert (overlap.kind, overlap.similarity) == ("exact", 1.0)
    else:
        assert overlap.kind in {"word_3gram", "char_5gram"} and 0.6 <= overlap.similarity < 1


def test_a_different_question_about_the_same_fact_is_not_caught():
    same_fact = [
        "Under which state's laws is this contract to be interpreted?",
        "Who must buy the insurance policy?",
        "Is it possible to end the deal early without cause?",
    ]
    assert hygiene.find_overlaps(TRAIN, same_fact) == []


def test_find_overlaps_reports_the_best_match_per_test_question_in_order():
    train = ["alpha beta gamma delta epsilon", "alpha beta gamma delta zeta", "unrelated words here entirely"]
    test = ["nothing in common at all", "alpha beta gamma delta epsilon!", "alpha beta gamma delta zeta eta"]
    overlaps = hygiene.find_overlaps(train, test)
    assert [(o.test_index, o.train_index, o.kind) for o in overlaps] == [(1, 0, "exact"), (2, 1, overlaps[1].kind)]
    assert overlaps[1].kind in {"word_3gram", "char_5gram"} and overlaps[1].similarity < 1


def test_threshold_controls_sensitivity():
    pair_train, pair_test = ["the cat sat on the mat today"], ["the cat sat on a mat yesterday"]
    assert hygiene.find_overlaps(pair_train, pair_test, threshold=0.9) == []
    assert hygiene.find_overlaps(pair_train, pair_test, threshold=0.3) != []
    with pytest.raises(ConfigError, match="threshold"):
        hygiene.find_overlaps(pair_train, pair_test, threshold=0)


def _brute_force_similarity(a: str, b: str) -> float:
    a, b = hygiene.normalize_text(a), hygiene.normalize_text(b)
    return max(
        hygiene.jaccard(hygiene.word_shingles(a), hygiene.word_shingles(b)),
        hygiene.jaccard(hygiene.char_shingles(a), hygiene.char_shingles(b)),
    )


def test_prefix_filter_finds_the_same_pairs_as_brute_force():
    rng = random.Random(7)
    words = "contract party term law notice payment fee audit right license".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 8))) for _ in range(120)]
    train, test = texts[:80], texts[80:]
    for threshold in (0.3, 0.5, 0.8):
        flagged = {o.test_index: o.similarity for o in hygiene.find_overlaps(train, test, threshold)}
        for test_index, question in enumerate(test):
            best = max(_brute_force_similarity(question, other) for other in train)
            if best >= threshold:
                assert flagged.get(test_index) == pytest.approx(best)
            else:
                assert test_index not in flagged


def test_assert_no_overlap_names_the_count_and_examples():
    hygiene.assert_no_overlap(TRAIN, ["Who must buy the insurance policy?"])  # passes silently
    leaking = ["What is the governing law of this agreement", "Who must buy the insurance policy?", TRAIN[2]]
    with pytest.raises(RagftError) as error:
        hygiene.assert_no_overlap(TRAIN, leaking, what="CUAD questions")
    message = str(error.value)
    assert message.startswith("2 of 3 test CUAD questions overlap the training CUAD questions")
    assert "test #1" in message and "train #1" in message and "test #3" in message  # 1-based, as people count


def test_assert_no_overlap_cites_file_and_line_when_known():
    with pytest.raises(RagftError) as error:
        hygiene.assert_no_overlap(TRAIN, [TRAIN[2]], train_where=[f"train.csv: line {n}" for n in range(2, 9)],
                                  test_where=["test.jsonl: line 4"])
    assert "test (test.jsonl: line 4)" in str(error.value) and "train (train.csv: line 4)" in str(error.value)


def test_ten_thousand_by_one_thousand_finds_exactly_the_planted_leaks():
    # Speed is measured in benchmarks, not asserted here (timed tests flake on a loaded machine).
    rng = random.Random(0)
    vocabulary = [f"term{i}" for i in range(2000)] + "what is the of a to in for contract party".split() * 40
    train = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 16))) + "?" for _ in range(10_000)]
    test = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 16))) + "?" for _ in range(997)]
    test += [train[5].upper(), train[17], train[42].replace("?", "!")]
    overlaps = hygiene.find_overlaps(train, test)
    assert [(o.test_index, o.train_index) for o in overlaps] == [(997, 5), (998, 17), (999, 42)]
