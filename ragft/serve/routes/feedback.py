"""Feedback on an answer: thumbs up/down, a 1–5 rating, a corrected answer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ragft.feedback.store import FeedbackStore
from ragft.serve import deps
from ragft.serve.security import check_csrf

router = APIRouter(prefix="/api/feedback")


class VoteBody(BaseModel):
    vote: Literal["up", "down"]


class RatingBody(BaseModel):
    rating: int = Field(ge=1, le=5)


class EditBody(BaseModel):
    corrected_answer: str = Field(min_length=1, max_length=20000)


# Plain `def` endpoints: FastAPI runs them in its thread pool, so SQLite never blocks the loop.
@router.post("/{interaction_id}/vote")
def vote(request: Request, interaction_id: int, body: VoteBody, store: FeedbackStore = Depends(deps.store)):
    check_csrf(request)
    return {"ok": True, "id": store.vote(interaction_id, body.vote)}


@router.post("/{interaction_id}/rating")
def rate(request: Request, interaction_id: int, body: RatingBody, store: FeedbackStore = Depends(deps.store)):
    check_csrf(request)
    return {"ok": True, "id": store.rate(interaction_id, body.rating)}


@router.post("/{interaction_id}/edit")
def edit(request: Request, interaction_id: int, body: EditBody, store: FeedbackStore = Depends(deps.store)):
    check_csrf(request)
    return {"ok": True, "id": store.edit(interaction_id, body.corrected_answer)}
