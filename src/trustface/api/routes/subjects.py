"""Subjects, the consent ledger, non-face credentials, and subject rights (report, evidence,
restriction, erasure). A subject token sees only its own subject; everyone else only their tenant."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from trustface import audit, rights
from trustface.access import service as access
from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.api.deps import Body, Caller, Mode, Svc, json_content, json_object, parse, scoped_site, scoped_subject
from trustface.db import access_store, repo
from trustface.db.models import Consent
from trustface.errors import TrustfaceError
from trustface.policy import codes, ledger
from trustface.policy.vocab import CHANNELS, MODES

router = APIRouter(tags=["subjects"])
JSON = [Depends(json_content)]


class SubjectIn(Body):
    birth_date: dt.date | None = Field(None, description="YYYY-MM-DD; or give age_band (age gate, PIPL-31)")
    age_band: str | None = Field(None, examples=["18+", "14-17"])
    external_ref: str | None = Field(None, max_length=200, description="your reference (kept apart, R10)")
    display_name: str | None = Field(None, max_length=200)


@router.post("/v1/sites/{site_id}/subjects", status_code=201, dependencies=JSON)
def create_subject(site_id: str, body: SubjectIn, who: Caller, svc: Svc) -> dict:
    """A pseudonymous subject registered at a site; identity fields go to a separate table (R10)."""
    who.require("subjects:write")
    identity = {k: v for k, v in (("external_ref", body.external_ref), ("display_name", body.display_name)) if v}
    with svc.tx() as s:
        site = scoped_site(s, who, site_id)
        subj = ledger.create_subject(s, tenant_id=site.tenant_id, site_id=site.id, birth_date=body.birth_date,
                                     age_band=body.age_band, identity=identity or None, actor=who.actor)
        return {"id": subj.id, "site_id": site.id}


@router.get("/v1/subjects/{subject_id}")
def get_subject(subject_id: str, who: Caller, svc: Svc) -> dict:
    who.require("subjects:read")
    with svc.tx() as s:
        scoped_subject(s, who, subject_id)
        summary = rights.subject_summary(s, subject_id)
        summary["credentials"] = [access.credential_to_dict(c) for c in access_store.credentials_of_subject(s, subject_id)]
        return summary


# --- consents ------------------------------------------------------------------------------------

#: fields of the HTTP payload that the ledger's payload does not have
API_ONLY_FIELDS = ("notice_version", "site_id")


def _notice_hash(session, site_id: str, payload: dict) -> str:
    if isinstance(payload.get("notice_hash"), str):
        return payload["notice_hash"]
    version = payload.get("notice_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TrustfaceError(E_MALFORMED_REQUEST, "give notice_version (the published notice the person was shown)")
    current = repo.current_notice(session, site_id)
    if current is None or current.version != version:
        raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN,
                             f"notice version {version} is not the site's current published notice "
                             f"({current.version if current else 'none'}); show the current rules first")
    return current.content_hash


def _guardian_with_minors_notice(session, site_id: str, guardian: dict) -> dict:
    """The guardian block cites the minors' rules the guardian was shown (PIPL-31, CAC-7): by
    ``minors_notice_version``, or by default the site's current published minors' notice."""
    guardian = dict(guardian)
    version = guardian.pop("minors_notice_version", None)
    if "minors_notice_hash" in guardian:
        return guardian
    current = repo.current_notice(session, site_id, "minors")
    if current is not None and (version is None or version == current.version):
        guardian["minors_notice_hash"] = current.content_hash
    return guardian


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
async def give_consent(subject_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """One separate consent for one purpose and one mode, with its evidence (SPC-2(3), PIPL-29).
    Bundled or pre-ticked payloads are refused with E_CONSENT_BUNDLED (SPC-4(2))."""
    who.require("consents:write")
    payload = await json_object(request)
    # anything beyond one purpose x mode is refused as bundling (SPC-4(2)), before other checks
    ledger.check_not_bundled({k: v for k, v in payload.items() if k not in API_ONLY_FIELDS})
    with svc.tx() as s:
        subject = scoped_subject(s, who, subject_id)
        site_id = payload.get("site_id") or subject.site_id
        if not isinstance(site_id, str):
            raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
        if scoped_site(s, who, site_id).tenant_id != subject.tenant_id:
            raise TrustfaceError(codes.E_NOT_FOUND, f"site {site_id!r} does not exist")
        full = {**{k: v for k, v in payload.items() if k not in ("notice_version", "site_id")},
                "subject_id": subject_id, "site_id": site_id, "notice_hash": _notice_hash(s, site_id, payload)}
        if isinstance(payload.get("guardian"), dict):
            full["guardian"] = _guardian_with_minors_notice(s, site_id, payload["guardian"])
        if who.role == "subject":
            full["initiated_by"] = "subject"
        else:  # a staff key prompts for the processor unless it states the person asked (R7 cooldown)
            full.setdefault("initiated_by", "processor")
        consent = ledger.give_consent_from_payload(s, full, actor=who.actor)
        return {"id": consent.id, "purpose": payload.get("purpose"), "mode": consent.mode, "status": consent.status,
                "expires_at": consent.expires_at.isoformat()}


class WithdrawIn(Body):
    channel: Literal["kiosk", "app", "desk", "paper"] = "app"


@router.post("/v1/subjects/{subject_id}/consents/{consent_id}/withdraw")
async def withdraw_consent(subject_id: str, consent_id: str, request: Request, who: Caller, svc: Svc) -> dict:
    """Withdraw one consent in one call, as easy as giving it (PIPL-15, GDPR-7(3), R14): processing
    stops at once and the templates for that purpose and mode are purged."""
    who.require("consents:write")
    channel = parse(WithdrawIn, await json_object(request)).channel if await request.body() else "app"
    with svc.tx() as s:
        scoped_subject(s, who, subject_id)
        consent = repo.get(s, Consent, consent_id)
        if consent is None or consent.subject_id != subject_id:
            raise TrustfaceError(codes.E_NOT_FOUND, f"consent {consent_id!r} does not exist")
        purpose = repo.purpose_of_site(s, consent.purpose_id)
        done = ledger.withdraw_consent(s, subject_id=subject_id, site_id=purpose.site_id, purpose=purpose.name,
                                       mode=consent.mode, channel=channel, actor=who.actor)
        return {"id": done.id, "status": done.status, "ended_at": done.ended_at.isoformat()}


class RefusalIn(Body):
    purpose: str
    mode: Mode
    channel: Literal["kiosk", "app", "desk", "paper"] = "desk"
    site_id: str | None = None


@router.post("/v1/subjects/{subject_id}/refusals", status_code=201, dependencies=JSON)
def record_refusal(subject_id: str, body: RefusalIn, who: Caller, svc: Svc) -> dict:
    """The person declines face processing: recorded (no re-prompt within the cooldown, R7) and
    answered with the non-face ways in to issue (R6)."""
    who.require("consents:write")
    with svc.tx() as s:
        subject = scoped_subject(s, who, subject_id)
        site_id = body.site_id or subject.site_id
        ledger.record_refusal(s, subject_id=subject_id, site_id=site_id, purpose=body.purpose, mode=body.mode,
                              channel=body.channel, actor=who.actor)
        methods = sorted({m for g in access_store.gates_of_site(s, site_id) for m in access.gate_methods(g)} - {"face"})
        return {"recorded": True, "issue_instead": [m for m in methods if m in access.CREDENTIAL_TYPES]}


# --- credentials ---------------------------------------------------------------------------------

class CredentialIn(Body):
    type: Literal["pin", "card", "qr"]
    value: str | None = Field(None, max_length=64, description="a chosen PIN or the card number; omit for a "
                                                               "generated PIN or a QR code")
    site_id: str | None = None
    valid_days: int | None = Field(None, gt=0, le=366, description="QR codes only")
    label: str | None = Field(None, max_length=200)


@router.post("/v1/subjects/{subject_id}/credentials", status_code=201, dependencies=JSON)
def issue_credential(subject_id: str, body: CredentialIn, who: Caller, svc: Svc) -> dict:
    """A non-face way in (R6, SPC-10). A generated PIN or a QR code is returned once in `value`."""
    who.require("credentials:write")
    with svc.tx() as s:
        subject = scoped_subject(s, who, subject_id)
        site_id = body.site_id or subject.site_id
        if site_id is None:
            raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
        scoped_site(s, who, site_id)
        row, shown = access.issue_credential(
            s, svc.credential_secret, subject_id=subject_id, site_id=site_id, type=body.type, value=body.value,
            valid_for=dt.timedelta(days=body.valid_days) if body.valid_days else None, label=body.label,
            actor=who.actor)
        return {**access.credential_to_dict(row), "value": shown}


@router.delete("/v1/credentials/{credential_id}")
def revoke_credential(credential_id: str, who: Caller, svc: Svc) -> dict:
    """Revoke a credential; refused if it is a resident's only way in (E_ALTERNATIVE_REQUIRED)."""
    who.require("credentials:write")
    with svc.tx() as s:
        row = access_store.credential(s, credential_id)
        if row is None or not who.sees_site(row.site_id, row.tenant_id):
            raise TrustfaceError(codes.E_NOT_FOUND, f"credential {credential_id!r} does not exist")
        access.revoke_credential(s, credential_id=credential_id, actor=who.actor)
        return {"id": credential_id, "revoked": True}


# --- subject rights --------------------------------------------------------------------------------

@router.get("/v1/subjects/{subject_id}/report")
def subject_report(subject_id: str, who: Caller, svc: Svc) -> dict:
    """What is held about the subject (PIPL-45, GDPR-15): never template bytes or credential values."""
    who.require("reports:read")
    with svc.tx() as s:
        scoped_subject(s, who, subject_id)
        return rights.subject_report(s, subject_id, actor=who.actor)


@router.get("/v1/subjects/{subject_id}/evidence")
def evidence_bundle(subject_id: str, who: Caller, svc: Svc) -> dict:
    """The subject's audit events with a chain proof to the signed head, checkable offline (SPC-6)."""
    if who.role != "subject":
        who.require("audit:read")
    with svc.tx() as s:
        subject = scoped_subject(s, who, subject_id)
        bundle = audit.export_subject(s, subject_id, actor=who.actor)
        bundle["tenant_id"] = subject.tenant_id
        return bundle


class RestrictIn(Body):
    reason: str = Field(max_length=2000)


@router.post("/v1/subjects/{subject_id}/restrict", dependencies=JSON)
def restrict(subject_id: str, body: RestrictIn, who: Caller, svc: Svc) -> dict:
    """Restrict processing of the subject's face data at once (PIPL-44, GDPR-18, R23)."""
    who.require("subjects:write")
    with svc.tx() as s:
        scoped_subject(s, who, subject_id)
        return rights.restrict_subject(s, subject_id, reason=body.reason, actor=who.actor)


@router.delete("/v1/subjects/{subject_id}")
def erase(subject_id: str, who: Caller, svc: Svc) -> dict:
    """Erase the subject's face data, credentials and identity; returns the deletion certificate
    (PIPL-47, GDPR-17). The pseudonymous id stays as the audit trail's anchor."""
    who.require("subjects:erase")
    with svc.tx() as s:
        scoped_subject(s, who, subject_id)
        return rights.erase_subject(s, subject_id, actor=who.actor, channel="app")
