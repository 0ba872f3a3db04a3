"""The pages call the API's own route functions (same permission checks, scoping, service calls
and answers), so no rule lives twice. Synchronous routes are called directly with their Pydantic
bodies; the few routes that read the request body themselves (consent, withdrawal, enrolment) get
a JSON request built here."""

from __future__ import annotations

import base64
import json

from pydantic import ValidationError
from starlette.requests import Request

from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.api.errors import first_validation_message
from trustface.errors import TrustfaceError


def json_request(payload: dict) -> Request:
    """A POST request whose body is ``payload`` as JSON (what an API client would send)."""
    body = json.dumps(payload).encode()
    scope = {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def call_json(route, payload: dict, **kwargs):
    """Await an async API route that reads its JSON body from the request."""
    return await route(request=json_request(payload), **kwargs)


def image_payload(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body(model, **fields):
    """A route's Pydantic body from form fields; bad input is E_MALFORMED_REQUEST in words."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise TrustfaceError(E_MALFORMED_REQUEST, first_validation_message(exc.errors())) from None
