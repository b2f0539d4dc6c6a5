"""Preference pairs for DPO, built from feedback rows (pure functions; no database here).

An edit is chosen over the original, a pairwise winner over the loser, an up-voted answer over a
down-voted answer to the same question, an AI judge's winner over its loser. A pair whose two
sides are the same text (ignoring whitespace) is never produced: it teaches nothing and breaks
DPO's loss.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ragft.feedback.validate import VOTES
from ragft.types import Preference


def normalise(text: str) -> str:
    """Whitespace-insensitive form used to decide whether two answers are the same."""
    return " ".join((text or "").split())


def pairs_from_edits(feedback: list[dict[str, Any]]) -> list[Preference]:
    """Each corrected answer over the answer it corrects (``feedback``: the store's latest_feedback())."""
    return [Preference(question=row["question"], chosen=row["corrected_answer"], rejected=row["answer"],
                       context=row["context"], source="edit", reason="human edit",
                       metadata={"interaction_id": row["id"], "model_version": row["model_version"]})
            for row in feedback if row.get("corrected_answer")]


def pairs_from_votes(feedback: list[dict[str, Any]]) -> list[Preference]:
    """Every up-voted answer over every down-voted answer to the same question."""
    by_question: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {"up": [], "down": []})
    for row in feedback:
        if row.get("vote") in VOTES:
            by_question[normalise(row["question"]).lower()][row["vote"]].append(row)
    pairs = []
    for group in by_question.values():
        for good in group["up"]:
            for bad in group["down"]:
                pairs.append(Preference(
                    question=good["question"], chosen=good["answer"], rejected=bad["answer"], context=good["context"],
                    source="vote", reason="up-voted answer over a down-voted one",
                    metadata={"chosen_interaction": good["id"], "rejected_interaction": bad["id"],
                              "rejected_context": bad["context"]}))
    return pairs


def pairs_from_pairwise(rows: list[dict[str, Any]]) -> list[Preference]:
    """The winner over the loser of each human pairwise choice (ties teach nothing)."""
    pairs = []
    for row in rows:
        if row["choice"] == "tie":
            continue
        a_wins = row["choice"] == "a"
        chosen, rejected = (row["answer_a"], row["answer_b"]) if a_wins else (row["answer_b"], row["answer_a"])
        winner, loser = (row["variant_a"], row["variant_b"]) if a_wins else (row["variant_b"], row["variant_a"])
        pairs.append(Preference(question=row["question"], chosen=chosen, rejected=rejected,
                                context=row["context"], source="pairwise", reason="human pairwise choice",
                                metadata={"pairwise_id": row["id"], "chosen_variant": winner,
                                          "rejected_variant": loser}))
    return pairs


def pairs_from_ai(rows: list[dict[str, Any]]) -> list[Preference]:
    """The pairs each stored AI judgement supports (rows of ``ai_judgements``)."""
    pairs = []
    for row in rows:
        answers, reasons = json.loads(row["answers"]), json.loads(row["reasons"])
        for chosen, rejected in json.loads(row["pairs"]):
            pairs.append(Preference(question=row["question"], chosen=answers[chosen], rejected=answers[rejected],
                                    context=row["context"], source=row["method"], reason=" | ".join(reasons),
                                    metadata={"judgement_id": row["id"], "judge": row["judge"]}))
    return pairs


def unique_real_pairs(pairs: list[Preference]) -> list[Preference]:
    """Drop pairs whose sides are the same text, and repeats of a pair already kept."""
    seen, kept = set(), []
    for pair in pairs:
        chosen, rejected = normalise(pair.chosen), normalise(pair.rejected)
        key = (normalise(pair.question), chosen, rejected)
        if not chosen or chosen == rejected or key in seen:
            continue
        seen.add(key)
        kept.append(pair)
    return kept
