"""Request limits: a body-size cap enforced while the body streams in (413 before the rest is
read), a path that may not carry control or invisible characters (404), and per-key token buckets
for expensive routes (429 with Retry-After)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

from trustface.access.codes import E_BODY_TOO_LARGE
from trustface.errors import CATALOGUE
from trustface.policy.codes import E_NOT_FOUND


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


def _reject(limit: int) -> bytes:
    return json.dumps({"error": {"code": E_BODY_TOO_LARGE, "message": f"the request body is over {limit} bytes",
                                 "requirements": list(CATALOGUE[E_BODY_TOO_LARGE].requirements)}}).encode()


class BodySizeLimit:
    """ASGI middleware: refuse a declared Content-Length over ``max_bytes`` at once, and stop a
    streamed body the moment it passes ``max_bytes`` (the route sees an HTTP 413)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            body = _reject(limit)
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)


class SafePath:
    """ASGI middleware: a decoded path holding a character refused in request text (NUL, controls,
    bidi overrides, zero-width spaces: :data:`trustface.safetext.UNSAFE_TEXT`) names no object, so
    it is answered 404 before any route or database sees it (PostgreSQL fails on a NUL in a query)."""

    def __init__(self, app):
        from trustface.safetext import UNSAFE_TEXT

        self.app, self.unsafe = app, UNSAFE_TEXT

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.unsafe.search(scope.get("path", "")):
            body = json.dumps({"error": {"code": E_NOT_FOUND, "message": "no such route or object: the path holds "
                                         "control or invisible characters", "requirements": []}}).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


