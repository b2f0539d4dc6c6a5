"""The whole loop with the real built-in models, through the entry points a user has:

1. ``ragft study CONFIG --workspace WS`` — a small study on two sample documents, with an
   advanced RAG variant (retrieve → rerank → generate), on the workspace's own index;
2. ``ragft deploy RUN`` — the recommended variant (or, when the study recommends none, the
   advanced one by name) becomes what the workspace serves; ``ragft ask`` answers with it;
3. a running server: the chat page in Chromium shows which variant answered; the official
   ``openai`` client lists the served variants and asks one; votes and edits are stored with the
   hash of the spec that answered;
4. ``ragft improve --method sft`` on those edits, scored with the study's code on held-out
   questions — promoted only because significantly better — and the same running server then
   answers with the promoted version (a new model version and spec hash) without a restart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serve_helpers import make_workspace, start_server
from test_improve import FACTS  # invented facts: only a model trained on the edits knows them

from ragft.feedback.store import FeedbackStore

CHROMIUM = shutil.which("chromium")
openai = pytest.importorskip("openai", reason="the openai client is a dev dependency (pip install -e '.[dev]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency (pip install -e '.[dev]')")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")]

# Sample test questions about the two documents in the workspace (ragft/data/sample/test.jsonl).
STUDY_QUESTIONS = [
    ("If an employee becomes a birth parent, for how long can they stay off work on full pay?", ["18 weeks"]),
    ("What was the name of the converted herring drifter that served as the company's first ship?", ["Kittiwake"]),
    ("For how long may a sick employee self-certify before a doctor's note is needed?", ["7 calendar days"]),
    ("What is the most unused holiday an employee can take with them into the next leave year?", ["5 days"]),
    ("What share of Brennock Ferries belongs to the Brennock Islands Community Trust?", ["74%"]),
    ("On what date was the ferry company incorporated?", ["3 May 1974"]),
]
ADVANCED = "rerank-rag"
def ragft(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "ragft.cli", *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def studied(tmp_path_factory, embedder):
    """A workspace holding two ingested sample documents and a finished study run on it."""
    root = tmp_path_factory.mktemp("loop")
    workspace = make_workspace(root, embedder, max_new_tokens=16)
    _jsonl(root / "test.jsonl", [{"id": f"q{n}", "question": q, "answers": a}
                                 for n, (q, a) in enumerate(STUDY_QUESTIONS)])
    study = {
        "name": "loop", "test": {"kind": "qa_file", "path": "test.jsonl"},
        "models": {"small": {"model": "builtin:smollm2-135m", "max_new_tokens": 16, "batch_size": 6}},
        "chunker": {"kind": "recursive", "params": {"max_chars": 600}},  # the workspace's: its index is reused
        "cost": {"queries_per_month": 1000},
        "variants": [
            {"name": ADVANCED, "type": "rag", "llm": "small", "retrieval": {"top_k": 3},
             "pipeline": [{"name": "retrieve", "params": {"top_k": 6}}, {"name": "rerank", "params": {"top_k": 3}},
                          {"name": "generate"}]},
            {"name": "naive-rag", "type": "rag", "llm": "small", "retrieval": {"top_k": 3}},
        ],
    }
    (root / "study.yaml").write_text(json.dumps(study), encoding="utf-8")  # JSON is YAML
    before = sorted(p.name for p in (workspace / "index").iterdir())
    ragft("study", str(root / "study.yaml"), "--workspace", str(workspace))
    assert sorted(p.name for p in (workspace / "index").iterdir()) == before  # reused, not rebuilt
    return root, workspace, workspace / "runs" / "loop"


def test_study_deploys_and_serves_its_variants_through_page_and_api(studied, embedder, small_llm):
    root, workspace, run = studied
    results = json.loads((run / "results.json").read_text())
    assert {v["name"] for v in results["variants"]} >= {ADVANCED, "naive-rag", "closed-book", "extractive"}
    recommended = results["recommendation"].get("variant")
    # Deploy what the study recommends; a study too small to decide is deployed by name instead.
    deployed = ragft("deploy", str(run), "-w", str(workspace), *([] if recommended else ["--variant", ADVANCED]))
    default = recommended or ADVANCED
    assert f"deployed {default}" in deployed.stdout
    asked = json.loads(ragft("ask", STUDY_QUESTIONS[0][0], "-w", str(workspace), "--json").stdout)
    assert asked["variant"] == default

    app, running = start_server(workspace, embedder=embedder, llm=small_llm)
    try:
        client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused-on-loopback")
        models = {m.id: m.model_extra["ragft"] for m in client.models.list().data}
        assert {ADVANCED, "naive-rag", "closed-book", "extractive", "rag.base"} <= set(models)
        assert models[default]["default"] and models[default]["origin"] == "deployed"
        assert asked["variant_hash"] == models[default]["variant_hash"]  # ask and serve: one spec
        before = client.models.retrieve(ADVANCED).model_extra["ragft"]

        # The chat page: the default answers and says so; then a user corrects the generator's answers.
        _chat_and_edit(running.url, default, [(q, e) for q, e, _ in FACTS])
        completion = client.chat.completions.create(
            model=ADVANCED, messages=[{"role": "user", "content": STUDY_QUESTIONS[1][0]}], max_tokens=8)
        extra = completion.model_extra["ragft"]
        assert extra["variant_hash"] == before["variant_hash"] and extra["model_version"] == "builtin:smollm2-135m"

        store = FeedbackStore(workspace / "feedback.sqlite")
        rows = store.interactions()
        hashes = {v: models[v]["variant_hash"] for v in models}
        assert all(row["variant_hash"] == hashes[row["variant"]] for row in rows) and len(rows) == len(FACTS) + 2
        assert len(store.rows("edits")) == len(FACTS)
        store.close()

        # Improve from that feedback, scored with the study's code on held-out paraphrases.
        held_out = _jsonl(root / "held-out.jsonl", [{"question": p, "answer": a} for _, a, p in FACTS])
        improved = ragft("improve", "-w", str(workspace), "--test", str(held_out), "--method", "sft",
                         "--variant", "closed-book", "--max-new-tokens", "16", "--max-steps", "12", "--lr", "3e-3",
                         "--batch-size", "6", "--max-length", "128", timeout=1200)
        assert "promoted" in improved.stdout, improved.stdout + improved.stderr
        after = client.models.retrieve(ADVANCED).model_extra["ragft"]
        assert after["model_version"].startswith("sft-") and after["variant_hash"] != before["variant_hash"]
        completion = client.chat.completions.create(
            model="closed-book", messages=[{"role": "user", "content": FACTS[0][2]}], max_tokens=16)
        extra = completion.model_extra["ragft"]
        assert extra["model_version"] == after["model_version"]  # the running server answers with it
        assert "teal" in completion.choices[0].message.content.lower()
    finally:
        running.stop()


def _chat_and_edit(url: str, default: str, corrections: list[tuple[str, str]]) -> None:
    """One question with the default variant, then each question asked of closed-book and corrected."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(180_000)
        page.goto(f"{url}/chat")
        assert page.locator("#variant").input_value() == default
        card = _ask(page, STUDY_QUESTIONS[2][0])
        assert card.locator(".meta").inner_text().startswith(f"{default} (")  # which variant answered
        card.locator("button.vote[data-vote=up]").click()
        sync_api.expect(card.locator(".status")).to_have_text("Vote saved (up).")
        page.select_option("#variant", "closed-book")
        for question, correction in corrections:
            card = _ask(page, question)
            card.locator("details.edit summary").click()
            card.locator("textarea.corrected").fill(correction)
            card.locator("button.save-edit").click()
            sync_api.expect(card.locator(".status")).to_have_text("Correction saved.")
        browser.close()


def _ask(page, question: str):
    """Ask on the chat page; the answer card (the newest is on top) once its answer is stored."""
    answered = page.locator("article.answer[data-interaction]")
    before = answered.count()
    page.fill("#question", question)
    page.click("#ask")
    sync_api.expect(answered).to_have_count(before + 1)
    return answered.first
