"""Chat: ask a variant a question; the answer streams in, with numbered sources first. The page
sends its conversation's earlier turns, so a follow-up is answered in context (``Engine.answer``)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from ragft.errors import RagftError
from ragft.rag.conversation import Turn
from ragft.serve import deps
from ragft.serve.engine import Engine
from ragft.serve.security import check_csrf

router = APIRouter()


class HistoryTurn(BaseModel):
    question: str = Field(max_length=4000)
    answer: str = Field("", max_length=8000)


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    variant: str | None = None
    conversation_id: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    history: list[HistoryTurn] = Field(default_factory=list, max_length=50)  # this conversation's earlier turns


@router.get("/")
async def home():
    return RedirectResponse("/chat", status_code=303)


@router.get("/chat")
async def chat_page(request: Request, engine: Engine = Depends(deps.engine)):
    variants = engine.variants()
    return render_chat(request, engine, variants)


def render_chat(request: Request, engine: Engine, variants):
    return deps.render(request, "chat.html", variants=variants, default=engine.default_variant().name,
                       has_index=engine.workspace.has_index())


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/api/chat")
async def chat(request: Request, body: ChatRequest, engine: Engine = Depends(deps.engine)):
    """Server-sent events: ``sources`` (after retrieval), ``token`` (as text is generated),
    then ``done`` with the stored interaction's id — or ``error`` with a message."""
    check_csrf(request)
    question = body.question.strip()
    if not question:
        raise RagftError("field 'question': must not be blank")
    variant = engine.variant(body.variant) if body.variant else engine.default_variant()
    engine.check_ready(variant)
    history = [Turn(t.question, t.answer) for t in body.history]
    worker_stream = deps.worker(request).stream(lambda emit: engine.answer(
        variant, question, emit=lambda text: emit(("token", text)), on_sources=lambda s: emit(("sources", s)),
        history=history), lane="pages")

    async def events():
        try:
            async for kind, value in worker_stream:
                if kind == "text":
                    yield sse(*value) if value[0] == "sources" else sse("token", {"text": value[1]})
                else:
                    result = value
            interaction_id = await deps.record_answer(request, variant, question, result, body.conversation_id,
                                                      len(history))
            yield sse("done", {"interaction_id": interaction_id, "answer": result.text, "variant": variant.name,
                               "standalone_question": result.question,
                               "variant_hash": variant.spec_hash, "model_version": variant.model_version,
                               "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                               "seconds": round(result.seconds, 2)})
        except RagftError as err:
            yield sse("error", {"message": str(err)})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
