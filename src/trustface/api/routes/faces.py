"""Face operations: enrolment, 1:1 verify, 1:N identify, gated analysis, and gate access.

Each route parses its request, runs one use case of :mod:`trustface.services` in a worker thread
(decoding and dlib are blocking) and formats the answer; the transaction rule (a refusal's audit
event committed before the refusal, face work outside any transaction) lives in the services."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from trustface.api.deps import (
    Body,
    Caller,
    Svc,
    image_body,
    images_and_fields,
    json_object,
    parse,
    text_field,
)
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.services import faces, gates

router = APIRouter(tags=["faces"])


class CredentialAttempt(Body):
    method: Literal["pin", "card", "qr", "visitor_pass"]
    value: str


STR = {"type": "string"}


@router.post("/v1/subjects/{subject_id}/enrolments", status_code=201,
             openapi_extra=image_body(purpose=STR, mode={"type": "string", "description": "verify, identify, or both: "
                                                                                          "verify,identify"},
                                      site_id=STR))
async def enrol(subject_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """Enrol 1-5 photos under the subject's consent for purpose x mode. Photos are discarded after
    the descriptors are taken (R9); templates are encrypted and tenant-transformed (R11)."""
    who.require("faces:enrol")
    images, values = await images_and_fields(request, max_images=svc.max_images, fields={"purpose", "mode", "site_id"})
    purpose, mode = text_field(values, "purpose"), text_field(values, "mode")
    site_id = text_field(values, "site_id", required=False)
    outcome = await run_in_threadpool(lambda: faces.enrol(svc.ctx, who, subject_id, images, purpose=purpose,
                                                          modes=mode, site_id=site_id))
    return outcome.to_dict()


@router.post("/v1/sites/{site_id}/verify", openapi_extra=image_body(subject_id=STR, purpose=STR))
async def verify(site_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """1:1: is this the claimed subject? Under the subject's verify consent."""
    who.require("faces:match")
    images, values = await images_and_fields(request, max_images=1, fields={"subject_id", "purpose"})
    subject_id, purpose = text_field(values, "subject_id"), text_field(values, "purpose")
    result = await run_in_threadpool(lambda: faces.verify(svc.ctx, who, site_id, subject_id, images[0],
                                                          purpose=purpose))
    return result.to_dict()


@router.post("/v1/sites/{site_id}/identify", openapi_extra=image_body(purpose=STR, k={"type": "integer"}))
async def identify(site_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """1:N: who is this, among the subjects who consented to identify for this purpose here?
    Rate-limited per key."""
    who.require("faces:match")
    svc.limiter.check(who.key_id, "identify")
    images, values = await images_and_fields(request, max_images=1, fields={"purpose", "k"})
    purpose = text_field(values, "purpose")
    try:
        k = int(values.get("k") or 1)
    except (TypeError, ValueError):
        raise TrustfaceError(E_INVALID_ARGUMENT, "k is a whole number from 1 to 100") from None
    result = await run_in_threadpool(lambda: faces.identify(svc.ctx, who, site_id, images[0], purpose=purpose, k=k))
    return result.to_dict()


@router.post("/v1/sites/{site_id}/analyze",
             openapi_extra=image_body(subject_id=STR, purpose=STR,
                                      attributes={"type": "string", "description": "comma-separated, e.g. head_pose"}))
async def analyze(site_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """Gated analysis: its own consent, allow-listed attributes only, the deny-list enforced by
    the gate (R19, SPC-2(7))."""
    who.require("faces:analyze")
    images, values = await images_and_fields(request, max_images=1, fields={"subject_id", "purpose", "attributes"})
    subject_id = text_field(values, "subject_id")
    raw = values.get("attributes")
    attributes = raw if isinstance(raw, list) else [a.strip() for a in (raw or "").split(",") if a.strip()]
    purpose = text_field(values, "purpose", required=False)
    return await run_in_threadpool(lambda: faces.analyze(svc.ctx, who, site_id, subject_id, images[0],
                                                         attributes=attributes, purpose=purpose))


_CREDENTIAL: dict[str, dict[str, object]] = {"method": {"enum": ["pin", "card", "qr", "visitor_pass"]},
                                           "value": {"type": "string"}}


@router.post("/v1/gates/{gate_id}/access", openapi_extra={"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"},
        **{k: {**v, "description": "with the image at a two-factor gate (face_mode verify_after_credential)"}
           for k, v in _CREDENTIAL.items()}}, "required": ["image"]}},
    "application/json": {"schema": {"oneOf": [
        {"type": "object", "required": ["method", "value"], "additionalProperties": False, "properties": _CREDENTIAL},
        {"type": "object", "required": ["image"], "additionalProperties": False,
         "properties": {"image": {"type": "string", "format": "byte"}}},
        {"type": "object", "required": ["method", "value", "image"], "additionalProperties": False,
         "properties": {**_CREDENTIAL, "image": {"type": "string", "format": "byte"}}}]}}}}})
async def gate_access(gate_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """One attempt at a gate: a face (multipart `image` or base64 JSON `image`), JSON
    `{"method": "pin"|"card"|"qr", "value"}`, or, at a two-factor gate (`face_mode`
    `verify_after_credential`), both: the credential names the resident and the face is matched 1:1
    against them (multipart `image` + `method` + `value` fields, or JSON with a base64 `image`).
    Answers `{"granted", "method", "subject_id", "alternatives", "reason"}`; a failed or uncertain
    face match always lists the other ways in (PIPL-24). Every attempt is an `access` audit event."""
    who.require("access")
    svc.limiter.check(who.key_id, "access")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    credential = None
    if media == "application/json":
        body = await json_object(request)
        if "image" not in body and "images" not in body and ("method" in body or "value" in body):
            credential = parse(CredentialAttempt, body)
    if credential is not None:
        attempt = credential
        decision = await run_in_threadpool(lambda: gates.attempt_credential(svc.ctx, who, gate_id, method=attempt.method,
                                                                            value=attempt.value))
        return decision.to_dict()
    images, values = await images_and_fields(request, max_images=1, fields={"method", "value"})
    if len(images) != 1:
        raise TrustfaceError(E_INVALID_ARGUMENT, "send one face image (`image`)")
    factor = None
    if "method" in values or "value" in values:
        factor = parse(CredentialAttempt, {"method": values.get("method"), "value": values.get("value")})
    gates.require_gate(svc.ctx, who, gate_id)  # an unknown gate is a 404 before the identify limit counts
    svc.limiter.check(who.key_id, "identify")
    if factor is not None:
        first = factor
        decision = await run_in_threadpool(lambda: gates.attempt_credential_and_face(
            svc.ctx, who, gate_id, method=first.method, value=first.value, image=images[0]))
    else:
        decision = await run_in_threadpool(lambda: gates.attempt_face(svc.ctx, who, gate_id, images[0]))
    return decision.to_dict()
