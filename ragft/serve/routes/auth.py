"""Login for the pages when an access token is configured (always, off loopback)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ragft.serve.deps import render
from ragft.serve.security import COOKIE, check_csrf, token_matches

router = APIRouter()


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" or "https://…" would be an open redirect.
    return target if target.startswith("/") and not target.startswith("//") else "/chat"


@router.get("/login")
async def login_page(request: Request, next: str = "/chat"):
    return render(request, "login.html", next=_safe_next(next), error="")


@router.post("/login")
async def login(request: Request, token: str = Form(""), csrf: str = Form(""), next: str = Form("/chat")):
    check_csrf(request, csrf)
    if not token_matches(request, token):
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      error="wrong access token" if request.app.state.settings.auth_required
                      else "this server needs no login (it listens on loopback only)")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, request.app.state.sessions.new_cookie(logged_in=True), httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("")):
    check_csrf(request, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
