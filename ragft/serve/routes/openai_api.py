"""An OpenAI-compatible API, so existing clients and SDKs can use any variant unchanged.

    GET  /v1/models             every variant, as a model id ("rag.base", "closed-book.sft-v1", …)
    POST /v1/chat/completions   the last user message is the question; ``stream: true`` sends
                                server-sent ``chat.completion.chunk`` events ending in [DONE]

Beyond the OpenAI fields every response carries ``ragft``: ``sources`` (numbered as in the
prompt: doc_id, chunk_id, start, end, score, retriever, text), ``interaction_id`` (to send
feedback on this answer) and ``model_version``. When streaming, the first chunk carries the
sources and the last one the interaction id. Earlier turns of the conversation are not used.
When the server has an access token, send it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragft.errors import RagftError
from ragft.serve import deps
from ragft.serve.engine import Engine, Result, Served
from ragft.serve.security import check_bearer

router = APIRouter(prefix="/v1", dependencies=[Depends(check_bearer)])
MAX_TOKENS_CAP = 1024


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # SDKs send many optional fields; unknown ones are ignored
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_CAP)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_CAP)


@router.get("/models")
def models(engine: Engine = Depends(deps.engine)):
    return {"object": "list", "data": [_model_entry(v, engine) for v in engine.variants()]}


@router.get("/models/{model_id}")
def model(model_id: str, engine: Engine = Depends(deps.engine)):
    return _model_entry(engine.variant(model_id), engine)


def _model_entry(variant, engine: Engine) -> dict:
    return {"id": variant.name, "object": "model", "created": 0, "owned_by": "ragft",
            "ragft": {"pipeline": variant.pipeline, "model_version": variant.model_version,
                      "variant_hash": variant.spec_hash, "origin": variant.origin,
                      "default": variant.name == engine.default_variant().name,
                      "description": variant.spec.description}}


def _question(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, list):  # [{"type": "text", "text": ...}, …]
                content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
            if content and content.strip():
                return content.strip()
    raise RagftError("field 'messages': needs a user message with text content")


@router.post("/chat/completions")
async def chat_completions(request: Request, body: ChatCompletionRequest, engine: Engine = Depends(deps.engine)):
    variant = engine.variant(body.model)
    question = _question(body.messages)
    max_tokens = body.max_completion_tokens or body.max_tokens
    engine.check_ready(variant)
    if body.stream:
        return _stream(request, engine, variant, question, max_tokens)
    result = await deps.worker(request).run(engine.answer, variant, question, max_new_tokens=max_tokens)
    interaction_id = await deps.record_answer(request, variant, question, result)
    return {"id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": variant.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                         "finish_reason": _finish(result, max_tokens or engine.max_new_tokens)}],
            "usage": _usage(result), "ragft": _extra(result, variant, interaction_id)}


def _stream(request: Request, engine: Engine, variant: Served, question: str, max_tokens: int | None):
    completion_id, created = _completion_id(), int(time.time())
    pieces = deps.worker(request).stream(lambda emit: engine.answer(
        variant, question, emit=lambda t: emit(("token", t)), on_sources=lambda s: emit(("sources", s)),
        max_new_tokens=max_tokens))

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": variant.name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events():
        result = None
        try:
            async for kind, value in pieces:
                if kind == "result":
                    result = value
                elif value[0] == "sources":
                    yield chunk({"role": "assistant", "content": ""}, ragft={"sources": value[1]})
                else:
                    yield chunk({"content": value[1]})
        except RagftError as err:  # the status line is sent already: report it the way OpenAI streams do
            yield f"data: {json.dumps({'error': {'message': str(err), 'type': 'invalid_request_error'}})}\n\n"
            return
        interaction_id = await deps.record_answer(request, variant, question, result)
        yield chunk({}, _finish(result, max_tokens or engine.max_new_tokens), usage=_usage(result),
                    ragft={"interaction_id": interaction_id, "model_version": variant.model_version,
                             "variant_hash": variant.spec_hash})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _finish(result: Result, limit: int) -> str:
    return "length" if result.completion_tokens >= limit else "stop"


def _usage(result: Result) -> dict:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens}


def _extra(result: Result, variant: Served, interaction_id: int) -> dict:
    return {"sources": result.sources(), "interaction_id": interaction_id, "model_version": variant.model_version,
                             "variant_hash": variant.spec_hash}
