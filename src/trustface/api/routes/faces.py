"""Face operations: enrolment, 1:1 verify, 1:N identify, gated analysis, and gate access.

Each asks the policy gate first and commits the grant or denial event on its own, so a refusal is
on the record even though the operation never runs; the face work then happens in a second
transaction with its own audit events. Images are decoded in a worker thread (dlib is blocking)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from trustface.access import service as access
from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.api.deps import (
    Body,
    Caller,
    Svc,
    granted,
    image_body,
    images_and_fields,
    json_object,
    parse,
    scoped_gate,
    scoped_site,
    scoped_subject,
    text_field,
)
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import gate
from trustface.policy.vocab import ANALYZE, IDENTIFY, VERIFY

router = APIRouter(tags=["faces"])


class CredentialAttempt(Body):
    method: Literal["pin", "card", "qr", "visitor_pass"]
    value: str
STR = {"type": "string"}


async def decode(images: list[bytes]) -> list:
    """Decode every upload before the policy gate is asked: a bad image is refused with nothing
    written, not even a grant event."""
    from trustface import imaging

    return await run_in_threadpool(lambda: [imaging.load_image(data) for data in images])


def _authorize(svc, who, *, tenant_id, site_id, purpose, mode, subject_id=None, attributes=()):
    with svc.tx() as s:
        decision = gate.authorize(s, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=mode,
                                  subject_id=subject_id, attributes=attributes, actor=who.actor)
    return granted(decision)


@router.post("/v1/subjects/{subject_id}/enrolments", status_code=201,
             openapi_extra=image_body(purpose=STR, mode={"type": "string", "description": "verify, identify, or both: "
                                                                                          "verify,identify"},
                                      site_id=STR))
async def enrol(subject_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """Enrol 1-5 photos under the subject's consent for purpose x mode. Photos are discarded after
    the descriptors are taken (R9); templates are encrypted and tenant-transformed (R11)."""
    who.require("faces:enrol")
    images, values = await images_and_fields(request, max_images=svc.max_images, fields={"purpose", "mode", "site_id"})
    purpose = text_field(values, "purpose")
    modes = [m.strip() for m in text_field(values, "mode").split(",") if m.strip()]
    if not modes or any(m not in (VERIFY, IDENTIFY) for m in modes):
        raise TrustfaceError(E_INVALID_ARGUMENT, "mode is verify, identify, or verify,identify")
    with svc.tx() as s:
        subject = scoped_subject(s, who, subject_id)
        site_id = text_field(values, "site_id", required=False) or subject.site_id
        if site_id is None:
            raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
        scoped_site(s, who, site_id)
        tenant_id = subject.tenant_id
    pixels = await decode(images)
    grants = [_authorize(svc, who, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=m,
                         subject_id=subject_id) for m in modes]

    def work():
        with svc.tx() as s:
            return svc.gallery.enrol(s, grants, pixels, actor=who.actor)

    enrolments = await run_in_threadpool(work)
    return {"subject_id": subject_id, "enrolments": [e.to_dict() for e in enrolments], "photos_kept": 0}


@router.post("/v1/sites/{site_id}/verify", openapi_extra=image_body(subject_id=STR, purpose=STR))
async def verify(site_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """1:1: is this the claimed subject? Under the subject's verify consent."""
    who.require("faces:match")
    images, values = await images_and_fields(request, max_images=1, fields={"subject_id", "purpose"})
    subject_id, purpose = text_field(values, "subject_id"), text_field(values, "purpose")
    with svc.tx() as s:
        site = scoped_site(s, who, site_id)
        scoped_subject(s, who, subject_id)
    (probe,) = await decode(images)
    grant = _authorize(svc, who, tenant_id=site.tenant_id, site_id=site_id, purpose=purpose, mode=VERIFY,
                       subject_id=subject_id)

    def work():
        with svc.tx() as s:
            return svc.gallery.verify(s, grant, subject_id, probe, actor=who.actor)

    return (await run_in_threadpool(work)).to_dict()


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
    with svc.tx() as s:
        site = scoped_site(s, who, site_id)
    (probe,) = await decode(images)
    grant = _authorize(svc, who, tenant_id=site.tenant_id, site_id=site_id, purpose=purpose, mode=IDENTIFY)

    def work():
        with svc.tx() as s:
            return svc.gallery.identify(s, grant, probe, k=k, actor=who.actor)

    return (await run_in_threadpool(work)).to_dict()


@router.post("/v1/sites/{site_id}/analyze",
             openapi_extra=image_body(subject_id=STR, purpose=STR,
                                      attributes={"type": "string", "description": "comma-separated, e.g. head_pose"}))
async def analyze(site_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """Gated analysis: its own consent, allow-listed attributes only, the deny-list enforced by
    the gate (R19, SPC-2(7))."""
    from trustface import analysis

    who.require("faces:analyze")
    images, values = await images_and_fields(request, max_images=1, fields={"subject_id", "purpose", "attributes"})
    subject_id = text_field(values, "subject_id")
    raw = values.get("attributes")
    attributes = raw if isinstance(raw, list) else [a.strip() for a in (raw or "").split(",") if a.strip()]
    if not attributes or not all(isinstance(a, str) for a in attributes):
        raise TrustfaceError(E_INVALID_ARGUMENT, "name the attributes to analyse, e.g. head_pose")
    with svc.tx() as s:
        site = scoped_site(s, who, site_id)
        scoped_subject(s, who, subject_id)
        purpose = text_field(values, "purpose", required=False) or _only_analyze_purpose(s, site_id)
    (probe,) = await decode(images)
    grant = _authorize(svc, who, tenant_id=site.tenant_id, site_id=site_id, purpose=purpose, mode=ANALYZE,
                       subject_id=subject_id, attributes=tuple(attributes))

    def work():
        with svc.tx() as s:
            return analysis.analyze(s, grant, probe, attributes, actor=who.actor)

    return await run_in_threadpool(work)


def _only_analyze_purpose(session, site_id: str) -> str:
    from trustface.db import repo

    names = [p.name for p in repo.purposes_of_site(session, site_id) if ANALYZE in p.allowed_modes.split(",")]
    if len(names) != 1:
        raise TrustfaceError(E_MALFORMED_REQUEST, "give purpose: the site has no single analysis purpose")
    return names[0]


@router.post("/v1/gates/{gate_id}/access", openapi_extra={"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"}}, "required": ["image"]}},
    "application/json": {"schema": {"oneOf": [
        {"type": "object", "required": ["method", "value"], "additionalProperties": False,
         "properties": {"method": {"enum": ["pin", "card", "qr", "visitor_pass"]}, "value": {"type": "string"}}},
        {"type": "object", "required": ["image"], "additionalProperties": False,
         "properties": {"image": {"type": "string", "format": "byte"}}}]}}}}})
async def gate_access(gate_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """One attempt at a gate: a face (multipart `image` or base64 JSON `image`), or JSON
    `{"method": "pin"|"card"|"qr", "value"}`. Answers `{"granted", "method", "subject_id",
    "alternatives", "reason"}`; a failed or uncertain face match always lists the other ways in
    (PIPL-24). Every attempt is an `access` audit event."""
    who.require("access")
    svc.limiter.check(who.key_id, "access")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    credential = None
    if media == "application/json":
        body = await json_object(request)
        if "method" in body or "value" in body:
            credential = parse(CredentialAttempt, body)
    if credential is not None:
        with svc.tx() as s:
            scoped_gate(s, who, gate_id)

        def check():
            with svc.tx() as s:
                return access.decide_credential(s, svc.credential_secret, gate_id=gate_id, method=credential.method,
                                                value=credential.value, actor=who.actor)
        return (await run_in_threadpool(check)).to_dict()
    images, _ = await images_and_fields(request, max_images=1, fields=set())
    with svc.tx() as s:
        scoped_gate(s, who, gate_id)
    svc.limiter.check(who.key_id, "identify")

    def look():
        with svc.tx() as s:
            return access.decide_face(s, svc.gallery, gate_id=gate_id, image=images[0], actor=who.actor)

    return (await run_in_threadpool(look)).to_dict()

