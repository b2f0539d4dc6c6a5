"""End to end in a real headless Chromium (Debian's package, driven by Playwright): ask, see the
sources, vote, rate, edit, play an arena round — then check the feedback store holds exactly
what was clicked. Skips when Chromium or Playwright is absent."""

from __future__ import annotations

import shutil

import pytest
from serve_helpers import QUESTION, serve_sample

from ragft.feedback.store import FeedbackStore

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_llm):
    yield from serve_sample(tmp_path_factory, embedder, small_llm, "serve-browser")


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(120_000)  # generation on a busy CPU can be slow
        yield page
        browser.close()


def test_chat_sources_and_feedback_are_stored_exactly(server, page):
    running, workspace = server
    page.goto(f"{running.url}/chat")
    page.select_option("#variant", "rag.base")
    page.fill("#question", QUESTION)
    page.click("#ask")
    card = page.locator("article.answer[data-interaction]")
    card.wait_for()
    answer = card.locator(".text").inner_text()
    assert answer.strip() and not answer.startswith("Error")

    sources = card.locator(".sources li")
    assert sources.count() == 3  # top_k in the test workspace
    first = sources.nth(0)
    assert first.inner_text().split()[1] in {"hr/leave-policy.md", "company/about-brennock.md"}  # "[1] doc …"
    first.locator("summary").click()
    assert first.locator("pre").is_visible() and len(first.locator("pre").inner_text()) > 50

    status = card.locator(".status")
    card.locator("button.vote[data-vote=up]").click()
    sync_api.expect(status).to_have_text("Vote saved (up).")
    card.locator("select.rating").select_option("4")
    card.locator("button.rate").click()
    sync_api.expect(status).to_have_text("Rating saved (4).")
    card.locator("details.edit summary").click()
    card.locator("textarea.corrected").fill("Employees get 25 days of annual leave.")
    card.locator("button.save-edit").click()
    sync_api.expect(status).to_have_text("Correction saved.")

    store = FeedbackStore(workspace / "feedback.sqlite")
    (interaction,) = store.interactions()
    assert interaction["id"] == int(card.get_attribute("data-interaction"))
    assert (interaction["question"], interaction["variant"]) == (QUESTION, "rag.base")
    assert interaction["answer"] == answer.strip()
    assert len(interaction["sources"]) == 3 and "[1] (from " in interaction["context"]
    assert [v["vote"] for v in store.rows("votes")] == ["up"]
    assert [r["rating"] for r in store.rows("ratings")] == [4]
    assert [e["corrected_answer"] for e in store.rows("edits")] == ["Employees get 25 days of annual leave."]
    store.close()


def test_arena_round_stores_one_pairwise_choice(server, page):
    running, workspace = server
    page.goto(f"{running.url}/arena")
    page.fill("#arena-question", "Where is Brennock based?")
    page.click("#arena-ask")
    page.locator("#arena-round").wait_for(state="visible")
    answer_a = page.locator("#side-a .text").inner_text()
    answer_b = page.locator("#side-b .text").inner_text()
    page.click("#choose-b")
    sync_api.expect(page.locator("#side-a .reveal")).not_to_have_text("")
    revealed_a = page.locator("#side-a .reveal").inner_text().removeprefix("— ")
    revealed_b = page.locator("#side-b .reveal").inner_text().removeprefix("— ")
    assert page.locator("#choose-a").is_disabled()  # one choice per round

    store = FeedbackStore(workspace / "feedback.sqlite")
    (row,) = store.rows("pairwise")
    assert (row["question"], row["choice"]) == ("Where is Brennock based?", "b")
    assert (row["answer_a"].strip(), row["answer_b"].strip()) == (answer_a.strip(), answer_b.strip())
    assert (row["variant_a"], row["variant_b"]) == (revealed_a, revealed_b) and revealed_a != revealed_b
    store.close()

    page.goto(f"{running.url}/arena")
    board = page.locator("#leaderboard").inner_text()
    assert revealed_a in board and revealed_b in board


def test_dashboard_shows_the_clicks(server, page):
    running, _ = server
    page.goto(f"{running.url}/dashboard")
    assert "builtin:smollm2-135m" in page.locator("#approval").inner_text()
    assert "100%" in page.locator("#approval").inner_text()  # one up-vote, no down-votes
    assert page.locator("#by-day tbody tr").count() == 1
