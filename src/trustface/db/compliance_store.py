"""Queries of the compliance room: the live state a self-assessment reads (issue 7).

ARCHITECTURE: ``db`` is the only package with SQL or ORM queries; :mod:`trustface.compliance`
and the PIA staleness rule in :mod:`trustface.policy.sites` call these read-only functions.
Audit payloads are canonical JSON (keys sorted, no spaces), so ``"site_id":"site_..."`` is an
exact substring of every payload that names the site; the LIKE filters below only narrow the
rows, and callers parse the JSON to be sure.
"""

from __future__ import annotations

import json
from typing import Iterable, cast

from sqlalchemy import LargeBinary, and_, func, or_, select, union
from sqlalchemy.orm import Session

from trustface.db.models import (
    AuditEvent,
    Base,
    Consent,
    Credential,
    DeviceLocation,
    GalleryImage,
    GalleryTemplate,
    LegalBasisRecord,
    Notice,
    Pia,
    Purpose,
    Refusal,
    Subject,
)

_events = AuditEvent.__table__


# --- configuration ------------------------------------------------------------------------------

def pias_of_purpose(session: Session, purpose_id: str) -> list[Pia]:
    """Every PIA of a purpose (revoked ones too), oldest first."""
    return list(session.scalars(select(Pia).where(Pia.purpose_id == purpose_id).order_by(Pia.approved_at, Pia.id)))


def pias_of_site(session: Session, site_id: str) -> list[Pia]:
    return list(session.scalars(select(Pia).where(Pia.site_id == site_id).order_by(Pia.approved_at, Pia.id)))


def notices_of_site(session: Session, site_id: str, kind: str | None = None) -> list[Notice]:
    """Every notice version of a site (drafts too), by kind then version."""
    stmt = select(Notice).where(Notice.site_id == site_id)
    if kind is not None:
        stmt = stmt.where(Notice.kind == kind)
    return list(session.scalars(stmt.order_by(Notice.kind, Notice.version)))


def legal_bases_of_site(session: Session, site_id: str) -> list[LegalBasisRecord]:
    stmt = (select(LegalBasisRecord).join(Purpose, Purpose.id == LegalBasisRecord.purpose_id)
            .where(Purpose.site_id == site_id).order_by(LegalBasisRecord.recorded_at, LegalBasisRecord.id))
    return list(session.scalars(stmt))


def device_locations_of_site(session: Session, site_id: str) -> list[DeviceLocation]:
    return list(session.scalars(select(DeviceLocation).where(DeviceLocation.site_id == site_id)
                                .order_by(DeviceLocation.created_at, DeviceLocation.id)))


# --- people ----------------------------------------------------------------------------------------

def consents_of_site(session: Session, site_id: str) -> list[tuple[Consent, Subject, Purpose]]:
    """Every consent (any status) given for a purpose of the site, with its subject and purpose."""
    stmt = (select(Consent, Subject, Purpose)
            .join(Subject, Subject.id == Consent.subject_id)
            .join(Purpose, Purpose.id == Consent.purpose_id)
            .where(Purpose.site_id == site_id)
            .order_by(Consent.given_at, Consent.id))
    return [cast("tuple[Consent, Subject, Purpose]", tuple(r)) for r in session.execute(stmt).all()]


def refusals_of_site(session: Session, site_id: str) -> list[Refusal]:
    stmt = (select(Refusal).join(Purpose, Purpose.id == Refusal.purpose_id).where(Purpose.site_id == site_id)
            .order_by(Refusal.refused_at, Refusal.id))
    return list(session.scalars(stmt))


def credentials_of_site(session: Session, site_id: str) -> list[Credential]:
    return list(session.scalars(select(Credential).where(Credential.site_id == site_id)
                                .order_by(Credential.created_at, Credential.id)))


def subjects_of_site(session: Session, site_id: str) -> list[Subject]:
    """Subjects registered at the site, or holding a consent, refusal, credential or template there."""
    purpose_ids = select(Purpose.id).where(Purpose.site_id == site_id)
    ids = union(
        select(Subject.id.label("id")).where(Subject.site_id == site_id),
        select(Consent.subject_id).where(Consent.purpose_id.in_(purpose_ids)),
        select(Refusal.subject_id).where(Refusal.purpose_id.in_(purpose_ids)),
        select(Credential.subject_id).where(Credential.site_id == site_id, Credential.subject_id.is_not(None)),
        select(GalleryTemplate.subject_id).where(GalleryTemplate.site_id == site_id),
    ).subquery()
    return list(session.scalars(select(Subject).where(Subject.id.in_(select(ids.c[0]))).order_by(Subject.id)))


def template_summary(session: Session, site_id: str) -> list[tuple[str, str, str, int, int]]:
    """(subject_id, purpose_id, mode, templates, highest key version) per stored template group."""
    stmt = (select(GalleryTemplate.subject_id, GalleryTemplate.purpose_id, GalleryTemplate.mode,
                   func.count(), func.max(GalleryTemplate.key_version))
            .where(GalleryTemplate.site_id == site_id)
            .group_by(GalleryTemplate.subject_id, GalleryTemplate.purpose_id, GalleryTemplate.mode)
            .order_by(GalleryTemplate.subject_id, GalleryTemplate.purpose_id, GalleryTemplate.mode))
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in session.execute(stmt).all()]


def tenant_face_subject_counts(session: Session, tenant_id: str) -> dict[str, int]:
    """Unique subjects of a processor whose face information is stored (templates) or may be
    processed (active consents), across all its sites (CAC-15 counts people, not templates)."""
    with_templates = select(GalleryTemplate.subject_id).where(GalleryTemplate.tenant_id == tenant_id)
    with_consents = (select(Consent.subject_id).join(Subject, Subject.id == Consent.subject_id)
                     .where(Subject.tenant_id == tenant_id, Consent.status == "active"))
    union = with_templates.union(with_consents).subquery()
    count = lambda stmt: session.scalar(select(func.count()).select_from(stmt.distinct().subquery())) or 0  # noqa: E731
    return {"templates": count(with_templates), "active_consents": count(with_consents),
            "either": session.scalar(select(func.count()).select_from(union)) or 0}


def binary_columns() -> list[tuple[str, str]]:
    """(table, column) of every binary column in the schema (where an image could be stored)."""
    return [(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns
            if isinstance(c.type, LargeBinary) or isinstance(getattr(c.type, "impl", None), LargeBinary)]


def binary_column_stats(session: Session) -> dict[str, tuple[int, int]]:
    """``"table.column" -> (rows with a value, largest value in bytes)`` for every binary column."""
    out = {}
    for table_name, column_name in binary_columns():
        col = Base.metadata.tables[table_name].c[column_name]
        rows, largest = session.execute(select(func.count(col), func.max(func.length(col)))).one()
        out[f"{table_name}.{column_name}"] = (int(rows or 0), int(largest or 0))
    return out


def kept_photos(session: Session, purpose_ids: Iterable[str]) -> tuple[int, list[str]]:
    """(photos kept for these purposes, subject ids of those kept without an active consent for
    mode ``keep_photo`` of that purpose)."""
    ids = list(purpose_ids)
    if not ids:
        return 0, []
    total = session.scalar(select(func.count()).select_from(GalleryImage).where(GalleryImage.purpose_id.in_(ids)))
    covered = select(Consent.id).where(Consent.subject_id == GalleryImage.subject_id,
                                       Consent.purpose_id == GalleryImage.purpose_id,
                                       Consent.mode == "keep_photo", Consent.status == "active").exists()
    bare = session.scalars(select(GalleryImage.subject_id).where(GalleryImage.purpose_id.in_(ids), ~covered)
                           .distinct().order_by(GalleryImage.subject_id))
    return int(total or 0), list(bare)


# --- the audit trail --------------------------------------------------------------------------------

def _like_any(needles: Iterable[str]):
    needles = [n for n in needles if n]
    return or_(*[_events.c.payload.like(f'%"{n}"%') for n in needles]) if needles else None


def events(session: Session, *, tenant_id: str | None = None, types: Iterable[str] | None = None,
           mentioning: Iterable[str] | None = None, actions: Iterable[str] | None = None,
           limit: int | None = None, newest_first: bool = False) -> list[dict]:
    """Audit events as dicts with the payload parsed: one tenant's (``tenant_id``; ``None`` means
    any), of some ``types``, whose payload mentions any of ``mentioning`` as a JSON string, or
    whose ``action`` is one of ``actions``."""
    stmt = select(_events.c.seq, _events.c.occurred_at, _events.c.type, _events.c.actor, _events.c.tenant_id,
                  _events.c.subject_id, _events.c.payload)
    if tenant_id is not None:
        stmt = stmt.where(_events.c.tenant_id == tenant_id)
    if types is not None:
        stmt = stmt.where(_events.c.type.in_(list(types)))
    if mentioning is not None:
        cond = _like_any(mentioning)
        if cond is None:
            return []
        stmt = stmt.where(cond)
    if actions is not None:
        actions = list(actions)
        stmt = stmt.where(or_(*[_events.c.payload.like(f'%"action":"{a}"%') for a in actions]))
    stmt = stmt.order_by(_events.c.seq.desc() if newest_first else _events.c.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    out = []
    for row in session.connection().execute(stmt).mappings():
        item = dict(row)
        try:
            item["payload"] = json.loads(item["payload"])
        except ValueError:  # a tampered row; the chain check reports it
            item["payload"] = {}
        if actions is not None and item["payload"].get("action") not in actions:
            continue
        out.append(item)
    return out


def count_events(session: Session, *, tenant_id: str | None = None, types: Iterable[str] | None = None) -> int:
    stmt = select(func.count()).select_from(_events)
    conds = []
    if tenant_id is not None:
        conds.append(_events.c.tenant_id == tenant_id)
    if types is not None:
        conds.append(_events.c.type.in_(list(types)))
    if conds:
        stmt = stmt.where(and_(*conds))
    return session.connection().execute(stmt).scalar_one()
