"""The policy gate: the only door to face data (ARCHITECTURE; R1-R7, R13, R18-R20, R22, R23).

``authorize(session, ...)`` returns a :class:`Grant` for one subject (or one site gallery, for
1:N identify), one purpose and one mode, or a :class:`Denial` with a stable code. Both are written
to the audit trail in the caller's transaction (types ``grant`` / ``denial``); the caller commits.

Only this module can make a Grant: ``Grant.__post_init__`` refuses unless a module-private,
thread-local flag is set, which only :func:`authorize` sets while it builds the grant.
Constructing one elsewhere, or copying one with ``dataclasses.replace`` and a changed field,
raises :class:`GrantForgeryError`; a Grant is frozen.

Order of checks (first failure wins; docs/policy.md):

1. mode is verify / identify / analyze                          -> E_MODE_NOT_ALLOWED
2. site exists for the tenant                                   -> E_NOT_FOUND
3. site not suspended / restricted                              -> E_SUSPENDED (R23)
4. device location (if given) on this site, not a private space -> E_NOT_FOUND / E_PRIVATE_SPACE (R18)
5. purpose declared by the site, finite retention, not ended    -> E_PURPOSE_NOT_CONSENTED / E_RETENTION_UNBOUNDED
6. mode among the purpose's allowed modes                       -> E_MODE_NOT_ALLOWED (R5)
7. analyze: attributes on the allow-list, none on the deny-list -> E_PROHIBITED_INFERENCE (R19)
8. business/public + identify/analyze: current legal basis      -> E_MODE_NOT_ALLOWED (R18)
   and a signage attestation                                    -> E_SIGNAGE_UNCONFIRMED (R18)
9. modes the profile reserves for a PIA: approved PIA            -> E_PIA_MISSING (R20)
10. a published notice exists                                   -> E_NOTICE_NOT_SHOWN (R4)
11. a current statutory basis (emergency, public safety, legal duty) grants without consent
    until it expires (R22, SPC-5); a named subject must still exist and not be suspended
12. identify without a subject -> site-gallery grant (the gallery filters with consented_subject_ids)
13. subject exists, not suspended                               -> E_CONSENT_MISSING / E_SUSPENDED
14. active consent for this purpose x mode                      -> E_PURPOSE_NOT_CONSENTED (other purpose
    consented here) / E_CONSENT_MISSING; not expired, not lapsed by inactivity -> E_CONSENT_MISSING
15. consent cites the current notice hash                       -> E_NOTICE_NOT_SHOWN
16. minor under the profile's age: guardian block on the consent -> E_GUARDIAN_REQUIRED (R3)
17. us-il: written release on the consent                       -> E_WRITTEN_RELEASE_REQUIRED (R2)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import audit_store, repo
from trustface.db.fast import Raw
from trustface.db.models import new_id
from trustface.errors import CATALOGUE, E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes, profiles
from trustface.policy._common import is_minor, utc
from trustface.policy.vocab import (
    ALLOWED_ATTRIBUTES,
    ANALYZE,
    IDENTIFY,
    MODES,
    PREMISES_SITE_TYPES,
    PRIVATE_LOCATION_TYPES,
    STATUTORY_BASES,
)

DEFAULT_GRANT_TTL = dt.timedelta(minutes=5)
_minting = threading.local()  # private: set only inside _make_grant


class GrantForgeryError(TypeError):
    """A Grant was constructed or altered outside :func:`authorize`."""


@dataclass(frozen=True)
class Grant:
    """Permission to touch face data for one subject (or one site gallery when ``subject_id`` is
    None), one purpose, one mode, until ``expires_at``. Made only by :func:`authorize`."""

    grant_id: str
    tenant_id: str
    site_id: str
    subject_id: str | None
    purpose: str
    purpose_id: str
    mode: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    basis: str
    consent_id: str | None = None
    legal_basis_id: str | None = None
    attributes: tuple[str, ...] = ()
    location_id: str | None = None
    audit_seq: int = 0

    def __post_init__(self) -> None:
        # set only while authorize() builds a grant: Grant(...) or dataclasses.replace(grant, ...)
        # anywhere else raises
        if not getattr(_minting, "active", False):
            raise GrantForgeryError("only trustface.policy.gate.authorize() can make a Grant")

    @property
    def is_gallery_grant(self) -> bool:
        return self.subject_id is None

    def is_valid(self, now: dt.datetime | None = None) -> bool:
        return utc(now) < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (v.isoformat() if isinstance(v, dt.datetime) else list(v) if isinstance(v, tuple) else v)
                for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}


def _make_grant(**values: Any) -> Grant:
    _minting.active = True
    try:
        return Grant(**values)
    finally:
        _minting.active = False


@dataclass(frozen=True)
class Denial:
    """A refusal with a stable code (requirements.md §0.3), the requirement IDs and a sentence."""

    code: str
    requirement_ids: tuple[str, ...]
    message: str
    audit_seq: int = 0

    def to_error(self) -> TrustfaceError:
        return TrustfaceError(self.code, self.message, self.requirement_ids)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "requirements": list(self.requirement_ids), "message": self.message}


class _Deny(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message


def authorize(session: Session, *, tenant_id: str, site_id: str, purpose: str, mode: str,
              subject_id: str | None = None, location_id: str | None = None, attributes: Iterable[str] = (),
              actor: str = "system:gate", now: dt.datetime | None = None,
              ttl: dt.timedelta = DEFAULT_GRANT_TTL) -> Grant | Denial:
    """Decide whether face data may be processed; returns a Grant or a Denial (never raises for a
    policy refusal). Both outcomes are audited in the caller's transaction."""
    now = utc(now)
    attrs = tuple(attributes or ())
    ctx: dict[str, Any] = {"site_id": site_id, "purpose": purpose, "mode": mode}
    if location_id is not None:
        ctx["location_id"] = location_id
    if attrs:
        ctx["attributes"] = list(attrs)
    try:
        values = _decide(session, tenant_id, site_id, purpose, mode, subject_id, location_id, attrs, now, ttl)
    except _Deny as d:
        seq = audit.record(session, "denial", actor=actor, tenant_id=tenant_id, subject_id=subject_id, now=now,
                           payload={**ctx, "code": d.code, "reason": d.message})
        return Denial(d.code, CATALOGUE[d.code].requirements, d.message, seq)
    grant_id = new_id("grt")
    payload = {**ctx, "grant_id": grant_id, "purpose_id": values["purpose_id"], "basis": values["basis"],
               "expires_at": values["expires_at"].isoformat()}
    if values.get("consent_id"):
        payload["consent_id"] = values["consent_id"]
    if values.get("legal_basis_id"):
        payload["legal_basis_id"] = values["legal_basis_id"]
    seq = audit.record(session, "grant", actor=actor, tenant_id=tenant_id, subject_id=subject_id, now=now,
                       payload=payload)
    if subject_id is not None:
        # after the audit head is locked: every writer takes the head first, then domain rows
        # (no lock-order deadlock with service functions on PostgreSQL)
        repo.touch_subject(session, subject_id, now)
    return _make_grant(grant_id=grant_id, tenant_id=tenant_id, site_id=site_id, subject_id=subject_id,
                       purpose=purpose, mode=mode, issued_at=now, attributes=attrs, location_id=location_id,
                       audit_seq=seq, **values)


def _decide(session: Session, tenant_id: str, site_id: str, purpose: str, mode: str, subject_id: str | None,
            location_id: str | None, attributes: tuple[str, ...], now: dt.datetime,
            ttl: dt.timedelta) -> dict[str, Any]:
    """The Grant's values (purpose_id, basis, expires_at, consent_id / legal_basis_id), or _Deny.
    The checks run in the order of policy.md: the site and purpose, what may be inferred, the
    site's safeguards (legal basis, signage, impact assessment, notice), then the basis for this
    subject (a statutory basis, else the subject's own consent)."""
    if mode not in MODES:
        raise _Deny(codes.E_MODE_NOT_ALLOWED, f"unknown mode {mode!r}")
    if session.new or session.dirty or session.deleted:
        session.flush()  # Core reads below must see this transaction's pending ORM changes
    conn = repo.reader(session)
    ctx = repo.gate_context(conn, site_id, purpose, mode, now)
    purpose_id = _check_site(conn, ctx, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=mode,
                             location_id=location_id, now=now)
    assert ctx is not None  # _check_site refused a missing site
    profile = profiles.load(ctx.jurisdiction)
    _check_attributes(ctx, profile, mode, attributes)
    notice_hash = _check_safeguards(conn, ctx, profile, purpose_id=purpose_id, purpose=purpose, mode=mode)
    expires = now + ttl if ctx.ends_at is None else min(now + ttl, ctx.ends_at)
    if ctx.has_basis:
        statutory = _statutory_basis(conn, tenant_id=tenant_id, purpose_id=purpose_id, subject_id=subject_id,
                                     mode=mode, now=now, expires=expires)
        if statutory is not None:
            return statutory
    if subject_id is None:
        if mode == IDENTIFY:
            return {"purpose_id": purpose_id, "basis": "consent", "expires_at": expires}
        raise _Deny(codes.E_CONSENT_MISSING, f"{mode} needs a named subject with consent")
    return _consent_basis(conn, ctx, profile, tenant_id=tenant_id, site_id=site_id, subject_id=subject_id,
                          purpose_id=purpose_id, purpose=purpose, mode=mode, notice_hash=notice_hash, now=now,
                          expires=expires)


def _check_site(conn: Raw, ctx: repo.GateContext | None, *, tenant_id: str, site_id: str, purpose: str, mode: str,
                location_id: str | None, now: dt.datetime) -> str:
    """The site exists for this tenant and is not suspended, the device is not in a private space,
    and the site declares the purpose, with a finite retention, still running, allowing ``mode``.
    Returns the purpose id."""
    if ctx is None or ctx.tenant_id != tenant_id:
        raise _Deny(codes.E_NOT_FOUND, f"site {site_id!r} does not exist for this tenant")
    if ctx.suspended_at is not None:
        raise _Deny(codes.E_SUSPENDED, "processing at this site is suspended")
    if location_id is not None:
        loc = repo.gate_location(conn, location_id)
        if loc is None or loc.site_id != site_id:
            raise _Deny(codes.E_NOT_FOUND, f"device location {location_id!r} is not registered at this site")
        if loc.location_type in PRIVATE_LOCATION_TYPES:
            raise _Deny(codes.E_PRIVATE_SPACE, f"the device is in a private space ({loc.location_type})")
    if ctx.purpose_id is None:
        raise _Deny(codes.E_PURPOSE_NOT_CONSENTED, f"the site declares no purpose {purpose!r}")
    if not ctx.retention_days or ctx.retention_days <= 0:
        raise _Deny(codes.E_RETENTION_UNBOUNDED, f"purpose {purpose!r} has no finite retention")
    if ctx.ends_at is not None and ctx.ends_at <= now:
        raise _Deny(codes.E_PURPOSE_NOT_CONSENTED, f"purpose {purpose!r} has ended")
    if mode not in (ctx.allowed_modes or "").split(","):
        raise _Deny(codes.E_MODE_NOT_ALLOWED, f"purpose {purpose!r} does not allow mode {mode}")
    return ctx.purpose_id


def _check_attributes(ctx: repo.GateContext, profile: profiles.Profile, mode: str, attributes: tuple[str, ...]) -> None:
    """An analysis names allow-listed attributes only, never a deny-listed one (R19, SPC-2(7));
    other modes name none."""
    if mode != ANALYZE:
        if attributes:
            raise _Deny(E_INVALID_ARGUMENT, "attributes are only for mode analyze")
        return
    if not attributes:
        raise _Deny(E_INVALID_ARGUMENT, "an analysis must name its attributes")
    for attr in attributes:
        if attr in profile.deny_attributes:
            raise _Deny(codes.E_PROHIBITED_INFERENCE, f"inferring {attr!r} is prohibited")
        if attr == "emotion" and ctx.site_type in profile.emotion_blocked_site_types:
            raise _Deny(codes.E_PROHIBITED_INFERENCE,
                        f"emotion inference is prohibited at {ctx.site_type} sites under {profile.id}")
        if attr not in ALLOWED_ATTRIBUTES:
            raise _Deny(codes.E_PROHIBITED_INFERENCE, f"attribute {attr!r} is not on the analysis allow-list")


def _check_safeguards(conn: Raw, ctx: repo.GateContext, profile: profiles.Profile, *, purpose_id: str, purpose: str,
                      mode: str) -> str:
    """At premises, 1:N and analysis need a recorded legal basis and a signage attestation; the
    profile's modes need an approved impact assessment; every mode needs a published notice.
    Returns the notice's hash."""
    if mode in (IDENTIFY, ANALYZE) and ctx.site_type in PREMISES_SITE_TYPES:
        if not ctx.has_basis:
            raise _Deny(codes.E_MODE_NOT_ALLOWED,
                        f"{mode} at a {ctx.site_type} site needs a recorded legal basis")
        if ctx.signage_attested_at is None:
            raise _Deny(codes.E_SIGNAGE_UNCONFIRMED, f"{mode} at a {ctx.site_type} site needs a signage attestation")
    if mode in profile.pia_required_modes:
        if not any(mode in modes.split(",") for modes in repo.gate_pia_modes(conn, purpose_id)):
            raise _Deny(codes.E_PIA_MISSING, f"no approved impact assessment covers {purpose}/{mode}")
    if ctx.notice_hash is None:
        raise _Deny(codes.E_NOTICE_NOT_SHOWN, "the site has no published processing-rules notice")
    return ctx.notice_hash


def _statutory_basis(conn: Raw, *, tenant_id: str, purpose_id: str, subject_id: str | None, mode: str,
                     now: dt.datetime, expires: dt.datetime) -> dict[str, Any] | None:
    """A grant on a statutory basis with an end date (the earliest-ending one), if the purpose has
    one for ``mode``; a named subject must still exist here and not be suspended."""
    statutory = [b for b in repo.gate_legal_bases(conn, purpose_id, mode, now)
                 if b[1] in STATUTORY_BASES and b[2] is not None]
    if not statutory:
        return None
    basis_id, basis, basis_expires = min(statutory, key=lambda b: b[2])
    if subject_id is not None:
        subj = repo.gate_subject(conn, subject_id)
        if subj is None or subj.tenant_id != tenant_id:
            raise _Deny(codes.E_CONSENT_MISSING, "unknown subject")
        if subj.suspended_at is not None:
            raise _Deny(codes.E_SUSPENDED, "processing for this subject is suspended")
    return {"purpose_id": purpose_id, "basis": basis, "legal_basis_id": basis_id,
            "expires_at": min(expires, basis_expires)}


def _consent_basis(conn: Raw, ctx: repo.GateContext, profile: profiles.Profile, *, tenant_id: str, site_id: str,
                   subject_id: str, purpose_id: str, purpose: str, mode: str, notice_hash: str, now: dt.datetime,
                   expires: dt.datetime) -> dict[str, Any]:
    """A grant on the subject's own separate consent for this purpose and mode (R1): active, not
    expired or lapsed, given on the current notice, with a guardian's consent for a minor (R3) and
    a written release where the profile needs one."""
    row = repo.gate_subject_consent(conn, subject_id, purpose_id, mode)
    if row is None or row.tenant_id != tenant_id:
        raise _Deny(codes.E_CONSENT_MISSING, "no consent on record for this subject")
    if row.suspended_at is not None:
        raise _Deny(codes.E_SUSPENDED, "processing for this subject is suspended or restricted")
    if row.consent_id is None:
        if repo.gate_other_purpose_consented(conn, subject_id, site_id, purpose_id):
            raise _Deny(codes.E_PURPOSE_NOT_CONSENTED,
                        f"the subject consented to other purposes here, not to {purpose}/{mode}")
        raise _Deny(codes.E_CONSENT_MISSING, f"no consent for {purpose}/{mode}")
    given_at, consent_expires = row.given_at, row.expires_at
    if given_at is None or consent_expires is None:  # NOT NULL columns: None only without a consent row
        raise _Deny(codes.E_CONSENT_MISSING, f"no consent for {purpose}/{mode}")
    if consent_expires <= now:
        raise _Deny(codes.E_CONSENT_MISSING, "the consent has expired (retention period)")
    last = max(row.last_interaction_at or given_at, given_at)
    if last + dt.timedelta(days=profile.inactivity_limit_days) <= now:
        raise _Deny(codes.E_CONSENT_MISSING, "the consent lapsed after the profile's inactivity limit")
    if row.notice_hash != notice_hash:
        raise _Deny(codes.E_NOTICE_NOT_SHOWN, "the processing rules changed since consent; fresh consent needed")
    if not row.has_guardian and is_minor(row.birth_date, row.age_band,
                                         profile.guardian_age_for(ctx.guardian_age), now):
        raise _Deny(codes.E_GUARDIAN_REQUIRED, f"the subject is a minor: {profile.guardian_title} consent required")
    if profile.written_release_required and not row.has_release:
        raise _Deny(codes.E_WRITTEN_RELEASE_REQUIRED, "no signed written release on record")
    return {"purpose_id": purpose_id, "basis": "consent", "consent_id": row.consent_id,
            "expires_at": min(expires, consent_expires)}


# --- for the gallery and analysis rooms ---------------------------------------------------------

def require_grant(grant: object, *, mode: str | None = None, purpose: str | None = None, subject_id: str | None = None,
                  site_id: str | None = None, now: dt.datetime | None = None) -> Grant:
    """Raise unless ``grant`` is a live Grant matching the operation (gallery/analysis call this)."""
    if not isinstance(grant, Grant):
        raise TrustfaceError(codes.E_CONSENT_MISSING, "face data needs a Grant from policy.gate.authorize()")
    if not grant.is_valid(now):
        raise TrustfaceError(codes.E_CONSENT_MISSING, "the grant has expired; ask the gate again")
    if mode is not None and grant.mode != mode:
        raise TrustfaceError(codes.E_MODE_NOT_ALLOWED, f"the grant is for mode {grant.mode}, not {mode}")
    if purpose is not None and grant.purpose != purpose:
        raise TrustfaceError(codes.E_PURPOSE_NOT_CONSENTED, f"the grant is for purpose {grant.purpose}, not {purpose}")
    if site_id is not None and grant.site_id != site_id:
        raise TrustfaceError(codes.E_CONSENT_MISSING, "the grant is for another site")
    if subject_id is not None and grant.subject_id is not None and grant.subject_id != subject_id:
        raise TrustfaceError(codes.E_CONSENT_MISSING, "the grant is for another subject")
    return grant


def consented_subject_ids(session: Session, grant: Grant, *, now: dt.datetime | None = None,
                          among: Collection[str] | None = None) -> frozenset[str]:
    """Subjects whose data this grant may touch *now*: a current consent for the grant's purpose
    and mode (not withdrawn, expired or superseded, on the current notice), not suspended, with
    guardian consent / written release where the profile needs them. The gallery filters 1:N
    results with this (R5, R17, R23). For a grant under a statutory basis: every subject of the
    tenant that is not suspended, while the basis is current. ``among`` limits the answer (and the
    rows read) to those subjects: the gallery asks only about its nearest candidates."""
    now = utc(now)
    require_grant(grant, now=now)
    if session.new or session.dirty or session.deleted:
        session.flush()
    site = repo.gate_site(session, grant.site_id)
    if site is None or site.suspended_at is not None:
        return frozenset()
    notice_hash = repo.gate_notice_hash(session, grant.site_id)
    if notice_hash is None:
        return frozenset()
    profile = profiles.load(site.jurisdiction)
    if grant.basis != "consent":
        current = {b[0] for b in repo.gate_legal_bases(repo.reader(session), grant.purpose_id, grant.mode, now)}
        if grant.legal_basis_id not in current:
            return frozenset()
        ids = repo.unsuspended_subject_ids(session, grant.tenant_id, among)
    else:
        guardian_age = profile.guardian_age_for(site.guardian_age)
        ids = set()
        inactivity = dt.timedelta(days=profile.inactivity_limit_days)
        for sid, birth, band, has_guardian, has_release, given_at, last in repo.consent_rows_for_gallery(
                session, grant.purpose_id, grant.mode, notice_hash, now, among):
            if max(last or given_at, given_at) + inactivity <= now:
                continue
            if profile.written_release_required and not has_release:
                continue
            if not has_guardian and is_minor(birth, band, guardian_age, now):
                continue
            ids.add(sid)
    if grant.subject_id is not None:
        ids &= {grant.subject_id}
    return frozenset(ids)


def record_interaction(session: Session, grant: Grant, subject_id: str, *, now: dt.datetime | None = None) -> None:
    """The gallery calls this when a 1:N match names a subject (keeps the BIPA-15a inactivity clock)."""
    require_grant(grant, now=now)
    audit_store.lock_head(session)  # lock order: audit head first, then domain rows
    repo.touch_subject(session, subject_id, utc(now))
