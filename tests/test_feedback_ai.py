"""AI feedback: verdict parsing, majority voting, the tutorial's automatic scoring, and one real
RLAIF round with the built-in SmolLM2 as both generator and judge."""

from __future__ import annotations

import pytest

from ragft.errors import ConfigError
from ragft.feedback.ai import (
    FeedbackItem,
    RLAIFConfig,
    Verdict,
    collect_ai_feedback,
    judge_by_score,
    judgement_from_verdicts,
    parse_verdict,
    preferences,
)
from ragft.feedback.pairs import normalise
from ragft.feedback.store import FeedbackStore

ITEM = FeedbackItem(question="Who approves travel claims above £500?", context="[1] Claims above £500 need the CFO.",
                    gold="the CFO")


def test_parse_verdict_forms_and_out_of_range():
    v = parse_verdict("Best: 2\nWorst: [3]\nReason: it cites the context.", 3)
    assert (v.best, v.worst, v.reason) == (1, 2, "it cites the context.")
    assert parse_verdict("best answer is 9, worst 1", 3).best is None  # no candidate 9
    small_model_reply = parse_verdict("The best candidate is [1] and the worst is the 2nd.", 3)
    assert (small_model_reply.best, small_model_reply.worst) == (0, 1)
    assert parse_verdict("Best: 25", 4).best is None
    assert parse_verdict("I like them all", 3) == Verdict(None, None, "I like them all", "I like them all")
    same = parse_verdict("Best: 1 Worst: 1", 2)
    assert (same.best, same.worst) == (0, None)


def test_majority_decides_and_split_judges_build_no_pair():
    answers = ["The CFO.", "The CEO.", "Nobody."]
    verdicts = [Verdict(0, 2, "cites [1]", ""), Verdict(0, 1, "right", ""), Verdict(1, 2, "short", "")]
    judgement = judgement_from_verdicts(ITEM, answers, verdicts)
    assert judgement.pairs == [(0, 2)] and judgement.scores == [2.0, 0.0, -2.0]
    assert len(judgement.reasons) == 3 and "cites [1]" in judgement.reasons[0]

    split = [Verdict(0, None, "", ""), Verdict(1, None, "", ""), Verdict(None, None, "??", "")]
    assert judgement_from_verdicts(ITEM, answers, split).pairs == []  # 1 of 3 is no strict majority
    one_readable = [Verdict(0, 2, "", ""), Verdict(None, None, "??", ""), Verdict(None, None, "??", "")]
    assert judgement_from_verdicts(ITEM, answers, one_readable).pairs == []  # unreadable replies count
    assert judgement_from_verdicts(ITEM, answers, [Verdict(None, None, "", "")]).pairs == []


def test_majority_never_pairs_the_same_text():
    answers = ["The CFO.", "The  CFO."]
    judgement = judgement_from_verdicts(ITEM, answers, [Verdict(0, 1, "", "")] * 3)
    assert judgement.pairs == []


def test_auto_score_threshold_uses_gold_similarity():
    config = RLAIFConfig(method="auto_score", threshold=0.5)
    judgement = judge_by_score(ITEM, ["It is the CFO who approves.", "The marketing team."], config)
    assert judgement.pairs == [(0, 1)]
    assert judgement.scores[0] >= 0.5 > judgement.scores[1]
    both_bad = judge_by_score(ITEM, ["Marketing.", "Sales."], config)
    assert both_bad.pairs == []  # neither passes the threshold: no pair
    with pytest.raises(ConfigError, match="gold"):
        judge_by_score(FeedbackItem("q?"), ["a", "b"], config)


def test_config_errors():
    with pytest.raises(ConfigError):
        RLAIFConfig(method="vibes")
    with pytest.raises(ConfigError):
        RLAIFConfig(n_samples=1)


@pytest.mark.slow
def test_real_rlaif_round_with_the_builtin_model(small_llm, tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    config = RLAIFConfig(n_samples=3, max_new_tokens=16, judge_repeats=3, judge_max_new_tokens=24)
    judgements = collect_ai_feedback([ITEM], small_llm, config, judge=small_llm, store=store)

    (judgement,) = judgements
    assert 2 <= len(judgement.answers) <= 3
    assert len({normalise(a) for a in judgement.answers}) == len(judgement.answers)  # distinct samples
    assert len(judgement.reasons) == 3  # one reason per repeated judgement, kept
    (row,) = store.rows("ai_judgements")
    assert row["method"] == "ai_judge" and row["judge"] == small_llm.name and "CFO" in row["context"]
    stored = [(p.chosen, p.rejected) for p in store.preference_pairs()]
    assert stored == [(p.chosen, p.rejected) for p in preferences(judgements)]
    assert all(normalise(c) != normalise(r) for c, r in stored)

    scored = collect_ai_feedback([ITEM], small_llm, RLAIFConfig(method="auto_score", n_samples=3, max_new_tokens=16,
                                                                threshold=0.3), store=store)
    assert store.counts()["ai_judgements"] == 2
    assert all(s >= 0.3 for s in [scored[0].scores[c] for c, _ in scored[0].pairs])
    store.close()
