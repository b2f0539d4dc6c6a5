"""Multi-turn questions without a model: the condense step, the history a generator sees, and
chat turns stored with their conversation (and exported and imported with it)."""

from __future__ import annotations

from ragft.feedback.store import FeedbackStore
from ragft.rag.conversation import Turn, condense, history_messages, needs_context, with_history

FIRST = Turn("How many days of annual leave does a shore-based employee get?", "27 days.")


def test_follow_ups_that_lean_on_the_history_are_condensed():
    for follow_up in ("And after five years of service?", "What about passengers over 65?",
                      "When did he do that?", "How much did it cost?", "And the Head of People?"):
        assert needs_context(follow_up), follow_up
        assert condense([FIRST], follow_up) == f"{FIRST.question} {follow_up}"
    standalone = "Which shipyard built the passenger ferry MV Corran Star for the company?"
    assert not needs_context(standalone) and condense([FIRST], standalone) == standalone


def test_condense_methods_and_a_first_question():
    follow_up = "And after five years of service?"
    assert condense([], follow_up) == follow_up  # nothing to lean on
    assert condense([FIRST], follow_up, "none") == follow_up
    long_question = "Which shipyard built the passenger ferry MV Corran Star for the company?"
    assert condense([FIRST], long_question, "always").startswith(FIRST.question)


def test_the_generator_sees_the_latest_turns_and_the_clients_system_message():
    turns = [Turn(f"question {n}", f"answer {n}") for n in range(6)]
    messages = history_messages(turns, turns=2)
    assert [m["content"] for m in messages] == ["question 4", "answer 4", "question 5", "answer 5"]
    prompt = with_history([{"role": "system", "content": "Use the context."}, {"role": "user", "content": "Q"}],
                          turns[-1:], system_note="Answer in French.")
    assert prompt[0] == {"role": "system", "content": "Use the context.\n\nAnswer in French."}
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"] and prompt[-1]["content"] == "Q"
    assert history_messages(turns, turns=0) == []


def test_a_turn_is_stored_with_its_conversation_and_travels_through_export(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    first = store.record_interaction(FIRST.question, FIRST.answer, conversation="c1", turn=0)
    second = store.record_interaction(f"{FIRST.question} And after five years?", "30 days.",
                                      asked="And after five years?", conversation="c1", turn=1, variant_hash="abc")
    store.edit(second, "30 days after five years.")
    rows = {r["id"]: r for r in store.interactions()}
    assert (rows[second]["asked"], rows[second]["conversation"], rows[second]["turn"]) == ("And after five years?", "c1", 1)
    assert rows[first]["turn"] == 0
    (pair,) = store.preference_pairs()
    assert pair.question.startswith(FIRST.question)  # the edit trains on the self-contained question
    for suffix in ("jsonl", "csv"):
        path = tmp_path / f"feedback.{suffix}"
        store.export(path)
        again = FeedbackStore(tmp_path / f"again-{suffix}.sqlite")
        again.import_file(path)
        copied = {r["question"]: r for r in again.interactions()}[rows[second]["question"]]
        assert (copied["asked"], copied["conversation"], copied["turn"]) == ("And after five years?", "c1", 1)
        assert copied["variant_hash"] == "abc"
        again.close()
    store.close()
