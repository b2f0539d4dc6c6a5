"""The web app: ``create_app(settings)`` builds a FastAPI application over one workspace.

State lives on ``app.state`` in small pieces — settings, the feedback store, the engine
(variants, models, index), the model worker, sessions, arena rounds, templates — and each
route module (``ragft.serve.routes.*``) reads what it needs through ``ragft.serve.deps``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ragft.errors import RagftError
from ragft.feedback.store import FeedbackStore
from ragft.serve.arena_rounds import RoundBook
from ragft.serve.engine import Engine
from ragft.serve.routes import arena, auth, chat, dashboard, documents, feedback, openai_api
from ragft.serve.security import COOKIE, Sessions
from ragft.serve.settings import ServeSettings
from ragft.serve.worker import ModelWorker
from ragft.workspace import Workspace

HERE = Path(__file__).parent
OPEN_PATHS = ("/static/", "/login", "/v1/")  # /v1 checks its bearer token itself
# Scripts only from this server (model text is never run), no framing (no clickjacked votes).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(settings: ServeSettings) -> FastAPI:
    workspace = Workspace(settings.workspace)
    workspace.path.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.worker.shutdown()
        app.state.store.close()

    app = FastAPI(title="ragft", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.workspace = workspace
    app.state.store = FeedbackStore(workspace.feedback_path)
    app.state.engine = Engine(workspace, settings.max_new_tokens)
    app.state.worker = ModelWorker(settings.max_queue)
    app.state.sessions = Sessions()
    app.state.rounds = RoundBook()
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.middleware("http")(_refuse_oversized_uploads)
    app.middleware("http")(_sessions_and_login)
    _add_error_handlers(app)
    for module in (auth, chat, feedback, arena, dashboard, documents, openai_api):
        app.include_router(module.router)
    return app


async def _sessions_and_login(request: Request, call_next):
    """Give every browser a signed session cookie; off loopback, pages need a login first."""
    sessions: Sessions = request.app.state.sessions
    cookie = request.cookies.get(COOKIE)
    session = sessions.read(cookie)
    fresh = None
    if session is None:
        fresh = sessions.new_cookie()
        session = sessions.read(fresh)
    request.state.session = session
    path = request.url.path
    needs_login = request.app.state.settings.auth_required and not session[1]
    if needs_login and not path.startswith(OPEN_PATHS):
        if path.startswith("/api/"):
            response = JSONResponse({"detail": "log in first (POST /login)"}, status_code=401)
        else:
            response = RedirectResponse(f"/login?next={path}", status_code=303)
    else:
        response = await call_next(request)
    if fresh:
        response.set_cookie(COOKIE, fresh, httponly=True, samesite="strict")
    response.headers.update(SECURITY_HEADERS)
    return response


async def _refuse_oversized_uploads(request: Request, call_next):
    """Refuse a body far over the upload limit before it is parsed (and spooled to disk)."""
    limit = request.app.state.settings.max_upload_bytes + 1024 * 1024  # room for the form's other fields
    length = request.headers.get("content-length", "")
    if request.method == "POST" and length.isdigit() and int(length) > limit:
        return JSONResponse({"detail": f"request body of {int(length) / 1e6:.1f} MB is over the upload limit "
                                       f"({request.app.state.settings.max_upload_mb:g} MB)"}, status_code=413)
    return await call_next(request)


def _add_error_handlers(app: FastAPI) -> None:
    """Every user error becomes a 4xx whose message names the problem; never a traceback."""

    def reply(request: Request, status: int, message: str, param: str | None = None, headers=None):
        if request.url.path.startswith("/v1/"):  # the OpenAI error shape, so SDKs show the message
            body = {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                              "param": param, "code": status}}
        else:
            body = {"detail": message}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RagftError)
    async def ragft_error(request: Request, err: RagftError):
        return reply(request, 400, str(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        return reply(request, err.status_code, str(err.detail), headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        problem = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path", "form"))
        message = f"field '{field}': {problem.get('msg')}" if field else str(problem.get("msg"))
        return reply(request, 400, message, param=field or None)
