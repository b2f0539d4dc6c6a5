"""LLM-as-judge: correctness against the gold answer, faithfulness to the retrieved context.

Judges are noisy, so each judgement is made ``repeats`` times (sampled at temperature 0.7 when
repeating — identical greedy repeats would hide the noise) and the study reports both the
per-question mean and the spread of the whole-set score across repeats. Verdicts are cached
by the hash of (judge model, prompt), so re-running a study does not re-judge.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragft.metrics.labels import parse_label
from ragft.models.llm import LLM
from ragft.persist import append_jsonl, read_jsonl

CORRECTNESS_PROMPT = (
    "You grade answers to questions.\nQuestion: {question}\nReference answer: {gold}\n"
    "Candidate answer: {answer}\n\nDoes the candidate answer give the same information as the reference "
    "answer? Reply with one word: yes or no."
)
FAITHFULNESS_PROMPT = (
    "You check whether an answer is supported by its sources.\nSources:\n{context}\n\nAnswer: {answer}\n\n"
    "Is everything the answer states supported by the sources? Reply with one word: yes or no."
)
REPEAT_TEMPERATURE = 0.7


@dataclass
class JudgeOutcome:
    """Per variant: per-question mean verdicts, and the whole-set mean of each repeat."""

    scores: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    repeat_means: dict[str, dict[str, list[float]]] = field(default_factory=dict)


class Judge:
    def __init__(self, llm: LLM, model_fingerprint: str, repeats: int, cache_path: Path):
        self.llm = llm
        self.fingerprint = model_fingerprint
        self.repeats = repeats
        self.cache_path = cache_path
        self.cache = _read_cache(cache_path)

    def judge_variant(self, questions, records, retrieves: bool) -> tuple[dict, dict]:
        """Verdicts for one variant's answers: ({metric: per-question}, {metric: per-repeat means})."""
        prompts = {"judge_correctness": [CORRECTNESS_PROMPT.format(question=q.question, gold=" / ".join(q.answers),
                                                                   answer=r["answer"]) for q, r in zip(questions, records)]}
        if retrieves:
            prompts["judge_faithfulness"] = [
                FAITHFULNESS_PROMPT.format(context="\n".join(s["text"] for s in r["retrieved"])[:6000], answer=r["answer"])
                for r in records]
        per_question, per_repeat = {}, {}
        for metric, texts in prompts.items():
            verdicts = np.array([self._verdicts(texts, repeat) for repeat in range(self.repeats)], dtype=float)
            with np.errstate(invalid="ignore"):
                per_question[metric] = [None if np.isnan(col).all() else float(np.nanmean(col)) for col in verdicts.T]
                per_repeat[metric] = [float(np.nanmean(row)) for row in verdicts if not np.isnan(row).all()]
        return per_question, per_repeat

    def _verdicts(self, prompts: list[str], repeat: int) -> list[float]:
        keys = [_hash([self.fingerprint, repeat, p]) for p in prompts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            temperature = REPEAT_TEMPERATURE if self.repeats > 1 else 0.0
            generations = self.llm.generate([[{"role": "user", "content": prompts[i]}] for i in todo],
                                            max_new_tokens=4, temperature=temperature)
            fresh = {keys[i]: g.text for i, g in zip(todo, generations)}
            self.cache.update(fresh)
            _append_cache(self.cache_path, fresh)
        return [_verdict(self.cache[k]) for k in keys]


def _verdict(text: str) -> float:
    label = parse_label(text, labels=("yes", "no"))
    return {"yes": 1.0, "no": 0.0}.get(label, float("nan"))  # unparseable: no verdict, not "no"


def _hash(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:24]


def _read_cache(path: Path) -> dict[str, str]:
    cache: dict[str, str] = {}
    for entry in read_jsonl(path):
        cache.update(entry)
    return cache


def _append_cache(path: Path, fresh: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(path, [fresh])
