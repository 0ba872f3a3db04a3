"""Liveness at a gate: ask for a challenge, then answer it with a short frame burst.

``POST /v1/gates/{gate_id}/liveness/challenge`` -> ``{nonce, steps, prompts, expires_at}``; the kiosk
shows the prompts and records the person; ``POST /v1/gates/{gate_id}/liveness/{nonce}`` takes the
burst as multipart ``frame`` parts (in capture order; optional ``timestamps`` = capture times in ms,
comma-separated; optional ``client_id`` / ``device_id``; at a two-factor gate the ``method`` and
``value`` of the PIN, card or QR code that names the resident) and answers ``{passed, reasons, steps_done,
pad, decision}``. A pass goes on to the gate's face decision; a failure is a denied decision that
lists the gate's other ways in. Both are ``access`` audit events. Same permission and rate limits as
``POST /v1/gates/{gate_id}/access``. The use cases are :func:`trustface.services.gates.issue_challenge`
and :func:`trustface.services.gates.answer_challenge`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from trustface.access.codes import E_MALFORMED_REQUEST, E_UNSUPPORTED_MEDIA
from trustface.api.deps import Caller, Svc
from trustface.errors import E_IMAGE_INVALID, TrustfaceError
from trustface.liveness import service as liveness
from trustface.services import gates

router = APIRouter(tags=["liveness"])

_BURST_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["frame"], "properties": {
        "frame": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": f"the burst's frames in capture order (at most {liveness.MAX_FRAMES})"},
        "timestamps": {"type": "string", "description": "capture times in ms, comma-separated, one per frame"},
        "client_id": {"type": "string", "description": "the capturing app's instance id (optional)"},
        "device_id": {"type": "string", "description": "the camera device's id (optional)"},
        "method": {"enum": ["pin", "card", "qr", "visitor_pass"],
                   "description": "at a two-factor gate: the credential that names the resident"},
        "value": {"type": "string", "description": "at a two-factor gate: the PIN, card number or QR code"}}}}}}}


@router.post("/v1/gates/{gate_id}/liveness/challenge", status_code=201)
async def challenge(gate_id: str, who: Caller, svc: Svc) -> dict:
    """A random challenge (blink, turn left, turn right, look up, open mouth) for one face attempt,
    with a single-use nonce and a time window."""
    who.require("access")
    svc.limiter.check(who.key_id, "access")

    row = await run_in_threadpool(lambda: gates.issue_challenge(svc.ctx, who, gate_id))
    return liveness.challenge_to_dict(row)


async def _burst(request: Request) -> tuple[list[bytes], dict]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise TrustfaceError(E_UNSUPPORTED_MEDIA, "send the frames as multipart/form-data `frame` parts")
    try:
        form = await request.form(max_files=liveness.MAX_FRAMES + 1, max_fields=8)
    except TrustfaceError:
        raise
    except Exception as exc:
        if getattr(exc, "status_code", None) == 413:
            raise
        raise TrustfaceError(E_MALFORMED_REQUEST, "the multipart body is malformed or has too many parts") from None
    frames, values = [], {}
    for key, value in form.multi_items():
        if key == "frame":
            if isinstance(value, str):
                raise TrustfaceError(E_IMAGE_INVALID, "each `frame` part must be a file upload")
            data = await value.read()
            if not data:
                raise TrustfaceError(E_IMAGE_INVALID, "an uploaded frame is empty")
            frames.append(data)
        elif key in ("timestamps", "client_id", "device_id", "method", "value"):
            if not isinstance(value, str) or len(value) > 2000:
                raise TrustfaceError(E_MALFORMED_REQUEST, f"field {key!r} must be short text")
            values[key] = value
        else:
            raise TrustfaceError(E_MALFORMED_REQUEST, f"unknown field {key!r}")
    if not frames:
        raise TrustfaceError(E_IMAGE_INVALID, "no frame was sent (multipart `frame` parts)")
    return frames, values


@router.post("/v1/gates/{gate_id}/liveness/{nonce}", openapi_extra=_BURST_BODY)
async def answer(gate_id: str, nonce: str, request: Request, who: Caller, svc: Svc) -> dict:
    """Answer a challenge with a frame burst: passive checks (replay, injection), the PAD model, the
    steps in order on 68-point landmarks, one face throughout; then the gate's face decision."""
    who.require("access")
    svc.limiter.check(who.key_id, "access")
    frames, values = await _burst(request)
    gates.require_gate(svc.ctx, who, gate_id)  # an unknown gate is a 404 before the identify limit counts
    svc.limiter.check(who.key_id, "identify")
    times = liveness.parse_timestamps(values.get("timestamps"))
    credential = None
    if "method" in values or "value" in values:  # a two-factor gate: the credential comes with the burst
        credential = (values.get("method") or "", values.get("value") or "")
    outcome = await run_in_threadpool(lambda: gates.answer_challenge(
        svc.ctx, who, gate_id, nonce, frames, timestamps=times, client_id=values.get("client_id") or None,
        device_id=values.get("device_id") or None, credential=credential))
    return outcome.to_dict()
