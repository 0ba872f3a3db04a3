"""Queries of the web room: console user accounts, and the read-only lists the console pages show
(residents of a site, the latest access events). ARCHITECTURE: only ``db`` has SQL."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustface.db.models import AuditEvent, ConsoleUser, Subject

# --- console user accounts -------------------------------------------------------------------------

def add_user(session: Session, row: ConsoleUser) -> ConsoleUser:
    session.add(row)
    session.flush()
    return row


def user(session: Session, user_id: str) -> ConsoleUser | None:
    return session.get(ConsoleUser, user_id)


def user_by_email(session: Session, email: str) -> ConsoleUser | None:
    return session.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).first()


def users_of_tenant(session: Session, tenant_id: str) -> list[ConsoleUser]:
    return list(session.scalars(select(ConsoleUser).where(ConsoleUser.tenant_id == tenant_id)
                                .order_by(ConsoleUser.created_at, ConsoleUser.id)))


# --- console lists -----------------------------------------------------------------------------------

def subjects_of_site(session: Session, site_id: str, *, limit: int, offset: int = 0) -> list[Subject]:
    """A page of the subjects registered at a site, newest first."""
    return list(session.scalars(select(Subject).where(Subject.site_id == site_id)
                                .order_by(Subject.created_at.desc(), Subject.id).offset(offset).limit(limit)))


def count_subjects_of_site(session: Session, site_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Subject).where(Subject.site_id == site_id)) or 0


def latest_events(session: Session, *, tenant_id: str, type_: str, limit: int, after_seq: int = 0) -> list[dict]:
    """The newest ``limit`` events of one type for one tenant (newest first), optionally only those
    after ``after_seq`` (for a live view polling for what is new)."""
    cols = (AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.type, AuditEvent.actor, AuditEvent.tenant_id,
            AuditEvent.subject_id, AuditEvent.payload)
    stmt = (select(*cols).where(AuditEvent.tenant_id == tenant_id, AuditEvent.type == type_,
                                AuditEvent.seq > after_seq)
            .order_by(AuditEvent.seq.desc()).limit(limit))
    return [dict(r) for r in session.execute(stmt).mappings().all()]
