"""Tenants, sites, purposes, PIAs, signage, notices (and the public notice page), gates and
visitor passes. Thin: parse, call :mod:`trustface.services` (admin, purposes; gates and visitor passes:
:mod:`trustface.access.service`), format."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from trustface.access import service as access
from trustface.api.deps import Body, Caller, Ctx, Mode, json_content
from trustface.services import admin, gates, purposes

router = APIRouter(tags=["sites"])
public = APIRouter(tags=["public"])
JSON = [Depends(json_content)]


class TenantIn(Body):
    name: str = Field(max_length=200)
    contact: str = Field(max_length=200, description="the processor's contact shown in notices (PIPL-17)")


@router.post("/v1/tenants", status_code=201, dependencies=JSON)
def create_tenant(body: TenantIn, who: Caller, ctx: Ctx) -> dict:
    """Register a processor (deployment administrator only)."""
    t = admin.create_tenant(ctx, who, name=body.name, contact=body.contact)
    return {"id": t.id, "name": t.name}


class SiteIn(Body):
    name: str = Field(max_length=200)
    site_type: Literal["residential", "business", "public", "workplace", "education", "online"] = "residential"
    jurisdiction: Literal["cn", "eu", "us-il"] = "cn"
    guardian_age: int | None = Field(None, description="EU only: the Member State's age of consent (13-16)")
    tenant_id: str | None = Field(None, description="only for the deployment administrator")


@router.post("/v1/sites", status_code=201, dependencies=JSON)
def create_site(body: SiteIn, who: Caller, ctx: Ctx) -> dict:
    return admin.create_site(ctx, who, name=body.name, site_type=body.site_type, jurisdiction=body.jurisdiction,
                             guardian_age=body.guardian_age, tenant_id=body.tenant_id).to_dict()


@router.get("/v1/sites")
def list_sites(who: Caller, ctx: Ctx) -> dict:
    return {"sites": [site.to_dict() for site in admin.list_sites(ctx, who)]}


@router.get("/v1/sites/{site_id}")
def get_site(site_id: str, who: Caller, ctx: Ctx) -> dict:
    return admin.get_site(ctx, who, site_id).to_dict()


class PurposeIn(Body):
    name: str = Field(max_length=80, examples=["door_access"])
    allowed_modes: list[Mode] = Field(min_length=1)
    legal_basis: str = "consent"
    necessity_justification: str = Field(max_length=2000)
    retention_days: int = Field(gt=0, description="finite retention is required (SPC-11, R13)")


@router.post("/v1/sites/{site_id}/purposes", status_code=201, dependencies=JSON)
def create_purpose(site_id: str, body: PurposeIn, who: Caller, ctx: Ctx) -> dict:
    p = purposes.create_purpose(ctx, who, site_id, name=body.name, allowed_modes=body.allowed_modes,
                             legal_basis=body.legal_basis, necessity_justification=body.necessity_justification,
                             retention_days=body.retention_days)
    return {"id": p.id, "name": p.name, "modes": list(p.modes), "retention_days": p.retention_days}


class PiaIn(Body):
    purpose: str
    modes: list[Mode] = Field(min_length=1)
    sections: dict[str, str]
    approver: str = Field(max_length=200)


@router.post("/v1/sites/{site_id}/pias", status_code=201, dependencies=JSON)
def approve_pia(site_id: str, body: PiaIn, who: Caller, ctx: Ctx) -> dict:
    """Record an approved impact assessment for a purpose and modes (PIPL-55, CAC-9, R20)."""
    pia = purposes.approve_pia(ctx, who, site_id, purpose=body.purpose, modes=body.modes, sections=body.sections,
                            approver=body.approver)
    return {"id": pia.id, "purpose": body.purpose, "modes": body.modes}


class SignageIn(Body):
    attested_by: str = Field(max_length=200)
    evidence: str = Field(max_length=2000)


@router.post("/v1/sites/{site_id}/signage", dependencies=JSON)
def attest_signage(site_id: str, body: SignageIn, who: Caller, ctx: Ctx) -> dict:
    """Record that signs announcing face recognition are posted (SPC-2(1), R18)."""
    done = admin.attest_signage(ctx, who, site_id, attested_by=body.attested_by, evidence=body.evidence)
    return {"site_id": done.site_id, "signage_attested_at": done.attested_at.isoformat()}


class NoticeIn(Body):
    content: dict[str, Any] = Field(description="controller, contact, purposes, methods, categories, retention, "
                                                "rights_procedure, necessity, impact, withdrawal (PIPL-17)")
    kind: Literal["general", "minors"] = "general"


@router.post("/v1/sites/{site_id}/notices", status_code=201, dependencies=JSON)
def create_notice(site_id: str, body: NoticeIn, who: Caller, ctx: Ctx) -> dict:
    return admin.create_notice(ctx, who, site_id, content=body.content, kind=body.kind).to_dict()


@router.post("/v1/notices/{notice_id}/publish")
def publish_notice(notice_id: str, who: Caller, ctx: Ctx) -> dict:
    return admin.publish_notice(ctx, who, notice_id).to_dict()


@public.get("/public/sites/{site_id}/notice")
def public_notice(site_id: str, ctx: Ctx, kind: Literal["general", "minors"] = "general") -> dict:
    """The site's published processing rules (no key needed: rules must be public, PIPL-17, R4)."""
    found = admin.public_notice(ctx, site_id, kind=kind)
    out = found.notice.to_dict()
    out.pop("id")
    return {"site": {"id": found.site_id, "name": found.site_name, "site_type": found.site_type}, **out}


# --- gates and visitor passes -------------------------------------------------------------------

class Schedule(Body):
    days: list[int] = Field(default=[0, 1, 2, 3, 4, 5, 6], description="0 = Monday")
    from_: str = Field("00:00", alias="from", description="HH:MM, UTC")
    to: str = Field("23:59", description="HH:MM, UTC")


class GateIn(Body):
    name: str = Field(max_length=200)
    methods: list[str] = Field(description="face, pin, card, qr, visitor_pass; never face alone (SPC-10)")
    purpose: str = access.DEFAULT_PURPOSE
    location_id: str | None = None
    schedule: Schedule | None = None
    liveness: Literal["off", "required"] | None = Field(
        None, description="required (the default for a gate offering face): a face opens the gate only through the "
                          "liveness challenge burst; off needs liveness_off_reason (an attended gate)")
    liveness_off_reason: str | None = Field(None, max_length=500)
    face_mode: Literal["identify", "verify_after_credential"] = Field(
        "identify", description="identify: the face alone, 1:N; verify_after_credential: a PIN, card or QR code "
                                "names the resident, then the face is matched 1:1")
    credential_alone: list[str] | None = Field(None, description="at a two-factor gate, the credentials that also "
                                                                 "open it without a face (default all; never none)")
    fpir_budget: float | None = Field(None, description="stranger-admission budget: the most share of strangers' "
                                                        "face attempts that may match someone (1e-6 to 0.05, "
                                                        "default 1e-3); the identify threshold follows it at the "
                                                        "gallery's size")


@router.post("/v1/sites/{site_id}/gates", status_code=201, dependencies=JSON)
def create_gate(site_id: str, body: GateIn, who: Caller, ctx: Ctx) -> dict:
    """A gate and its ways in; face alone is refused with E_FACE_ONLY_POLICY (SPC-10, PIPL-16)."""
    schedule = body.schedule.model_dump(by_alias=True) if body.schedule else None
    return gates.create_gate(ctx, who, site_id=site_id, name=body.name, methods=body.methods, purpose=body.purpose,
                             location_id=body.location_id, schedule=schedule, liveness=body.liveness,
                             face_mode=body.face_mode, credential_alone=body.credential_alone,
                             fpir_budget=body.fpir_budget, liveness_off_reason=body.liveness_off_reason)


@router.get("/v1/sites/{site_id}/gates")
def list_gates(site_id: str, who: Caller, ctx: Ctx) -> dict:
    return {"gates": gates.list_gates(ctx, who, site_id)}


@router.get("/v1/gates/{gate_id}")
def get_gate(gate_id: str, who: Caller, ctx: Ctx) -> dict:
    return gates.get_gate(ctx, who, gate_id)


class VisitorPassIn(Body):
    valid_minutes: int = Field(24 * 60, gt=0, le=7 * 24 * 60)
    label: str | None = Field(None, max_length=200)


@router.post("/v1/sites/{site_id}/visitor-passes", status_code=201, dependencies=JSON)
def issue_visitor_pass(site_id: str, body: VisitorPassIn, who: Caller, ctx: Ctx) -> dict:
    """A single-use QR pass for a visitor: no face, no subject record."""
    return gates.issue_visitor_pass(ctx, who, site_id=site_id, valid_for=dt.timedelta(minutes=body.valid_minutes),
                                    label=body.label)
