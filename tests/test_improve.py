"""``ragft improve`` end to end with the real built-in SmolLM2-135M, kept tiny.

One workspace goes through two improve runs (module fixtures, in order):

1. ``--method sft`` on six human edits that teach invented facts; the held-out test questions
   ask for the same facts in other words (below the hygiene threshold, checked by improve
   itself). The candidate answers them and the base does not: significantly better, promoted.
2. New feedback after that run — one edit and one pairwise choice — and ``--method dpo``: improve
   builds exactly those two pairs (the watermark hides the six old edits), two DPO steps change
   the weights and the answers, and the candidate is not significantly better on the test
   questions, so it is rejected with the reason logged and the SFT version stays current.

Plus: no new feedback and a leaking test set are clear errors that change nothing stored, and
the promotion rule itself on real score lists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragft.corpus import load_qa_file
from ragft.errors import ConfigError
from ragft.feedback.store import FeedbackStore
from ragft.improve import (
    COLLECTED, FEEDBACK_TABLES, ImproveOptions, collect, decide, improve, last_watermark, new_pairs, table_marks,
)
from ragft.models.registry import ModelRegistry, ModelVersion
from ragft.workspace import Workspace

# (training question, taught answer, held-out paraphrase) — invented facts the base cannot know.
FACTS = [
    ("What colour is the funnel of the Brennock ferries?", "Bright teal with a white gull.",
     "Which colour are Brennock ferry funnels painted?"),
    ("Who approves travel claims above £500 at Skerry Line?", "The finance director, Ms Okafor.",
     "At Skerry Line, which person signs off expense claims over £500?"),
    ("How many cabins does the MV Corran have?", "Forty-two cabins.",
     "What is the number of cabins on board MV Corran?"),
    ("Where is the Skerry Line head office?", "Pier four, Port Alda harbour.",
     "In which place does Skerry Line keep its headquarters?"),
    ("What is the code of the hazardous goods form?", "Form DG-7.",
     "Which form number declares dangerous cargo?"),
    ("What time does the first Inishmallow sailing leave?", "At 07:40 every weekday.",
     "When is the earliest daily departure to Inishmallow?"),
]
TOKENS = 16  # answer length in evaluation: enough for every fact, cheap on CPU


def _write_qa(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("improve-ws")


@pytest.fixture(scope="module")
def test_file(ws) -> Path:
    return _write_qa(ws.parent / "held-out.jsonl", [(paraphrase, answer) for _, answer, paraphrase in FACTS])


@pytest.fixture(scope="module")
def sft_run(ws, test_file):
    store = FeedbackStore(ws / "feedback.sqlite")
    for question, answer, _ in FACTS:
        interaction = store.record_interaction(question, "I am not sure, sorry.", model_version="base")
        store.edit(interaction, answer)
    store.close()
    options = ImproveOptions(test=test_file, method="sft", max_new_tokens=TOKENS,
                             train={"max_steps": 12, "learning_rate": 3e-3, "batch_size": 6, "max_length": 128,
                                    "save_steps": 50})
    return improve(ws, options, say=print)


@pytest.mark.slow
def test_sft_on_edits_that_teach_the_facts_is_promoted(sft_run, ws):
    result, registry = sft_run, ModelRegistry(ws / "models")
    print("\n" + result.decision.reason)
    for before, after in zip(result.answers["current"], result.answers["candidate"]):
        print(f"  {before!r} -> {after!r}")
    assert [p.source for p in result.pairs] == ["edit"] * len(FACTS)
    assert result.incumbent == "builtin:smollm2-135m" and result.candidate.method == "sft"
    assert result.decision.promote and result.decision.comparison.p_value < 0.05
    assert result.decision.comparison.difference > 0
    current = registry.current()
    assert current is not None and current.name == result.candidate.name
    events = [e["event"] for e in current.log]
    assert events[:2] == ["registered", COLLECTED] and events[-2:] == ["improve:evaluated", "promoted"]
    assert "significantly better" in current.log[-1]["detail"]
    assert current.scores["improve:held-out"]["token_f1"] == pytest.approx(result.decision.comparison.mean_b)
    assert last_watermark(registry)["edits"] == len(FACTS)


@pytest.fixture(scope="module")
def dpo_run(sft_run, ws, test_file):
    store = FeedbackStore(ws / "feedback.sqlite")
    interaction = store.record_interaction("Which berth does the night ferry use?", "It uses a berth.")
    store.edit(interaction, "Berth 3 on the north quay.")
    store.pairwise("Is the café open on the Corran crossing?", "Yes, from 08:00 to 18:00.", "No idea.", "a")
    store.close()
    options = ImproveOptions(test=test_file, method="dpo", max_new_tokens=TOKENS,
                             train={"max_steps": 2, "learning_rate": 2e-3, "batch_size": 2, "max_length": 128,
                                    "save_steps": 50})
    return improve(ws, options, say=print)


@pytest.mark.slow
def test_dpo_on_new_feedback_trains_but_is_not_promoted(dpo_run, sft_run, ws):
    result, registry = dpo_run, ModelRegistry(ws / "models")
    print("\n" + result.decision.reason)
    # Exactly the two new pairs: the watermark keeps the six edits already trained on out.
    assert sorted((p.source, p.chosen, p.rejected) for p in result.pairs) == [
        ("edit", "Berth 3 on the north quay.", "It uses a berth."),
        ("pairwise", "Yes, from 08:00 to 18:00.", "No idea.")]
    candidate = result.candidate
    assert candidate.method == "dpo" and candidate.parent == sft_run.candidate.name
    assert result.incumbent == f"registry:{sft_run.candidate.name}"
    # The incumbent's answers came from the cache written by the first run.
    assert result.cached == [result.incumbent]
    assert result.answers["current"] == sft_run.answers["candidate"]
    assert _weights_differ(Path(candidate.path), Path(sft_run.candidate.path))
    # Inference uses the new weights: the candidate loads as its parent with its own adapter merged.
    # (Its answers to these held-out facts may not change: two DPO steps on two unrelated pairs.)
    assert _loaded_weights_differ(candidate.path, sft_run.candidate.path)
    # Two DPO steps on two unrelated pairs cannot make it significantly better: refused.
    assert not result.decision.promote
    assert candidate.status == "rejected" and candidate.log[-1]["event"] == "rejected"
    assert "p=" in candidate.log[-1]["detail"] and "CI" in candidate.log[-1]["detail"]
    kept = registry.current()
    assert kept.name == sft_run.candidate.name and kept.log[-1]["event"] == "improve:kept"


def _loaded_weights_differ(a: str, b: str) -> bool:
    from ragft.models.weights import load_causal_lm

    first, second = load_causal_lm(a).state_dict(), load_causal_lm(b).state_dict()
    return any(not first[k].equal(second[k]) for k in first if "proj" in k)


def _weights_differ(a: Path, b: Path) -> bool:
    from safetensors import safe_open

    weights = lambda folder: next(f for f in (folder / "model.safetensors", folder / "adapter_model.safetensors")  # noqa: E731
                                  if f.is_file())
    with safe_open(weights(a), "pt") as fa, safe_open(weights(b), "pt") as fb:
        return any(not fa.get_tensor(k).equal(fb.get_tensor(k)) for k in fa.keys() if "proj" in k)


@pytest.mark.slow
def test_no_new_feedback_is_a_clear_error_and_changes_nothing(dpo_run, ws, test_file):
    stored = (ws / "models" / "registry.json").read_bytes()
    env = dict(os.environ, COLUMNS="250", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "ragft.cli", "improve", "--workspace", str(ws),
                             "--test", str(test_file)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: no new feedback since the last improve run" in result.stderr
    assert "ragft serve" in result.stderr and "--questions" in result.stderr
    assert (ws / "models" / "registry.json").read_bytes() == stored


@pytest.mark.slow
def test_an_undecided_candidate_is_resumed_at_evaluation(dpo_run, sft_run, ws, test_file):
    """A run that stopped after training leaves a candidate with no decision; the next run
    evaluates it instead of training again (here it shares sft-1's weights, so both sides'
    answers are identical: p = 1, rejected; the incumbent's come from the cache)."""
    registry = ModelRegistry(ws / "models")
    version = ModelVersion(name="dpo-9", path=sft_run.candidate.path, base_model="builtin:smollm2-135m",
                           method="dpo", parent=sft_run.candidate.name)
    registry.register(version)
    registry.log_event("dpo-9", COLLECTED, json.dumps({"watermark": last_watermark(registry), "pairs": 1,
                                                       "incumbent": f"registry:{sft_run.candidate.name}"}))
    said: list[str] = []
    result = improve(ws, ImproveOptions(test=test_file, max_new_tokens=TOKENS), say=said.append)
    assert result.resumed and result.candidate.name == "dpo-9" and "resuming" in said[0]
    assert result.cached == [f"registry:{sft_run.candidate.name}"] and result.decision.comparison.p_value == 1.0
    assert registry.get("dpo-9").status == "rejected" and registry.current().name == sft_run.candidate.name


def test_new_pairs_follow_the_watermark(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.edit(store.record_interaction("Q1?", "old answer"), "new answer")
    store.pairwise("Q2?", "good", "bad", "a")
    store.vote(store.record_interaction("Q3?", "right"), "up")
    store.vote(store.record_interaction("Q3?", "wrong"), "down")
    store.record_judgement("Q4?", ["best", "worst"], [1.0, -1.0], ["r"], [(0, 1)], method="ai_judge")
    zero = {t: 0 for t in FEEDBACK_TABLES}
    first = table_marks(store)
    assert sorted(p.source for p in new_pairs(store, zero, first)) == ["ai_judge", "edit", "pairwise", "vote"]
    assert new_pairs(store, first, first) == []
    store.vote(store.record_interaction("Q3?", "also wrong"), "down")  # arrives later
    store.edit(1, "newer answer")  # a second correction of an old interaction counts as new
    second = table_marks(store)
    fresh = new_pairs(store, first, second)
    assert sorted((p.source, p.chosen, p.rejected) for p in fresh) == [
        ("edit", "newer answer", "old answer"), ("vote", "right", "also wrong")]
    store.close()


@pytest.mark.slow
def test_ai_feedback_is_sampled_judged_stored_and_not_repeated(tmp_path):
    """Real RLAIF with the built-in model: auto-score against the gold answers (the default when
    the questions have answers); a second collection skips questions already judged."""
    import torch

    torch.manual_seed(0)
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.edit(store.record_interaction("Which berth does the night ferry use?", "A berth."), "Berth 3.")
    store.close()
    questions = _write_qa(tmp_path / "train.jsonl", [("Which form is used to declare hazardous goods?", "form DG-7"),
                                                     ("How often is the hydraulic oil sampled?", "every 500 hours")])
    test_file = _write_qa(tmp_path / "t.jsonl", [(p, a) for _, a, p in FACTS])
    options = ImproveOptions(test=test_file, questions=questions, ai_samples=2, max_new_tokens=12, ai_threshold=0.3)
    registry, said = ModelRegistry(tmp_path / "models"), []
    pairs, mark = collect(Workspace(tmp_path), registry, "builtin:smollm2-135m", options,
                          load_qa_file(test_file), said.append)
    rows = FeedbackStore(tmp_path / "feedback.sqlite").rows("ai_judgements")
    print("\n" + "\n".join(said), *[(r["question"], r["answers"], r["scores"]) for r in rows], sep="\n")
    assert len(rows) == 2 and {r["method"] for r in rows} == {"auto_score"}
    assert mark["ai_judgements"] == 2 and "edit" in {p.source for p in pairs}
    assert all(p.chosen.strip() != p.rejected.strip() for p in pairs)
    collect(Workspace(tmp_path), registry, "builtin:smollm2-135m", options, load_qa_file(test_file), said.append)
    assert "skipped" in said[-2] and len(FeedbackStore(tmp_path / "feedback.sqlite").rows("ai_judgements")) == 2


def test_empty_workspace_refuses_without_creating_anything(tmp_path):
    test_file = _write_qa(tmp_path / "t.jsonl", [(p, a) for _, a, p in FACTS])
    with pytest.raises(ConfigError, match="no feedback store yet"):
        improve(tmp_path / "ws", ImproveOptions(test=test_file), say=lambda _: None)
    assert not (tmp_path / "ws").exists()


def test_sft_without_edits_points_to_dpo(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.pairwise("Is the café open?", "Yes, from 08:00.", "No.", "a")
    store.close()
    test_file = _write_qa(tmp_path / "t.jsonl", [(p, a) for _, a, p in FACTS])
    with pytest.raises(ConfigError, match=r"no new edits.*1 other new pair.*--method dpo"):
        improve(tmp_path, ImproveOptions(test=test_file, method="sft"), say=lambda _: None)
    assert not (tmp_path / "models").exists()


def test_a_test_set_overlapping_the_feedback_is_refused(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    question, answer, _ = FACTS[0]
    store.edit(store.record_interaction(question, "I am not sure."), answer)
    store.close()
    leaky = _write_qa(tmp_path / "leaky.jsonl", [("What colour is the funnel of Brennock ferries?", answer),
                                                 (FACTS[1][2], FACTS[1][1])])
    with pytest.raises(ConfigError, match="overlap"):
        improve(tmp_path, ImproveOptions(test=leaky), say=lambda _: None)
    assert not (tmp_path / "models").exists()  # nothing trained, nothing registered


def test_promotion_rule_on_real_score_lists():
    current = [0.10, 0.00, 0.25, 0.05, 0.00, 0.12, 0.08, 0.00]
    clearly_better = [0.60, 0.45, 0.70, 0.50, 0.40, 0.66, 0.52, 0.35]
    mixed = [0.30, 0.00, 0.10, 0.00, 0.20, 0.05, 0.15, 0.00]
    worse = [0.00, 0.00, 0.05, 0.00, 0.00, 0.02, 0.00, 0.00]
    assert decide(current, clearly_better).promote
    not_significant = decide(current, mixed)
    assert not not_significant.promote and not_significant.comparison.p_value >= 0.05
    assert "not significantly better" in not_significant.reason and "CI" in not_significant.reason
    significantly_worse = decide(current, worse)
    assert not significantly_worse.promote and significantly_worse.comparison.difference < 0
    assert not decide(current, current).promote  # identical answers: p = 1
