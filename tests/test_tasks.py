"""Task-aware answering: classification asks for a label and chooses it by likelihood."""

from __future__ import annotations

import pytest

from ragft.metrics.labels import parse_label
from ragft.rag.pipeline import ClosedBook
from ragft.rag.tasks import AnswerFormat, answer_format, answer_with_formats, with_format
from ragft.types import Generation

from scripted_llm import ScriptedLLM


class ScriptedChooser(ScriptedLLM):
    """A stand-in backend that can score labels: always prefers ``favourite``."""

    def __init__(self, favourite: str):
        super().__init__(lambda conversation: "free text")
        self.favourite = favourite
        self.chosen: list = []

    def choose(self, conversations, choices):
        self.chosen.append(conversations)
        return [(Generation(text=self.favourite, prompt_tokens=9), {c: (0.0 if c == self.favourite else -5.0)
                                                                     for c in labels})
                for labels in choices]


def test_classification_asks_for_a_label_and_other_tasks_keep_their_prompts():
    fmt = answer_format("classification", ("yes", "no", "maybe"))
    assert fmt.instruction == "Answer with one word: yes, no or maybe." and fmt.choices == ("yes", "no", "maybe")
    assert answer_format("short_qa") is None and answer_format("multi_hop") is None
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Is it free?"}]
    assert with_format(messages, fmt)[1]["content"] == "Is it free?\n\nAnswer with one word: yes, no or maybe."
    assert with_format(messages, None) is messages and messages[1]["content"] == "Is it free?"  # not mutated


def test_labels_are_chosen_by_likelihood_where_the_backend_can_and_asked_for_where_it_cannot():
    fmt = AnswerFormat("Answer with one word: yes or no.", ("yes", "no"))
    conversations = [[{"role": "user", "content": "Q1"}], [{"role": "user", "content": "Q2"}]]
    chooser = ScriptedChooser("no")
    replies = answer_with_formats(chooser, conversations, [fmt, None])
    assert [g.text for g, _ in replies] == ["no", "free text"]
    assert replies[0][1] == {"yes": -5.0, "no": 0.0} and replies[1][1] is None
    assert chooser.chosen[0][0][-1]["content"].endswith("yes or no.")  # the instruction is in the prompt too
    plain = ScriptedLLM(lambda conversation: conversation[-1]["content"][-20:])  # an API: no choose()
    (generation, scores), = answer_with_formats(plain, conversations[:1], [fmt])
    assert scores is None and "yes or no." in generation.text


def test_closed_book_passes_formats_and_keeps_the_label_scores_in_its_trace():
    answers = ClosedBook(ScriptedChooser("yes")).answer_batch(["Is it open?", "Who runs it?"],
                                                            formats=[answer_format("classification", ("yes", "no")), None])
    assert answers[0].text == "yes" and answers[0].trace["label_log_probs"]["yes"] == 0.0
    assert answers[1].text == "free text" and answers[1].trace == {}


def test_may_be_parses_as_maybe_only_when_maybe_is_a_label():
    assert parse_label("It may be allowed.") == "maybe"
    assert parse_label("It may be allowed.", ("yes", "no")) is None


@pytest.mark.slow
def test_the_builtin_model_scores_every_label_and_picks_the_likeliest(small_llm):
    conversation = [{"role": "user", "content": "Is water wet? Answer with one word: yes or no."}]
    (generation, scores), = small_llm.choose([conversation], [("yes", "no", "maybe")])
    assert set(scores) == {"yes", "no", "maybe"} and all(s < 0 for s in scores.values())
    assert generation.text == max(scores, key=scores.get) and generation.prompt_tokens > 5
