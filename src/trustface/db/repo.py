"""Repository functions of the policy aggregate: tenants, sites, purposes, notices, subjects,
consents, refusals, legal bases and the gate's context (ARCHITECTURE: db is the only module with
queries). Service functions in :mod:`trustface.policy` call these with their session. The gallery's
queries live in :mod:`trustface.db.gallery_store`.

The gate's hot path (:func:`gate_site`, :func:`gate_purpose`, ...) uses Core statements on the
session's connection: the ORM unit of work is not needed to read a handful of columns, and Core's
compiled-statement cache keeps ``authorize()`` well under a millisecond (docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import NamedTuple, TypeVar, cast

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from trustface.db.fast import Raw
from trustface.db.models import (
    Base,
    Consent,
    DeviceLocation,
    LegalBasisRecord,
    Notice,
    Pia,
    Purpose,
    Refusal,
    Site,
    Subject,
    SubjectIdentity,
    Tenant,
)
from trustface.db.session import mark_domain_changed

M = TypeVar("M", bound=Base)

_sites = Site.__table__
_purposes = Purpose.__table__
_notices = Notice.__table__
_bases = LegalBasisRecord.__table__
_pias = Pia.__table__
_locations = DeviceLocation.__table__
_subjects = Subject.__table__
_consents = Consent.__table__


# --- generic ------------------------------------------------------------------------------------

def add(session: Session, obj: M) -> M:
    session.add(obj)
    session.flush()
    return obj


def get(session: Session, model: type[M], key) -> M | None:
    return session.get(model, key)


def tenant(session: Session, tenant_id: str) -> Tenant | None:
    return session.get(Tenant, tenant_id)


def site(session: Session, site_id: str) -> Site | None:
    return session.get(Site, site_id)


def subject(session: Session, subject_id: str) -> Subject | None:
    return session.get(Subject, subject_id)


def subject_identity(session: Session, subject_id: str) -> SubjectIdentity | None:
    return session.get(SubjectIdentity, subject_id)


def delete_subject_identity(session: Session, subject_id: str) -> bool:
    """Delete the identity data kept apart from a subject (erasure); True if there was any."""
    identity = session.get(SubjectIdentity, subject_id)
    if identity is None:
        return False
    session.delete(identity)
    session.flush()
    return True


def purpose_by_name(session: Session, site_id: str, name: str) -> Purpose | None:
    return session.scalars(select(Purpose).where(Purpose.site_id == site_id, Purpose.name == name)).first()


def purposes_of_site(session: Session, site_id: str) -> list[Purpose]:
    return list(session.scalars(select(Purpose).where(Purpose.site_id == site_id).order_by(Purpose.name)))


# --- notices ------------------------------------------------------------------------------------

def next_notice_version(session: Session, site_id: str, kind: str) -> int:
    current = session.scalars(
        select(Notice.version).where(Notice.site_id == site_id, Notice.kind == kind)
        .order_by(Notice.version.desc()).limit(1)
    ).first()
    return (current or 0) + 1


def current_notice(session: Session, site_id: str, kind: str = "general") -> Notice | None:
    """The highest published version of the site's notice of this kind."""
    return session.scalars(
        select(Notice).where(Notice.site_id == site_id, Notice.kind == kind, Notice.published_at.is_not(None))
        .order_by(Notice.version.desc()).limit(1)
    ).first()


# --- consents -----------------------------------------------------------------------------------

def active_consent(session: Session, subject_id: str, purpose_id: str, mode: str) -> Consent | None:
    return session.scalars(
        select(Consent).where(Consent.subject_id == subject_id, Consent.purpose_id == purpose_id,
                              Consent.mode == mode, Consent.status == "active")
    ).first()


def active_consents(session: Session, subject_id: str, purpose_id: str | None = None) -> list[Consent]:
    stmt = select(Consent).where(Consent.subject_id == subject_id, Consent.status == "active")
    if purpose_id is not None:
        stmt = stmt.where(Consent.purpose_id == purpose_id)
    return list(session.scalars(stmt.order_by(Consent.given_at)))


def consents_of_subject(session: Session, subject_id: str) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.subject_id == subject_id).order_by(Consent.given_at)))


def last_refusal(session: Session, subject_id: str, purpose_id: str, mode: str) -> Refusal | None:
    return session.scalars(
        select(Refusal).where(Refusal.subject_id == subject_id, Refusal.purpose_id == purpose_id,
                              Refusal.mode == mode).order_by(Refusal.refused_at.desc()).limit(1)
    ).first()


def active_consents_for_retention(session: Session) -> list[tuple[Consent, Subject, Purpose, Site]]:
    """Every active consent with its subject, purpose and site (the retention job's input)."""
    stmt = (
        select(Consent, Subject, Purpose, Site)
        .join(Subject, Subject.id == Consent.subject_id)
        .join(Purpose, Purpose.id == Consent.purpose_id)
        .join(Site, Site.id == Purpose.site_id)
        .where(Consent.status == "active")
        .order_by(Consent.given_at, Consent.id)
    )
    return [cast("tuple[Consent, Subject, Purpose, Site]", tuple(row)) for row in session.execute(stmt).all()]


def consented_subject_ids(session: Session, purpose_id: str, mode: str, notice_hash: str,
                          now: dt.datetime) -> set[str]:
    """Subjects with a current consent for ``purpose_id`` x ``mode`` on the current notice hash,
    not suspended (guardian/written-release checks are applied by the policy layer)."""
    stmt = (
        select(_consents.c.subject_id)
        .join(_subjects, _subjects.c.id == _consents.c.subject_id)
        .where(_consents.c.purpose_id == purpose_id, _consents.c.mode == mode,
               _consents.c.status == "active", _consents.c.expires_at > now,
               _consents.c.notice_hash == notice_hash, _subjects.c.suspended_at.is_(None))
    )
    return set(session.connection().execute(stmt).scalars())


def consent_rows_for_gallery(session: Session, purpose_id: str, mode: str, notice_hash: str,
                             now: dt.datetime, subject_ids: Collection[str] | None = None) -> list[tuple]:
    """(subject_id, birth_date, age_band, has_guardian, has_release, given_at, last_interaction_at)
    for current consents (of ``subject_ids`` only, when given)."""
    stmt = (
        select(_consents.c.subject_id, _subjects.c.birth_date, _subjects.c.age_band,
               _consents.c.guardian.is_not(None), _consents.c.written_release.is_not(None),
               _consents.c.given_at, _subjects.c.last_interaction_at)
        .join(_subjects, _subjects.c.id == _consents.c.subject_id)
        .where(_consents.c.purpose_id == purpose_id, _consents.c.mode == mode,
               _consents.c.status == "active", _consents.c.expires_at > now,
               _consents.c.notice_hash == notice_hash, _subjects.c.suspended_at.is_(None))
    )
    if subject_ids is not None:
        stmt = stmt.where(_consents.c.subject_id.in_(list(subject_ids)))
    return [tuple(r) for r in session.connection().execute(stmt).all()]


def unsuspended_subject_ids(session: Session, tenant_id: str, subject_ids: Collection[str] | None = None) -> set[str]:
    stmt = select(_subjects.c.id).where(_subjects.c.tenant_id == tenant_id, _subjects.c.suspended_at.is_(None))
    if subject_ids is not None:
        stmt = stmt.where(_subjects.c.id.in_(list(subject_ids)))
    return set(session.connection().execute(stmt).scalars())


# --- legal bases, PIAs, locations -----------------------------------------------------------------

def legal_bases(session: Session, purpose_id: str) -> list[LegalBasisRecord]:
    return list(session.scalars(select(LegalBasisRecord).where(LegalBasisRecord.purpose_id == purpose_id)
                                .order_by(LegalBasisRecord.recorded_at)))


# --- the gate's hot path (raw DBAPI, see trustface.db.fast) -------------------------------------

def reader(session: Session) -> Raw:
    """The session transaction's DBAPI handle for the ``gate_*`` reads below (cached per transaction)."""
    return Raw.of(session)


class GateContext(NamedTuple):
    tenant_id: str
    site_type: str
    jurisdiction: str
    guardian_age: int | None
    suspended_at: dt.datetime | None
    signage_attested_at: dt.datetime | None
    purpose_id: str | None
    allowed_modes: str | None
    retention_days: int | None
    ends_at: dt.datetime | None
    notice_hash: str | None
    has_basis: bool


_SQL_CONTEXT = """
SELECT s.tenant_id, s.site_type, s.jurisdiction, s.guardian_age, s.suspended_at, s.signage_attested_at,
       p.id, p.allowed_modes, p.retention_days, p.ends_at,
       (SELECT n.content_hash FROM notices n
         WHERE n.site_id = s.id AND n.kind = 'general' AND n.published_at IS NOT NULL
         ORDER BY n.version DESC LIMIT 1),
       (SELECT count(*) FROM legal_bases b
         WHERE b.purpose_id = p.id AND b.mode = :mode AND b.revoked_at IS NULL
           AND (b.expires_at IS NULL OR b.expires_at > :now))
FROM sites s LEFT OUTER JOIN purposes p ON p.site_id = s.id AND p.name = :purpose
WHERE s.id = :site_id
"""


def gate_context(raw: Raw, site_id: str, purpose: str, mode: str, now: dt.datetime) -> GateContext | None:
    """Site, purpose (None fields if undeclared), current notice hash and whether a current legal
    basis exists for purpose x mode: one round trip."""
    r = raw.one(_SQL_CONTEXT, {"site_id": site_id, "purpose": purpose, "mode": mode, "now": raw.time_in(now)})
    if r is None:
        return None
    return GateContext(r[0], r[1], r[2], r[3], raw.time_out(r[4]), raw.time_out(r[5]), r[6], r[7], r[8],
                       raw.time_out(r[9]), r[10], bool(r[11]))


_SQL_BASES = """
SELECT id, basis, expires_at FROM legal_bases
WHERE purpose_id = :purpose_id AND mode = :mode AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now)
"""


def gate_legal_bases(raw: Raw, purpose_id: str, mode: str, now: dt.datetime) -> list[tuple]:
    """Current (not revoked, not expired) legal-basis records: (id, basis, expires_at)."""
    rows = raw.all(_SQL_BASES, {"purpose_id": purpose_id, "mode": mode, "now": raw.time_in(now)})
    return [(r[0], r[1], raw.time_out(r[2])) for r in rows]


def gate_pia_modes(raw: Raw, purpose_id: str) -> list[str]:
    rows = raw.all("SELECT modes FROM pias WHERE purpose_id = :purpose_id AND revoked_at IS NULL",
                   {"purpose_id": purpose_id})
    return [r[0] for r in rows]


class GateLocation(NamedTuple):
    site_id: str
    location_type: str


def gate_location(raw: Raw, location_id: str) -> GateLocation | None:
    r = raw.one("SELECT site_id, location_type FROM device_locations WHERE id = :id", {"id": location_id})
    return GateLocation(*r) if r else None


class GateSubject(NamedTuple):
    tenant_id: str
    birth_date: dt.date | None
    age_band: str | None
    suspended_at: dt.datetime | None
    last_interaction_at: dt.datetime | None
    consent_id: str | None = None
    notice_hash: str | None = None
    expires_at: dt.datetime | None = None
    has_guardian: bool = False
    has_release: bool = False
    given_at: dt.datetime | None = None


_SQL_SUBJECT_CONSENT = """
SELECT sub.tenant_id, sub.birth_date, sub.age_band, sub.suspended_at, sub.last_interaction_at,
       c.id, c.notice_hash, c.expires_at, c.guardian IS NOT NULL, c.written_release IS NOT NULL, c.given_at
FROM subjects sub LEFT OUTER JOIN consents c
  ON c.subject_id = sub.id AND c.purpose_id = :purpose_id AND c.mode = :mode AND c.status = 'active'
WHERE sub.id = :subject_id
"""


def gate_subject_consent(raw: Raw, subject_id: str, purpose_id: str, mode: str) -> GateSubject | None:
    """The subject and its active consent for purpose x mode (consent fields None if none)."""
    r = raw.one(_SQL_SUBJECT_CONSENT, {"subject_id": subject_id, "purpose_id": purpose_id, "mode": mode})
    if r is None:
        return None
    return GateSubject(r[0], raw.date_out(r[1]), r[2], raw.time_out(r[3]), raw.time_out(r[4]), r[5], r[6],
                       raw.time_out(r[7]), bool(r[8]), bool(r[9]), raw.time_out(r[10]))


def gate_subject(raw: Raw, subject_id: str) -> GateSubject | None:
    r = raw.one("SELECT tenant_id, birth_date, age_band, suspended_at, last_interaction_at FROM subjects "
                "WHERE id = :id", {"id": subject_id})
    if r is None:
        return None
    return GateSubject(r[0], raw.date_out(r[1]), r[2], raw.time_out(r[3]), raw.time_out(r[4]))


_SQL_OTHER = """
SELECT 1 FROM consents c JOIN purposes p ON p.id = c.purpose_id
WHERE c.subject_id = :subject_id AND c.status = 'active' AND p.site_id = :site_id AND c.purpose_id <> :purpose_id
LIMIT 1
"""


def gate_other_purpose_consented(raw: Raw, subject_id: str, site_id: str, purpose_id: str) -> bool:
    """Does the subject hold an active consent for another purpose of this site? (denial path)"""
    return raw.one(_SQL_OTHER, {"subject_id": subject_id, "site_id": site_id, "purpose_id": purpose_id}) is not None


def touch_subject_raw(session: Session, raw: Raw, subject_id: str, now: dt.datetime) -> None:
    """Record the subject's last interaction (BIPA-15a inactivity clock)."""
    raw.execute("UPDATE subjects SET last_interaction_at = :now WHERE id = :id",
                {"now": raw.time_in(now), "id": subject_id})
    mark_domain_changed(session)


def gate_site(session: Session, site_id: str):
    return session.connection().execute(
        select(_sites.c.tenant_id, _sites.c.site_type, _sites.c.jurisdiction, _sites.c.guardian_age,
               _sites.c.suspended_at).where(_sites.c.id == site_id)
    ).first()


def gate_notice_hash(session: Session, site_id: str, kind: str = "general") -> str | None:
    return session.connection().execute(
        select(_notices.c.content_hash)
        .where(_notices.c.site_id == site_id, _notices.c.kind == kind, _notices.c.published_at.is_not(None))
        .order_by(_notices.c.version.desc()).limit(1)
    ).scalar()


def touch_subject(session: Session, subject_id: str, now: dt.datetime) -> None:
    """Record the subject's last interaction (BIPA-15a inactivity clock)."""
    touch_subject_raw(session, Raw.of(session), subject_id, now)


def bulk_insert(session: Session, model: type[Base], rows: Iterable[dict]) -> None:
    """Fast fixture/benchmark loading (Core executemany); callers must still record an event."""
    rows = list(rows)
    if rows:
        session.connection().execute(insert(model), rows)
        mark_domain_changed(session)


def purpose_of_site(session: Session, purpose_id: str) -> Purpose | None:
    return session.get(Purpose, purpose_id)
