"""Database snapshots for ``trustface backup`` / ``trustface restore``: the storage side only.

* :func:`write_barrier` holds the database's write lock for a moment (SQLite ``BEGIN IMMEDIATE``,
  PostgreSQL ``SELECT ... FOR UPDATE`` of the audit head, which every purge's certificate takes):
  while it is held no purge is between its erasure-log line and its commit, so the log position read
  inside it is exact for every transaction that ended before it.
* :func:`copy_sqlite` copies a live SQLite database with the online backup API (a consistent
  snapshot while the server writes); :func:`dump_postgres` runs ``pg_dump`` (custom format).
* :func:`describe_sqlite`, :func:`check_sqlite`, :func:`settle_sqlite`: what a restore checks and
  does on a copy before it swaps it in. No other module touches these files directly.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from trustface.db.migrate import alembic_config


class SnapshotError(Exception):
    """A snapshot could not be taken or read; the message is one sentence."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


@contextmanager
def write_barrier(url: str, engine: Engine | None = None) -> Iterator[None]:
    """Hold the write lock (see the module docstring) for the block; nothing is written. SQLite:
    a connection of its own, so the barrier does not depend on how sessions begin."""
    path = sqlite_file(url)
    if path is not None:
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as raw:
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                raw.execute("ROLLBACK")
        return
    if engine is None:
        raise ValueError("a PostgreSQL barrier needs the engine")
    with engine.connect() as conn:
        conn.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
        try:
            yield
        finally:
            conn.rollback()


def copy_sqlite(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API), in rollback-journal mode."""
    if not source.is_file():
        raise SnapshotError(f"the database file {source} does not exist")
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")


def dump_postgres(url: str, dest: Path) -> None:
    """``pg_dump --format=custom`` of the database to ``dest``; SnapshotError naming what is missing."""
    exe = shutil.which("pg_dump")
    if exe is None:
        raise SnapshotError("backing up a PostgreSQL database needs pg_dump on the PATH (install the PostgreSQL "
                            "client tools of the server's major version)")
    parsed = make_url(url).set(drivername="postgresql")
    done = subprocess.run([exe, "--format=custom", "--no-owner", f"--file={dest}",
                           f"--dbname={parsed.render_as_string(hide_password=False)}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SnapshotError(f"pg_dump failed: {last}")


@dataclass(frozen=True)
class SnapshotFacts:
    """What a snapshot says about itself: schema revision and audit head."""

    schema_revision: str | None
    audit_head_seq: int
    audit_head_hash: str


def describe_sqlite(path: Path) -> SnapshotFacts:
    """The schema revision and audit head of a SQLite file; SnapshotError when it is no database."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rev = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{path.name} is not a trustface database ({exc})") from None
    return SnapshotFacts(rev[0] if rev else None, int(head[0]) if head else 0, str(head[1]) if head else "")


def describe(engine: Engine) -> SnapshotFacts:
    """The schema revision and audit head of an open database (PostgreSQL backups)."""
    with engine.connect() as conn:
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
        conn.rollback()
    return SnapshotFacts(rev[0] if rev else None, int(head[0]) if head else 0, str(head[1]) if head else "")


def check_sqlite(path: Path) -> None:
    """SnapshotError unless SQLite's integrity check passes on the file."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"the backed-up database is damaged ({exc})") from None
    if not result or result[0] != "ok":
        raise SnapshotError(f"the backed-up database is damaged (integrity check: {result[0] if result else '?'})")


def settle_sqlite(path: Path) -> None:
    """Fold the write-ahead log into the file and leave it in rollback-journal mode (before a move:
    a stale ``-wal`` next to a swapped-in file would corrupt it)."""
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")


def known_revision(revision: str) -> bool:
    """Whether this code's migrations know the schema revision (a newer release's is unknown)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
