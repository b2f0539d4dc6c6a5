"""Sessions, CSRF tokens, the page login and the API's bearer token.

A session is a random id in a signed cookie (HMAC with a per-process secret), so no session
table is needed. Every state-changing page request must carry the session's CSRF token —
a hidden form field or the ``X-CSRF-Token`` header — which a foreign site cannot read, so it
cannot forge a vote or an upload. When an access token is configured (required off loopback),
pages need a login with that token and ``/v1`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request

COOKIE = "ragft_session"


class Sessions:
    def __init__(self, secret: bytes | None = None):
        self.secret = secret or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def new_cookie(self, logged_in: bool = False) -> str:
        payload = f"{secrets.token_urlsafe(16)}:{int(logged_in)}"
        return f"{payload}:{self._sign(payload)}"

    def read(self, cookie: str | None) -> tuple[str, bool] | None:
        """(session id, logged in) from a cookie, or None when it is missing or forged."""
        if not cookie or cookie.count(":") != 2:
            return None
        sid, flag, signature = cookie.split(":")
        if not hmac.compare_digest(signature, self._sign(f"{sid}:{flag}")):
            return None
        return sid, flag == "1"

    def csrf_token(self, sid: str) -> str:
        return self._sign(f"csrf:{sid}")


def session_of(request: Request) -> tuple[str, bool]:
    """The request's (session id, logged in); the middleware guarantees one exists."""
    return request.state.session


def csrf_for(request: Request) -> str:
    sessions: Sessions = request.app.state.sessions
    return sessions.csrf_token(session_of(request)[0])


def check_csrf(request: Request, form_token: str | None = None) -> None:
    """Refuse a state-changing page request whose CSRF token is missing or wrong."""
    sent = form_token or request.headers.get("x-csrf-token", "")
    if not sent or not hmac.compare_digest(sent, csrf_for(request)):
        raise HTTPException(403, "missing or invalid CSRF token — reload the page and try again")


def check_bearer(request: Request) -> None:
    """/v1 endpoints: the configured token as 'Authorization: Bearer <token>'."""
    token = request.app.state.settings.token
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), token):
        raise HTTPException(401, "missing or invalid API token — send 'Authorization: Bearer <token>'")


def token_matches(request: Request, given: str) -> bool:
    token = request.app.state.settings.token
    return bool(token) and hmac.compare_digest(given or "", token)
