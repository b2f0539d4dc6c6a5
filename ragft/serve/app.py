"""The web app: ``create_app(settings)`` builds a FastAPI application over one workspace.

State lives on ``app.state`` in small pieces — settings, the feedback store, the engine
(variants, models, index), the model worker, sessions, arena rounds, templates — and each
route module (``ragft.serve.routes.*``) reads what it needs through ``ragft.serve.deps``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from ragft.errors import RagftError
from ragft.feedback.store import FeedbackStore
from ragft.serve.arena_rounds import RoundBook
from ragft.serve.engine import Engine
from ragft.serve.routes import arena, auth, chat, dashboard, documents, feedback, openai_api
from ragft.serve.security import COOKIE, Sessions
from ragft.serve.settings import ServeSettings
from ragft.serve.worker import ModelWorker
from ragft.workspace import Workspace

access = logging.getLogger("ragft.access")

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
    app.state.worker = ModelWorker(settings.max_queue, settings.request_timeout_s)
    app.state.sessions = Sessions()
    app.state.rounds = RoundBook()
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.middleware("http")(_refuse_oversized_uploads)
    app.middleware("http")(_sessions_and_login)
    if settings.access_log:
        _log_to_stderr(access)
        app.middleware("http")(_access_log)
    _add_error_handlers(app)
    for module in (auth, chat, feedback, arena, dashboard, documents, openai_api):
        app.include_router(module.router)
    return app


def _log_to_stderr(logger: logging.Logger) -> None:
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


async def _access_log(request: Request, call_next):
    """One line per request: client, method, path, status and seconds (``--no-access-log`` turns it
    off). A streamed answer is logged when its headers go out; its generation continues after."""
    started = time.perf_counter()
    response = await call_next(request)
    client = request.client.host if request.client else "-"
    access.info('%s "%s %s" %d %.3fs', client, request.method, request.url.path, response.status_code,
                time.perf_counter() - started)
    return response


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
        return error_response(request, 413, f"request body of {int(length) / 1e6:.1f} MB is over the upload limit "
                                            f"({request.app.state.settings.max_upload_mb:g} MB)")
    return await call_next(request)


# The OpenAI error ``code`` for statuses that have one whatever the route (else the raiser's, or null).
OPENAI_CODES = {401: "invalid_api_key", 404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large",
                503: "server_busy"}


def _under_v1(request: Request) -> bool:
    return request.url.path == "/v1" or request.url.path.startswith("/v1/")


def error_response(request: Request, status: int, message: str, param: str | None = None, code: str | None = None,
                   headers=None) -> JSONResponse:
    """Under /v1 OpenAI's error envelope (SDKs show its message and raise by status), on pages
    ``{"detail": message}``."""
    if _under_v1(request):
        body = {"error": {"message": message,
                          "type": "invalid_request_error" if status < 500 else "server_error",
                          "param": param, "code": code or OPENAI_CODES.get(status)}}
    else:
        body = {"detail": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    """Every user error becomes a 4xx whose message names the problem; never a traceback.
    Starlette's ``HTTPException`` is caught, so unknown routes (404) and methods (405) too."""

    @app.exception_handler(RagftError)
    async def ragft_error(request: Request, err: RagftError):
        return error_response(request, 400, str(err), getattr(err, "param", None), getattr(err, "code", None))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        message = str(err.detail)
        if _under_v1(request) and message in ("Not Found", "Method Not Allowed"):  # no route
            message = f"{message}: {request.method} {request.url.path}"
        return error_response(request, err.status_code, message, getattr(err, "param", None),
                              getattr(err, "code", None), headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        problem = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        if problem.get("type") == "json_invalid":
            return error_response(request, 400, f"the body is not valid JSON ({problem.get('msg')})",
                                  code="invalid_json")
        field = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path", "form"))
        message = f"field '{field}': {problem.get('msg')}" if field else str(problem.get("msg"))
        return error_response(request, 400, message, param=field or None, code="invalid_value")

    @app.exception_handler(Exception)
    async def bug(request: Request, err: Exception):  # Starlette re-raises it afterwards: the server logs it
        if _under_v1(request):
            return error_response(request, 500, f"internal error ({type(err).__name__}) — see the server log")
        return PlainTextResponse("Internal Server Error", status_code=500)
