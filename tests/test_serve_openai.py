"""The /v1 API as OpenAI clients expect it, against one real running server (built-in models):
the official openai client and LangChain's ChatOpenAI / OpenAIEmbeddings. Answers stay short
(max_tokens <= 12) so the module runs in well under a minute on a CPU."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from serve_helpers import QUESTION, serve_sample

from ragft.feedback.store import FeedbackStore
from ragft.workspace import Workspace

openai = pytest.importorskip("openai", reason="the openai client is a dev dependency (pip install -e '.[dev]')")
pytestmark = pytest.mark.slow
HELLO = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_llm):
    yield from serve_sample(tmp_path_factory, embedder, small_llm, "serve-openai", max_upload_mb=0.05)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server[0].url}/v1", api_key="unused-on-loopback")


@pytest.fixture(scope="module")
def greedy(client):
    """A greedy closed-book answer, the reference the stop and n tests cut and repeat."""
    text = client.chat.completions.create(model="closed-book.base", messages=HELLO, max_tokens=12,
                                          temperature=0).choices[0].message.content
    assert len(text.split()) >= 3, text
    return text


def test_n_gives_n_choices_identical_when_greedy(client, greedy):
    completion = client.chat.completions.create(model="closed-book.base", messages=HELLO, max_tokens=12, n=2,
                                                temperature=0)
    assert [c.index for c in completion.choices] == [0, 1]
    assert [c.message.content for c in completion.choices] == [greedy, greedy]
    assert completion.usage.completion_tokens > 0 and completion.usage.completion_tokens % 2 == 0  # both counted
    extra = completion.model_extra["ragft"]
    assert len(extra["interaction_ids"]) == 2 and extra["interaction_id"] == extra["interaction_ids"][0]


def test_stop_cuts_the_answer_streamed_or_not(client, greedy):
    stop = greedy.split()[2]  # the third word: the answer must end just before it
    expected = greedy[:greedy.find(stop)]
    completion = client.chat.completions.create(model="closed-book.base", messages=HELLO, max_tokens=12,
                                                temperature=0, stop=[stop, "never-generated"])
    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop" and stop not in completion.choices[0].message.content
    chunks = list(client.chat.completions.create(model="closed-book.base", messages=HELLO, max_tokens=12,
                                                 temperature=0, stop=stop, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.strip() == expected.strip() and stop not in streamed
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_seed_makes_sampling_reproducible(client):
    def sample(seed):
        return client.chat.completions.create(model="closed-book.base", messages=HELLO, max_tokens=10,
                                              temperature=1.5, top_p=0.95, seed=seed).choices[0].message.content

    assert sample(7) == sample(7)
    assert len({sample(seed) for seed in (1, 2, 3)}) > 1  # the temperature is used, not the greedy default


def test_unsupported_parameters_are_refused_with_the_envelope(client):
    cases = {"tools": {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
             "response_format": {"response_format": {"type": "json_object"}},
             "logprobs": {"logprobs": True},
             "logit_bias": {"logit_bias": {"42": 5}},
             "presence_penalty": {"presence_penalty": 0.5}}
    for param, kwargs in cases.items():
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="rag.base", messages=HELLO, max_tokens=4, **kwargs)
        assert (refused.value.param, refused.value.code) == (param, "unsupported_parameter"), param
        assert refused.value.type == "invalid_request_error"
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="rag.base", messages=image, max_tokens=4)
    assert refused.value.param == "messages[0].content"


def test_unknown_model_route_and_method_use_the_envelope(client, server):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-9", messages=HELLO, max_tokens=4)
    assert (missing.value.code, missing.value.param) == ("model_not_found", "model")
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-9")
    assert missing.value.code == "model_not_found"
    assert client.models.retrieve("rag.base").id == "rag.base"
    with pytest.raises(openai.NotFoundError) as no_route:
        client.completions.create(model="rag.base", prompt="hi")
    assert no_route.value.code == "unknown_url"
    with httpx.Client(base_url=server[0].url) as http:
        for reply, status in [(http.get("/v1/chat/completions"), 405), (http.post("/v1/nothing-here", json={}), 404),
                              (http.post("/v1/chat/completions", content=b"{not json",
                                         headers={"content-type": "application/json"}), 400),
                              (http.post("/v1/chat/completions", content=b"x" * 2_000_000), 413)]:
            assert reply.status_code == status
            error = reply.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"]
        assert "detail" in http.get("/no-such-page").json()  # pages keep their shape


def test_streaming_usage_chunk_sources_and_n(client, server):
    chunks = list(client.chat.completions.create(model="rag.base", messages=[{"role": "user", "content": QUESTION}],
                                                 max_tokens=6, n=2, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].model_extra["ragft"]["sources"][0]["n"] == 1
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    texts = {0: "", 1: ""}
    for c in chunks:
        for choice in c.choices:
            texts[choice.index] += choice.delta.content or ""
    assert all("\n\nSources: [1] " in text for text in texts.values())
    finishes = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert sorted(c.choices[0].index for c in finishes) == [0, 1]
    assert len(finishes[-1].model_extra["ragft"]["interaction_ids"]) == 2


def test_sources_footer_is_in_content_and_switchable(client, server):
    _, workspace = server
    asked = [{"role": "user", "content": QUESTION}]
    with_footer = client.chat.completions.create(model="rag.base", messages=asked, max_tokens=8)
    content = with_footer.choices[0].message.content
    sources = with_footer.model_extra["ragft"]["sources"]
    assert content.endswith("\n\nSources: " + ", ".join(f"[{s['n']}] {s['doc_id']}" for s in sources))
    store = FeedbackStore(workspace / "feedback.sqlite")
    stored = store.interaction(with_footer.model_extra["ragft"]["interaction_id"])["answer"]
    store.close()
    assert content.startswith(stored) and "Sources:" not in stored  # feedback keeps the model's answer
    without = client.chat.completions.create(model="rag.base", messages=asked, max_tokens=8,
                                             extra_body={"ragft_sources_in_content": False})
    assert without.choices[0].message.content == stored


def test_embeddings_equal_the_index_vectors(client, server, embedder):
    _, workspace = server
    index = Workspace(workspace).load_index(embedder)
    texts = [index.chunks[0].text, index.chunks[-1].text]
    reply = client.embeddings.create(model="rag.base", input=texts)  # the client asks for base64
    vectors = np.array([item.embedding for item in reply.data])
    assert np.allclose(vectors, index.embeddings[[0, len(index.chunks) - 1]], atol=1e-5)
    assert reply.usage.prompt_tokens > 0 and [item.index for item in reply.data] == [0, 1]
    with httpx.Client(base_url=server[0].url) as http:
        floats = http.post("/v1/embeddings", json={"model": embedder.name, "input": texts[0],
                                                   "encoding_format": "float"}).json()
        assert np.allclose(floats["data"][0]["embedding"], vectors[0], atol=1e-6)
        empty = http.post("/v1/embeddings", json={"model": "rag.base", "input": [""]})
        assert empty.status_code == 400 and empty.json()["error"]["param"] == "input"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="hi")


def test_langchain_chat_sees_sources_and_embeddings_match(client, server):
    langchain_openai = pytest.importorskip("langchain_openai", reason="a dev dependency (pip install -e '.[dev]')")
    base_url = f"{server[0].url}/v1"
    chat = langchain_openai.ChatOpenAI(base_url=base_url, api_key="x", model="rag.base", max_tokens=8,
                                       temperature=0)
    reply = chat.invoke(QUESTION)
    assert "Sources: [1] " in reply.content
    assert any(doc in reply.content for doc in ("hr/leave-policy.md", "company/about-brennock.md"))
    embeddings = langchain_openai.OpenAIEmbeddings(base_url=base_url, api_key="x", model="rag.base",
                                                   check_embedding_ctx_length=False)
    texts = ["Annual leave is 25 days.", "Brennock runs ferries."]
    ours = [item.embedding for item in client.embeddings.create(model="rag.base", input=texts).data]
    assert np.allclose(embeddings.embed_documents(texts), ours, atol=1e-6)
    assert np.allclose(embeddings.embed_query(texts[0]), ours[0], atol=1e-6)


def test_stream_checks_before_it_starts_and_keeps_usage_without_stream_options(server):
    """A bad streamed request is refused before any event; without include_usage the finish chunk
    carries the usage, as before."""
    with httpx.Client(base_url=server[0].url, timeout=60) as http:
        reply = http.post("/v1/chat/completions", json={"model": "rag.base", "messages": HELLO, "stream": True,
                                                        "max_tokens": 4, "n": 9})
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "n"
        lines = [json.loads(line[6:]) for line in http.post(
            "/v1/chat/completions", json={"model": "closed-book.base", "messages": HELLO, "stream": True,
                                          "max_tokens": 4}).text.splitlines()
            if line.startswith("data: {")]
        assert lines[-1]["choices"][0]["finish_reason"] in ("stop", "length") and "usage" in lines[-1]
