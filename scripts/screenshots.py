"""Screenshots of the real web app's chat, arena and dashboard pages → docs/screenshots/*.png.

Builds a workspace from the built-in sample (unless --workspace is given), starts `ragft serve`'s
app on a free loopback port, puts some real feedback in through the app itself (answers, votes,
arena rounds), then drives Debian's Chromium with Playwright and saves the pages.

    .venv/bin/python scripts/screenshots.py [--workspace WS] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTIONS = ["How many days of annual leave do employees get?", "Who approves travel claims?",
             "What is the top speed of MV Greylag?", "When does the summer timetable start?"]


def build_workspace(root: Path) -> Path:
    from ragft.config import LLMConfig, WorkspaceConfig
    from ragft.data import sample_docs_dir
    from ragft.models import load_embedder
    from ragft.workspace import Workspace, ingest

    config = WorkspaceConfig(llm=LLMConfig(max_new_tokens=40))
    workspace = Workspace(root / "ws")
    ingest(workspace, sample_docs_dir(), config, load_embedder(config.embedder))
    return workspace.path


def seed_feedback(base: str) -> None:
    """Scripted clicks through the app's own endpoints (real answers, made-up judgements), so the
    dashboard and leaderboard have something to show."""
    rng = random.Random(0)
    with httpx.Client(base_url=base, timeout=600) as client:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/chat").text).group(1)
        headers = {"X-CSRF-Token": csrf}
        variants = [m["id"] for m in client.get("/v1/models").json()["data"]]
        for question in QUESTIONS:
            for variant in variants:
                reply = client.post("/v1/chat/completions", json={
                    "model": variant, "messages": [{"role": "user", "content": question}], "max_tokens": 24})
                iid = reply.json()["ragft"]["interaction_id"]
                liked = rng.random() < (0.7 if variant.startswith("rag/") else 0.3)
                client.post(f"/api/feedback/{iid}/vote", json={"vote": "up" if liked else "down"}, headers=headers)
                client.post(f"/api/feedback/{iid}/rating", json={"rating": rng.randint(2, 5)}, headers=headers)
        client.post(f"/api/feedback/{iid}/edit", json={"corrected_answer": "The summer timetable starts in May."},
                    headers=headers)
        for question in QUESTIONS * 2:
            arena = client.post("/api/arena", json={"question": question}, headers=headers).json()
            client.post(f"/api/arena/{arena['round_id']}/choice", json={"choice": rng.choice(["a", "b", "tie"])},
                        headers=headers)


def take_screenshots(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is needed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 860})
        page.set_default_timeout(600_000)

        page.goto(f"{base}/chat")
        page.select_option("#variant", "rag.base")
        page.fill("#question", "Who approves travel claims?")
        page.click("#ask")
        card = page.locator("article.answer[data-interaction]")
        card.wait_for()
        card.locator(".sources li summary").first.click()
        card.locator("button.vote[data-vote=up]").click()
        page.locator(".status").filter(has_text="Vote saved").wait_for()
        page.screenshot(path=out / "chat.png", full_page=True)

        page.goto(f"{base}/arena")
        page.fill("#arena-question", "How many days of annual leave do employees get?")
        page.click("#arena-ask")
        page.locator("#arena-round").wait_for(state="visible")
        page.click("#choose-a")
        page.locator("#side-a .reveal").filter(has_text="—").wait_for()
        page.screenshot(path=out / "arena.png", full_page=True)

        page.goto(f"{base}/dashboard")
        page.screenshot(path=out / "dashboard.png", full_page=True)
        browser.close()
    return [out / name for name in ("chat.png", "arena.png", "dashboard.png")]


def add_model_version(workspace: Path, steps: int) -> None:
    """A real (briefly) fine-tuned SFT version in the registry, so the pages show one."""
    from ragft.data import sample_qa_path

    subprocess.run([sys.executable, "-m", "ragft.cli", "train", "sft", "--workspace", str(workspace),
                    "--data", str(sample_qa_path("train")), "--test", str(sample_qa_path("test")),
                    "--max-steps", str(steps)], check=True)


def add_reports(workspace: Path, runs: list[Path]) -> None:
    """Study reports served from the workspace (the dashboard links to <workspace>/runs/*/report.html)."""
    for run in runs:
        if (run / "report.html").is_file():
            (workspace / "runs" / run.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(run / "report.html", workspace / "runs" / run.name / "report.html")


def main() -> None:
    from ragft.serve.app import create_app
    from ragft.serve.background import serve_in_thread
    from ragft.serve.settings import ServeSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="use this workspace as it is (default: a new one from the sample)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--train-steps", type=int, default=8, help="fine-tune an SFT version for this many steps "
                        "first, so the registry has a real version (0: none)")
    parser.add_argument("--report", type=Path, action="append", default=[],
                        help="a study run folder whose report.html the dashboard should link (repeatable)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ragft-shots-"))
    workspace = args.workspace or build_workspace(tmp)
    if not args.workspace and args.train_steps:
        add_model_version(workspace, args.train_steps)
    add_reports(workspace, args.report)
    running = serve_in_thread(create_app(ServeSettings(workspace=workspace)))
    try:
        if not args.workspace:
            seed_feedback(running.url)
        for path in take_screenshots(running.url, args.out):
            print(f"wrote {path}")
    finally:
        running.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
