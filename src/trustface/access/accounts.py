"""Console user accounts (the access room): the people who sign in to the property console.

A user belongs to one tenant and holds one of the roles a person may hold in the API (admin,
operator, auditor: :data:`trustface.access.keys.PERMISSIONS`); the console checks the same
permission per page as the API does per route, through a :class:`ConsolePrincipal`. Passwords are
stored as argon2id hashes (RFC 9106 "low memory" profile), never in clear; creating an account and
every sign-in are audit events.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from trustface import audit
from trustface.access.codes import E_UNAUTHENTICATED
from trustface.access.keys import Principal
from trustface.db import repo, web_store
from trustface.db.models import ConsoleUser, new_id
from trustface.errors import TrustfaceError
from trustface.policy._common import invalid, not_found, utc

#: roles a person may hold in the console (gate keys and subject tokens are not people's accounts)
CONSOLE_ROLES = ("admin", "operator", "auditor")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
#: argon2id, 64 MiB, 3 passes, 1 lane (RFC 9106 second recommended option): ~0.1 s per sign-in
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
_DUMMY = _HASHER.hash("trustface-no-such-user")
#: (control characters are not part of an address: a NUL reached PostgreSQL and failed with a 500)
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,100}@[^@\s\x00-\x1f\x7f]{1,100}\.[^@\s\x00-\x1f\x7f]{1,50}$")


@dataclass(frozen=True)
class ConsolePrincipal(Principal):
    """A signed-in console user, checked with the API's roles and scopes; audited as ``user:<id>``."""

    email: str = ""

    @property
    def actor(self) -> str:
        return f"user:{self.key_id}"


def normalise_email(email: str) -> str:
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise invalid("give a valid e-mail address (it is the sign-in name)")
    return email.strip().lower()


def check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise invalid(f"a console password has at least {MIN_PASSWORD} characters")
    if len(set(password)) < 5:
        raise invalid("the password is too easy to guess: use a passphrase of several words")


def create_user(session: Session, *, tenant_id: str, email: str, role: str, password: str, actor: str,
                now: dt.datetime | None = None) -> ConsoleUser:
    """A console account for one tenant; the password is kept only as an argon2id hash."""
    now = utc(now)
    if role not in CONSOLE_ROLES:
        raise invalid(f"a console user's role is one of {', '.join(CONSOLE_ROLES)}")
    if repo.tenant(session, tenant_id) is None:
        raise not_found("tenant", tenant_id)
    email = normalise_email(email)
    check_password(password)
    if web_store.user_by_email(session, email) is not None:
        raise invalid(f"a console user {email} already exists")
    row = web_store.add_user(session, ConsoleUser(id=new_id("usr"), tenant_id=tenant_id, email=email, role=role,
                                                  password_hash=_HASHER.hash(password), created_at=now))
    audit.record(session, "admin", actor=actor, tenant_id=tenant_id, now=now,
                 payload={"action": "console_user_created", "user_id": row.id, "role": role})
    return row


def sign_in(session: Session, *, email: str, password: str, now: dt.datetime | None = None) -> ConsoleUser:
    """The account for this e-mail and password, or E_UNAUTHENTICATED (the same answer, and about
    the same time, for an unknown e-mail, a wrong password and a disabled account). A success is
    an audit event."""
    now = utc(now)
    try:
        email = normalise_email(email)
    except TrustfaceError:
        email = ""
    row = web_store.user_by_email(session, email) if email else None
    ok: bool
    try:
        ok = _HASHER.verify(row.password_hash if row is not None else _DUMMY, password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None or row.disabled_at is not None:
        raise TrustfaceError(E_UNAUTHENTICATED, "the e-mail or password is not right")
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
    audit.record(session, "admin", actor=f"user:{row.id}", tenant_id=row.tenant_id, now=now,
                 payload={"action": "console_sign_in", "user_id": row.id})
    return row


class _Account(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def email(self) -> str: ...


def principal(account: _Account) -> ConsolePrincipal:
    """The caller a console account acts as (an account row, or a signed-in login)."""
    return ConsolePrincipal(account.id, account.role, account.tenant_id, email=account.email)


def disable_user(session: Session, *, user_id: str, actor: str, now: dt.datetime | None = None) -> ConsoleUser:
    now = utc(now)
    row = web_store.user(session, user_id)
    if row is None:
        raise not_found("console user", user_id)
    row.disabled_at = now
    audit.record(session, "admin", actor=actor, tenant_id=row.tenant_id, now=now,
                 payload={"action": "console_user_disabled", "user_id": row.id})
    return row
