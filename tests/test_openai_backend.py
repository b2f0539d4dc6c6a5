"""The OpenAI-compatible backend against a real HTTP server on loopback.

The server is a small chat-completions endpoint written here (stdlib http.server): the client
under test speaks real HTTP to it, so timeouts, retries and error handling are exercised for real.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragft.config import LLMConfig
from ragft.errors import BackendError
from ragft.models.llm import OpenAICompatibleLLM


class ChatServer:
    """Answers /v1/chat/completions; ``behaviour`` scripts failures for the next requests."""

    def __init__(self):
        self.requests: list[dict] = []
        self.behaviour: list[str] = []  # consumed one per request: "ok", "503", "slow", "400", "garbage"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                action = server.behaviour.pop(0) if server.behaviour else "ok"
                if action == "slow":
                    time.sleep(1.5)
                if action in ("503", "400"):
                    return self._send(int(action), {"error": {"message": f"scripted {action}"}})
                if action == "garbage":
                    return self._send(200, None, raw=b"<html>not json</html>")
                question = body["messages"][-1]["content"]
                self._send(200, {
                    "id": "x", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo: {question}"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(question.split()), "completion_tokens": 2},
                })

            def _send(self, status, payload, raw=None):
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with ChatServer() as running:
        yield running


def make_llm(url, **overrides):
    return OpenAICompatibleLLM(LLMConfig(backend="openai", model="served-model", base_url=url,
                                         timeout_s=overrides.pop("timeout_s", 5), **overrides))


def test_generates_in_order_with_usage_and_auth(server, monkeypatch):
    monkeypatch.setenv("RAGFT_TEST_KEY", "sk-test")
    llm = make_llm(server.url, api_key_env="RAGFT_TEST_KEY", batch_size=3)
    questions = [f"question number {i}" for i in range(7)]
    results = llm.generate([[{"role": "user", "content": q}] for q in questions], max_new_tokens=9)
    assert [r.text for r in results] == [f"echo: {q}" for q in questions]
    assert results[0].prompt_tokens == 3 and results[0].completion_tokens == 2
    assert all(r.latency_s > 0 for r in results)
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["body"]["model"] == "served-model" and first["body"]["max_tokens"] == 9
    assert first["auth"] == "Bearer sk-test"


def test_retries_server_errors_then_succeeds(server):
    server.behaviour = ["503", "503", "ok"]
    llm = make_llm(server.url, max_retries=3)
    assert llm.generate([[{"role": "user", "content": "hi"}]])[0].text == "echo: hi"
    assert len(server.requests) == 3


def test_gives_up_after_retries_with_clear_message(server):
    server.behaviour = ["503"] * 10
    with pytest.raises(BackendError, match=r"HTTP 503 after 2 attempts — is the server running"):
        make_llm(server.url, max_retries=1).generate([[{"role": "user", "content": "hi"}]])


def test_timeout_is_reported(server):
    server.behaviour = ["slow", "slow"]
    with pytest.raises(BackendError, match=r"no answer within 0.3 s"):
        make_llm(server.url, timeout_s=0.3, max_retries=1).generate([[{"role": "user", "content": "hi"}]])


def test_client_error_fails_at_once(server):
    server.behaviour = ["400"]
    with pytest.raises(BackendError, match="HTTP 400"):
        make_llm(server.url, max_retries=3).generate([[{"role": "user", "content": "hi"}]])
    assert len(server.requests) == 1


def test_non_json_answer_is_explained(server):
    server.behaviour = ["garbage"]
    with pytest.raises(BackendError, match="not JSON"):
        make_llm(server.url).generate([[{"role": "user", "content": "hi"}]])


def test_unreachable_endpoint():
    with ChatServer() as stopped:
        url = stopped.url
    with pytest.raises(BackendError, match=r"cannot connect .* is the server running"):
        make_llm(url, max_retries=1).generate([[{"role": "user", "content": "hi"}]])


def test_base_url_required():
    with pytest.raises(BackendError, match="base_url is required"):
        OpenAICompatibleLLM(LLMConfig(backend="openai", model="m"))
