"""Who may call: API keys (R12) and console accounts, one place for the API, the CLI and the console.

Both are credentials to the same roles (:data:`trustface.access.keys.PERMISSIONS`), so both need
``keys:write``, and a tenant's administrator manages only their own tenant's.

Transaction rule: one transaction holds the scope checks, the change and its ``admin`` audit
event (the new key's secret or the password's hash never enters an event). A password is checked
and hashed inside :func:`trustface.access.accounts.create_user`, in that transaction (argon2id, ~0.1 s).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trustface.access import keys
from trustface.access.keys import Principal
from trustface.db import access_store, web_store
from trustface.db.models import ConsoleUser
from trustface.services import scope
from trustface.services.context import Context


@dataclass(frozen=True)
class KeyIssued:
    """A new key: ``token`` is the only copy of its secret (only its SHA-256 is stored)."""

    key_id: str
    token: str
    #: :func:`trustface.access.keys.key_to_dict` (never the secret or its hash)
    document: dict[str, Any]


@dataclass(frozen=True)
class ConsoleAccount:
    id: str
    tenant_id: str
    email: str
    role: str
    created_at: dt.datetime
    disabled: bool

    @classmethod
    def of(cls, row: ConsoleUser) -> ConsoleAccount:
        return cls(row.id, row.tenant_id, row.email, row.role, row.created_at, row.disabled_at is not None)


# --- API keys --------------------------------------------------------------------------------------

def authenticate(ctx: Context, token: str | None) -> Principal:
    """The caller behind a bearer token, or E_UNAUTHENTICATED (unknown, wrong, revoked or expired).
    Read-only."""
    with ctx.read() as s:
        return keys.authenticate(s, token, now=ctx.now())


def create_key(ctx: Context, who: Principal, *, role: str, name: str, tenant_id: str | None = None,
               site_id: str | None = None, subject_id: str | None = None,
               expires_in: dt.timedelta | None = None) -> KeyIssued:
    """Make a key with a role and a scope: a gate key serves one site, a subject token one subject
    (30 days unless ``expires_in``); all within the caller's tenant."""
    who.require("keys:write")
    with ctx.tx() as s:
        tenant = scope.tenant_for(s, who, tenant_id)
        if site_id is not None:
            scope.site(s, who, site_id)
        if subject_id is not None:
            scope.subject(s, who, subject_id)
        row, token = keys.create_api_key(s, role=role, tenant_id=tenant, name=name, site_id=site_id,
                                         subject_id=subject_id, expires_in=expires_in, actor=who.actor, now=ctx.now())
        return KeyIssued(row.id, token, keys.key_to_dict(row))


def list_keys(ctx: Context, who: Principal) -> tuple[dict[str, Any], ...]:
    """The keys of the caller's tenant (the deployment administrator: the tenant-less keys)."""
    who.require("keys:write")
    with ctx.read() as s:
        return tuple(keys.key_to_dict(k) for k in access_store.api_keys_of_tenant(s, who.tenant_id))


def revoke_key(ctx: Context, who: Principal, key_id: str) -> dict[str, Any]:
    """Revoke a key at once: its next request is refused (E_UNAUTHENTICATED)."""
    who.require("keys:write")
    with ctx.tx() as s:
        row = access_store.api_key(s, key_id)
        if row is None or not who.sees_tenant(row.tenant_id):
            raise scope.missing("API key", key_id)
        return keys.key_to_dict(keys.revoke_api_key(s, key_id=key_id, actor=who.actor, now=ctx.now()))


# --- console accounts ------------------------------------------------------------------------------

def create_console_user(ctx: Context, who: Principal, *, tenant_id: str | None, email: str, role: str,
                        password: str) -> ConsoleAccount:
    """A console account of one tenant (admin, operator or auditor); the password (12 characters
    or more) is kept only as an argon2id hash."""
    from trustface.access import accounts as users

    who.require("keys:write")
    with ctx.tx() as s:
        tenant = scope.tenant_for(s, who, tenant_id)
        row = users.create_user(s, tenant_id=tenant, email=email, role=role, password=password, actor=who.actor,
                                now=ctx.now())
        return ConsoleAccount.of(row)


def console_users(ctx: Context, who: Principal, *, tenant_id: str | None) -> tuple[ConsoleAccount, ...]:
    """A tenant's console accounts (never their password hashes)."""
    who.require("keys:write")
    with ctx.read() as s:
        tenant = scope.tenant_for(s, who, tenant_id)
        return tuple(ConsoleAccount.of(u) for u in web_store.users_of_tenant(s, tenant))


def disable_console_user(ctx: Context, who: Principal, user_id: str) -> ConsoleAccount:
    """Disable an account: every session of it ends at its next request."""
    from trustface.access import accounts as users

    who.require("keys:write")
    with ctx.tx() as s:
        row = web_store.user(s, user_id)
        if row is None or not who.sees_tenant(row.tenant_id):
            raise scope.missing("console user", user_id)
        return ConsoleAccount.of(users.disable_user(s, user_id=user_id, actor=who.actor, now=ctx.now()))
