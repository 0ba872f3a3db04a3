"""Subjects, the consent ledger, non-face credentials, and subject rights (report, evidence,
restriction, erasure). A subject token sees only its own subject; everyone else only their tenant.
Thin: parse, call :mod:`trustface.services` (consents, rights, admin), format."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from trustface.api.deps import (
    Body,
    Caller,
    Ctx,
    Mode,
    json_content,
    json_object,
    parse,
)
from trustface.policy.vocab import CHANNELS, MODES
from trustface.services import admin, consents, gates, rights

router = APIRouter(tags=["subjects"])
JSON = [Depends(json_content)]


class SubjectIn(Body):
    birth_date: dt.date | None = Field(None, description="YYYY-MM-DD; or give age_band (age gate, PIPL-31)")
    age_band: str | None = Field(None, examples=["18+", "14-17"])
    external_ref: str | None = Field(None, max_length=200, description="your reference (kept apart, R10)")
    display_name: str | None = Field(None, max_length=200)


@router.post("/v1/sites/{site_id}/subjects", status_code=201, dependencies=JSON)
def create_subject(site_id: str, body: SubjectIn, who: Caller, ctx: Ctx) -> dict:
    """A pseudonymous subject registered at a site; identity fields go to a separate table (R10)."""
    identity = {k: v for k, v in (("external_ref", body.external_ref), ("display_name", body.display_name)) if v}
    made = admin.create_subject(ctx, who, site_id=site_id, birth_date=body.birth_date, age_band=body.age_band,
                                identity=identity or None)
    return {"id": made.id, "site_id": made.site_id}


@router.get("/v1/subjects/{subject_id}")
def get_subject(subject_id: str, who: Caller, ctx: Ctx) -> dict:
    return rights.subject_record(ctx, who, subject_id).document


# --- consents ------------------------------------------------------------------------------------

@router.post("/v1/subjects/{subject_id}/consents", status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["purpose", "mode", "notice_version", "channel", "method"],
                 "properties": {"purpose": {"type": "string"}, "mode": {"enum": list(MODES)},
                                "notice_version": {"type": "integer"}, "channel": {"enum": list(CHANNELS)},
                                "method": {"enum": ["click", "signature", "written_release"]},
                                "guardian": {"type": "object", "description": "name, relationship, verification"},
                                "written_release": {"type": "object"}, "site_id": {"type": "string"},
                                "initiated_by": {"enum": ["processor", "subject"],
                                                 "description": "who started the request; staff keys default "
                                                                "to processor (no re-prompt within the "
                                                                "cooldown after a refusal, R7)"}}}}}}})
async def give_consent(subject_id: str, request: Request, who: Caller, ctx: Ctx) -> dict:
    """One separate consent for one purpose and one mode, with its evidence (SPC-2(3), PIPL-29).
    Bundled or pre-ticked payloads are refused with E_CONSENT_BUNDLED (SPC-4(2))."""
    who.require("consents:write")  # before the body is read: a key without the right learns nothing more
    payload = await json_object(request)
    given = consents.give(ctx, who, subject_id, consents.ConsentRequest.from_payload(payload))
    return {"id": given.id, "purpose": given.purpose, "mode": given.mode, "status": given.status,
            "expires_at": given.expires_at.isoformat()}


class WithdrawIn(Body):
    channel: Literal["kiosk", "app", "desk", "paper"] = "app"


@router.post("/v1/subjects/{subject_id}/consents/{consent_id}/withdraw")
async def withdraw_consent(subject_id: str, consent_id: str, request: Request, who: Caller, ctx: Ctx) -> dict:
    """Withdraw one consent in one call, as easy as giving it (PIPL-15, GDPR-7(3), R14): processing
    stops at once and the templates for that purpose and mode are purged."""
    who.require("consents:write")  # before the body is read, as for giving
    channel = parse(WithdrawIn, await json_object(request)).channel if await request.body() else "app"
    done = consents.withdraw(ctx, who, subject_id, consent_id, channel=channel)
    return {"id": done.id, "status": done.status, "ended_at": done.ended_at.isoformat()}


class RefusalIn(Body):
    purpose: str
    mode: Mode
    channel: Literal["kiosk", "app", "desk", "paper"] = "desk"
    site_id: str | None = None


@router.post("/v1/subjects/{subject_id}/refusals", status_code=201, dependencies=JSON)
def record_refusal(subject_id: str, body: RefusalIn, who: Caller, ctx: Ctx) -> dict:
    """The person declines face processing: recorded (no re-prompt within the cooldown, R7) and
    answered with the non-face ways in to issue (R6)."""
    done = consents.refuse(ctx, who, subject_id, purpose=body.purpose, mode=body.mode, channel=body.channel,
                           site_id=body.site_id)
    return {"recorded": True, "issue_instead": list(done.issue_instead)}


# --- credentials ---------------------------------------------------------------------------------

class CredentialIn(Body):
    type: Literal["pin", "card", "qr"]
    value: str | None = Field(None, max_length=64, description="a chosen PIN or the card number; omit for a "
                                                               "generated PIN or a QR code")
    site_id: str | None = None
    valid_days: int | None = Field(None, gt=0, le=366, description="QR codes only")
    label: str | None = Field(None, max_length=200)


@router.post("/v1/subjects/{subject_id}/credentials", status_code=201, dependencies=JSON)
def issue_credential(subject_id: str, body: CredentialIn, who: Caller, ctx: Ctx) -> dict:
    """A non-face way in (R6, SPC-10). A generated PIN or a QR code is returned once in `value`."""
    return gates.issue_credential(ctx, who, subject_id=subject_id, type=body.type, site_id=body.site_id,
                                  value=body.value, label=body.label,
                                  valid_for=dt.timedelta(days=body.valid_days) if body.valid_days else None)


@router.delete("/v1/credentials/{credential_id}")
def revoke_credential(credential_id: str, who: Caller, ctx: Ctx) -> dict:
    """Revoke a credential; refused if it is a resident's only way in (E_ALTERNATIVE_REQUIRED)."""
    return gates.revoke_credential(ctx, who, credential_id)


# --- subject rights --------------------------------------------------------------------------------

@router.get("/v1/subjects/{subject_id}/report")
def subject_report(subject_id: str, who: Caller, ctx: Ctx) -> dict:
    """What is held about the subject (PIPL-45, GDPR-15): never template bytes or credential values."""
    return rights.access_report(ctx, who, subject_id).document


@router.get("/v1/subjects/{subject_id}/evidence")
def evidence_bundle(subject_id: str, who: Caller, ctx: Ctx) -> dict:
    """The subject's audit events with a chain proof to the signed head, checkable offline (SPC-6)."""
    bundle = rights.evidence(ctx, who, subject_id)
    return {**bundle.document, "tenant_id": bundle.tenant_id}


class RestrictIn(Body):
    reason: str = Field(max_length=2000)


@router.post("/v1/subjects/{subject_id}/restrict", dependencies=JSON)
def restrict(subject_id: str, body: RestrictIn, who: Caller, ctx: Ctx) -> dict:
    """Restrict processing of the subject's face data at once (PIPL-44, GDPR-18, R23)."""
    done = rights.restrict(ctx, who, subject_id, reason=body.reason)
    return {"id": done.subject_id, "suspended": done.kind, "since": done.since.isoformat()}


@router.delete("/v1/subjects/{subject_id}")
def erase(subject_id: str, who: Caller, ctx: Ctx) -> dict:
    """Erase the subject's face data, credentials and identity; returns the deletion certificate
    (PIPL-47, GDPR-17). The pseudonymous id stays as the audit trail's anchor."""
    return rights.erase(ctx, who, subject_id).document
