"""Alembic migrations, run in code (``trustface init`` and the tests); no ``.ini`` file involved."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

SCRIPT_LOCATION = "trustface.db:migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (idempotent)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def upgrade_locked(engine: Engine, lock_file: Path) -> tuple[str | None, str]:
    """Upgrade to head with one upgrader at a time: an exclusive lock on ``lock_file`` (every
    backend: two commands on one host) and, on PostgreSQL, a transaction-scoped advisory lock (two
    hosts). Returns (revision before, revision after)."""
    import fcntl

    with open(lock_file, "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        cfg = alembic_config()
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7320151)")
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return before, head_revision()


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (tests of upgrades from an earlier release's database)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def ping(engine: Engine) -> None:
    """One round trip to the database (raises when it cannot be reached)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migration scripts have no head revision")
    return head
