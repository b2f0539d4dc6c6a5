"""The LLM judge: verdict parsing, repeated judgements with their spread, on-disk cache."""

from __future__ import annotations

from ragft.study.judge import Judge
from ragft.types import Generation, QAExample


class AlternatingJudgeModel:
    """A test double for the judge model: says yes to answers containing the gold, with noise."""

    name = "scripted-judge"

    def __init__(self):
        self.prompts: list[str] = []

    def generate(self, conversations, max_new_tokens=None, temperature=None):
        replies = []
        for conversation in conversations:
            prompt = conversation[-1]["content"]
            self.prompts.append(prompt)
            if "Reference answer" in prompt:
                correct = "07:40" in prompt.split("Candidate answer:")[1]
                replies.append("Yes." if correct else "No, it differs.")
            else:
                replies.append("maybe?")  # unparseable: no verdict rather than "no"
        return [Generation(text=r, prompt_tokens=20, completion_tokens=2) for r in replies]


QUESTIONS = [QAExample("q1", "When does the ferry leave?", ["07:40"]),
             QAExample("q2", "Which code opens the room?", ["QX-7731"])]
RECORDS = [{"answer": "It leaves at 07:40.", "retrieved": [{"text": "The ferry leaves at 07:40."}]},
           {"answer": "Code AB-1.", "retrieved": [{"text": "Badge code QX-7731 opens it."}]}]


def test_verdicts_repeats_and_cache(tmp_path):
    model = AlternatingJudgeModel()
    judge = Judge(model, "fingerprint", repeats=3, cache_path=tmp_path / "judge.jsonl")
    per_question, per_repeat = judge.judge_variant(QUESTIONS, RECORDS, retrieves=True)
    assert per_question["judge_correctness"] == [1.0, 0.0]
    assert per_repeat["judge_correctness"] == [0.5, 0.5, 0.5]  # one whole-set mean per repeat
    assert per_question["judge_faithfulness"] == [None, None]  # never parseable → no score
    calls = len(model.prompts)
    assert calls == 2 * 2 * 3  # questions × metrics × repeats

    again = Judge(model, "fingerprint", repeats=3, cache_path=tmp_path / "judge.jsonl")
    again.judge_variant(QUESTIONS, RECORDS, retrieves=True)
    assert len(model.prompts) == calls  # every verdict came from the cache


def test_closed_book_answers_get_no_faithfulness(tmp_path):
    judge = Judge(AlternatingJudgeModel(), "f", repeats=1, cache_path=tmp_path / "j.jsonl")
    per_question, _ = judge.judge_variant(QUESTIONS, RECORDS, retrieves=False)
    assert set(per_question) == {"judge_correctness"}
