"""The running web app over HTTP: the official openai client against /v1, the page APIs' checks
(CSRF, field-named 4xx errors), and document uploads. One real server (built-in models) per module."""

from __future__ import annotations

import re

import httpx
import pytest
from serve_helpers import QUESTION, serve_sample

from ragft.feedback.store import FeedbackStore

openai = pytest.importorskip("openai", reason="the openai client is a dev dependency (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_llm):
    yield from serve_sample(tmp_path_factory, embedder, small_llm, "serve-api", max_upload_mb=0.05)


@pytest.fixture
def page_client(server):
    """An httpx client holding a browser-like session cookie, and that session's CSRF token."""
    running, _ = server
    with httpx.Client(base_url=running.url, timeout=120) as client:
        html = client.get("/chat").text
        yield client, re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_openai_client_models_and_completion_with_sources(server):
    running, workspace = server
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused-on-loopback")
    ids = [m.id for m in client.models.list().data]
    assert {"rag.base", "closed-book.base"} <= set(ids)

    completion = client.chat.completions.create(model="rag.base", messages=[{"role": "user", "content": QUESTION}],
                                                max_tokens=8)
    assert completion.choices[0].message.content.strip()
    assert completion.usage.completion_tokens <= 8
    extra = completion.model_extra["ragft"]
    assert extra["sources"] and extra["sources"][0]["n"] == 1
    assert extra["sources"][0]["doc_id"] in {"hr/leave-policy.md", "company/about-brennock.md"}
    store = FeedbackStore(workspace / "feedback.sqlite")
    stored = store.interaction(extra["interaction_id"])
    assert stored["variant"] == "rag.base"  # the stored answer is the content before its "Sources:" footer
    assert completion.choices[0].message.content == stored["answer"] + "\n\nSources: " + ", ".join(
        f"[{s['n']}] {s['doc_id']}" for s in extra["sources"])
    store.close()


def test_openai_client_streaming(server):
    running, _ = server
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="x")
    chunks = list(client.chat.completions.create(
        model="closed-book.base", messages=[{"role": "user", "content": "Say hello."}], stream=True, max_tokens=6))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].model_extra["ragft"]["interaction_id"] > 0


def test_openai_errors_name_the_problem(server):
    running, _ = server
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="x")
    with pytest.raises(openai.NotFoundError, match="unknown variant 'gpt-9'"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="rag.base", messages=[{"role": "system", "content": "only system"}])


def test_page_api_needs_csrf_and_names_bad_fields(page_client, server):
    client, csrf = page_client
    _, workspace = server
    store = FeedbackStore(workspace / "feedback.sqlite")
    iid = store.record_interaction("q?", "a")
    assert client.post(f"/api/feedback/{iid}/vote", json={"vote": "up"}).status_code == 403  # no CSRF token
    bad = client.post(f"/api/feedback/{iid}/rating", json={"rating": 7}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400 and "rating" in bad.json()["detail"]
    missing = client.post("/api/feedback/999999/vote", json={"vote": "up"}, headers={"X-CSRF-Token": csrf})
    assert missing.status_code == 400 and "999999" in missing.json()["detail"]
    ok = client.post(f"/api/feedback/{iid}/vote", json={"vote": "down"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert [v["vote"] for v in store.rows("votes") if v["interaction_id"] == iid] == ["down"]
    unknown = client.post("/api/chat", json={"question": "hi", "variant": "nope"}, headers={"X-CSRF-Token": csrf})
    assert unknown.status_code == 400 and "unknown variant" in unknown.json()["detail"]
    store.close()


def test_documents_upload_checks_and_index(page_client, server):
    client, csrf = page_client
    _, workspace = server

    def upload(name, data):
        return client.post("/documents/upload", data={"csrf": csrf}, files={"file": (name, data, "text/plain")})

    good = upload("ferry-pets.md", b"# Pets on board\n\nDogs travel free on all Brennock ferries in the pet lounge.\n")
    assert good.status_code == 200 and "Uploaded ferry-pets.md" in good.text
    assert "uploads/ferry-pets.md" in client.get("/documents").text
    assert (workspace / "uploads" / "ferry-pets.md").is_file()
    for name, data, reason in [("../../escape.md", b"x", "not allowed"), ("evil.pkl", b"x", "unsupported type"),
                               ("binary.txt", bytes(range(256)) * 8, "binary.txt"), ("empty.md", b"", "empty"),
                               ("big.md", b"a" * 60_000, "upload limit")]:
        refused = upload(name, data)
        assert refused.status_code == 400, name
        assert "error" in refused.text and (reason in refused.text or name in refused.text)
    assert not (workspace.parent / "escape.md").exists()
    assert sorted(p.name for p in (workspace / "uploads").iterdir()) == ["ferry-pets.md"]  # nothing else stored
    assert client.post("/documents/upload", files={"file": ("x.md", b"hi", "text/plain")}).status_code == 403

    removed = client.post("/documents/remove", data={"csrf": csrf, "doc_id": "uploads/ferry-pets.md"})
    assert removed.status_code == 200 and "Removed" in removed.text
    assert not (workspace / "uploads" / "ferry-pets.md").exists()
    refused = client.post("/documents/remove", data={"csrf": csrf, "doc_id": "hr/leave-policy.md"})
    assert refused.status_code == 400 and "ragft ingest" in refused.text


def test_streamed_generation_equals_batched_generation(small_llm):
    """The chat's streaming path decodes the same greedy answer as the study's batched path."""
    messages = [{"role": "user", "content": "Name a colour."}]
    pieces = []
    streamed = small_llm.generate_stream(messages, pieces.append, max_new_tokens=10)
    batched = small_llm.generate([messages], max_new_tokens=10)[0]
    assert streamed.text == batched.text and "".join(pieces).strip() == streamed.text
    assert streamed.completion_tokens == batched.completion_tokens and len(pieces) >= 1
