"""Small accessors the route modules share (FastAPI dependencies and page rendering)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ragft.feedback.store import FeedbackStore
from ragft.serve.engine import Engine
from ragft.serve.security import csrf_for
from ragft.serve.worker import ModelWorker


def store(request: Request) -> FeedbackStore:
    return request.app.state.store


def engine(request: Request) -> Engine:
    return request.app.state.engine


def worker(request: Request) -> ModelWorker:
    return request.app.state.worker


def render(request: Request, template: str, status_code: int = 200, **context):
    """A page with what every template needs: the CSRF token, the nav, the login state."""
    settings = request.app.state.settings
    context.update(csrf=csrf_for(request), active=template.split(".")[0], auth_required=settings.auth_required,
                   workspace=str(settings.workspace))
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


async def in_thread(fn, *args, **kwargs):
    """Blocking work (SQLite) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def record_answer(request: Request, variant, question: str, result, conversation: str = "",
                        turn: int = 0) -> int:
    """Store an answered question as an interaction (what feedback refers to); returns its id. A
    follow-up is stored as the standalone question it was answered as (so feedback on it trains on
    a self-contained question), with the words as typed, its conversation and turn."""
    store = request.app.state.store
    standalone = result.question or question
    return await in_thread(store.record_interaction, standalone, result.text, context=result.context,
                           sources=result.sources(with_text=False), model_version=variant.model_version,
                           variant=variant.name, variant_hash=variant.spec_hash,
                           asked=question if question != standalone else "", conversation=conversation, turn=turn)
