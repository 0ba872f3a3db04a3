"""Rendering pages: the Jinja2 environment, the page language, the CSRF cookie and the security
headers of every page, and the route class that turns a refusal into a page in words."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from trustface.access.codes import E_UNAUTHENTICATED
from trustface.errors import CATALOGUE, TrustfaceError
from trustface.services import Context
from trustface.web import i18n
from trustface.web.security import CSRF_COOKIE, LANG_COOKIE, PAGE_HEADERS, csrf_for, set_cookie, web_key

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_PREFIX = "/static/web"

_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_versions: dict[str, str] = {}


def _static(name: str) -> str:
    """A static file's address with its modification time, so a kiosk never runs a stale script."""
    if name not in _versions:
        path = STATIC / name
        _versions[name] = str(int(path.stat().st_mtime)) if path.is_file() else "0"
    return f"{STATIC_PREFIX}/{name}?v={_versions[name]}"


_env.globals["static"] = _static


class LoginRequired(Exception):
    """Raised by a console page without a valid session: answered by a redirect to sign in."""

    def __init__(self, area: str = "console"):
        self.area = area


def context_of(request: Request) -> Context:
    """The deployment's use-case context (:class:`trustface.services.Context`): the one the app
    was made with, shared with the API's routes (the same gallery indexes and credential key)."""
    ctx = request.app.state.context
    assert isinstance(ctx, Context)
    return ctx


def key_of(request: Request) -> bytes:
    """The page-signing key (sessions, CSRF), derived once per app."""
    state = request.app.state
    key = getattr(state, "trustface_web_key", None)
    if key is None:
        key = web_key(context_of(request).deployment)
        state.trustface_web_key = key
    return key


def lang_of(request: Request) -> str:
    cached = getattr(request.state, "tf_lang", None)
    if cached is None:
        cached = i18n.pick(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))
        request.state.tf_lang = cached
    return cached


def t_for(request: Request):
    return i18n.translator(lang_of(request))


def error_words(request: Request, exc: TrustfaceError) -> str:
    return i18n.error_text(lang_of(request), exc.code, exc.message)


ResponseT = TypeVar("ResponseT", bound=Response)


def finish(request: Request, response: ResponseT) -> ResponseT:
    """Headers of every page, and the CSRF cookie on first sight."""
    for name, value in PAGE_HEADERS.items():
        response.headers[name] = value
    response.headers["Content-Language"] = "zh-CN" if lang_of(request) == "zh" else "en"
    response.headers["Vary"] = "Accept-Language, Cookie"
    csrf = getattr(request.state, "tf_csrf", None)
    if csrf is not None and csrf.new:
        set_cookie(response, request, CSRF_COOKIE, csrf.cookie, max_age=None)
    return response


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def page(request: Request, template: str, *, status: int = 200, **context) -> HTMLResponse:
    lang = lang_of(request)
    csrf = csrf_for(request, key_of(request))
    html = _env.get_template(template).render(t=i18n.translator(lang), lang=lang, csrf=csrf.token,
                                              here=here(request), **context)
    return finish(request, HTMLResponse(html, status_code=status))


def redirect(request: Request, url: str) -> Response:
    return finish(request, RedirectResponse(url, status_code=303))


def error_page(request: Request, exc: TrustfaceError, *, back: str | None = None, **context) -> HTMLResponse:
    status = CATALOGUE[exc.code].http_status if exc.code in CATALOGUE else 400
    return page(request, "error.html", status=status, message=error_words(request, exc), back=back, **context)


class PageRoute(APIRoute):
    """A page route: a refusal becomes a page in words (not the API's JSON envelope), and a
    missing session a redirect to sign in."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                if exc.area == "me":
                    return redirect(request, "/me")
                return redirect(request, f"/console/login?next={quote(here(request), safe='')}")
            except TrustfaceError as exc:
                path = request.url.path
                if exc.code == E_UNAUTHENTICATED and path.startswith("/console"):
                    return redirect(request, "/console/login")
                back = "/console" if path.startswith("/console") else "/me" if path.startswith("/me") else None
                return error_page(request, exc, back=back)

        return run
