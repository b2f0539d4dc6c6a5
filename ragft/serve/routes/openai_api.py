"""An OpenAI-compatible API, so existing clients and SDKs can use any variant unchanged.

    GET  /v1/models             every variant, as a model id ("rag.base", "closed-book.sft-v1", …)
    GET  /v1/models/{id}        one of them (404 ``model_not_found`` otherwise)
    POST /v1/chat/completions   the last user message is the question, the earlier user/assistant
                                messages its history (a follow-up is condensed into a standalone
                                question, ``ragft.rag.conversation``), system messages are added to
                                the variant's system prompt; ``stream: true`` sends server-sent
                                ``chat.completion.chunk`` events ending in [DONE]
    POST /v1/embeddings         the workspace's embedder: the vectors its index stores for a text

Chat completions honour ``max_tokens`` / ``max_completion_tokens``, ``n`` (1–8 independent
answers; retrieval runs once), ``temperature`` (0–2; unset: the variant's configured one),
``top_p``, ``seed`` (reproducible on one machine), ``stop`` (a string or up to 4; the answer ends
before the first, which is never sent, streamed or not) and ``stream_options.include_usage`` (a
last chunk with ``choices: []`` and ``usage``). Temperature, top_p and seed need a pipeline
ending in one generation; a multi-step deployed pipeline answers 400 for them.

Refused with 400 ``unsupported_parameter`` (``param`` names the field) rather than ignored:
``tools`` / ``functions`` (non-empty), ``tool_choice`` / ``function_call`` other than
"none"/"auto", ``response_format`` other than text, ``logprobs`` / ``top_logprobs``,
``logit_bias``, non-zero ``presence_penalty`` / ``frequency_penalty``, ``audio``,
``modalities`` other than ["text"], ``prediction``, ``reasoning_effort``, ``verbosity``,
``web_search_options``, and message parts that are not text (images, audio, files).
Accepted and ignored (they do not change the answer): ``user``, ``metadata``, ``store``,
``service_tier``, ``parallel_tool_calls``, ``prompt_cache_key``, ``safety_identifier``; fields
no OpenAI API has are ignored too.

Beyond the OpenAI fields every response carries ``ragft``: ``sources`` (numbered as in the
prompt: doc_id, chunk_id, start, end, score, retriever, text), ``interaction_id`` (to send
feedback on this answer; ``interaction_ids`` has one per choice) and ``model_version``. When
streaming, the first chunk carries the sources and the last choice's finish chunk the ids.
So that clients which drop unknown fields (LangChain) still see the sources, a retrieving
variant's message content ends in ``\\n\\nSources: [1] doc_id, [2] doc_id`` — the server's
``--no-sources-in-content`` turns it off, a request's ``ragft_sources_in_content`` (true/false)
overrides the server. The stored interaction keeps the answer without it; ``usage`` counts the
model's tokens only. Each answer is stored with its conversation (a hash of how the
conversation began) and turn, under the standalone question it answered.

Embeddings: ``input`` is a string or a list of up to 2048 non-empty strings (token arrays are
refused); ``model`` is any served variant id (its embedder) or the workspace embedder's name;
``encoding_format`` float or base64 (little-endian float32); ``dimensions`` only as the model's.

Every error under /v1 — unknown routes and methods included — is OpenAI's envelope
``{"error": {"message", "type", "param", "code"}}``. When the server has an access token, send
it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException

from ragft.errors import RagftError
from ragft.serve import deps
from ragft.serve.dialogue import SOURCES_FOOTER, Dialogue, read_dialogue
from ragft.serve.engine import Engine, Result, Sampling, Served
from ragft.serve.security import check_bearer

router = APIRouter(prefix="/v1", dependencies=[Depends(check_bearer)])
MAX_TOKENS_CAP = 1024
MAX_CHOICES = 8
MAX_EMBEDDING_INPUTS = 2048
log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error with OpenAI's ``param`` and ``code`` (the app's handler puts them in the envelope)."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(status, message)
        self.param, self.code = param, code


def _unsupported(param: str, why: str) -> ApiError:
    return ApiError(400, f"'{param}' is not supported by ragft: {why}", param, "unsupported_parameter")


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields ragft reads. Unknown fields are ignored; the known OpenAI ones that would change
    the answer are declared here and refused by ``_refuse_unsupported`` (see the module docstring
    for the accepted-but-ignored ones: user, metadata, store, service_tier, …)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_CAP)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_CAP)
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    ragft_sources_in_content: bool | None = None  # None: the server's setting
    # Known OpenAI fields that ragft cannot honour: declared so they are refused, never ignored.
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, Any] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    audio: Any = None
    modalities: list[str] | None = None
    prediction: Any = None
    reasoning_effort: Any = None
    verbosity: Any = None
    web_search_options: Any = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value):
        stops = [value] if isinstance(value, str) else value
        if stops is not None and (len(stops) > 4 or not all(stops)):
            raise ValueError("give a non-empty string or a list of up to 4 non-empty strings")
        return stops


def _refuse_unsupported(body: ChatCompletionRequest) -> None:
    checks = [
        ("tools", bool(body.tools), "tool calling is not available; answer in text"),
        ("functions", bool(body.functions), "function calling is not available; answer in text"),
        ("tool_choice", body.tool_choice not in (None, "none", "auto"), "tool calling is not available"),
        ("function_call", body.function_call not in (None, "none", "auto"), "function calling is not available"),
        ("response_format", body.response_format is not None and body.response_format.get("type") != "text",
         "only {\"type\": \"text\"} answers are produced"),
        ("logprobs", bool(body.logprobs), "log-probabilities are not returned"),
        ("top_logprobs", bool(body.top_logprobs), "log-probabilities are not returned"),
        ("logit_bias", bool(body.logit_bias), "token biases are not applied"),
        ("presence_penalty", bool(body.presence_penalty), "penalties are not applied; leave it 0"),
        ("frequency_penalty", bool(body.frequency_penalty), "penalties are not applied; leave it 0"),
        ("audio", body.audio is not None, "answers are text only"),
        ("modalities", body.modalities not in (None, ["text"]), "answers are text only"),
        ("prediction", body.prediction is not None, "predicted outputs are not used"),
        ("reasoning_effort", body.reasoning_effort is not None, "the served models do not reason in steps"),
        ("verbosity", body.verbosity is not None, "answer length is set with max_tokens"),
        ("web_search_options", body.web_search_options is not None, "answers come from the workspace's documents"),
    ]
    for param, refused, why in checks:
        if refused:
            raise _unsupported(param, why)
    for i, message in enumerate(body.messages):
        for part in message.content if isinstance(message.content, list) else []:
            if part.get("type") != "text":
                raise _unsupported(f"messages[{i}].content", f"only text parts are read, not {part.get('type')!r}")


def _variant(engine: Engine, name: str) -> Served:
    try:
        return engine.variant(name)
    except RagftError as err:
        raise ApiError(404, str(err), "model", "model_not_found") from None


@router.get("/models")
def models(engine: Engine = Depends(deps.engine)):
    default = engine.default_variant().name  # once: each listing reads the registry and deployment
    return {"object": "list", "data": [_model_entry(v, default) for v in engine.variants()]}


@router.get("/models/{model_id}")
def model(model_id: str, engine: Engine = Depends(deps.engine)):
    return _model_entry(_variant(engine, model_id), engine.default_variant().name)


def _model_entry(variant, default: str) -> dict:
    return {"id": variant.name, "object": "model", "created": 0, "owned_by": "ragft",
            "ragft": {"pipeline": variant.pipeline, "model_version": variant.model_version,
                      "variant_hash": variant.spec_hash, "origin": variant.origin,
                      "default": variant.name == default,
                      "description": variant.spec.description}}


@router.post("/chat/completions")
async def chat_completions(request: Request, body: ChatCompletionRequest, engine: Engine = Depends(deps.engine)):
    _refuse_unsupported(body)
    variant = _variant(engine, body.model)
    dialogue = read_dialogue(body.messages)  # the question, earlier turns, system messages
    _refuse_overlong(dialogue, request.app.state.settings.max_input_chars)
    max_tokens = body.max_completion_tokens or body.max_tokens
    limit = max_tokens or variant.spec.max_new_tokens or engine.max_new_tokens
    sampling = Sampling(body.temperature, body.top_p, body.seed, tuple(body.stop or ()))
    in_content = body.ragft_sources_in_content
    in_content = request.app.state.settings.sources_in_content if in_content is None else in_content
    worker = deps.worker(request)
    if sampling.set_fields:
        await worker.run(engine.check_ready, variant, sampling)
    else:
        engine.check_ready(variant)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return _stream(request, engine, variant, dialogue, body.n, max_tokens, limit, sampling, in_content,
                       include_usage)
    results = await worker.run(engine.answers, variant, dialogue.question, body.n, None, None, max_tokens, sampling,
                               dialogue.history, dialogue.system)
    ids = [await deps.record_answer(request, variant, dialogue.question, result, dialogue.key, dialogue.turn)
           for result in results]
    footer = _footer(results[0]) if in_content else ""
    return {"id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": variant.name,
            "system_fingerprint": variant.spec_hash,
            "choices": [{"index": i, "message": {"role": "assistant", "content": result.text + footer},
                         "logprobs": None, "finish_reason": _finish(result, limit)}
                        for i, result in enumerate(results)],
            "usage": _usage(results), "ragft": _extra(results[0], variant, ids)}


def _refuse_overlong(dialogue: Dialogue, limit: int) -> None:
    """A 400 in milliseconds for input past the limit — before it can hold the model worker."""
    size = dialogue.size
    if size > limit:
        raise ApiError(400, f"messages: {size:,} characters of conversation, over this server's limit of {limit:,} "
                            "— shorten the question or drop earlier turns", "messages", "context_length_exceeded")


def _stream(request: Request, engine: Engine, variant: Served, dialogue: Dialogue, n: int, max_tokens: int | None,
            limit: int, sampling: Sampling, in_content: bool, include_usage: bool):
    completion_id, created = _completion_id(), int(time.time())
    pieces = deps.worker(request).stream(lambda emit: engine.answers(
        variant, dialogue.question, n, emit=lambda i, text: emit(("token", i, text)),
        on_sources=lambda s: emit(("sources", s)), max_new_tokens=max_tokens, sampling=sampling,
        history=dialogue.history, system_note=dialogue.system))

    def chunk(index: int | None, delta: dict | None = None, finish: str | None = None, **extra) -> str:
        choices = [] if index is None else [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": variant.name,
                "system_fingerprint": variant.spec_hash, "choices": choices, **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events():
        results = None
        try:
            async for kind, value in pieces:
                if kind == "result":
                    results = value
                elif value[0] == "sources":
                    for i in range(n):  # the first chunk carries the sources
                        yield chunk(i, {"role": "assistant", "content": ""},
                                    **({"ragft": {"sources": value[1]}} if i == 0 else {}))
                else:
                    yield chunk(value[1], {"content": value[2]})
        except Exception as err:  # the status line is sent already: report it the way OpenAI streams do
            if not isinstance(err, (RagftError, HTTPException)):
                log.exception("streamed answer failed")
            message = str(err.detail if isinstance(err, HTTPException) else err)
            yield f"data: {json.dumps({'error': {'message': message, 'type': 'invalid_request_error', 'param': getattr(err, 'param', None), 'code': getattr(err, 'code', None)}})}\n\n"  # noqa: E501
            return
        ids = [await deps.record_answer(request, variant, dialogue.question, result, dialogue.key, dialogue.turn)
               for result in results]
        footer = _footer(results[0]) if in_content else ""
        for i, result in enumerate(results):
            if footer:
                yield chunk(i, {"content": footer})
            extra = {"ragft": {**_extra(result, variant, ids, sources=False)}} if i == n - 1 else {}
            if i == n - 1 and not include_usage:
                extra["usage"] = _usage(results)
            yield chunk(i, {}, _finish(result, limit), **extra)
        if include_usage:  # as OpenAI: one more chunk, with no choices, carrying the usage
            yield chunk(None, usage=_usage(results))
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _footer(result: Result) -> str:
    """``\\n\\nSources: [1] doc, [2] doc`` — the numbers the answer cites, for clients that drop
    the ``ragft`` field; empty when nothing was retrieved."""
    sources = result.sources(with_text=False)
    return SOURCES_FOOTER + ", ".join(f"[{s['n']}] {s['doc_id']}" for s in sources) if sources else ""


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _finish(result: Result, limit: int) -> str:
    return "length" if not result.stopped and result.completion_tokens >= limit else "stop"


def _usage(results: list[Result]) -> dict:
    """As OpenAI counts n choices: the prompt once, every choice's completion."""
    prompt, completion = results[0].prompt_tokens, sum(r.completion_tokens for r in results)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _extra(result: Result, variant: Served, ids: list[int], sources: bool = True) -> dict:
    return {**({"sources": result.sources()} if sources else {}), "interaction_id": ids[0], "interaction_ids": ids,
            "model_version": variant.model_version, "variant_hash": variant.spec_hash}


# ---------------------------------------------------------------------------------------- embeddings
class EmbeddingRequest(BaseModel):
    """Unknown fields and ``user`` are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


@router.post("/embeddings")
async def embeddings(request: Request, body: EmbeddingRequest, engine: Engine = Depends(deps.engine)):
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_EMBEDDING_INPUTS:
        raise ApiError(400, f"'input' needs 1 to {MAX_EMBEDDING_INPUTS} texts", "input", "invalid_value")
    if not all(isinstance(text, str) for text in texts):
        raise _unsupported("input", "token arrays are not read; send the text")
    if not all(text.strip() for text in texts):
        raise ApiError(400, "'input' has an empty string", "input", "invalid_value")
    config = _embedder_config(engine, body.model)
    vectors, tokens = await deps.worker(request).run(engine.embed, texts, config)
    if body.dimensions not in (None, vectors.shape[1]):
        raise _unsupported("dimensions", f"{config.model} gives {vectors.shape[1]}-dimensional vectors only")
    data = [{"object": "embedding", "index": i, "embedding": _encode(vector, body.encoding_format)}
            for i, vector in enumerate(vectors)]
    return {"object": "list", "data": data, "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "ragft": {"embedder": config.model, "dimensions": int(vectors.shape[1])}}


def _embedder_config(engine: Engine, model: str):
    """The embedder a model id names: the workspace's by its name, else the variant's own."""
    if model == engine.config.embedder.model:
        return engine.config.embedder
    try:
        variant = engine.variant(model)
    except RagftError as err:
        raise ApiError(404, f"{err}, or the embedder {engine.config.embedder.model!r}", "model",
                       "model_not_found") from None
    return variant.spec.embedder or engine.config.embedder


def _encode(vector: np.ndarray, encoding: str):
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
