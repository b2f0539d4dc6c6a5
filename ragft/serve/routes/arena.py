"""Arena: one question, two anonymised variants side by side; the user picks A, B or a tie."""

from __future__ import annotations

import random
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ragft.errors import RagftError
from ragft.serve import deps
from ragft.serve.arena_rounds import Round
from ragft.serve.engine import Engine
from ragft.serve.leaderboard import leaderboard
from ragft.serve.security import check_csrf

router = APIRouter()


class ArenaRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


class ChoiceBody(BaseModel):
    choice: Literal["a", "b", "tie"]


@router.get("/arena")
def arena_page(request: Request):
    standings = leaderboard(deps.store(request).rows("pairwise"))
    return deps.render(request, "arena.html", standings=standings)


def _contenders(engine: Engine) -> tuple:
    usable = [v for v in engine.variants() if not v.spec.retrieves or engine.workspace.has_index()]
    if len(usable) < 2:
        raise RagftError("the arena needs two variants — ingest documents (for RAG) or register a model version")
    return tuple(random.sample(usable, 2))


@router.post("/api/arena")
async def ask(request: Request, body: ArenaRequest, engine: Engine = Depends(deps.engine)):
    check_csrf(request)
    question = body.question.strip()
    if not question:
        raise RagftError("field 'question': must not be blank")
    variant_a, variant_b = _contenders(engine)
    worker = deps.worker(request)
    result_a = await worker.run(engine.answer, variant_a, question, lane="pages")
    result_b = await worker.run(engine.answer, variant_b, question, lane="pages")
    round_id = request.app.state.rounds.add(Round(question, (variant_a.name, variant_b.name),
                                                  (result_a.text, result_b.text), (result_a.context, result_b.context),
                                                  (variant_a.spec_hash, variant_b.spec_hash)))
    return {"round_id": round_id, "answers": [{"text": r.text, "sources": r.sources()} for r in (result_a, result_b)]}


@router.post("/api/arena/{round_id}/choice")
def choose(request: Request, round_id: str, body: ChoiceBody):
    check_csrf(request)
    round_ = request.app.state.rounds.take(round_id)
    # DPO trains on the prompt the preferred answer was written from: keep the winner's context.
    context = round_.contexts[1] if body.choice == "b" else round_.contexts[0]
    pairwise_id = deps.store(request).pairwise(round_.question, round_.answers[0], round_.answers[1], body.choice,
                                               variant_a=round_.variants[0], variant_b=round_.variants[1],
                                               context=context, variant_hashes=round_.variant_hashes)
    return {"ok": True, "id": pairwise_id, "variant_a": round_.variants[0], "variant_b": round_.variants[1]}
