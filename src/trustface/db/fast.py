"""Hand-written SQL on the session's own DBAPI connection, for the two hot paths: the gate's reads
and the audit append.

SQLAlchemy Core costs ~200 us per statement on this class of machine; the same statement on the
raw DBAPI connection costs ~10 us (docs/benchmarks.md). The statements still run inside the
session's transaction (same connection, same BEGIN), so atomicity with the ORM work is unchanged.

SQL is written once with ``:name`` placeholders and translated per dialect (``?`` for sqlite3,
``%(name)s`` for psycopg). Times are converted exactly as SQLAlchemy stores them for
:class:`trustface.db.models.UTCDateTime` (naive UTC; on SQLite the text form
``YYYY-MM-DD HH:MM:SS.ffffff``), so rows written either way read back the same.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

_UTC = dt.timezone.utc
_KEY = "_tf_raw"  # cleared with the transaction by trustface.db.session
_PLACEHOLDER = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@lru_cache(maxsize=None)
def _translate(sql: str, dialect: str) -> tuple[str, tuple[str, ...] | None]:
    if dialect == "sqlite":
        names = tuple(_PLACEHOLDER.findall(sql))
        return _PLACEHOLDER.sub("?", sql), names
    return _PLACEHOLDER.sub(r"%(\1)s", sql), None


class Raw:
    """The DBAPI connection under a session's transaction, with dialect-aware helpers."""

    __slots__ = ("dbapi", "dialect", "sqlite")

    def __init__(self, session: Session):
        conn = session.connection()
        self.dialect = conn.dialect.name
        self.sqlite = self.dialect == "sqlite"
        self.dbapi: Any = conn.connection.driver_connection  # sqlite3 or psycopg connection

    @classmethod
    def of(cls, session: Session) -> "Raw":
        """The Raw for the session's current transaction (cached until commit/rollback)."""
        raw = session.info.get(_KEY)
        if raw is None:
            raw = session.info[_KEY] = cls(session)
        return raw

    def execute(self, sql: str, params: dict):
        text, names = _translate(sql, self.dialect)
        if names is not None:
            return self.dbapi.execute(text, tuple(params[n] for n in names))
        return self.dbapi.execute(text, params)

    def one(self, sql: str, params: dict):
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: dict):
        return self.execute(sql, params).fetchall()

    def many(self, sql: str, rows: list[dict]) -> None:
        text, names = _translate(sql, self.dialect)
        cur = self.dbapi.cursor()
        try:
            if names is not None:
                cur.executemany(text, [tuple(r[n] for n in names) for r in rows])
            else:
                cur.executemany(text, rows)
        finally:
            cur.close()

    # --- conversions matching UTCDateTime / Date ------------------------------------------------
    def time_in(self, value: dt.datetime | None):
        if value is None:
            return None
        naive = value.astimezone(_UTC).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    def time_out(self, value) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=_UTC)

    def date_out(self, value) -> dt.date | None:
        if value is None or isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(value)
