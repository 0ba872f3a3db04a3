"""A deployment: a folder with a key file and settings, and a database (SQLite in the folder by
default, or ``$TRUSTFACE_DATABASE_URL``).

* ``trustface.key`` (mode 0600, JSON): two fresh random 32-byte secrets, never defaults: the audit
  head HMAC key and the tenant key-encryption seed the gallery uses for template keys (R11, R12).
* ``settings.toml``: format version, creation time, grant lifetime.

:func:`init_deployment` refuses a folder or a database that already holds a deployment. It makes
the first API key (the deployment administrator's) and returns it once; only its hash is stored.
:class:`Deployment` opens one and hands out sessions carrying the audit key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trustface import audit, config
from trustface.db import audit_store, migrate
from trustface.db.session import make_engine, make_sessionmaker
from trustface.errors import TrustfaceError
from trustface.policy import codes

KEY_FILE = "trustface.key"
ERASURE_LOG_FILE = "erasure.log"  # trustface.gallery.erasure_log.LOG_FILE
SETTINGS_FILE = config.SETTINGS_FILE
KEY_FORMAT = "trustface-key/1"


@dataclass(frozen=True)
class Keys:
    audit_hmac_key: bytes
    tenant_kek_seed: bytes


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # pragma: no cover
        return "<unparseable database URL>"


def _fail(message: str) -> TrustfaceError:
    return TrustfaceError(codes.E_DEPLOYMENT, message)


def load_keys(directory: Path) -> Keys:
    path = Path(directory) / KEY_FILE
    if not path.is_file():
        raise _fail(f"{directory} holds no trustface deployment (no {KEY_FILE}); run `trustface init --dir {directory}`")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise _fail(f"{path} is readable by other users (mode {mode:o}); chmod 600 it")
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("format") != KEY_FORMAT:
            raise ValueError
        keys = Keys(bytes.fromhex(data["audit_hmac_key"]), bytes.fromhex(data["tenant_kek_seed"]))
    except (ValueError, KeyError, TypeError):
        raise _fail(f"{path} is not a valid trustface key file") from None
    if len(keys.audit_hmac_key) < 32 or len(keys.tenant_kek_seed) < 32:
        raise _fail(f"{path} holds keys shorter than 32 bytes")
    return keys


def init_deployment(directory, *, database_url: str | None = None, actor: str = "admin:init",
                    now: dt.datetime | None = None) -> dict:
    """Create a deployment: migrate the database, write the key file and settings, and start the
    audit chain with an ``admin`` event. Refuses to touch an existing deployment."""
    now = now or audit.utcnow()
    directory = Path(directory)
    if (directory / KEY_FILE).exists() or (directory / SETTINGS_FILE).exists():
        raise _fail(f"{directory} already holds a trustface deployment; refusing to overwrite it")
    if directory.exists() and not directory.is_dir():
        raise _fail(f"{directory} exists and is not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    url = database_url or config.database_url(directory)
    engine = make_engine(url)
    try:
        try:
            migrate.upgrade(engine)
        except SQLAlchemyError as exc:
            raise _fail(f"cannot prepare the database at {_redact(url)}: {exc.__class__.__name__}") from None
        factory = make_sessionmaker(engine, audit_key=b"-")
        with factory() as probe:
            if audit_store.read_head(probe) is not None:
                raise _fail(f"the database at {_redact(url)} already holds a trustface deployment")
        keys = Keys(secrets.token_bytes(32), secrets.token_bytes(32))
        key_path = directory / KEY_FILE
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": KEY_FORMAT, "created_at": now.isoformat(),
                       "audit_hmac_key": keys.audit_hmac_key.hex(), "tenant_kek_seed": keys.tenant_kek_seed.hex()},
                      fh, indent=2)
        os.chmod(key_path, 0o600)
        settings_path = directory / SETTINGS_FILE
        settings_path.write_text(
            "# trustface deployment settings (written by `trustface init`)\n"
            'format = "trustface-settings/1"\n'
            f'created_at = "{now.isoformat()}"\n'
            "grant_ttl_seconds = 300\n"
            "# SQLite durability: FULL fsyncs every commit (default); NORMAL may lose the last commits on power loss\n"
            'sqlite_synchronous = "FULL"\n'
            "# database: $TRUSTFACE_DATABASE_URL if set, else trustface.db in this folder\n",
            encoding="utf-8",
        )
        _restrict_sqlite_files(url)
        factory = make_sessionmaker(engine, audit_key=keys.audit_hmac_key)
        with factory() as session:
            from trustface.access.keys import create_api_key

            seq = audit.record(session, "admin", actor=actor, now=now,
                               payload={"action": "deployment_initialised",
                                        "schema_revision": migrate.head_revision()})
            admin_row, admin_key = create_api_key(session, role="admin", tenant_id=None,
                                                  name="deployment administrator (trustface init)",
                                                  actor=actor, now=now)
            session.commit()
    finally:
        engine.dispose()
    return {"dir": str(directory), "database": _redact(url), "key_file": str(key_path),
            "settings": str(settings_path), "schema_revision": migrate.head_revision(), "audit_head_seq": seq,
            "admin_key_id": admin_row.id, "admin_key": admin_key}


def _restrict_sqlite_files(url: str) -> None:
    """The SQLite file holds personal data: owner-only, like the key file."""
    try:
        parsed = make_url(url)
    except Exception:  # pragma: no cover
        return
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(parsed.database + suffix)
        if path.exists():
            os.chmod(path, 0o600)


def load_settings(directory: Path) -> config.Settings:
    """The deployment's validated settings; a bad or unknown key is one E_DEPLOYMENT line naming it."""
    try:
        return config.load_settings(directory)
    except config.SettingsError as exc:
        raise _fail(str(exc)) from None


class Deployment:
    """An opened deployment. ``with dep.transaction() as s: ...`` commits on success."""

    def __init__(self, directory=None, *, database_url: str | None = None):
        self.directory = config.deployment_dir(directory)
        self.keys = load_keys(self.directory)
        self.settings = load_settings(self.directory)
        self.database_url = database_url or config.database_url(self.directory)
        self.engine = make_engine(self.database_url, sqlite_synchronous=self.settings.sqlite_synchronous)
        # the erasure log beside the key file: every purge is appended there before its commit
        self._factory = make_sessionmaker(self.engine, audit_key=self.keys.audit_hmac_key,
                                          erasure_log=self.directory / ERASURE_LOG_FILE)
        self._read_factory = make_sessionmaker(self.engine, read_only=True, audit_key=self.keys.audit_hmac_key)
        self.grant_ttl = self.settings.grant_ttl

    def session(self) -> Session:
        return self._factory()

    def read_session(self) -> Session:
        """A session for reads only: it takes no write lock, so it never waits for a writer nor
        holds one up (SQLite: a deferred transaction; PostgreSQL: READ ONLY)."""
        return self._read_factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def schema_revision(self) -> str | None:
        """The database's schema revision (None: not a trustface database)."""
        return migrate.current_revision(self.engine)

    def require_current_schema(self) -> None:
        """Refuse to serve a schema that is not the one this code was written for (issue 18): one
        E_DEPLOYMENT sentence naming the command that fixes it."""
        try:
            current = self.schema_revision()
        except SQLAlchemyError as exc:
            raise _fail(f"cannot read the database at {_redact(self.database_url)}: {exc.__class__.__name__}") from None
        head = migrate.head_revision()
        if current != head:
            raise _fail(f"the database schema is at revision {current or 'none'}, this version of trustface needs "
                        f"{head}: stop the service and run `trustface db upgrade --dir {self.directory}`")

    def upgrade_schema(self, *, actor: str = "admin:cli") -> tuple[str | None, str]:
        """Bring the schema to this code's head under a lock, and record it in the audit trail.
        Returns (revision before, revision after)."""
        try:
            before, after = migrate.upgrade_locked(self.engine, self.directory / ".schema-upgrade.lock")
        except SQLAlchemyError as exc:
            raise _fail(f"cannot upgrade the database at {_redact(self.database_url)}: "
                        f"{exc.__class__.__name__}") from None
        if before != after:
            with self.transaction() as session:
                audit.record(session, "admin", actor=actor, payload={"action": "schema_upgraded",
                                                                     "from_revision": before, "to_revision": after})
        return before, after

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
