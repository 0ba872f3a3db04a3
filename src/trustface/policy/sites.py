"""Tenants, sites, device locations, purposes, legal bases, PIAs, notices, signage, site suspension.

PIAs go stale (:func:`pia_status`) when a purpose's modes are not all covered, the announced scope
changed after approval, or a major incident was recorded; :func:`set_purpose_modes` refuses to switch
identify/analyze on without an approved, fresh PIA (E_PIA_MISSING, R20).

Every function takes the caller's session, validates, changes the database and writes its audit
event in the same transaction (R21); the caller commits. ``now`` (aware UTC) moves the clock in tests.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from trustface import audit
from trustface.audit.chain import canonical
from trustface.db import compliance_store, repo
from trustface.db.models import DeviceLocation, LegalBasisRecord, Notice, Pia, Purpose, Site, Tenant, new_id
from trustface.errors import TrustfaceError
from trustface.policy import codes, profiles
from trustface.policy._common import invalid, not_found, require_text, sha256_hex, utc
from trustface.policy.vocab import (
    JURISDICTIONS,
    LEGAL_BASES,
    LOCATION_TYPES,
    MODES,
    NOTICE_FIELDS,
    NOTICE_KINDS,
    PRIVATE_LOCATION_TYPES,
    SITE_TYPES,
    STATUTORY_BASES,
    SUSPENSION_KINDS,
)


def _admin(session: Session, action: str, actor: str, tenant: str | None, now: dt.datetime, **payload: Any) -> int:
    return audit.record(session, "admin", actor=actor, tenant_id=tenant,
                        payload={"action": action, **payload}, now=now)


def get_site(session: Session, site_id: str) -> Site:
    site = repo.site(session, site_id)
    if site is None:
        raise not_found("site", site_id)
    return site


def get_purpose(session: Session, site_id: str, name: str) -> Purpose:
    purpose = repo.purpose_by_name(session, site_id, name)
    if purpose is None:
        raise TrustfaceError(codes.E_PURPOSE_NOT_CONSENTED, f"site {site_id} declares no purpose {name!r}")
    return purpose


# --- tenants and sites --------------------------------------------------------------------------

def create_tenant(session: Session, *, name: str, contact: str, actor: str, now: dt.datetime | None = None) -> Tenant:
    """Register the processor (its name and contact appear in every notice, PIPL-17)."""
    now = utc(now)
    t = repo.add(session, Tenant(id=new_id("ten"), name=require_text(name, "tenant name", max_len=200),
                                 contact=require_text(contact, "tenant contact", max_len=200), created_at=now))
    _admin(session, "tenant_created", actor, t.id, now, tenant_id=t.id, name=t.name)
    return t


def create_site(session: Session, *, tenant_id: str, name: str, site_type: str, jurisdiction: str,
                guardian_age: int | None = None, actor: str, now: dt.datetime | None = None) -> Site:
    """A site with a type (SPC-2(1)) and a jurisdiction profile. ``guardian_age`` is the EU Member
    State's value (13-16, GDPR-8); other profiles fix it."""
    now = utc(now)
    if repo.tenant(session, tenant_id) is None:
        raise not_found("tenant", tenant_id)
    if site_type not in SITE_TYPES:
        raise invalid(f"site type must be one of {', '.join(SITE_TYPES)}", ("SPC-2(1)", "R18"))
    if jurisdiction not in JURISDICTIONS:
        raise invalid(f"jurisdiction must be one of {', '.join(JURISDICTIONS)}")
    profile = profiles.load(jurisdiction)
    if guardian_age is not None:
        if not isinstance(guardian_age, int) or not profile.guardian_age_min <= guardian_age <= profile.guardian_age_max:
            raise invalid(f"guardian age for profile {jurisdiction} must be between {profile.guardian_age_min} "
                          f"and {profile.guardian_age_max}", ("R3", "GDPR-8"))
    site = repo.add(session, Site(id=new_id("site"), tenant_id=tenant_id, name=require_text(name, "site name", max_len=200),
                                  site_type=site_type, jurisdiction=jurisdiction, guardian_age=guardian_age,
                                  created_at=now))
    _admin(session, "site_created", actor, tenant_id, now, site_id=site.id, site_type=site_type,
           jurisdiction=jurisdiction, guardian_age=profile.guardian_age_for(guardian_age))
    return site


def register_device_location(session: Session, *, site_id: str, name: str, location_type: str, actor: str,
                             now: dt.datetime | None = None) -> DeviceLocation:
    """Register where a device is mounted. Private spaces are refused with E_PRIVATE_SPACE (R18)."""
    now = utc(now)
    site = get_site(session, site_id)
    if location_type in PRIVATE_LOCATION_TYPES:
        _admin(session, "device_location_refused", actor, site.tenant_id, now, site_id=site_id,
               location_type=location_type, code=codes.E_PRIVATE_SPACE)
        raise TrustfaceError(codes.E_PRIVATE_SPACE,
                             f"a camera may not be placed in a private space ({location_type})")
    if location_type not in LOCATION_TYPES:
        raise invalid(f"unknown location type {location_type!r}")
    loc = repo.add(session, DeviceLocation(id=new_id("loc"), site_id=site_id,
                                           name=require_text(name, "location name", max_len=200),
                                           location_type=location_type, created_at=now))
    _admin(session, "device_location_registered", actor, site.tenant_id, now, site_id=site_id,
           location_id=loc.id, location_type=location_type)
    return loc


def attest_signage(session: Session, *, site_id: str, attested_by: str, evidence: str, actor: str,
                   now: dt.datetime | None = None) -> Site:
    """Record that signage announcing face recognition is posted (SPC-2(1), R18)."""
    now = utc(now)
    site = get_site(session, site_id)
    site.signage_attested_at = now
    site.signage_attested_by = require_text(attested_by, "attested_by", ("R18",), 200)
    site.signage_evidence = require_text(evidence, "signage evidence", ("R18",))
    _admin(session, "signage_attested", actor, site.tenant_id, now, site_id=site_id, attested_by=attested_by)
    return site


def suspend_site(session: Session, *, site_id: str, reason: str, actor: str, kind: str = "suspend",
                 now: dt.datetime | None = None) -> Site:
    """Stop all processing at a site from the very next gate call (SPC-9, R23)."""
    now = utc(now)
    if kind not in SUSPENSION_KINDS:
        raise invalid(f"kind must be one of {', '.join(SUSPENSION_KINDS)}")
    site = get_site(session, site_id)
    site.suspended_at, site.suspension_kind = now, kind
    site.suspension_reason = require_text(reason, "reason", ("R23",))
    _admin(session, "site_suspended", actor, site.tenant_id, now, site_id=site_id, kind=kind, reason=reason)
    return site


def lift_site_suspension(session: Session, *, site_id: str, actor: str, now: dt.datetime | None = None) -> Site:
    now = utc(now)
    site = get_site(session, site_id)
    site.suspended_at = site.suspension_kind = site.suspension_reason = None
    _admin(session, "site_suspension_lifted", actor, site.tenant_id, now, site_id=site_id)
    return site


# --- purposes, legal bases, PIAs ----------------------------------------------------------------

def _parse_modes(modes: str | Iterable[str] | None) -> list[str]:
    if isinstance(modes, str):
        modes = [m.strip() for m in modes.split(",") if m.strip()]
    parsed = list(dict.fromkeys(modes or []))
    if not parsed or any(m not in MODES for m in parsed):
        raise invalid(f"modes must be a non-empty subset of {', '.join(MODES)}", ("R5",))
    return parsed


def create_purpose(session: Session, *, site_id: str, name: str, allowed_modes: str | Iterable[str], legal_basis: str,
                   necessity_justification: str, retention_days: object, ends_at: dt.datetime | None = None,
                   actor: str, now: dt.datetime | None = None) -> Purpose:
    """Declare a purpose: allowed modes, legal basis (PIPL-13), necessity (SPC-3) and a finite
    retention within the profile's cap (R13, SPC-11; otherwise E_RETENTION_UNBOUNDED)."""
    now = utc(now)
    site = get_site(session, site_id)
    profile = profiles.load(site.jurisdiction)
    name = require_text(name, "purpose name", max_len=80)
    modes = _parse_modes(allowed_modes)
    if legal_basis not in LEGAL_BASES:
        raise TrustfaceError(codes.E_LEGAL_BASIS_INVALID,
                             f"legal basis must be one of {', '.join(LEGAL_BASES)} (PIPL-13)")
    necessity = require_text(necessity_justification, "necessity justification", ("SPC-3", "PIPL-30"))
    if (retention_days is None or isinstance(retention_days, bool) or not isinstance(retention_days, int)
            or retention_days <= 0):
        raise TrustfaceError(codes.E_RETENTION_UNBOUNDED,
                             f"purpose {name!r} needs a finite retention in days (got {retention_days!r})")
    if retention_days > profile.max_retention_days:
        raise TrustfaceError(codes.E_RETENTION_UNBOUNDED,
                             f"retention {retention_days} days exceeds the {profile.id} cap of "
                             f"{profile.max_retention_days} days")
    if ends_at is not None:
        ends_at = utc(ends_at)
    if repo.purpose_by_name(session, site_id, name) is not None:
        raise invalid(f"site {site_id} already has a purpose {name!r}")
    p = repo.add(session, Purpose(id=new_id("pur"), site_id=site_id, name=name, allowed_modes=",".join(modes),
                                  legal_basis=legal_basis, necessity_justification=necessity,
                                  retention_days=retention_days, ends_at=ends_at, created_at=now))
    _admin(session, "purpose_created", actor, site.tenant_id, now, site_id=site_id, purpose_id=p.id, name=name,
           modes=modes, legal_basis=legal_basis, retention_days=retention_days,
           ends_at=ends_at.isoformat() if ends_at else None)
    return p


def record_legal_basis(session: Session, *, purpose_id: str, mode: str, basis: str, justification: str,
                       approver: str, expires_at: dt.datetime | None = None, actor: str,
                       now: dt.datetime | None = None) -> LegalBasisRecord:
    """Record the legal basis for one purpose x mode (R22, SPC-5, PIPL-13).

    Identify/analyze at business or public sites need one (E_MODE_NOT_ALLOWED otherwise). The
    statutory bases that permit processing without consent (emergency, public safety, legal duty)
    need a justification, a named approver and a future expiry, and stop working at that expiry.
    """
    now = utc(now)
    purpose = repo.get(session, Purpose, purpose_id)
    if purpose is None:
        raise not_found("purpose", purpose_id)
    if mode not in MODES:
        raise invalid(f"mode must be one of {', '.join(MODES)}")
    if basis not in LEGAL_BASES:
        raise TrustfaceError(codes.E_LEGAL_BASIS_INVALID, f"legal basis must be one of {', '.join(LEGAL_BASES)}")
    if not isinstance(justification, str) or not justification.strip():
        raise TrustfaceError(codes.E_LEGAL_BASIS_INVALID, "a legal basis needs a justification")
    if not isinstance(approver, str) or not approver.strip():
        raise TrustfaceError(codes.E_LEGAL_BASIS_INVALID, "a legal basis needs a named approver")
    if expires_at is not None:
        expires_at = utc(expires_at)
    if basis in STATUTORY_BASES:
        if expires_at is None:
            raise TrustfaceError(codes.E_LEGAL_BASIS_INVALID,
                                 f"the {basis} basis must carry an expiry (SPC-5: auto-expiry)")
        if expires_at <= now:
            raise TrustfaceError(codes.E_LEGAL_BASIS_INVALID, f"the {basis} basis expiry is in the past")
    site = get_site(session, purpose.site_id)
    rec = repo.add(session, LegalBasisRecord(id=new_id("lb"), purpose_id=purpose_id, mode=mode, basis=basis,
                                             justification=justification.strip(), approver=approver.strip(),
                                             recorded_at=now, expires_at=expires_at))
    _admin(session, "legal_basis_recorded", actor, site.tenant_id, now, purpose_id=purpose_id, mode=mode,
           basis=basis, approver=approver, legal_basis_id=rec.id,
           expires_at=expires_at.isoformat() if expires_at else None,
           notify_later=basis in {"emergency", "public_safety"})
    return rec


def revoke_legal_basis(session: Session, *, legal_basis_id: str, actor: str, now: dt.datetime | None = None) -> LegalBasisRecord:
    now = utc(now)
    rec = repo.get(session, LegalBasisRecord, legal_basis_id)
    if rec is None:
        raise not_found("legal basis", legal_basis_id)
    rec.revoked_at = now
    purpose = repo.get(session, Purpose, rec.purpose_id)
    if purpose is None:
        raise not_found("purpose", rec.purpose_id)
    site = get_site(session, purpose.site_id)
    _admin(session, "legal_basis_revoked", actor, site.tenant_id, now, legal_basis_id=rec.id)
    return rec


PIA_SECTIONS = ("lawfulness_necessity", "rights_impact", "risks", "protections")  # CAC-9 (1)-(4)


def approve_pia(session: Session, *, purpose_id: str, modes: str | Iterable[str], sections: dict[str, Any], approver: str,
                actor: str, now: dt.datetime | None = None) -> Pia:
    """Record an approved impact assessment covering a purpose and modes (R20, PIPL-55, CAC-9)."""
    now = utc(now)
    purpose = repo.get(session, Purpose, purpose_id)
    if purpose is None:
        raise not_found("purpose", purpose_id)
    modes = _parse_modes(modes)
    if not isinstance(sections, dict):
        raise invalid("PIA sections must be a mapping", ("R20", "CAC-9"))
    missing = [s for s in PIA_SECTIONS if not isinstance(sections.get(s), str) or not sections[s].strip()]
    if missing:
        raise invalid(f"PIA is missing sections: {', '.join(missing)}", ("R20", "CAC-9"))
    approver = require_text(approver, "PIA approver", ("R20",), 200)
    site = get_site(session, purpose.site_id)
    pia = repo.add(session, Pia(id=new_id("pia"), site_id=site.id, purpose_id=purpose_id, modes=",".join(modes),
                                sections=canonical(sections), approver=approver, approved_at=now))
    _admin(session, "pia_approved", actor, site.tenant_id, now, pia_id=pia.id, purpose_id=purpose_id,
           modes=modes, approver=approver)
    return pia


#: what makes an approved PIA stale (R20, CAC-9: re-assess when purpose or method changes or after a
#: major security incident); :func:`pia_status` reports each reason it finds
PIA_STALE_REASONS = ("modes_not_covered", "notice_scope_changed", "major_incident")
#: notice fields whose change after approval changes the assessed scope (purpose, method)
PIA_SCOPE_FIELDS = ("purposes", "methods")
MAJOR_INCIDENT_SEVERITIES = frozenset({"major", "critical"})


@dataclass(frozen=True)
class PiaStatus:
    """Where a purpose stands with its impact assessment (R20).

    ``state``: ``fresh`` (an approved, unrevoked PIA covers every declared mode and nothing it
    assessed has changed), ``stale`` (one exists but ``reasons`` say why it no longer holds),
    ``missing`` (none, or all revoked) or ``not_required`` (no PIA and the purpose uses no mode the
    profile reserves for one). ``pia`` is the PIA the state refers to (the fresh one, else the latest)."""

    state: str
    purpose_id: str
    modes: tuple[str, ...]
    required_modes: tuple[str, ...]
    pia: Pia | None = None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "purpose_id": self.purpose_id, "modes": list(self.modes),
                "required_modes": list(self.required_modes), "pia_id": self.pia.id if self.pia else None,
                "pia_modes": self.pia.modes.split(",") if self.pia else [],
                "approved_at": self.pia.approved_at.isoformat() if self.pia else None,
                "approver": self.pia.approver if self.pia else None, "reasons": list(self.reasons)}


def _notice_scope_at(notices: list[Notice], when: dt.datetime | None) -> dict[str, Any] | None:
    """The scope fields of the general notice in force at ``when`` (None: the current one)."""
    published = [n for n in notices if n.kind == "general" and n.published_at is not None
                 and (when is None or n.published_at <= when)]
    if not published:
        return None
    content = json.loads(max(published, key=lambda n: n.version).content)
    return {f: content.get(f) for f in PIA_SCOPE_FIELDS}


def _pia_stale_reasons(session: Session, pia: Pia, modes: Sequence[str], site: Site, notices: list[Notice]) -> list[str]:
    reasons = []
    uncovered = [m for m in modes if m not in pia.modes.split(",")]
    if uncovered:
        reasons.append(f"modes_not_covered: {', '.join(uncovered)}")
    before, now_scope = _notice_scope_at(notices, pia.approved_at), _notice_scope_at(notices, None)
    if before is not None and now_scope is not None and before != now_scope:
        changed = [f for f in PIA_SCOPE_FIELDS if before.get(f) != now_scope.get(f)]
        reasons.append(f"notice_scope_changed: {', '.join(changed)}")
    for ev in compliance_store.events(session, tenant_id=site.tenant_id, types=["admin"],
                                      actions=["security_incident"]):
        when = dt.datetime.fromisoformat(ev["occurred_at"])
        if when > pia.approved_at and ev["payload"].get("severity") in MAJOR_INCIDENT_SEVERITIES \
                and ev["payload"].get("site_id") in (None, site.id):
            reasons.append(f"major_incident: audit event {ev['seq']}")
            break
    return reasons


def pia_status(session: Session, purpose_id: str, *, modes: str | Iterable[str] | None = None) -> PiaStatus:
    """The impact-assessment state of a purpose (R20, PIPL-55, CAC-9, GDPR-35).

    A PIA is stale when the purpose's modes are not all covered by it (a mode was switched on
    after approval), when the published notice's purposes or methods changed after approval (the
    scope that was assessed is no longer the scope announced), or when a major security incident
    was recorded after approval (an ``admin`` audit event with action ``security_incident`` and
    severity major/critical). ``modes`` evaluates a planned mode set instead of the current one."""
    purpose = repo.get(session, Purpose, purpose_id)
    if purpose is None:
        raise not_found("purpose", purpose_id)
    site = get_site(session, purpose.site_id)
    profile = profiles.load(site.jurisdiction)
    modes = tuple(_parse_modes(modes) if modes is not None else purpose.allowed_modes.split(","))
    required = tuple(m for m in modes if m in profile.pia_required_modes)
    current = [p for p in compliance_store.pias_of_purpose(session, purpose_id) if p.revoked_at is None]
    if not current:
        return PiaStatus("not_required" if not required else "missing", purpose_id, modes, required, None,
                         () if not required else ("no approved, unrevoked PIA",))
    notices = compliance_store.notices_of_site(session, site.id, "general")
    stale: PiaStatus | None = None
    for pia in sorted(current, key=lambda p: (p.approved_at, p.id), reverse=True):
        reasons = _pia_stale_reasons(session, pia, modes, site, notices)
        if not reasons:
            return PiaStatus("fresh", purpose_id, modes, required, pia)
        stale = stale or PiaStatus("stale", purpose_id, modes, required, pia, tuple(reasons))
    assert stale is not None  # `current` is not empty: the loop returned or set it
    return stale


def set_purpose_modes(session: Session, *, purpose_id: str, modes: str | Iterable[str], actor: str,
                      now: dt.datetime | None = None) -> Purpose:
    """Switch a purpose's modes on or off (R5, R20).

    Switching to a mode set that includes one the profile reserves for an impact assessment
    (identify, analyze) needs an approved, fresh PIA covering every mode of the new set, approved
    beforehand; otherwise E_PIA_MISSING (PIPL-55, CAC-9, GDPR-35). Earlier PIAs that do not cover
    the new set become stale and are revoked (``pia_stale`` audit event), so the gate stops
    relying on them. Consents stay per mode (PIPL-14(2)): a new mode needs its own consent."""
    now = utc(now)
    purpose = repo.get(session, Purpose, purpose_id)
    if purpose is None:
        raise not_found("purpose", purpose_id)
    site = get_site(session, purpose.site_id)
    profile = profiles.load(site.jurisdiction)
    new = _parse_modes(modes)
    old = purpose.allowed_modes.split(",")
    if new == old:
        return purpose
    status = pia_status(session, purpose_id, modes=new)
    if status.required_modes and status.state != "fresh":
        why = "; ".join(status.reasons) or "none approved"
        raise TrustfaceError(codes.E_PIA_MISSING,
                             f"switching {purpose.name!r} to {', '.join(new)} needs an approved, fresh impact "
                             f"assessment covering those modes ({why})")
    purpose.allowed_modes = ",".join(new)
    for pia in compliance_store.pias_of_purpose(session, purpose_id):
        if pia.revoked_at is None and not set(new) <= set(pia.modes.split(",")):
            pia.revoked_at = now
            _admin(session, "pia_stale", actor, site.tenant_id, now, pia_id=pia.id, purpose_id=purpose_id,
                   reason="modes_changed", modes=new)
    _admin(session, "purpose_modes_changed", actor, site.tenant_id, now, site_id=site.id, purpose_id=purpose_id,
           old_modes=old, new_modes=new, pia_id=status.pia.id if status.pia else None,
           pia_required=sorted(m for m in new if m in profile.pia_required_modes))
    return purpose


# --- notices ------------------------------------------------------------------------------------

def create_notice(session: Session, *, site_id: str, content: dict[str, Any], kind: str = "general", actor: str,
                  now: dt.datetime | None = None) -> Notice:
    """Draft the next version of the site's processing rules. The validator requires the PIPL-17
    and PIPL-30 fields (controller, contact, purposes, methods, categories, retention, rights
    procedure, necessity, impact, withdrawal) (R4)."""
    now = utc(now)
    site = get_site(session, site_id)
    if kind not in NOTICE_KINDS:
        raise invalid(f"notice kind must be one of {', '.join(NOTICE_KINDS)}")
    if not isinstance(content, dict):
        raise invalid("notice content must be a mapping", ("R4",))
    missing = [f for f in NOTICE_FIELDS if not content.get(f)]
    if missing:
        raise invalid(f"notice is missing required fields: {', '.join(missing)}", ("R4", "PIPL-17", "PIPL-30"))
    try:
        text = canonical(content)
    except (TypeError, ValueError):
        raise invalid("notice content must be plain JSON data", ("R4",)) from None
    n = repo.add(session, Notice(id=new_id("ntc"), site_id=site_id, kind=kind,
                                 version=repo.next_notice_version(session, site_id, kind), content=text,
                                 content_hash=sha256_hex(json.loads(text)), created_at=now))
    audit.record(session, "notice", actor=actor, tenant_id=site.tenant_id, now=now,
                 payload={"action": "created", "site_id": site_id, "notice_id": n.id, "kind": kind,
                          "version": n.version, "content_hash": n.content_hash})
    return n


def publish_notice(session: Session, *, notice_id: str, actor: str, now: dt.datetime | None = None) -> Notice:
    """Publish a notice version; consents must cite the hash of the current published version."""
    now = utc(now)
    n = repo.get(session, Notice, notice_id)
    if n is None:
        raise not_found("notice", notice_id)
    current = repo.current_notice(session, n.site_id, n.kind)
    if current is not None and current.version > n.version:
        raise invalid(f"notice version {n.version} is older than the published version {current.version}")
    if n.published_at is None:
        n.published_at = now
    site = get_site(session, n.site_id)
    audit.record(session, "notice", actor=actor, tenant_id=site.tenant_id, now=now,
                 payload={"action": "published", "site_id": n.site_id, "notice_id": n.id, "kind": n.kind,
                          "version": n.version, "content_hash": n.content_hash})
    return n


def current_notice(session: Session, site_id: str, kind: str = "general") -> Notice | None:
    return repo.current_notice(session, site_id, kind)
