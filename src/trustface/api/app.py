"""The FastAPI application of one deployment (OpenAPI at ``/openapi.json``, docs at ``/docs``).

Limits come from the deployment's ``settings.toml`` (defaults in brackets): ``max_body_mb`` [10],
``identify_per_minute`` [600] and ``access_per_minute`` [1200] per API key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trustface import __version__
from trustface.api import errors
from trustface.api.deps import Services
from trustface.api.limits import BodySizeLimit, SafePath
from trustface.api.routes import audit, compliance, faces, health, keys, sites, subjects
from trustface.ratelimit import RateLimiter
from trustface.services.context import Context

DESCRIPTION = """\
Face recognition behind a consent-checking policy gate. Every face operation needs a grant for
this subject, site, purpose and mode; refusals carry stable codes (see docs/errors.md) in
`{"error": {"code", "message", "requirements"}}`. Authenticate with `Authorization: Bearer <api key>`
(`trustface init` prints the first key once). Gates always offer a way in without a face.
"""

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]


class SecurityHeaders:
    """ASGI middleware adding conservative headers to every response (no CORS headers at all:
    cross-origin browser calls are off by default)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + SECURITY_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(directory: Path | str | None = None, *, database_url: str | None = None, deployment=None,
               gallery=None) -> FastAPI:
    """The API of the deployment in ``directory`` (or an already opened ``deployment``)."""
    from trustface.deployment import Deployment

    dep = deployment or Deployment(directory, database_url=database_url)
    dep.require_current_schema()  # never serve a schema this code was not written for (issue 18)
    settings = dep.settings
    max_body = settings.max_body_bytes
    limiter = RateLimiter({"identify": settings.identify_per_minute, "access": settings.access_per_minute})
    app = FastAPI(title="trustface", version=__version__, description=DESCRIPTION,
                  responses={400: {"model": errors.ErrorEnvelope}, 401: {"model": errors.ErrorEnvelope},
                             403: {"model": errors.ErrorEnvelope}, 404: {"model": errors.ErrorEnvelope},
                             409: {"model": errors.ErrorEnvelope}, 413: {"model": errors.ErrorEnvelope},
                             415: {"model": errors.ErrorEnvelope}, 422: {"model": errors.ErrorEnvelope},
                             429: {"model": errors.ErrorEnvelope}})
    ctx = Context.open(dep, gallery)
    app.state.context = ctx  # the pages' use-case context (trustface.web.render.context_of)
    app.state.trustface = Services(ctx, limiter)
    errors.install(app)
    for module in (sites, subjects, faces, audit, keys, compliance):
        app.include_router(module.router)
    app.include_router(sites.public)
    __import__("trustface.web", fromlist=["mount"]).mount(app)  # the pages: console, kiosk, self-service
    app.include_router(__import__("trustface.api.routes.liveness", fromlist=["router"]).router)
    app.include_router(health.router)

    app.add_middleware(BodySizeLimit, max_bytes=max_body)
    app.add_middleware(SafePath)  # control or invisible characters in the path: 404 before any route
    app.add_middleware(SecurityHeaders)
    return app
