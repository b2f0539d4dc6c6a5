"""AI feedback (RLAIF): sample several answers, let a judge (or a score) say which is better.

For each question:

1. **Sample** ``n_samples`` answers from the generator at a sampling temperature, keeping only
   distinct ones (whitespace-insensitive); greedy decoding would give the same answer n times.
2. **Judge**, one of two methods:
   - ``ai_judge``: a judge LLM sees the question, the context and (when known) the gold answer
     and the numbered candidates, and names the best and the worst with a reason. Judges are
     noisy, so this is repeated ``judge_repeats`` times (sampled at ``judge_temperature``) and
     the majority decides: the winner must be named best by more than half of the parseable
     verdicts. Every verdict's reason is kept.
   - ``auto_score``: the KDD 2024 tutorial's automatic option — each answer's similarity to the
     gold answer (embedding cosine when an embedder is given, else the tutorial's token-overlap
     recall); answers at or above ``threshold`` are acceptable, the rest are not.
3. **Pairs**: the winner over the loser, only when they are different texts (and, for scores,
   only when the winner passes the threshold and the loser does not).

Every round is stored in the feedback store (``ai_judgements``) with the answers, scores,
reasons and pairs, so ``FeedbackStore.preference_pairs()`` returns them with the human ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ragft.errors import ConfigError
from ragft.feedback.pairs import normalise
from ragft.feedback.store import FeedbackStore
from ragft.metrics.answers import embedding_similarity
from ragft.metrics.tutorial import tutorial_token_overlap_recall
from ragft.models.llm import LLM
from ragft.types import Preference

RANK_PROMPT = (
    "You compare candidate answers to a question.\n{context_block}Question: {question}\n{gold_block}"
    "Candidates:\n{candidates}\n\n"
    "Which candidate is best (correct, supported by the context, concise) and which is worst? "
    "Reply in exactly this form:\nBest: <number>\nWorst: <number>\nReason: <one sentence>"
)
ANSWER_SYSTEM_PROMPT = "Answer the question briefly and precisely, using the context when one is given."


@dataclass
class RLAIFConfig:
    method: str = "ai_judge"  # "ai_judge" | "auto_score"
    n_samples: int = 4
    temperature: float = 1.0  # sampling temperature for the candidate answers
    sample_rounds: int = 2  # extra sampling rounds when duplicates leave fewer than 2 answers
    max_new_tokens: int = 48
    judge_repeats: int = 3
    judge_temperature: float = 0.7
    judge_max_new_tokens: int = 40
    threshold: float = 0.5  # auto_score: acceptable at or above this similarity

    def __post_init__(self):
        if self.method not in ("ai_judge", "auto_score"):
            raise ConfigError(f"rlaif method {self.method!r} — use ai_judge or auto_score")
        if self.n_samples < 2:
            raise ConfigError("rlaif n_samples must be at least 2: a pair needs two answers")
        if self.judge_repeats < 1:
            raise ConfigError("rlaif judge_repeats must be at least 1")


@dataclass
class FeedbackItem:
    """A question to collect AI feedback on; ``context`` is the retrieved text, ``gold`` optional."""

    question: str
    context: str = ""
    gold: str = ""


@dataclass
class Verdict:
    best: int | None  # 0-based candidate index, None when the judge's reply named none
    worst: int | None
    reason: str
    raw: str


@dataclass
class Judgement:
    """One question's outcome: candidates, their scores, the reasons and the pairs built."""

    item: FeedbackItem
    answers: list[str]
    scores: list[float]
    reasons: list[str]
    pairs: list[tuple[int, int]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ sampling
def answer_messages(item: FeedbackItem) -> list[dict[str, str]]:
    user = f"Context:\n{item.context}\n\nQuestion: {item.question}" if item.context else item.question
    return [{"role": "system", "content": ANSWER_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def sample_answers(llm: LLM, items: list[FeedbackItem], config: RLAIFConfig) -> list[list[str]]:
    """Up to ``n_samples`` distinct answers per item, sampled in batched calls."""
    answers: list[list[str]] = [[] for _ in items]
    for _ in range(1 + config.sample_rounds):
        todo = [i for i, found in enumerate(answers) if len(found) < config.n_samples]
        if not todo:
            break
        requests = [i for i in todo for _ in range(config.n_samples - len(answers[i]))]
        generations = llm.generate([answer_messages(items[i]) for i in requests],
                                   max_new_tokens=config.max_new_tokens, temperature=config.temperature)
        for i, generation in zip(requests, generations):
            known = {normalise(a) for a in answers[i]}
            if normalise(generation.text) and normalise(generation.text) not in known:
                answers[i].append(generation.text)
    return answers


# ------------------------------------------------------------------------------------------ judging
def rank_prompt(item: FeedbackItem, answers: Sequence[str]) -> str:
    candidates = "\n".join(f"[{n}] {answer}" for n, answer in enumerate(answers, start=1))
    return RANK_PROMPT.format(
        context_block=f"Context:\n{item.context[:4000]}\n" if item.context else "",
        gold_block=f"Reference answer: {item.gold}\n" if item.gold else "",
        question=item.question, candidates=candidates)


# "Best: 2", "Worst: [3]", "the best answer is 2", "the best candidate is the 1st" → the number.
_AFTER = r"\W{0,5}(?:(?:candidate|answer|is|the)\W{1,3}){0,3}(\d+)"
_BEST = re.compile("best" + _AFTER, re.IGNORECASE)
_WORST = re.compile("worst" + _AFTER, re.IGNORECASE)
_REASON = re.compile(r"reason\W{0,3}(.+)", re.IGNORECASE | re.DOTALL)


def parse_verdict(text: str, n_answers: int) -> Verdict:
    """'Best: 2 / Worst: 1 / Reason: …' → 0-based indices; out-of-range numbers count as none."""
    def index(pattern):
        match = pattern.search(text)
        if not match:
            return None
        number = int(match.group(1))
        return number - 1 if 1 <= number <= n_answers else None

    best, worst = index(_BEST), index(_WORST)
    if best is not None and best == worst:
        worst = None  # a judge naming one answer both best and worst has given no usable worst
    reason_match = _REASON.search(text)
    reason = (reason_match.group(1) if reason_match else text).strip().splitlines()[0] if text.strip() else ""
    return Verdict(best=best, worst=worst, reason=reason[:500], raw=text)


def judge_by_majority(judge: LLM, item: FeedbackItem, answers: list[str], config: RLAIFConfig) -> Judgement:
    """Repeat the ranking ``judge_repeats`` times; the strict-majority best answer wins."""
    prompt = rank_prompt(item, answers)
    temperature = config.judge_temperature if config.judge_repeats > 1 else 0.0
    generations = judge.generate([[{"role": "user", "content": prompt}]] * config.judge_repeats,
                                 max_new_tokens=config.judge_max_new_tokens, temperature=temperature)
    verdicts = [parse_verdict(g.text, len(answers)) for g in generations]
    return judgement_from_verdicts(item, answers, verdicts)


def judgement_from_verdicts(item: FeedbackItem, answers: list[str], verdicts: list[Verdict]) -> Judgement:
    """Scores = times named best minus times named worst. A pair only when one answer was named
    best by more than half of *all* repeats (an unparseable reply counts against a decision)."""
    best_votes = Counter(v.best for v in verdicts if v.best is not None)
    worst_votes = Counter(v.worst for v in verdicts if v.worst is not None)
    scores = [float(best_votes[i] - worst_votes[i]) for i in range(len(answers))]
    reasons = [f"best {v.best + 1 if v.best is not None else '?'}, worst "
               f"{v.worst + 1 if v.worst is not None else '?'}: {v.reason}" for v in verdicts]
    judgement = Judgement(item=item, answers=answers, scores=scores, reasons=reasons)
    if not best_votes:
        return judgement
    winner, votes = best_votes.most_common(1)[0]
    if votes * 2 <= len(verdicts):
        return judgement  # no strict majority: the judge cannot decide, so no pair
    loser = min((i for i in range(len(answers)) if i != winner), key=lambda i: (scores[i], -worst_votes[i]))
    if scores[loser] < scores[winner] and normalise(answers[winner]) != normalise(answers[loser]):
        judgement.pairs = [(winner, loser)]
    return judgement


def judge_by_score(item: FeedbackItem, answers: list[str], config: RLAIFConfig,
                   embed: Callable[[list[str]], np.ndarray] | None = None) -> Judgement:
    """The tutorial's automatic option: similarity to the gold answer against a threshold."""
    if not item.gold:
        raise ConfigError(f"auto_score needs a gold answer; question {item.question[:60]!r} has none")
    if embed is not None:
        scores = [embedding_similarity(a, [item.gold], embed) for a in answers]
        how = "embedding cosine"
    else:
        scores = [tutorial_token_overlap_recall(a, [item.gold]) for a in answers]
        how = "token-overlap recall"
    reasons = [f"{how} to the gold answer {s:.3f} ({'≥' if s >= config.threshold else '<'} "
               f"threshold {config.threshold:g})" for s in scores]
    judgement = Judgement(item=item, answers=answers, scores=scores, reasons=reasons)
    best, worst = int(np.argmax(scores)), int(np.argmin(scores))
    if (scores[best] >= config.threshold > scores[worst]
            and normalise(answers[best]) != normalise(answers[worst])):
        judgement.pairs = [(best, worst)]
    return judgement


# ------------------------------------------------------------------------------------------ the round
def collect_ai_feedback(items: list[FeedbackItem], generator: LLM, config: RLAIFConfig | None = None,
                        judge: LLM | None = None, store: FeedbackStore | None = None,
                        embed: Callable[[list[str]], np.ndarray] | None = None) -> list[Judgement]:
    """Sample, judge and (when a store is given) record every item; returns the judgements."""
    config = config or RLAIFConfig()
    if config.method == "ai_judge" and judge is None:
        raise ConfigError("rlaif method ai_judge needs a judge LLM")
    judgements = []
    for item, answers in zip(items, sample_answers(generator, items, config)):
        if len(answers) < 2:
            judgement = Judgement(item=item, answers=answers, scores=[0.0] * len(answers),
                                  reasons=["fewer than two distinct answers were sampled: nothing to compare"])
        elif config.method == "ai_judge":
            judgement = judge_by_majority(judge, item, answers, config)
        else:
            judgement = judge_by_score(item, answers, config, embed)
        judgements.append(judgement)
        if store is not None:
            store.record_judgement(item.question, answers, judgement.scores, judgement.reasons, judgement.pairs,
                                   method=config.method, judge=_judge_name(config, judge, embed),
                                   context=item.context, gold=item.gold)
    return judgements


def preferences(judgements: list[Judgement], method: str = "ai_judge") -> list[Preference]:
    """The judgements' pairs as Preference records (the store gives the same via preference_pairs)."""
    return [Preference(question=j.item.question, chosen=j.answers[c], rejected=j.answers[r], context=j.item.context,
                       source=method, reason=" | ".join(j.reasons))
            for j in judgements for c, r in j.pairs]


def _judge_name(config: RLAIFConfig, judge: LLM | None, embed) -> str:
    if config.method == "ai_judge":
        return getattr(judge, "name", "judge")
    return "embedding cosine" if embed is not None else "tutorial token-overlap recall"
