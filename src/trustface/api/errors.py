"""Every failure becomes ``{"error": {"code", "message", "requirements"}}`` with a 4xx status:
refusals carry their catalogue code; framework errors (bad JSON, unknown route, wrong method)
are mapped to codes too. A 500 says only ``E_INTERNAL`` and never echoes the exception."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from trustface.access.codes import (
    E_BODY_TOO_LARGE,
    E_FORBIDDEN,
    E_MALFORMED_REQUEST,
    E_RATE_LIMITED,
    E_UNAUTHENTICATED,
    E_UNSUPPORTED_MEDIA,
)
from trustface.api.codes import E_INTERNAL, E_METHOD_NOT_ALLOWED
from trustface.errors import CATALOGUE, TrustfaceError
from trustface.policy.codes import E_NOT_FOUND

log = logging.getLogger("trustface.api")

_STATUS_CODES = {401: E_UNAUTHENTICATED, 403: E_FORBIDDEN, 404: E_NOT_FOUND, 405: E_METHOD_NOT_ALLOWED,
                 413: E_BODY_TOO_LARGE, 415: E_UNSUPPORTED_MEDIA, 429: E_RATE_LIMITED}


class ErrorBody(BaseModel):
    code: str
    message: str
    requirements: list[str]


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody


def error_response(code: str, message: str, requirements=None, headers: dict | None = None) -> JSONResponse:
    spec = CATALOGUE[code]
    reqs = list(spec.requirements if requirements is None else requirements)
    return JSONResponse({"error": {"code": code, "message": message, "requirements": reqs}},
                        status_code=spec.http_status, headers=headers)


def first_validation_message(errors) -> str:
    """One sentence for the first of Pydantic's validation errors."""
    if not errors:
        return "the request body is malformed"
    err = errors[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    kind = err.get("type", "")
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if kind == "extra_forbidden":
        return f"unknown field {where!r}"
    if kind == "missing":
        return f"field {where!r} is required"
    return f"{where}: {err.get('msg', 'invalid value')}"


def install(app: FastAPI) -> None:
    @app.exception_handler(TrustfaceError)
    async def _refusal(request: Request, exc: TrustfaceError):
        headers = {"Retry-After": str(exc.retry_after or 1)} if exc.code == E_RATE_LIMITED else None
        if exc.code == E_UNAUTHENTICATED:
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(exc.code, exc.message, exc.requirements, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return error_response(E_MALFORMED_REQUEST, first_validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, E_MALFORMED_REQUEST)
        message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here",
                   413: "the request body is over the size limit"}.get(exc.status_code, str(exc.detail))
        return error_response(code, message, headers=getattr(exc, "headers", None))  # e.g. Allow on a 405

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        # the exception may hold request data: log its type and route only
        log.error("internal error %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response(E_INTERNAL, "unexpected server error; nothing was changed")
