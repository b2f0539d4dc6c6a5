"""Multi-turn chat against a live ``ragft serve`` (built-in models): the official openai client and
LangChain's ChatOpenAI hold a three-turn conversation whose follow-up ("And after five years of
service?") retrieves the leave policy, and every turn is stored with its conversation."""

from __future__ import annotations

import pytest
from serve_helpers import serve_sample

from ragft.feedback.store import FeedbackStore

openai = pytest.importorskip("openai", reason="the openai client is a dev dependency (pip install -e '.[dev]')")
pytestmark = pytest.mark.slow

TURNS = ["Who founded Brennock Ferries?", "How many days of annual leave do employees get?",
         "And after five years of service?"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_llm):
    yield from serve_sample(tmp_path_factory, embedder, small_llm, "serve-conversation")


def _converse(ask) -> list:
    """Three turns; each request carries the whole conversation so far, as chat clients do."""
    messages, replies = [{"role": "system", "content": "Answer briefly."}], []
    for question in TURNS:
        messages.append({"role": "user", "content": question})
        reply = ask(messages)
        replies.append(reply)
        messages.append({"role": "assistant", "content": reply["content"]})
    return replies


def test_openai_client_follow_up_retrieves_the_right_document(server):
    running, workspace = server
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="x")

    def ask(messages):
        completion = client.chat.completions.create(model="rag.base", messages=messages, max_tokens=8)
        return {"content": completion.choices[0].message.content, **completion.model_extra["ragft"]}

    replies = _converse(ask)
    assert replies[0]["sources"][0]["doc_id"] == "company/about-brennock.md"
    assert replies[2]["sources"][0]["doc_id"] == "hr/leave-policy.md"  # the follow-up found its document
    store = FeedbackStore(workspace / "feedback.sqlite")
    rows = [store.interaction(r["interaction_id"]) for r in replies]
    store.close()
    assert len({row["conversation"] for row in rows}) == 1 and [row["turn"] for row in rows] == [0, 1, 2]
    assert rows[2]["asked"] == TURNS[2] and "annual leave" in rows[2]["question"]  # stored self-contained
    assert rows[1]["asked"] == ""  # a self-contained question is stored as asked


def test_langchain_holds_the_same_conversation(server):
    messages_module = pytest.importorskip("langchain_core.messages")
    langchain_openai = pytest.importorskip("langchain_openai")
    running, _ = server
    chat = langchain_openai.ChatOpenAI(base_url=f"{running.url}/v1", api_key="x", model="rag.base", max_tokens=8)
    kinds = {"system": messages_module.SystemMessage, "user": messages_module.HumanMessage,
             "assistant": messages_module.AIMessage}

    def ask(messages):
        return {"content": chat.invoke([kinds[m["role"]](content=m["content"]) for m in messages]).content}

    replies = _converse(ask)
    # LangChain drops the ragft field; the sources footer in the content carries the citation.
    assert "Sources: [1] hr/leave-policy.md" in replies[2]["content"]
