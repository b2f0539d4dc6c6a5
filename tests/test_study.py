"""The study harness end to end on a tiny corpus: records, caching, resume, hygiene, bad config."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import networkx as nx
import pytest
import yaml

from ragft.errors import ConfigError, RagftError
from ragft.rag import variant as variant_builders
from ragft.study.results import build_results, write_results
from ragft.study.study import StudyRunner
from ragft.study.study_config import load_study_config

DOCS = {
    "ferry.md": "# Ferry\nThe Skerry Line ferry leaves Port Alda at 07:40 every weekday. Bicycles travel free of charge.",
    "canteen.txt": "The staff canteen serves lunch between noon and 14:00. Vegetarian dishes are always available.",
    "security.md": "# Security\nBadge code QX-7731 opens the server room. Lost badges must be reported within 24 hours.",
    "leave.txt": "Employees accrue 27 days of annual leave. Up to five unused days carry over to the next year.",
}
TEST = [
    {"id": "t1", "question": "When does the ferry leave Port Alda?", "answers": ["07:40"],
     "evidence_doc_ids": ["ferry.md"], "evidence_texts": ["leaves Port Alda at 07:40 every weekday"]},
    {"id": "t2", "question": "Which code opens the server room?", "answers": ["QX-7731"],
     "evidence_doc_ids": ["security.md"], "evidence_texts": ["Badge code QX-7731 opens the server room."]},
    {"id": "t3", "question": "How many days of annual leave do employees accrue?", "answers": ["27 days", "27"],
     "evidence_doc_ids": ["leave.txt"], "evidence_texts": ["Employees accrue 27 days of annual leave."]},
    {"id": "t4", "question": "Do bicycles cost extra on the ferry?", "answers": ["no"], "task_type": "classification",
     "evidence_doc_ids": ["ferry.md"], "evidence_texts": ["Bicycles travel free of charge."]},
]
TRAIN = [{"id": "r1", "question": "At what time is the weekday Skerry Line departure?", "answers": ["07:40"]}]


def write_study(tmp_path: Path, variants: list[dict], **extra) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in TEST), encoding="utf-8")
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(q) + "\n" for q in TRAIN), encoding="utf-8")
    config = {
        "name": "tiny", "corpus": "corpus", "output_dir": str(tmp_path / "run"),
        "test": {"kind": "qa_file", "path": "test.jsonl"}, "train": {"kind": "qa_file", "path": "train.jsonl"},
        "models": {"small": {"model": "builtin:smollm2-135m", "max_new_tokens": 12, "batch_size": 4}},
        "chunker": {"kind": "sentence", "params": {"max_chars": 200}}, "batch_size": 2,
        "variants": variants, **extra,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


EXTRACTIVE = {"name": "extractive", "type": "extractive", "retrieval": {"mode": "hybrid", "top_k": 2}}
EXTRACTIVE_DENSE = {"name": "extractive-dense", "type": "extractive", "retrieval": {"mode": "dense", "top_k": 1}}


def run(path: Path):
    runner = StudyRunner(load_study_config(path))
    study_run = runner.run()
    return runner, study_run


def test_study_scores_every_variant_on_the_same_questions(tmp_path, embedder):
    path = write_study(tmp_path, [EXTRACTIVE, EXTRACTIVE_DENSE])
    runner, study_run = run(path)
    assert [r["qid"] for r in study_run.records["extractive"]] == ["t1", "t2", "t3", "t4"]
    assert [r["qid"] for r in study_run.records["extractive-dense"]] == ["t1", "t2", "t3", "t4"]
    first = study_run.records["extractive"][1]
    assert "QX-7731" in first["answer"] and first["retrieved"][0]["doc_id"] == "security.md"
    results = build_results(study_run, runner.embedder.embed)
    paths = write_results(results, study_run.output_dir)
    by_name = {v["name"]: v for v in results["variants"]}
    assert by_name["extractive"]["metrics"]["evidence_hit"]["mean"] == 1.0
    assert 0 <= by_name["extractive"]["metrics"]["token_f1"]["low"] <= by_name["extractive"]["metrics"]["token_f1"]["high"]
    assert results["comparisons"] and results["recommendation"]["variant"] in by_name
    # The primary metric is compared first; whether the evidence was found is compared too.
    compared = [c["metric"] for c in results["comparisons"]]
    assert compared[0] == results["primary_metric"] and "evidence_hit" in compared
    # With a retrieval metric as the primary one, it is compared once, not twice.
    config = load_study_config(write_study(tmp_path, [EXTRACTIVE, EXTRACTIVE_DENSE], primary_metric="evidence_hit"))
    by_retrieval = build_results(replace(study_run, config=config), runner.embedder.embed)
    compared = [(c["variant"], c["metric"]) for c in by_retrieval["comparisons"]]
    assert compared[0] == ("extractive-dense", "evidence_hit") and len(compared) == len(set(compared))
    assert json.loads(paths["json"].read_text())["study"]["n_questions"] == 4
    with open(paths["csv"], newline="") as handle:
        assert len(list(csv.reader(handle))) == 1 + 4 * 2  # header + questions × variants


def test_graph_variant_exports_its_knowledge_graph_and_the_report_shows_it(tmp_path, embedder):
    from ragft.study.report import render_report

    graph_variant = {**EXTRACTIVE, "name": "extractive-graph", "pipeline": [{"name": "graph"}]}
    path = write_study(tmp_path, [EXTRACTIVE, graph_variant])
    runner, study_run = run(path)
    results = build_results(study_run, runner.embedder.embed)
    (graph,) = results["knowledge_graphs"]
    assert graph["variants"] == ["extractive-graph"] and graph["stats"]["nodes"] == len(graph["nodes"]) > 3
    graphml = study_run.output_dir / graph["files"]["graphml"]
    exported = nx.read_graphml(graphml)
    labels = {data["label"] for _, data in exported.nodes(data=True)}
    assert {"Port Alda", "QX-7731"} <= labels  # entities of the corpus, with the chunks behind them
    as_json = json.loads((study_run.output_dir / graph["files"]["json"]).read_text())
    assert len(as_json["nodes"]) == exported.number_of_nodes() and as_json["edges"]
    page = render_report(results)
    assert '<section id="graph">' in page and 'href="#graph"' in page and "knowledge graph" in page
    # A study without a graph step has no graph section and no link to one.
    plain = render_report({**results, "knowledge_graphs": []})
    assert '<section id="graph">' not in plain and 'href="#graph"' not in plain


def test_rerun_reuses_cache_and_recomputes_only_the_changed_variant(tmp_path, embedder, monkeypatch):
    path = write_study(tmp_path, [EXTRACTIVE, EXTRACTIVE_DENSE])
    run(path)
    calls = []
    original = variant_builders.ExtractiveBaseline.answer_batch

    def counting(self, questions, doc_scopes=None, formats=None):
        calls.append((self.retrieval.mode, self.retrieval.top_k, len(questions)))
        return original(self, questions, doc_scopes)

    monkeypatch.setattr(variant_builders.ExtractiveBaseline, "answer_batch", counting)
    run(path)
    assert calls == []  # everything cached
    changed = dict(EXTRACTIVE_DENSE, retrieval={"mode": "dense", "top_k": 3})
    path = write_study(tmp_path, [EXTRACTIVE, changed])
    run(path)
    assert calls and all(call[:2] == ("dense", 3) for call in calls)


def test_interrupted_study_resumes_from_the_last_saved_batch(tmp_path, embedder, monkeypatch):
    path = write_study(tmp_path, [EXTRACTIVE])
    original = variant_builders.ExtractiveBaseline.answer_batch
    answered = []

    def crash_on_second_batch(self, questions, doc_scopes=None, formats=None):
        if answered:
            raise KeyboardInterrupt
        answered.extend(questions)
        return original(self, questions, doc_scopes)

    monkeypatch.setattr(variant_builders.ExtractiveBaseline, "answer_batch", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run(path)
    assert len(answered) == 2  # batch_size 2: the first batch was saved
    resumed = []

    def recording(self, questions, doc_scopes=None, formats=None):
        resumed.extend(questions)
        return original(self, questions, doc_scopes)

    monkeypatch.setattr(variant_builders.ExtractiveBaseline, "answer_batch", recording)
    _, study_run = run(path)
    assert resumed == [q["question"] for q in TEST[2:]]
    assert len(study_run.records["extractive"]) == 4


def test_llm_variants_with_the_builtin_model(tmp_path, embedder, small_llm):
    path = write_study(tmp_path, [{"name": "closed-book", "type": "closed_book", "llm": "small"},
                                  {"name": "rag", "type": "rag", "llm": "small", "retrieval": {"top_k": 2}}])
    runner, study_run = run(path)
    rag = study_run.records["rag"]
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 and r["llm_calls"] == 1 for r in rag)
    assert all(r["retrieved"] for r in rag) and not study_run.records["closed-book"][0]["retrieved"]
    # Context makes the prompt longer than the bare question.
    assert rag[0]["prompt_tokens"] > study_run.records["closed-book"][0]["prompt_tokens"]
    results = build_results(study_run, runner.embedder.embed)
    cost = {v["name"]: v["cost"] for v in results["variants"]}
    assert cost["rag"]["seconds_per_query"] > 0 and cost["rag"]["per_1k_queries"] > 0


def test_test_set_overlapping_training_is_refused(tmp_path):
    path = write_study(tmp_path, [EXTRACTIVE])
    leaked = TRAIN + [{"id": "r2", "question": "when does the ferry leave port alda", "answers": ["07:40"]}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(q) + "\n" for q in leaked), encoding="utf-8")
    with pytest.raises(RagftError, match=r"1 of 4 test questions overlap the training questions"):
        StudyRunner(load_study_config(path)).run()


@pytest.mark.parametrize("change, message", [
    ({"variants": [{"name": "x", "type": "magic"}]}, r"variants\.0\.type: Input should be 'closed_book', 'rag'"),
    ({"variants": [{"name": "x", "type": "rag", "llm": "huge"}]}, r"uses llm 'huge', which is not in models"),
    ({"variants": []}, r"variants: List should have at least 1 item"),
    ({"corpus": "nowhere"}, r"corpus .*nowhere does not exist"),
    ({"colour": "blue"}, r"colour: Extra inputs are not permitted"),
    # Typos inside step, chunker and training params fail at load too, naming the field.
    ({"variants": [{"name": "x", "type": "rag", "llm": "small",
                    "pipeline": [{"name": "retrieve", "params": {"top_k": 9}},
                                 {"name": "rerank", "params": {"tok_k": 3}}, {"name": "generate"}]}]},
     r"variants\.0\.pipeline\.1: pipeline step 'rerank' params: tok_k: Extra inputs are not permitted"
     r" — it accepts: top_k, method"),
    ({"variants": [{"name": "x", "type": "rag", "llm": "small", "pipeline": [{"name": "rerenk"}]}]},
     r"variants\.0\.pipeline\.0: pipeline step 'rerenk' is not a known step — choose from: .*rerank"),
    ({"variants": [{"name": "x", "type": "rag", "llm": "small",
                    "pipeline": [{"name": "sentence_window", "params": {"window": "two"}}]}]},
     r"'sentence_window' params: window: Input should be a valid integer"),
    ({"chunker": {"kind": "sentence", "params": {"max_char": 200}}},
     r"chunker: sentence chunker params: max_char: Extra inputs are not permitted — it accepts: max_chars, "
     r"overlap_sentences"),
    ({"variants": [{"name": "x", "type": "extractive", "chunker": {"kind": "fixed", "params": {"size": 100}}}]},
     r"variants\.0\.chunker: fixed chunker params: overlap \(256\) must be smaller than size \(100\)"),
    ({"finetune": {"sft": {"from_model": "small", "train": {"max_step": 10}}}},
     r"finetune\.sft: train: max_step: Extra inputs are not permitted — it accepts: .*max_steps"),
    ({"finetune": {"raft": {"method": "raft", "from_model": "small", "raft": {"p_no_oracle": 2}}}},
     r"finetune\.raft: raft: p_no_oracle: Input should be less than or equal to 1"),
    ({"finetune_embedders": {"tuned": {"train": {"epoch": 1}}}},
     r"finetune_embedders\.tuned: train: epoch: Extra inputs are not permitted — it accepts: .*epochs"),
])
def test_bad_config_is_one_clear_error(tmp_path, change, message):
    path = write_study(tmp_path, [EXTRACTIVE])
    config = yaml.safe_load(path.read_text())
    config.update(change)
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=message) as raised:
        load_study_config(path)
    assert "\n" not in str(raised.value)  # one line


def test_step_and_chunker_params_are_kept_as_given(tmp_path):
    """Validation must not fill in defaults: spec keys and index keys hash the dumped params."""
    pipeline = [{"name": "rerank", "params": {"top_k": 2}}, {"name": "generate"}]
    variant = {"name": "x", "type": "rag", "llm": "small", "pipeline": pipeline,
               "chunker": {"kind": "fixed", "params": {"size": 300, "overlap": 0}}}
    config = load_study_config(write_study(tmp_path, [variant], finetune={"sft": {"from_model": "small",
                                                                                    "train": {"max_steps": 5}}}))
    dumped = config.variants[0].model_dump()
    assert dumped["pipeline"] == [{"name": "rerank", "params": {"top_k": 2}}, {"name": "generate", "params": {}}]
    assert dumped["chunker"] == {"kind": "fixed", "params": {"size": 300, "overlap": 0}}
    assert config.chunker.model_dump() == {"kind": "sentence", "params": {"max_chars": 200}}
    assert config.finetune["sft"].model_dump()["train"] == {"max_steps": 5}


def test_cli_reports_bad_config_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncorpus: [unclosed\n")
    result = subprocess.run([sys.executable, "-m", "ragft.cli", "study", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bad.yaml: not valid YAML" in result.stderr


def test_cli_only_runs_the_named_variants(tmp_path, embedder):
    path = write_study(tmp_path, [EXTRACTIVE, EXTRACTIVE_DENSE], baseline="extractive")
    command = [sys.executable, "-m", "ragft.cli", "study", str(path)]
    result = subprocess.run([*command, "--only", "extractive-dense"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    # The baseline is kept, so the variant is still compared with it (not silently with itself).
    # (t4 is a yes/no question, so the majority-label reference joins as a baseline too.)
    assert [v["name"] for v in results["variants"]] == ["extractive", "extractive-dense", "majority-label"]
    assert results["baselines"] == ["extractive", "majority-label"] and "keeping the baseline(s) extractive" in result.stdout
    # Where the time went, phase by phase, in run order (benchmarks/generation.py prints it).
    phases = results["study"]["phases"]
    assert list(phases) == ["corpus and questions", "fine-tuning", "answering: extractive",
                            "answering: extractive-dense", "scoring and report", "total"]
    assert all(seconds >= 0 for seconds in phases.values())
    assert phases["total"] >= sum(v for k, v in phases.items() if k != "total") - 0.5  # rounding
    records = sorted(p.name for p in (tmp_path / "run" / "records").glob("*.jsonl"))
    assert len(records) == 2 and sum(name.startswith("extractive-dense-") for name in records) == 1

    unknown = subprocess.run([*command, "--only", "nope"], capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "no variant named nope" in unknown.stderr and "extractive-dense" in unknown.stderr


def test_progress_is_shown_per_question_and_while_indexing_when_redirected(tmp_path, embedder, monkeypatch):
    """Off a terminal the study prints plain progress lines: indexing stages, and a variant's
    questions one by one (a stand-in LLM reports each generation) although the batch holds all four."""
    import io

    from rich.console import Console

    from ragft.study.study import StudyRunner as Runner
    from ragft.models.progress import report_generated
    from scripted_llm import ScriptedLLM

    class ReportingLLM(ScriptedLLM):
        def generate(self, conversations, max_new_tokens=None, temperature=None):
            generations = []
            for conversation in conversations:  # like a backend finishing its rows one at a time
                generations += super().generate([conversation], max_new_tokens, temperature)
                report_generated(1)
            return generations

    llm = ReportingLLM(lambda conversation: "07:40")
    monkeypatch.setattr(Runner, "llm_for", lambda self, config: llm)
    out = io.StringIO()
    path = write_study(tmp_path, [{"name": "rag", "type": "rag", "llm": "small", "retrieval": {"top_k": 2}}],
                       batch_size=4, add_references=False)
    study_run = Runner(load_study_config(path), console=Console(file=out, width=100)).run()
    text = out.getvalue()
    assert len(llm.calls) == 4 and len(study_run.records["rag"]) == 4  # one batch of four, saved once
    for line in ("rag: 1/4 (25%)", "rag: 2/4 (50%)", "rag: 3/4 (75%)", "rag: 4/4 (100%)"):
        assert line in text, text
    for stage in ("loading documents: 4/4", "chunking: 4/4", "embedding chunks: "):
        assert stage in text, text


def test_label_study_has_a_majority_reference_and_no_extractive_verdict(tmp_path, embedder):
    path = write_study(tmp_path, [EXTRACTIVE], primary_metric="label_accuracy", add_references=False)
    runner, study_run = run(path)
    results = build_results(study_run, runner.embedder.embed)
    by_name = {v["name"]: v for v in results["variants"]}
    majority = by_name["majority-label"]
    assert majority["reference"] and majority["metrics"]["label_accuracy"]["n"] == 1  # the one yes/no question
    assert "from the test set" in " ".join(results["warnings"])  # no classification train questions: says so
    assert "never answer with a label" in by_name["extractive"]["cannot_answer"]
    assert results["recommendation"]["status"] == "none" and results["baselines"] == ["extractive", "majority-label"]
    assert results["recommendation"]["reasoning"][0].startswith("No recommendation: no variant meets the constraints")


def test_plan_estimates_questions_without_running_anything(tmp_path):
    path = write_study(tmp_path, [EXTRACTIVE, EXTRACTIVE_DENSE])
    result = subprocess.run([sys.executable, "-m", "ragft.cli", "study", str(path), "--plan"], capture_output=True,
                            text=True, timeout=120, env={**__import__("os").environ, "COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    assert "Questions needed on token F1" in result.stdout and "assumed for a graded score" in result.stdout
    assert "This test set has 4 questions: it cannot reliably detect" in result.stdout
    assert not (tmp_path / "run").exists()


def test_an_index_a_step_builds_shows_its_progress_too(tmp_path, embedder):
    """A sentence-window step embeds every sentence of the corpus once (minutes on a big corpus):
    the study shows that work as it shows its own indexing."""
    import io

    from rich.console import Console

    window = {"name": "window", "type": "extractive", "pipeline": [{"name": "sentence_window", "params": {"window": 1}}]}
    path = write_study(tmp_path, [window], add_references=False)
    out = io.StringIO()
    StudyRunner(load_study_config(path), console=Console(file=out, width=100)).run()
    finished = [line for line in out.getvalue().splitlines() if line.startswith("embedding chunks") and "(100%)" in line]
    assert len(finished) == 2, out.getvalue()  # the study's chunk index, then the step's sentence index
