"""Engines and sessions.

* SQLite: ``journal_mode=WAL``, ``foreign_keys=ON``, ``busy_timeout``, ``synchronous=NORMAL``, and
  every transaction opens with ``BEGIN IMMEDIATE`` so that two writers serialise on the database
  lock instead of failing on a read-to-write upgrade (the audit chain needs one writer at a time).
* PostgreSQL: plain READ COMMITTED; the audit writer serialises on ``SELECT ... FOR UPDATE`` of
  the head row (see :mod:`trustface.db.audit_store`).

:class:`TrustfaceSession` refuses to commit a transaction that changed domain rows without writing
an audit event in the same transaction (ARCHITECTURE: "a change without its event must be
impossible"). The audit writer marks the transaction through :func:`mark_audited`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from trustface.db.models import AuditEvent, AuditHead

_AUDITED = "_tf_audited"
_DOMAIN_CHANGED = "_tf_domain_changed"
_TX_KEYS = (_AUDITED, _DOMAIN_CHANGED, "_tf_audit_head", "_tf_raw")


class AuditRequiredError(RuntimeError):
    """A transaction changed domain data but wrote no audit event; it was rolled back."""


class TrustfaceSession(Session):
    """A Session that cannot commit domain changes without an audit event."""


def mark_audited(session: Session) -> None:
    session.info[_AUDITED] = True


def mark_domain_changed(session: Session) -> None:
    """For Core-level writes that the ORM flush hooks cannot see."""
    session.info[_DOMAIN_CHANGED] = True


def on_transaction_end(session: Session, key: str, *, committed: Callable[[Session], None],
                       rolled_back: Callable[[Session], None]) -> None:
    """Call ``committed(session)`` after every commit and ``rolled_back(session)`` after every
    rollback of this session; registered once per session under ``key`` (later calls do nothing).
    The gallery uses it to apply index changes only once the rows they mirror are committed."""
    if not session.info.get(key):
        session.info[key] = True
        event.listen(session, "after_commit", committed)
        event.listen(session, "after_rollback", rolled_back)


def _is_audit_obj(obj) -> bool:
    return isinstance(obj, (AuditEvent, AuditHead))


@event.listens_for(TrustfaceSession, "after_flush")
def _after_flush(session, flush_context):
    for obj in list(session.new) + list(session.deleted):
        if not _is_audit_obj(obj):
            session.info[_DOMAIN_CHANGED] = True
            return
    for obj in session.dirty:
        if not _is_audit_obj(obj) and session.is_modified(obj):
            session.info[_DOMAIN_CHANGED] = True
            return


@event.listens_for(TrustfaceSession, "before_commit")
def _before_commit(session):
    session.flush()
    if session.info.get(_DOMAIN_CHANGED) and not session.info.get(_AUDITED):
        raise AuditRequiredError(
            "refusing to commit: domain data changed without an audit event in the same transaction"
        )


def _clear(session, *args):
    for key in _TX_KEYS:
        session.info.pop(key, None)


@event.listens_for(TrustfaceSession, "after_transaction_end")
def _after_transaction_end(session, transaction):
    # any end of the outermost transaction (commit, rollback, close) forgets the per-transaction
    # state: the cached DBAPI handle, the locked audit head and the audit/domain flags
    if transaction.parent is None:
        _clear(session)


event.listen(TrustfaceSession, "after_commit", _clear)
event.listen(TrustfaceSession, "after_rollback", _clear)


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def make_engine(url: str, *, pool_size: int | None = None, sqlite_synchronous: str = "FULL") -> Engine:
    """Create an engine with trustface's connection settings for SQLite or PostgreSQL.

    ``sqlite_synchronous``: ``FULL`` (default) fsyncs every commit, so an acknowledged consent,
    withdrawal or audit event survives a power cut; ``NORMAL`` (WAL) keeps the database consistent
    but may lose the last commits on power loss, for ~7x cheaper commits (docs/benchmarks.md)."""
    if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # SQLAlchemy's begin hook below issues BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # a writer takes the write lock at once (no upgrade deadlock between two writers); a
            # read-only session begins deferred and never waits for, or blocks, a writer (WAL)
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if pool_size:
        kwargs["pool_size"] = pool_size
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "begin")
    def _pg_begin(conn):
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")  # a write by mistake fails loudly

    return engine


#: execution option of the engine a read-only session is bound to (see :func:`make_sessionmaker`)
READ_ONLY = "trustface_read_only"


def make_sessionmaker(engine: Engine, *, read_only: bool = False, **info) -> sessionmaker:
    """Sessions bound to ``engine``; ``info`` (e.g. the audit HMAC key) is copied into each.
    ``read_only``: transactions that take no write lock (SQLite: deferred; PostgreSQL: READ ONLY)."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    factory = sessionmaker(bind=bind, class_=TrustfaceSession, expire_on_commit=False)

    def _make():
        session = factory()
        session.info.update(info)
        return session

    return _make  # type: ignore[return-value]


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
