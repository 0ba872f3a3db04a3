"""Tenants, sites, purposes, PIAs, signage, notices (and the public notice page), gates and
visitor passes. Thin: parse, check scope, call :mod:`trustface.policy.sites` /
:mod:`trustface.access.service`, format."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from trustface.access import service as access
from trustface.api.deps import Body, Caller, Mode, Svc, json_content, scoped_gate, scoped_site, tenant_for
from trustface.db import access_store, repo
from trustface.db.models import Notice
from trustface.errors import TrustfaceError
from trustface.policy import codes, sites

router = APIRouter(tags=["sites"])
public = APIRouter(tags=["public"])
JSON = [Depends(json_content)]


def site_to_dict(session, site) -> dict:
    notice = repo.current_notice(session, site.id)
    return {"id": site.id, "tenant_id": site.tenant_id, "name": site.name, "site_type": site.site_type,
            "jurisdiction": site.jurisdiction, "suspended": site.suspension_kind,
            "signage_attested": site.signage_attested_at is not None,
            "notice_version": notice.version if notice else None,
            "purposes": [{"id": p.id, "name": p.name, "modes": p.allowed_modes.split(","),
                          "retention_days": p.retention_days} for p in repo.purposes_of_site(session, site.id)],
            "gates": [access.gate_to_dict(g) for g in access_store.gates_of_site(session, site.id)],
            "created_at": site.created_at.isoformat()}


class TenantIn(Body):
    name: str = Field(max_length=200)
    contact: str = Field(max_length=200, description="the processor's contact shown in notices (PIPL-17)")


@router.post("/v1/tenants", status_code=201, dependencies=JSON)
def create_tenant(body: TenantIn, who: Caller, svc: Svc) -> dict:
    """Register a processor (deployment administrator only)."""
    who.require("tenants:write")
    if not who.is_root:
        raise TrustfaceError(codes.E_NOT_FOUND, "tenants are created by the deployment administrator")
    with svc.tx() as s:
        t = sites.create_tenant(s, name=body.name, contact=body.contact, actor=who.actor)
        return {"id": t.id, "name": t.name}


class SiteIn(Body):
    name: str = Field(max_length=200)
    site_type: Literal["residential", "business", "public", "workplace", "education", "online"] = "residential"
    jurisdiction: Literal["cn", "eu", "us-il"] = "cn"
    guardian_age: int | None = Field(None, description="EU only: the Member State's age of consent (13-16)")
    tenant_id: str | None = Field(None, description="only for the deployment administrator")


@router.post("/v1/sites", status_code=201, dependencies=JSON)
def create_site(body: SiteIn, who: Caller, svc: Svc) -> dict:
    who.require("sites:write")
    with svc.tx() as s:
        tenant = tenant_for(s, who, body.tenant_id)
        site = sites.create_site(s, tenant_id=tenant, name=body.name, site_type=body.site_type,
                                 jurisdiction=body.jurisdiction, guardian_age=body.guardian_age, actor=who.actor)
        return site_to_dict(s, site)


@router.get("/v1/sites")
def list_sites(who: Caller, svc: Svc) -> dict:
    who.require("sites:read")
    with svc.tx() as s:
        tenants = [t.id for t in access_store.tenants(s)] if who.is_root else [who.tenant_id]
        found = [site for t in tenants for site in access_store.sites_of_tenant(s, t)
                 if who.sees_site(site.id, site.tenant_id)]
        return {"sites": [site_to_dict(s, site) for site in found]}


@router.get("/v1/sites/{site_id}")
def get_site(site_id: str, who: Caller, svc: Svc) -> dict:
    who.require("sites:read")
    with svc.tx() as s:
        return site_to_dict(s, scoped_site(s, who, site_id))


class PurposeIn(Body):
    name: str = Field(max_length=80, examples=["door_access"])
    allowed_modes: list[Mode] = Field(min_length=1)
    legal_basis: str = "consent"
    necessity_justification: str = Field(max_length=2000)
    retention_days: int = Field(gt=0, description="finite retention is required (SPC-11, R13)")


@router.post("/v1/sites/{site_id}/purposes", status_code=201, dependencies=JSON)
def create_purpose(site_id: str, body: PurposeIn, who: Caller, svc: Svc) -> dict:
    who.require("sites:write")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        p = sites.create_purpose(s, site_id=site_id, name=body.name, allowed_modes=body.allowed_modes,
                                 legal_basis=body.legal_basis, necessity_justification=body.necessity_justification,
                                 retention_days=body.retention_days, actor=who.actor)
        return {"id": p.id, "name": p.name, "modes": p.allowed_modes.split(","), "retention_days": p.retention_days}


class PiaIn(Body):
    purpose: str
    modes: list[Mode] = Field(min_length=1)
    sections: dict[str, str]
    approver: str = Field(max_length=200)


@router.post("/v1/sites/{site_id}/pias", status_code=201, dependencies=JSON)
def approve_pia(site_id: str, body: PiaIn, who: Caller, svc: Svc) -> dict:
    """Record an approved impact assessment for a purpose and modes (PIPL-55, CAC-9, R20)."""
    who.require("sites:write")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        purpose = sites.get_purpose(s, site_id, body.purpose)
        pia = sites.approve_pia(s, purpose_id=purpose.id, modes=body.modes, sections=body.sections,
                                approver=body.approver, actor=who.actor)
        return {"id": pia.id, "purpose": body.purpose, "modes": body.modes}


class SignageIn(Body):
    attested_by: str = Field(max_length=200)
    evidence: str = Field(max_length=2000)


@router.post("/v1/sites/{site_id}/signage", dependencies=JSON)
def attest_signage(site_id: str, body: SignageIn, who: Caller, svc: Svc) -> dict:
    """Record that signs announcing face recognition are posted (SPC-2(1), R18)."""
    who.require("sites:write")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        site = sites.attest_signage(s, site_id=site_id, attested_by=body.attested_by, evidence=body.evidence,
                                    actor=who.actor)
        return {"site_id": site.id, "signage_attested_at": site.signage_attested_at.isoformat()}


class NoticeIn(Body):
    content: dict[str, Any] = Field(description="controller, contact, purposes, methods, categories, retention, "
                                                "rights_procedure, necessity, impact, withdrawal (PIPL-17)")
    kind: Literal["general", "minors"] = "general"


def notice_to_dict(n: Notice) -> dict:
    return {"id": n.id, "site_id": n.site_id, "kind": n.kind, "version": n.version, "content_hash": n.content_hash,
            "published_at": n.published_at.isoformat() if n.published_at else None, "content": json.loads(n.content)}


@router.post("/v1/sites/{site_id}/notices", status_code=201, dependencies=JSON)
def create_notice(site_id: str, body: NoticeIn, who: Caller, svc: Svc) -> dict:
    who.require("sites:write")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        return notice_to_dict(sites.create_notice(s, site_id=site_id, content=body.content, kind=body.kind,
                                                  actor=who.actor))


@router.post("/v1/notices/{notice_id}/publish")
def publish_notice(notice_id: str, who: Caller, svc: Svc) -> dict:
    who.require("sites:write")
    with svc.tx() as s:
        n = repo.get(s, Notice, notice_id)
        if n is None:
            raise TrustfaceError(codes.E_NOT_FOUND, f"notice {notice_id!r} does not exist")
        scoped_site(s, who, n.site_id)
        return notice_to_dict(sites.publish_notice(s, notice_id=notice_id, actor=who.actor))


@public.get("/public/sites/{site_id}/notice")
def public_notice(site_id: str, svc: Svc, kind: Literal["general", "minors"] = "general") -> dict:
    """The site's published processing rules (no key needed: rules must be public, PIPL-17, R4)."""
    with svc.tx() as s:
        site = repo.site(s, site_id)
        notice = repo.current_notice(s, site_id, kind) if site is not None else None
        if notice is None:
            raise TrustfaceError(codes.E_NOT_FOUND, f"site {site_id!r} has no published {kind} notice")
        out = notice_to_dict(notice)
        out.pop("id")
        return {"site": {"id": site.id, "name": site.name, "site_type": site.site_type}, **out}


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
    liveness: Literal["off", "required"] = Field("off", description="required: a face opens the gate only "
                                                                    "through the liveness challenge burst")


@router.post("/v1/sites/{site_id}/gates", status_code=201, dependencies=JSON)
def create_gate(site_id: str, body: GateIn, who: Caller, svc: Svc) -> dict:
    """A gate and its ways in; face alone is refused with E_FACE_ONLY_POLICY (SPC-10, PIPL-16)."""
    who.require("gates:write")
    schedule = body.schedule.model_dump(by_alias=True) if body.schedule else None
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        g = access.create_gate(s, site_id=site_id, name=body.name, methods=body.methods, purpose=body.purpose,
                               location_id=body.location_id, schedule=schedule, liveness=body.liveness,
                               actor=who.actor)
        return access.gate_to_dict(g)


@router.get("/v1/sites/{site_id}/gates")
def list_gates(site_id: str, who: Caller, svc: Svc) -> dict:
    who.require("sites:read")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        return {"gates": [access.gate_to_dict(g) for g in access_store.gates_of_site(s, site_id)]}


@router.get("/v1/gates/{gate_id}")
def get_gate(gate_id: str, who: Caller, svc: Svc) -> dict:
    who.require("sites:read")
    with svc.tx() as s:
        return access.gate_to_dict(scoped_gate(s, who, gate_id))


class VisitorPassIn(Body):
    valid_minutes: int = Field(24 * 60, gt=0, le=7 * 24 * 60)
    label: str | None = Field(None, max_length=200)


@router.post("/v1/sites/{site_id}/visitor-passes", status_code=201, dependencies=JSON)
def issue_visitor_pass(site_id: str, body: VisitorPassIn, who: Caller, svc: Svc) -> dict:
    """A single-use QR pass for a visitor: no face, no subject record."""
    who.require("credentials:write")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        row, token = access.issue_visitor_pass(s, svc.credential_secret, site_id=site_id,
                                               valid_for=dt.timedelta(minutes=body.valid_minutes), label=body.label,
                                               actor=who.actor)
        return {**access.credential_to_dict(row), "qr": token}
