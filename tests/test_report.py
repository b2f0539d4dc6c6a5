"""The HTML study report and the terminal summary.

Rendering is checked on a small hand-built ``results`` dict (three variants, three questions;
one variant without confidence intervals; a model answer holding a <script> payload). The last
tests open the written report in a real headless Chromium (Debian's ``chromium`` package) and
check the DOM it builds and that a screenshot comes out; they skip when Chromium is absent.
"""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from ragft.errors import RagftError
from ragft.study.report import RADAR_AXES, SECTIONS, render_report, write_report
from ragft.study.summary import print_summary

SECTION_IDS = [sid for sid, _ in SECTIONS]
PAYLOAD = "<script>alert(1)</script>"
SOURCE_PAYLOAD = '<img src=x onerror="alert(2)">'
LABELS = {
    "exact_match": "EM", "token_precision": "token P", "token_recall": "token R", "token_f1": "token F1",
    "rouge_l_precision": "ROUGE-L P", "rouge_l_recall": "ROUGE-L R", "rouge_l": "ROUGE-L F1",
    "semantic_similarity": "semantic sim.", "tutorial_token_overlap_recall": "tutorial token recall",
    "tutorial_rouge_l_recall": "tutorial ROUGE-L recall", "evidence_hit": "evidence hit@k",
    "evidence_coverage": "evidence coverage",
}
ANSWER_METRICS = ["exact_match", "token_precision", "token_recall", "token_f1", "rouge_l_precision",
                  "rouge_l_recall", "rouge_l", "semantic_similarity", "tutorial_token_overlap_recall",
                  "tutorial_rouge_l_recall"]


def _metric(mean, low=None, high=None, n=3):
    return {"mean": mean, "low": low, "high": high, "n": n}


def _cost(seconds, prompt, completion, calls, index_s, train_s, per_1k, monthly, first_month=None, months=12):
    first = monthly if first_month is None else first_month
    cumulative = [first + monthly * m for m in range(months)]
    return {"seconds_per_query": seconds, "prompt_tokens_per_query": prompt,
            "completion_tokens_per_query": completion, "llm_calls_per_query": calls,
            "index_build_seconds": index_s, "training_seconds": train_s, "per_1k_queries": per_1k,
            "monthly": cumulative[-1] / months, "total": cumulative[-1], "months": months, "cumulative": cumulative}


def _scores(base: float, retrieval: bool) -> dict:
    scores = {m: round(min(base + 0.01 * i, 1.0), 3) for i, m in enumerate(ANSWER_METRICS)}
    if retrieval:
        scores.update(evidence_hit=1.0 if base > 0.3 else 0.0, evidence_coverage=base)
    return scores


def make_results() -> dict:
    """A small but realistic results.json: closed-book baseline, a RAG variant, a fine-tune without CIs."""
    closed = {m: _metric(0.2 + 0.01 * i, 0.1 + 0.01 * i, 0.3 + 0.01 * i) for i, m in enumerate(ANSWER_METRICS)}
    rag = {m: _metric(0.5 + 0.01 * i, 0.35 + 0.01 * i, 0.65 + 0.01 * i) for i, m in enumerate(ANSWER_METRICS)}
    rag.update(evidence_hit=_metric(0.667, 0.0, 1.0), evidence_coverage=_metric(0.5, 0.1, 0.9))
    tuned = {m: _metric(0.3 + 0.01 * i) for i, m in enumerate(ANSWER_METRICS)}  # low/high null: no CI
    source = {"rank": 1, "doc_id": "handbook.md", "start": 0, "end": 120,
              "text": f"Travel claims above the limit need the CFO's approval. {SOURCE_PAYLOAD}"}
    questions = []
    for k, (question, gold) in enumerate([
        ("Who approves travel claims above the limit?", ["the CFO", "Chief Financial Officer"]),
        ("How many days of leave do new staff get?", ["25 days"]),
        ("Is remote work allowed on Fridays?", ["yes"]),
    ]):
        questions.append({
            "qid": f"q{k + 1}", "question": question, "golds": gold, "task_type": "short_qa",
            "evidence_doc_ids": ["handbook.md"],
            "answers": {
                "closed-book": {"answer": "I don't know.", "scores": _scores(0.1 * k, False), "latency_s": 0.4,
                                "sources": []},
                "rag": {"answer": PAYLOAD + " the CFO" if k == 0 else "25 days & more",
                        "scores": _scores(0.4 + 0.1 * k, True), "latency_s": 0.9,
                        "sources": [source, {**source, "rank": 2, "doc_id": "faq.md", "text": "Fridays: office."}]},
                "ft-lora": {"answer": "The CFO approves them.", "scores": _scores(0.3, False), "latency_s": 0.5,
                            "sources": []},
            },
        })
    comparisons = []
    for metric in ANSWER_METRICS:
        comparisons.append({"baseline": "closed-book", "variant": "rag", "metric": metric, "difference": 0.3,
                            "low": 0.12, "high": 0.45, "p_value": 0.004, "significant": True,
                            "text": f"{LABELS[metric]}: rag is better than closed-book by 0.30 "
                                    "(95% CI 0.12–0.45, p=0.004)"})
        comparisons.append({"baseline": "closed-book", "variant": "ft-lora", "metric": metric, "difference": 0.1,
                            "low": None, "high": None, "p_value": 0.41, "significant": False,
                            "text": f"{LABELS[metric]}: no significant difference between closed-book "
                                    "and ft-lora (p=0.410)"})
    return {
        "study": {"name": "handbook <pilot>", "created": "2026-01-02 03:04:05", "ragft_version": "0.1.0",
                  "corpus": "data/handbook", "n_questions": 3, "n_train": 40, "task_types": {"short_qa": 3},
                  "config": {"embedder": {"model": "builtin:all-minilm-l6-v2"},
                             "cost": {"hardware_usd_per_hour": 1.0, "always_on": False,
                                      "api_usd_per_1k_input_tokens": 0.0, "api_usd_per_1k_output_tokens": 0.0,
                                      "retrieval_usd_per_hour": 0.1, "queries_per_month": 100000.0, "months": 12}},
                  "full_size_hint": "This run scored a sample of 3 questions; "
                                    "remove test.n and run `ragft study c.yaml`."},
        "primary_metric": "token_f1", "baseline": "closed-book",
        "metric_order": [*ANSWER_METRICS, "evidence_hit", "evidence_coverage"],
        "labels": LABELS,
        "tutorial_metrics": ["semantic_similarity", "tutorial_token_overlap_recall", "tutorial_rouge_l_recall"],
        "variants": [
            {"name": "closed-book", "type": "closed_book", "description": "tiny LLM, no retrieval", "llm": "tiny",
             "metrics": closed, "cost": _cost(0.4, 40, 20, 1, 0, 0, 0.11, 11.0)},
            {"name": "rag", "type": "rag", "description": "tiny LLM + dense top-5", "llm": "tiny",
             "metrics": rag, "cost": _cost(0.9, 900, 20, 1, 12.5, 0, 0.0, 0.0)},  # zero modelled cost
            {"name": "ft-lora", "type": "finetuned", "description": "tiny LLM, LoRA on 40 examples", "llm": "tiny",
             "metrics": tuned, "cost": _cost(0.5, 40, 20, 1, 0, 300.0, 0.14, 5.0, first_month=40.0)},
        ],
        "comparisons": comparisons,
        "break_even": [{"a": "closed-book", "b": "ft-lora", "month": 6}],
        "knowledge_graphs": [{
            "fingerprint": "f00d", "variants": ["rag"], "extractor": "pattern-v1",
            "stats": {"nodes": 3, "edges": 2, "node_types": {"name": 2, "role": 1}},
            "files": {"graphml": "graphs/f00d.graphml", "json": "graphs/f00d.json"},
            "nodes": [{"id": "port alda", "label": "Port Alda", "type": "name", "degree": 2, "documents": 1,
                       "x": 0.0, "y": 0.0},
                      {"id": "x", "label": PAYLOAD, "type": "name", "degree": 1, "documents": 1, "x": 1.0, "y": 0.5},
                      {"id": "harbour master", "label": "Harbour Master", "type": "role", "degree": 1,
                       "documents": 2, "x": 0.5, "y": 1.0}],
            "edges": [{"source": "port alda", "target": "x", "relation": "co-occurs", "weight": 3},
                      {"source": "port alda", "target": "harbour master", "relation": "holds_role", "weight": 1}],
        }],
        "recommendation": {"variant": "rag", "reasoning": ["rag has the highest token F1: 0.530 (95% CI 0.38–0.68).",
                                                           "closed-book is significantly worse."],
                           "tied_with_best": ["rag"], "constraints": {"min_quality": None},
                           "primary_metric": "token_f1"},
        "questions": questions,
    }


def make_wide_results() -> dict:
    """Six variants with long names, every metric (26) and two baselines whose comparisons carry a
    ``family``: the layout the report must keep readable at 1280 px."""
    from ragft.study.results import DISPLAY_ORDER
    from ragft.study.scoring import LABELS as ALL_LABELS

    wide = make_results()
    template = wide["variants"][1]
    names = ["closed-book", "rag-naive-dense-top5", "rag-hybrid-rerank-grounded-citations",
             "rag-multi-query-hyde-sentence-window", "ft-lora-sft-on-400-examples", "raft-plus-finetuned-embedder"]
    wide["variants"] = []
    for k, name in enumerate(names):
        variant = copy.deepcopy(template)
        variant.update(name=name, description=f"variant {k}",
                       pipeline=f"SmolLM2-135M: retrieve (hybrid, top {k + 1}) → rerank → generate with citations")
        variant["metrics"] = {m: _metric(0.1 + 0.1 * k + 0.001 * i, 0.05 + 0.1 * k, 0.2 + 0.1 * k)
                              for i, m in enumerate(DISPLAY_ORDER)}
        wide["variants"].append(variant)
    wide.update(metric_order=list(DISPLAY_ORDER), labels=ALL_LABELS, baselines=["closed-book", "rag-naive-dense-top5"])
    wide["comparisons"] = [
        {"baseline": base, "variant": name, "metric": metric, "difference": 0.1, "low": 0.01, "high": 0.2,
         "p_value": 0.03, "significant": True, "text": "", "family": f"vs {base} · {ALL_LABELS[metric]}",
         "family_size": 4}
        for base in wide["baselines"] for metric in DISPLAY_ORDER for name in names if name != base]
    return wide


BUSY_WARNING = ("ft-lora: 60% of its answers were timed while other processes kept the machine busy "
                "(mean of busy batches); its seconds and dollars per query may be inflated.")
DRIVER = "rag vs ft-lora: training makes $+2.50 of the $+1.50 monthly difference (measured training time)."


def make_verdict_results() -> dict:
    """The newer fields: an inconclusive verdict with its decision tests, a majority-label reference
    (label accuracy only, no modelled cost), an extractive variant that cannot answer, wall and CPU
    timing, the monthly cost breakdown, the return side, break-even on net value and a warning."""
    res = make_results()
    for variant, (cpu, net, share) in zip(res["variants"], [(0.35, -2.0, 0.0), (0.8, 40.0, 0.1), (0.45, 20.0, 0.6)]):
        cost = variant["cost"]
        monthly = cost["monthly"]
        cost.update(cpu_seconds_per_query=cpu, timing={"method": "median of 4 quiet batches", "busy_share": share},
                    breakdown={"serving": monthly * 0.6, "api": 0.0, "retrieval": monthly * 0.3, "storage": 0.0,
                               "training": monthly * 0.1},
                    return_per_month=monthly + net, net_per_month=net, roi=net / monthly if monthly else None,
                    cumulative_net=[net * (m + 1) - 30.0 * (variant["name"] == "ft-lora") for m in range(12)])
    res["variants"][2]["cost"]["timing"]["method"] = "mean of busy batches"
    res["variants"].append({"name": "majority-label", "type": "reference", "reference": True, "llm": None,
                            "description": "reference: always answers 'yes', the most common label in the train set",
                            "metrics": {"label_accuracy": _metric(0.4, 0.1, 0.7)},
                            "cost": {"seconds_per_query": 0.0}, "judge_repeat_means": {}})
    res["variants"].append({"name": "extractive", "type": "extractive", "description": "quotes a sentence",
                            "llm": None, "cannot_answer": "it quotes a sentence and can never answer with a label",
                            "metrics": {"token_f1": _metric(0.25, 0.1, 0.4)},
                            "cost": {"seconds_per_query": 0.05}})
    family = "decision: vs rag · token F1"
    res["recommendation"] = {
        "status": "inconclusive", "variant": None, "leader": "rag", "questions_needed": 240, "n_questions": 3,
        "margin": 0.05, "alpha": 0.05, "power": 0.8, "family": family, "primary_metric": "token_f1",
        "constraints": {"min_quality": None},
        "tests": [
            {"variant": "closed-book", "vs": "rag", "difference": -0.3, "low": -0.45, "high": -0.12,
             "p_different": 0.004, "p_as_good": 0.97, "verdict": "worse", "questions_needed": None,
             "family": family, "family_size": 2},
            {"variant": "ft-lora", "vs": "rag", "difference": -0.02, "low": -0.15, "high": 0.1,
             "p_different": 0.62, "p_as_good": 0.31, "verdict": "undecided", "questions_needed": 240,
             "family": family, "family_size": 2},
        ],
        "tied_with_best": ["rag"],
        "reasoning": ["Inconclusive — about 240 questions needed (this study has 3): rag leads on token F1, but "
                      "cheaper ft-lora can neither be shown as good within ±0.05 nor worse.",
                      "majority-label is excluded: it is a reference, not a deployable pipeline.",
                      "extractive is excluded: it quotes a sentence and can never answer with a label.",
                      "rag has the highest token F1 among eligible variants: 0.530 (95% CI 0.380–0.680)."],
        "cost_drivers": [DRIVER],
    }
    res["cost_assumptions"] = {**res["study"]["config"]["cost"], "value_per_correct_usd": 0.1,
                               "cost_per_wrong_usd": 0.02, "retrains_per_year": 1}
    res["break_even"] = [{"a": "closed-book", "b": "ft-lora", "month": 3, "on": "net value"}]
    res["warnings"] = [BUSY_WARNING]
    return res


@pytest.fixture(scope="module")
def verdict_results() -> dict:
    return make_verdict_results()


@pytest.fixture(scope="module")
def verdict_page(verdict_results) -> str:
    return render_report(verdict_results)


@pytest.fixture(scope="module")
def results() -> dict:
    return make_results()


@pytest.fixture(scope="module")
def page(results) -> str:
    return render_report(results)


class _Dom(HTMLParser):
    """The bits of a document the tests look at."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.ids: dict[str, str] = {}
        self.h2: list[str] = []
        self.text: list[str] = []
        self._in_h2 = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.setdefault(attrs["id"], tag)
        self._in_h2 = tag == "h2" or self._in_h2

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.h2.append(data.strip())


# ---------------------------------------------------------------------------------- rendering

def test_every_section_has_its_id_and_heading(page):
    dom = _Dom(page)
    for sid, heading in SECTIONS:
        assert dom.ids.get(sid) == "section", sid
        assert heading in dom.h2
    assert page.count("<section ") == page.count("</section>") == len(SECTIONS)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_model_and_document_text_is_escaped(page):
    assert PAYLOAD not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SOURCE_PAYLOAD not in page and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page  # Jinja2's escape
    assert "handbook &lt;pilot&gt;" in page  # the study name came from the config
    assert "<script" not in page.lower()  # the report has no script at all


def test_report_is_self_contained(page):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<link" not in page.lower() and "@import" not in page and "url(http" not in page
    assert page.count("<svg") >= 7  # 4 bar charts (token F1, ROUGE-L, semantic sim., evidence hit) + radar + 2
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def test_metrics_table_shows_ci_best_and_missing(page, results):
    metrics = page.split('id="metrics"')[1].split("</section>")[0]
    assert "0.530 <span class=\"ci\">[0.380–0.680]</span>" in metrics  # rag's token F1 with its CI
    assert "no CI" in metrics  # ft-lora has no CI
    assert 'class="best"' in metrics
    assert "not measured for this variant" in metrics  # evidence hit for closed-book
    assert "precision and F1 beside them" in metrics
    assert not re.search(r"\bnan\b", page, re.I)


def test_summary_states_recommendation_and_comparisons(page):
    summary = page.split('id="summary"')[1].split("</section>")[0]
    assert "Recommendation: rag" in summary
    assert "rag has the highest token F1" in summary
    assert "data/handbook" in summary and "short_qa: 3" in summary
    assert "a significant difference" in summary
    assert "not significant — the data cannot tell them apart" in summary


def test_radar_axes_cost_roi_and_comparisons(page):
    radar = page.split('id="radar"')[1].split("</section>")[0]
    for _, label in RADAR_AXES:
        assert f">{label}<" in radar  # an SVG text element, exactly this label
    assert [label for _, label in RADAR_AXES] == ["Semantic similarity", "Token overlap recall", "ROUGE-L recall"]
    cost = page.split('id="cost"')[1].split("</section>")[0]
    assert "$0.110" in cost and "$0" in cost and "300.0" in cost and "12-month total" in cost
    assert "quality vs cost per 1,000 queries" in cost
    roi = page.split('id="roi"')[1].split("</section>")[0]
    assert "break even in month 6" in roi and "month 6" in roi
    comparisons = page.split('id="comparisons"')[1].split("</section>")[0]
    assert "Holm-corrected per metric" in comparisons and "cannot tell the two apart" in comparisons
    # The primary metric's rows are shown; the other metrics' rows wait in a collapsed <details>.
    shown, more = comparisons.split('<details class="more">')
    assert shown.count("<tr>") == 1 + 2 and more.count("<tr>") == 1 + 2 * (len(ANSWER_METRICS) - 1)
    assert "token F1" in shown and "EM" not in shown and "EM" in more  # primary metric first
    assert "<h3>Against closed-book</h3>" in comparisons


def test_wide_study_puts_the_headline_first_and_groups_by_baseline():
    page = render_report(make_wide_results())
    metrics = page.split('id="metrics"')[1].split("</section>")[0]
    main, full = metrics.split('<details class="more">')
    main_headers = re.findall(r"<th scope=\"col\"[^>]*>([^<]+)</th>", main)
    assert main_headers[:2] == ["Variant", "token F1"]  # the primary metric first
    assert "evidence hit@k" in main_headers and "doc nDCG@k" in main_headers and "EM" not in main_headers
    assert f"All {len(make_wide_results()['metric_order'])} metrics" in full and ">EM</th>" in full
    comparisons = page.split('id="comparisons"')[1].split("</section>")[0]
    assert comparisons.index("<h3>Against closed-book</h3>") < comparisons.index("<h3>Against rag-naive-dense-top5</h3>")
    assert "within vs closed-book · token F1 (4 tests)" in comparisons
    shown = comparisons.split("<h3>Against rag-naive-dense-top5</h3>")[0].split('<details class="more">')[0]
    assert shown.count("<tr>") == 1 + 5 * 3  # 5 variants × (primary, evidence hit, all evidence); rest collapsed
    summary = page.split('id="summary"')[1].split("</section>")[0]
    assert "Baselines</dt><dd>closed-book, rag-naive-dense-top5" in summary
    assert "Pipeline: SmolLM2-135M: retrieve (hybrid, top 3) → rerank → generate with citations" in summary


def test_question_drill_down(page):
    questions = page.split('id="questions"')[1].split("</section>")[0]
    assert questions.count('<details class="q">') == 3
    assert "Chief Financial Officer" in questions and "25 days &amp; more" in questions
    assert "handbook.md" in questions and "evidence doc" in questions
    assert "q1" in questions and "rag 0.43" in questions  # compact per-variant score in the summary line


def test_footer_says_how_to_regenerate(page, tmp_path):
    assert "ragft report RUN_DIR" in page
    assert "remove test.n and run" in page
    assert f"ragft report {tmp_path}" in render_report(make_results(), run_dir=tmp_path)


def test_degenerate_runs_render(results):
    """One variant, no retrieval metrics, no CIs, NaN values, zero cost, no comparisons or questions."""
    single = copy.deepcopy(results)
    variant = single["variants"][2]
    variant["metrics"]["token_f1"] = {"mean": float("nan"), "low": None, "high": None, "n": 0}
    variant["cost"] = {k: (0.0 if not isinstance(v, list) else [0.0] * len(v)) for k, v in variant["cost"].items()}
    empty_graph = {**single["knowledge_graphs"][0], "stats": {}, "nodes": [], "edges": []}
    single.update(variants=[variant], comparisons=[], break_even=[], questions=[], recommendation={},
                  metric_order=ANSWER_METRICS, baseline="ft-lora", knowledge_graphs=[empty_graph])
    page = render_report(single)
    assert all(f'id="{sid}"' in page for sid in SECTION_IDS)
    assert "nothing to compare" in page and "No break-even" in page
    assert not re.search(r"\bnan\b", page, re.I)

    bare = render_report({"variants": [], "questions": []})
    # Every section but the knowledge graph's, which only a study with a graph step has.
    assert all(f'id="{sid}"' in bare for sid in SECTION_IDS if sid != "graph")
    assert 'id="graph"' not in bare


def _section(page: str, sid: str) -> str:
    return page.split(f'id="{sid}"')[1].split("</section>")[0]


def _visible(page: str) -> str:
    return " ".join(_Dom(re.sub(r"<svg.*?</svg>", "", page, flags=re.S)).text)


def test_inconclusive_verdict_card_and_decision_tests(verdict_page):
    summary = _section(verdict_page, "summary")
    assert '<div class="card inconclusive"><h3>Inconclusive — about 240 questions needed (this study has 3)</h3>' \
        in summary
    assert "Leading for now: <strong>rag</strong>" in summary and "Recommendation: rag" not in summary
    assert ">recommended</span>" not in verdict_page  # nothing is tagged recommended while inconclusive
    tests = summary.split("<h3>Decision tests</h3>")[1].split("</table>")[0]
    assert "Family <strong>decision: vs rag · token F1</strong> (2 tests" in tests
    assert tests.count("decision: vs rag") == 1  # the family is named once, above the table
    assert "non-inferior within ±0.05" in tests
    for text in ("-0.020", "[-0.150, +0.100]", "undecided", "0.310", "0.620", "about 240", "worse", "0.004"):
        assert text in tests, text
    assert summary.index("Warnings") < summary.index("Decision tests")  # warnings come first
    assert BUSY_WARNING.split(" (")[0] in summary


def test_references_and_ineligible_variants(verdict_page):
    metrics = _section(verdict_page, "metrics")
    assert '<tr class="ref"><td><strong>majority-label</strong><span class="tag"' in metrics
    assert ">reference</span>" in metrics
    assert "not eligible: it quotes a sentence and can never answer with a label" in metrics
    cost = _section(verdict_page, "cost")
    reference_rows = re.findall(r'<tr class="ref"><td><strong>majority-label</strong>.*?</tr>', cost)
    assert len(reference_rows) == 2 and all("$" not in row and "0.000" not in row for row in reference_rows)
    radar = _section(verdict_page, "radar")
    assert "majority-label" not in radar  # no tutorial metric: not a radar row, not "missing"


def test_cost_breakdown_return_and_drivers(verdict_page):
    cost = _section(verdict_page, "cost")
    for header in ("s/query (wall)", "CPU s/query", "serving $/month", "retrieval $/month", "training $/month",
                   "return $/month", "net $/month", "ROI"):
        assert f">{header}</th>" in cost, header
    assert "median of 4 quiet batches" in cost and "mean of busy batches; 60% busy" in cost
    assert "0.350" in cost and "$6.60" in cost and "-$2.00" in cost and "+253%" in cost
    assert "each right answer is worth $0.100, a wrong one costs $0.020" in cost
    assert "read as the share of right answers" in cost
    assert DRIVER in cost
    roi = _section(verdict_page, "roi")
    assert "Cumulative net value" in roi and "cumulative net value by month" in roi
    assert "By the end of month 3, <strong>ft-lora</strong>'s cumulative net value overtakes" in roi


def test_new_fields_leak_no_none_or_nan(verdict_page):
    text = _visible(verdict_page)
    assert not re.search(r"\b(None|nan|NaN|null|undefined)\b", text)
    assert "True" not in text.split() and "False" not in text.split()


def test_no_recommendation_and_recommended_cards(verdict_results):
    none = copy.deepcopy(verdict_results)
    none["recommendation"] = {"status": "none", "variant": None, "leader": None, "tests": [],
                              "reasoning": ["No variant meets all constraints; relax them or add variants."]}
    summary = _section(render_report(none), "summary")
    assert "<h3>No recommendation</h3>" in summary and "relax them" in summary
    assert "Decision tests" not in summary
    chosen = copy.deepcopy(verdict_results)
    chosen["recommendation"].update(status="recommended", variant="majority-label")  # a reference: never shown so
    assert "Recommendation: majority-label" not in render_report(chosen)
    chosen["recommendation"].update(variant="rag", reasoning=["rag is recommended: it has the best token F1."])
    page = render_report(chosen)
    assert '<div class="card recommended"><h3>Recommendation: rag</h3>' in page
    assert "Decision tests" in page and "Leading for now" not in page


def test_sparse_new_fields_do_not_crash(verdict_results):
    """A reference with no metrics or cost at all, a variant whose cost and metrics are null, a
    decision test of nulls, NaN and null series, a break-even naming an unknown variant."""
    sparse = copy.deepcopy(verdict_results)
    sparse["variants"] += [{"name": "bare", "reference": True},
                           {"name": "bare2", "cost": None, "metrics": None, "cannot_answer": "no labels"}]
    sparse["variants"][0]["cost"].update(breakdown=None, timing=None, cumulative_net=[None] * 12, roi=float("nan"))
    sparse["recommendation"]["tests"].append({"variant": "bare", "difference": None, "low": None, "high": None,
                                              "p_different": None, "p_as_good": None, "verdict": None,
                                              "questions_needed": "x"})
    sparse["recommendation"].update(power=None, margin=None)
    sparse["break_even"].append({"a": "nope", "b": "rag", "month": 2, "on": "net value"})
    sparse.update(cost_assumptions=None, warnings=None)
    page = render_report(sparse)
    assert not re.search(r"\b(None|nan)\b", _visible(page))
    assert "not eligible: no labels" in page and "Inconclusive" in page
    out = io.StringIO()
    print_summary(sparse, Console(file=out))
    assert "bare2" in out.getvalue() and not re.search(r"\b(None|nan)\b", out.getvalue())


def test_write_report_is_atomic(tmp_path, results):
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "results.json"]
    assert path.read_text(encoding="utf-8") == render_report(results, run_dir=tmp_path)
    with pytest.raises(RagftError, match="not found"):
        write_report(tmp_path / "missing")


# ------------------------------------------------------------------------------------ summary

def test_print_summary(results):
    console = Console(record=True, width=80, force_terminal=False)
    print_summary(results, console, report_path=Path("/runs/x/report.html"))
    text = console.export_text()
    for name in ("closed-book", "rag", "ft-lora"):
        assert name in text
    assert "[0.38–0.68]" in text and "(no CI)" in text  # rag's CI; ft-lora has none
    assert "Recommendation: rag" in text and "/runs/x/report.html" in text
    assert "Evid." in text and "$0.11" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_print_summary_without_retrieval_or_recommendation(results):
    minimal = copy.deepcopy(results)
    minimal["variants"] = [minimal["variants"][0]]
    minimal["recommendation"] = {}
    console = Console(record=True, width=100, force_terminal=False)
    print_summary(minimal, console)
    text = console.export_text()
    assert "closed-book" in text and "Evid." not in text and "Report:" not in text
    assert "Recommendation: none" in text


def test_print_summary_redirected_keeps_every_number_whole(results):
    """Redirected to a file or a pipe rich assumes 80 columns; numbers must still come out in full."""
    many = copy.deepcopy(results)
    template = many["variants"][1]
    many["variants"] = []
    for i in range(8):
        variant = copy.deepcopy(template)
        variant["name"] = f"rag-hybrid-rerank-grounded-citations-variant-{i}"
        for entry in variant["metrics"].values():
            entry.update(mean=0.1234 + i / 100, low=0.0111 + i / 100, high=0.9876 - i / 100)
        variant["cost"].update(seconds_per_query=12.345 + i, per_1k_queries=98765.43 + i)
        many["variants"].append(variant)
    out = io.StringIO()
    print_summary(many, Console(file=out))
    text = out.getvalue()
    assert "…" not in text
    for i, variant in enumerate(many["variants"]):
        assert variant["name"] in text
        assert f"{0.1234 + i / 100:.3f}" in text and f"[{0.0111 + i / 100:.2f}–{0.9876 - i / 100:.2f}]" in text
        assert f"{12.345 + i:.2f}" in text and f"${98765.43 + i:,.2f}" in text


def test_print_summary_inconclusive_with_references(verdict_results):
    out = io.StringIO()
    print_summary(verdict_results, Console(file=out))  # redirected: no terminal, 80 columns assumed
    text = out.getvalue()
    assert "Verdict: inconclusive — about 240 questions needed; leading: rag ☆" in text
    assert "★" not in text and "Recommendation:" not in text
    assert "(reference)" in text and "(not eligible)" in text
    reference_row = next(line for line in text.splitlines() if line.startswith("majority-label"))
    assert "$" not in reference_row and "0.00" not in reference_row  # no cost for a reference
    warning = next(line for line in text.splitlines() if line.startswith("Warning:"))
    assert warning == f"Warning: {BUSY_WARNING}"  # one line, even in a log file
    assert text.index("Warning:") < text.index("Verdict:")
    assert "CPU" not in text  # at 80 columns the CPU column does not fit
    assert not re.search(r"\b(None|nan)\b", text)

    wide = Console(record=True, width=120, force_terminal=False)
    print_summary(verdict_results, wide)
    wide_text = wide.export_text()
    assert "CPU" in wide_text and "0.35" in wide_text and "$/1k q" in wide_text
    assert all(len(line) <= 120 for line in wide_text.splitlines() if not line.startswith("Warning:"))


def test_print_summary_none_and_unknown_questions(verdict_results):
    none = copy.deepcopy(verdict_results)
    none["recommendation"] = {"status": "none", "variant": None, "leader": None}
    console = Console(record=True, width=100, force_terminal=False)
    print_summary(none, console)
    text = console.export_text()
    assert "Recommendation: none" in text and "☆" not in text and "★" not in text
    unknown = copy.deepcopy(verdict_results)
    unknown["recommendation"]["questions_needed"] = None
    console = Console(record=True, width=100, force_terminal=False)
    print_summary(unknown, console)
    assert "Verdict: inconclusive — more questions (or a wider margin) needed than 3; leading: rag" \
        in console.export_text()


# ----------------------------------------------------------------------- headless Chromium

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium) — browser check skipped")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def written_report(tmp_path_factory, results) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return write_report(run_dir)


@needs_chromium
def test_report_renders_in_headless_chromium(written_report, tmp_path):
    done = _chromium(tmp_path, "--dump-dom", written_report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Dom(done.stdout)
    for sid, heading in SECTIONS:
        assert dom.ids.get(sid) == "section", f"section #{sid} missing from the rendered DOM"
        assert heading in dom.h2
    assert dom.tags.get("svg", 0) >= 7
    assert dom.tags.get("details", 0) >= 3
    assert dom.tags.get("script", 0) == 0, "a <script> element made it into the live DOM"
    assert dom.tags.get("img", 0) == 0
    assert PAYLOAD in "".join(dom.text)  # shown to the reader as text


@needs_chromium
@pytest.mark.parametrize("make", [make_wide_results, make_verdict_results], ids=["wide", "verdict"])
def test_main_tables_fit_a_1280px_window(tmp_path, make):
    """No horizontal scroll for the headline tables at 1280 px: six long-named variants, and the
    cost tables with their breakdown and return columns."""
    playwright = pytest.importorskip("playwright.sync_api")
    (tmp_path / "results.json").write_text(json.dumps(make()), encoding="utf-8")
    report = write_report(tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            view = browser.new_page(viewport={"width": 1280, "height": 900})
            view.goto(report.as_uri())
            overflow = view.evaluate("""() => [...document.querySelectorAll('table.fit')]
                .filter(t => t.offsetParent !== null)  // visible: not inside a closed <details>
                .map(t => [t.closest('section').id, t.scrollWidth, t.parentElement.clientWidth])
                .filter(([, table, box]) => table > box)""")
            page_width = view.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()
    assert overflow == [], f"tables wider than their box at 1280 px: {overflow}"
    assert page_width <= 1280


@needs_chromium
def test_report_screenshot_in_headless_chromium(written_report, tmp_path):
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,4000",
                     written_report.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 4000)
    assert shot.stat().st_size > 50_000  # text, tables and plots, not a blank page
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(shot) as image:
        colours = image.convert("RGB").resize((320, 1000)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 100
