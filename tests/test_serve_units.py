"""Web-app pieces that need no model: settings, sessions/CSRF, login and bearer token, upload
checks, the leaderboard's statistics."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from ragft.errors import ConfigError
from ragft.serve.corpus import UploadError, check_upload, save_upload
from ragft.serve.leaderboard import bradley_terry, leaderboard, wilson_interval
from ragft.serve.security import Sessions
from ragft.serve.settings import ServeSettings, is_loopback
from ragft.workspace import Workspace


def test_non_loopback_needs_a_token(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    with pytest.raises(ConfigError, match="--token"):
        ServeSettings(workspace=tmp_path, host="0.0.0.0")
    assert ServeSettings(workspace=tmp_path, host="0.0.0.0", token="s3cret").auth_required


def test_sessions_are_signed():
    sessions = Sessions()
    cookie = sessions.new_cookie(logged_in=False)
    sid, logged_in = sessions.read(cookie)
    assert not logged_in
    session_id, _, signature = cookie.split(":")
    forged = f"{session_id}:1:{signature}"
    assert sessions.read(forged) is None  # flipping "logged in" breaks the signature
    assert sessions.read("garbage") is None
    assert sessions.csrf_token(sid) != Sessions().csrf_token(sid)  # per-process secret


@pytest.mark.parametrize("name,size,message", [
    ("../etc/passwd.md", 10, "not allowed"), ("a/b.md", 10, "not allowed"), ("..\\x.md", 10, "not allowed"),
    (".hidden.md", 10, "not allowed"), ("", 10, "not allowed"), ("model.pkl", 10, "unsupported type"),
    ("script.py", 10, "unsupported type"), ("big.pdf", 2_000_000, "upload limit"), ("nothing.txt", 0, "empty"),
])
def test_upload_name_type_and_size_checks(name, size, message):
    with pytest.raises(UploadError, match=message):
        check_upload(name, size, max_bytes=1_000_000)


def test_upload_is_type_checked_by_the_ingest_loaders(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(UploadError, match="fake.pdf"):
        save_upload(workspace, "fake.pdf", b"this is not a pdf at all", 10_000)
    with pytest.raises(UploadError, match="fake.docx"):
        save_upload(workspace, "fake.docx", b"PK\x03\x04 not really a zip", 10_000)
    assert [p.name for p in (tmp_path / "ws" / "uploads").iterdir()] == []  # refused files leave nothing
    saved = save_upload(workspace, "notes.md", b"# Notes\n\nFerries leave at nine.\n", 10_000)
    assert saved == (tmp_path / "ws" / "uploads" / "notes.md").resolve()


def test_wilson_and_bradley_terry():
    low, high = wilson_interval(8, 10)
    assert 0.49 < low < 0.5 and 0.94 < high < 0.95  # textbook values: [0.490, 0.943]
    ratings = bradley_terry([("x", "y", 1.0)] * 8 + [("x", "y", 0.0)] * 2, ["x", "y"])
    assert ratings["x"] > 1000 > ratings["y"] and abs(ratings["x"] + ratings["y"] - 2000) < 1e-6
    rows = [{"variant_a": "rag.base", "variant_b": "closed-book.base", "choice": c} for c in "aaab"] + \
           [{"variant_a": "closed-book.base", "variant_b": "rag.base", "choice": "tie"}]
    standings = leaderboard(rows)
    assert [s.variant for s in standings] == ["rag.base", "closed-book.base"]
    top = standings[0]
    assert (top.games, top.wins, top.losses, top.ties) == (5, 3, 1, 1) and top.win_rate == pytest.approx(0.7)
    assert top.ci_low < top.win_rate < top.ci_high


def test_token_protects_api_and_pages(tmp_path):
    from ragft.serve.app import create_app

    app = create_app(ServeSettings(workspace=tmp_path / "ws", token="s3cret"))
    with TestClient(app) as client:
        refused = client.get("/v1/models")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        models = client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert models.status_code == 200 and "closed-book.base" in [m["id"] for m in models.json()["data"]]
        assert client.post("/api/feedback/1/vote", json={"vote": "up"}).status_code == 401
        page = client.get("/dashboard", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        login_page = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', login_page).group(1)
        assert client.post("/login", data={"token": "wrong", "csrf": csrf}).status_code == 401
        assert client.post("/login", data={"token": "s3cret"}).status_code == 403  # no CSRF token
        done = client.post("/login", data={"token": "s3cret", "csrf": csrf, "next": "//evil.example"},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/chat"  # no open redirect
        assert client.get("/dashboard").status_code == 200


def test_pages_render_on_an_empty_workspace(tmp_path):
    from ragft.serve.app import create_app

    app = create_app(ServeSettings(workspace=tmp_path / "ws"))
    with TestClient(app) as client:
        for path in ("/chat", "/arena", "/dashboard", "/documents"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "No index yet" in client.get("/chat").text
        assert "ragft improve" in client.get("/dashboard").text
        assert client.get("/reports/../feedback.sqlite/report.html").status_code == 404
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/chat").text).group(1)
        reply = client.post("/api/chat", json={"question": "hi", "variant": "rag.base"}, headers={"X-CSRF-Token": csrf})
        assert reply.status_code == 400 and "no index" in reply.json()["detail"]
        blank = client.post("/api/chat", json={"question": "", "variant": "rag.base"}, headers={"X-CSRF-Token": csrf})
        assert blank.status_code == 400 and "question" in blank.json()["detail"]


def test_registry_versions_become_variants_and_dashboard_rows(tmp_path):
    from ragft.serve.app import create_app
    from ragft.models.registry import ModelRegistry, ModelVersion

    registry = ModelRegistry(tmp_path / "ws" / "models")
    registry.register(ModelVersion(name="sft-1", path=str(tmp_path / "m1"), base_model="builtin:smollm2-135m",
                                   method="sft", data_sha256="ab" * 32, scores={"sample": {"token_f1": 0.123}}))
    registry.register(ModelVersion(name="dpo-1", path=str(tmp_path / "m2"), base_model="builtin:smollm2-135m",
                                   method="dpo", parent="sft-1"))
    registry.register(ModelVersion(name="bad-1", path=str(tmp_path / "m3"), base_model="x", method="sft"))
    registry.promote("dpo-1", "better on sample")
    registry.reject("bad-1", "worse")

    app = create_app(ServeSettings(workspace=tmp_path / "ws"))
    engine = app.state.engine
    names = [v.name for v in engine.variants()]
    assert {"rag.sft-1", "closed-book.dpo-1", "rag.base"} <= set(names) and "rag.bad-1" not in names
    assert engine.default_variant().name == "closed-book.dpo-1"  # the current version; no index yet
    served = engine.variant("rag.sft-1")
    assert served.spec.llm.model == "registry:sft-1" and served.model_version == f"sft-1@{'ab' * 6}"
    assert served.spec_hash != engine.variant("rag.base").spec_hash  # feedback tells the two apart
    with TestClient(app) as client:
        board = client.get("/dashboard").text
        assert "dpo-1" in board and "sft-1" in board and "token_f1 0.123" in board and "current" in board


def test_cli_refuses_a_public_address_without_a_token(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ragft.cli", "serve", "-w", str(tmp_path), "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--token" in " ".join(done.stderr.split())


def test_v1_errors_use_the_openai_envelope_without_a_model(tmp_path):
    """Checked before any model loads: unknown routes, methods and models, refused parameters."""
    from ragft.serve.app import create_app

    app = create_app(ServeSettings(workspace=tmp_path / "ws"))
    hi = [{"role": "user", "content": "hi"}]
    with TestClient(app) as client:
        for reply, status, param, code in [
            (client.post("/v1/completions", json={}), 404, None, "unknown_url"),
            (client.get("/v1/chat/completions"), 405, None, "method_not_allowed"),
            (client.get("/v1/models/gpt-9"), 404, "model", "model_not_found"),
            (client.post("/v1/chat/completions", json={"model": "gpt-9", "messages": hi}), 404, "model",
             "model_not_found"),
            (client.post("/v1/chat/completions", json={"model": "rag.base", "messages": hi, "tool_choice": "required"}),
             400, "tool_choice", "unsupported_parameter"),
            (client.post("/v1/chat/completions", json={"model": "rag.base", "messages": hi, "stop": ["a"] * 5}),
             400, "stop", "invalid_value"),
            (client.post("/v1/chat/completions", json={"model": "rag.base", "messages": hi, "n": 0}), 400, "n",
             "invalid_value"),
            (client.post("/v1/embeddings", json={"model": "rag.base", "input": [[1, 2]]}), 400, "input",
             "unsupported_parameter"),
        ]:
            assert reply.status_code == status, reply.text
            assert reply.json() == {"error": {"message": reply.json()["error"]["message"], "param": param, "code": code,
                                              "type": "invalid_request_error"}}
        harmless = {"user": "u1", "metadata": {"k": "v"}, "store": False, "tool_choice": "none", "logprobs": False,
                    "response_format": {"type": "text"}, "presence_penalty": 0}
        reply = client.post("/v1/chat/completions", json={"model": "rag.base", "messages": hi, **harmless})
        assert reply.status_code == 400 and "no index" in reply.json()["error"]["message"]  # got past the checks
        assert client.get("/missing-page").json() == {"detail": "Not Found"}


@given(text=st.text(alphabet="ab. ", max_size=24), stops=st.lists(st.text(alphabet="ab.", min_size=1, max_size=3),
                                                                 min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 24), max_size=6))
def test_streamed_text_is_cut_like_the_whole_text(text, stops, cuts):
    """However the text is split into streamed pieces, what is emitted equals the whole text cut
    before its first stop sequence — no part of a stop sequence ever goes out."""
    from ragft.serve.engine import StopCutter, cut_at_stop

    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    sent: list[str] = []
    cutter = StopCutter(stops, sent.append)
    for start, end in zip(bounds, bounds[1:]):
        cutter(text[start:end])
    cutter.flush()
    assert "".join(sent) == cut_at_stop(text, stops)[0]


def test_every_request_gets_an_access_log_line_unless_turned_off(tmp_path):
    import logging

    from ragft.serve.app import create_app

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    collect = Collect()
    logging.getLogger("ragft.access").addHandler(collect)
    try:
        with TestClient(create_app(ServeSettings(workspace=tmp_path / "ws"))) as client:
            client.get("/v1/models")
            client.get("/v1/nowhere")
        assert any('"GET /v1/models" 200' in line for line in lines)
        assert any('"GET /v1/nowhere" 404' in line for line in lines)
        lines.clear()
        with TestClient(create_app(ServeSettings(workspace=tmp_path / "ws2", access_log=False))) as client:
            client.get("/v1/models")
        assert lines == []
    finally:
        logging.getLogger("ragft.access").removeHandler(collect)


def test_an_overlong_conversation_is_refused_at_once_without_a_model(tmp_path):
    import time

    from ragft.serve.app import create_app

    app = create_app(ServeSettings(workspace=tmp_path / "ws", max_input_chars=1000))
    with TestClient(app) as client:
        started = time.perf_counter()
        reply = client.post("/v1/chat/completions", json={
            "model": "closed-book.base", "messages": [{"role": "user", "content": "x" * 105_000}]})
        assert time.perf_counter() - started < 1.0  # refused before any model is loaded
    error = reply.json()["error"]
    assert reply.status_code == 400 and error["param"] == "messages" and error["code"] == "context_length_exceeded"
    assert "105,000 characters" in error["message"]
