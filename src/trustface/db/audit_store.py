"""Storage of the audit chain: locking the head, appending rows, reading them back (R21).

The hashing lives in :mod:`trustface.audit.chain`; this module only moves rows. Appends are
serialised: on PostgreSQL by ``SELECT ... FOR UPDATE`` on the single head row, on SQLite by the
``BEGIN IMMEDIATE`` every transaction starts with (:mod:`trustface.db.session`). The locked head is
cached in ``session.info`` for the rest of the transaction, so a transaction that appends many
events reads the head once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustface.db.fast import Raw
from trustface.db.models import AuditEvent, AuditHead
from trustface.db.session import mark_audited

HEAD_ID = 1
_HEAD_KEY = "_tf_audit_head"

_events = AuditEvent.__table__
_head = AuditHead.__table__


@dataclass
class Head:
    seq: int
    hash: str
    signature: str
    exists: bool


_SQL_HEAD = "SELECT seq, hash, signature FROM audit_head WHERE id = 1"
_SQL_INSERT = ("INSERT INTO audit_events (seq, occurred_at, type, actor, tenant_id, subject_id, payload, prev_hash, hash) "
               "VALUES (:seq, :occurred_at, :type, :actor, :tenant_id, :subject_id, :payload, :prev_hash, :hash)")
_SQL_UPDATE_HEAD = "UPDATE audit_head SET seq = :seq, hash = :hash, signature = :signature WHERE id = 1"
_SQL_INSERT_HEAD = "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, :seq, :hash, :signature)"


def lock_head(session: Session) -> Head:
    """The head as of this transaction, locked for append; cached for the transaction.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the single head row serialises appenders (the first
    append creates the row at ``init``, before any concurrency). SQLite: every transaction already
    holds the write lock (``BEGIN IMMEDIATE``)."""
    cached = session.info.get(_HEAD_KEY)
    if cached is not None:
        return cached
    raw = Raw.of(session)
    row = raw.one(_SQL_HEAD + ("" if raw.sqlite else " FOR UPDATE"), {})
    head = Head(row[0], row[1], row[2], True) if row else Head(0, "", "", False)
    session.info[_HEAD_KEY] = head
    return head


def append(session: Session, rows: list[dict], head: Head) -> None:
    """Insert event rows and move the head (already locked by :func:`lock_head`) to ``head``."""
    raw = Raw.of(session)
    if len(rows) == 1:
        raw.execute(_SQL_INSERT, rows[0])
    else:
        raw.many(_SQL_INSERT, rows)
    values = {"seq": head.seq, "hash": head.hash, "signature": head.signature}
    if head.exists:
        raw.execute(_SQL_UPDATE_HEAD, values)
    else:
        raw.execute(_SQL_INSERT_HEAD, values)
        head.exists = True
    session.info[_HEAD_KEY] = head
    mark_audited(session)


def read_head(session: Session) -> Head | None:
    row = session.connection().execute(
        select(_head.c.seq, _head.c.hash, _head.c.signature).where(_head.c.id == HEAD_ID)
    ).first()
    return Head(row[0], row[1], row[2], True) if row else None


_COLS = (
    _events.c.seq,
    _events.c.occurred_at,
    _events.c.type,
    _events.c.actor,
    _events.c.tenant_id,
    _events.c.subject_id,
    _events.c.payload,
    _events.c.prev_hash,
    _events.c.hash,
)


def iter_events(session: Session, *, start_seq: int = 0, batch: int = 5000) -> Iterator[dict]:
    """Every event from ``start_seq`` on, in seq order, as dicts (keyset-paginated)."""
    conn = session.connection()
    last = start_seq - 1
    while True:
        rows = conn.execute(
            select(*_COLS).where(_events.c.seq > last).order_by(_events.c.seq).limit(batch)
        ).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["seq"]


def events_for_subject(session: Session, subject_id: str) -> list[dict]:
    rows = session.connection().execute(
        select(*_COLS).where(_events.c.subject_id == subject_id).order_by(_events.c.seq)
    ).mappings().all()
    return [dict(r) for r in rows]


def count_events(session: Session, **filters) -> int:
    stmt = select(func.count()).select_from(_events)
    for key, value in filters.items():
        stmt = stmt.where(_events.c[key] == value)
    return session.connection().execute(stmt).scalar_one()


def events_of_type(session: Session, type_: str, subject_id: str | None = None) -> list[dict]:
    stmt = select(*_COLS).where(_events.c.type == type_).order_by(_events.c.seq)
    if subject_id is not None:
        stmt = stmt.where(_events.c.subject_id == subject_id)
    return [dict(r) for r in session.connection().execute(stmt).mappings().all()]


def events_page(session: Session, *, tenant_id: str | None, after_seq: int, limit: int,
                subject_id: str | None = None) -> list[dict]:
    """Up to ``limit`` events after ``after_seq`` in seq order; one tenant's (``tenant_id``) or all
    (``None``, the deployment administrator); optionally one subject's."""
    stmt = select(*_COLS).where(_events.c.seq > after_seq)
    if tenant_id is not None:
        stmt = stmt.where(_events.c.tenant_id == tenant_id)
    if subject_id is not None:
        stmt = stmt.where(_events.c.subject_id == subject_id)
    rows = session.connection().execute(stmt.order_by(_events.c.seq).limit(limit)).mappings().all()
    return [dict(r) for r in rows]
