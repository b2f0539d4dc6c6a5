"""The loop guards on generated text (``ragft.models.loops``): a repeating answer is cut at its
first repeat, an ordinary answer is untouched, and a loop is detected on generated tokens only."""

from __future__ import annotations

from ragft.models.loops import is_looping, trim_repetition


def test_a_repeated_sentence_or_phrase_is_cut_at_its_first_repeat():
    assert trim_repetition("The Chief Executive Officer. The Chief Executive Officer. The Chief") == \
        "The Chief Executive Officer."
    assert trim_repetition("Line one\nLine two\nLine one\nLine three") == "Line one\nLine two"
    assert trim_repetition("It is 5 days. It is 5 days") == "It is 5 days."
    assert trim_repetition("yes yes yes yes") == "yes"


def test_ordinary_answers_are_untouched():
    for answer in ("18 weeks on full pay. Then 21 weeks of statutory pay.", "£14.20 for adults and £7.10 for children.",
                   "Form DG-7 is used; see form DG-7.", "Not found in the documents.", ""):
        assert trim_repetition(answer) == answer.strip()


def test_a_loop_is_a_run_of_generated_tokens_seen_before():
    assert is_looping([1, 2, 3, 4, 5, 6, 7, 8] * 2)
    assert not is_looping(list(range(40)))
    assert not is_looping([1, 2, 3, 4, 5, 6, 7, 8, 9])  # too short to tell
