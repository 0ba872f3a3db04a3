"""Who is calling through the pages: a console user signing in with e-mail and password (an audited
event), and the checks every page request makes of its session: the console account still enabled,
the self-service token neither revoked nor expired, a token exchanged for a session.

Transaction rule: signing in is one transaction (the password check, a rehash if the parameters
changed, and the ``console_sign_in`` audit event); the session checks are read-only sessions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trustface.access import keys
from trustface.access.keys import Principal
from trustface.db import access_store, web_store
from trustface.db.models import ApiKey, ConsoleUser
from trustface.services.context import Context


@dataclass(frozen=True)
class ConsoleLogin:
    """A console account able to sign in. ``password_hash`` (argon2id) is here so the page can
    bind its session to it: a password change ends every older session."""

    id: str
    tenant_id: str
    email: str
    role: str
    password_hash: str

    @classmethod
    def of(cls, row: ConsoleUser) -> ConsoleLogin:
        return cls(row.id, row.tenant_id, row.email, row.role, row.password_hash)


def sign_in(ctx: Context, *, email: str, password: str) -> ConsoleLogin:
    """The account for this e-mail and password, or E_UNAUTHENTICATED (the same answer, and about
    the same time, for an unknown e-mail, a wrong password and a disabled account). A success is
    an ``admin`` audit event. About 0.1 s (argon2id): call it from a worker thread."""
    from trustface.access import accounts as users

    with ctx.tx() as s:
        return ConsoleLogin.of(users.sign_in(s, email=email, password=password, now=ctx.now()))


def console_account(ctx: Context, user_id: str) -> ConsoleLogin | None:
    """The console account with this id while it is enabled, else None (a disabled account's
    sessions end at their next request)."""
    with ctx.read() as s:
        row = web_store.user(s, user_id)
        return ConsoleLogin.of(row) if row is not None and row.disabled_at is None else None


def _subject_caller(row: ApiKey | None, now: dt.datetime) -> Principal | None:
    if row is None or row.role != "subject" or row.revoked_at is not None:
        return None
    if row.expires_at is not None and now >= row.expires_at:
        return None
    return Principal(row.id, row.role, row.tenant_id, row.site_id, row.subject_id)


def subject_token(ctx: Context, key_id: str) -> Principal | None:
    """The subject token with this key id as a caller, while it is neither revoked nor expired
    (erasure revokes it: the self-service session ends at once)."""
    with ctx.read() as s:
        return _subject_caller(access_store.api_key(s, key_id), ctx.now())


def caller_of_token(ctx: Context, token: str) -> Principal:
    """The caller behind a key's secret, or E_UNAUTHENTICATED (unknown, wrong, revoked, expired)."""
    with ctx.read() as s:
        return keys.authenticate(s, token, now=ctx.now())


__all__ = ["ConsoleLogin", "caller_of_token", "console_account", "sign_in", "subject_token"]
