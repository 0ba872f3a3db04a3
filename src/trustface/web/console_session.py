"""Signing in to the property console and out again, and the signed-in user every console page
depends on (re-checked against the account on every request: a disabled account or a changed
password ends the session at once)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from trustface.access import accounts as users
from trustface.access.codes import E_UNAUTHENTICATED
from trustface.errors import TrustfaceError
from trustface.ratelimit import RateLimiter
from trustface.services import sessions
from trustface.web.forms import form_of, text
from trustface.web.render import LoginRequired, PageRoute, context_of, error_words, key_of, page, redirect
from trustface.web.security import (
    CONSOLE_COOKIE,
    CONSOLE_LIFETIME,
    clear_cookie,
    fingerprint,
    rotate_csrf,
    safe_next,
    set_cookie,
    sign,
    unsign,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: sign-in attempts per minute for one address and e-mail, and the burst allowed
SIGN_IN_PER_MINUTE = 10
SIGN_IN_BURST = 5


def console_user(request: Request) -> users.ConsolePrincipal:
    """The signed-in user (a page dependency), or :class:`LoginRequired`."""
    claims = unsign(key_of(request), request.cookies.get(CONSOLE_COOKIE))
    if not claims or claims.get("k") != "user" or not isinstance(claims.get("id"), str):
        raise LoginRequired()
    account = sessions.console_account(context_of(request), claims["id"])
    if account is None or fingerprint(account.password_hash) != claims.get("fp"):
        raise LoginRequired()
    who = users.principal(account)
    request.state.tf_user = who
    return who


def sign_in_limiter(request: Request) -> RateLimiter:
    """One limiter per app: sign-in attempts per address and e-mail."""
    state = request.app.state
    limiter = getattr(state, "trustface_sign_in_limiter", None)
    if limiter is None:
        limiter = RateLimiter({"login": SIGN_IN_PER_MINUTE}, {"login": SIGN_IN_BURST})
        state.trustface_sign_in_limiter = limiter
    return limiter


def section(who: users.ConsolePrincipal, area: str, **extra: Any) -> dict[str, Any]:
    """The context every console page's layout needs: the user and the highlighted section."""
    return {"user": who, "section": area, **extra}


@router.get("/console/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", next=safe_next(next, "/console"))


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await form_of(request)
    email = text(form, "email") or ""
    password = form.get("password")
    target = safe_next(text(form, "next"), "/console")
    ip = request.client.host if request.client else "-"
    try:
        sign_in_limiter(request).check(f"{ip}|{email.lower()}", "login")
        account = await run_in_threadpool(lambda: sessions.sign_in(
            context_of(request), email=email, password=password if isinstance(password, str) else ""))
    except TrustfaceError as exc:
        return page(request, "login.html", status=401 if exc.code == E_UNAUTHENTICATED else 429,
                    error=error_words(request, exc), email=email, next=target)
    rotate_csrf(request, key_of(request))  # a token planted before sign-in is worth nothing after it
    response = redirect(request, target)
    claims = {"k": "user", "id": account.id, "fp": fingerprint(account.password_hash),
              "exp": int(time.time()) + CONSOLE_LIFETIME}
    set_cookie(response, request, CONSOLE_COOKIE, sign(key_of(request), claims), max_age=CONSOLE_LIFETIME)
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    await form_of(request)
    response = redirect(request, "/console/login")
    clear_cookie(response, request, CONSOLE_COOKIE)
    return response


__all__ = ["console_user", "router", "section"]
