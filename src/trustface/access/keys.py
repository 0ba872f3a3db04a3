"""API keys, roles and scopes (R12; issue 5). No default keys: ``trustface init`` makes the first.

A key reads ``tf_<16 hex>_<43 url-safe chars>``: the middle part names the row, the last part is a
256-bit secret of which only the SHA-256 is stored (a fast hash is enough for a random 256-bit
secret; argon2 is for PINs and passwords people choose). The secret is shown once.

Roles (the API checks a permission per route, then the scope of every object it touches):

=========  ==================================================================================
admin      everything in its tenant; with no tenant, the deployment administrator (all tenants)
operator   sites, subjects, consents, enrolment, gates, credentials, verify/identify, reports
gate       one site only: gate access, verify and identify
auditor    read-only: audit events, chain verification, evidence bundles, reports, assessments
subject    one subject only: own data and report, give or withdraw own consents, erasure
=========  ==================================================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access.codes import E_FORBIDDEN, E_UNAUTHENTICATED
from trustface.db import access_store, repo
from trustface.db.models import ApiKey
from trustface.errors import TrustfaceError
from trustface.policy._common import invalid, not_found, utc

ROLES = ("admin", "operator", "gate", "auditor", "subject")

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"tenants:write", "keys:write", "sites:write", "sites:read", "subjects:write", "subjects:read",
                        "consents:write", "faces:enrol", "faces:match", "faces:analyze", "gates:write",
                        "credentials:write", "access", "audit:read", "reports:read", "subjects:erase"}),
    "operator": frozenset({"sites:write", "sites:read", "subjects:write", "subjects:read", "consents:write",
                           "faces:enrol", "faces:match", "faces:analyze", "gates:write", "credentials:write",
                           "access", "reports:read", "subjects:erase"}),
    "gate": frozenset({"access", "faces:match", "sites:read"}),
    "auditor": frozenset({"audit:read", "reports:read", "sites:read", "subjects:read"}),
    "subject": frozenset({"subjects:read", "consents:write", "reports:read", "subjects:erase"}),
}
SUBJECT_TOKEN_LIFETIME = dt.timedelta(days=30)
_TOKEN = re.compile(r"^tf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role and scope (tenant, site, subject)."""

    key_id: str
    role: str
    tenant_id: str | None
    site_id: str | None = None
    subject_id: str | None = None
    #: how a local caller (a CLI command) is named in the audit trail; API keys leave it unset
    actor_name: str | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller (the key id, never the secret)."""
        return self.actor_name or f"key:{self.key_id}"

    @property
    def is_root(self) -> bool:
        return self.role == "admin" and self.tenant_id is None

    def require(self, permission: str) -> "Principal":
        if permission not in PERMISSIONS[self.role]:
            raise TrustfaceError(E_FORBIDDEN, f"a {self.role} key may not do this ({permission})")
        return self

    def sees_tenant(self, tenant_id: str | None) -> bool:
        return self.is_root or (tenant_id is not None and tenant_id == self.tenant_id)

    def sees_site(self, site_id: str, tenant_id: str) -> bool:
        return self.sees_tenant(tenant_id) and (self.site_id is None or self.site_id == site_id)

    def sees_subject(self, subject_id: str, tenant_id: str) -> bool:
        return self.sees_tenant(tenant_id) and (self.subject_id is None or self.subject_id == subject_id)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_api_key(session: Session, *, role: str, tenant_id: str | None, name: str, site_id: str | None = None,
                   subject_id: str | None = None, expires_in: dt.timedelta | None = None, actor: str,
                   now: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """Make a key and return ``(row, token)``; the token is shown once and stored only hashed."""
    now = utc(now)
    if role not in ROLES:
        raise invalid(f"role must be one of {', '.join(ROLES)}")
    if tenant_id is None and role != "admin":
        raise invalid("only the deployment administrator key has no tenant")
    if tenant_id is not None and repo.tenant(session, tenant_id) is None:
        raise not_found("tenant", tenant_id)
    if role == "gate":
        site = repo.site(session, site_id) if site_id else None
        if site is None or site.tenant_id != tenant_id:
            raise invalid("a gate key is confined to one site of its tenant: give site_id")
    elif site_id is not None:
        raise invalid("only gate keys are confined to a site")
    if role == "subject":
        subj = repo.subject(session, subject_id) if subject_id else None
        if subj is None or subj.tenant_id != tenant_id:
            raise invalid("a subject token names one subject of its tenant: give subject_id")
        expires_in = expires_in or SUBJECT_TOKEN_LIFETIME
    elif subject_id is not None:
        raise invalid("only subject tokens name a subject")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise invalid("a key needs a name (1-200 characters) saying who holds it")
    key_hex = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = repo.add(session, ApiKey(id=f"key_{key_hex}", tenant_id=tenant_id, role=role, site_id=site_id,
                                   subject_id=subject_id, name=name.strip(), secret_hash=_hash(secret),
                                   created_at=now, expires_at=now + expires_in if expires_in else None))
    audit.record(session, "admin", actor=actor, tenant_id=tenant_id, subject_id=subject_id, now=now,
                 payload={"action": "api_key_created", "key_id": row.id, "role": role, "site_id": site_id})
    return row, f"tf_{key_hex}_{secret}"


def authenticate(session: Session, token: str | None, *, now: dt.datetime | None = None) -> Principal:
    """The caller behind a bearer token, or E_UNAUTHENTICATED (unknown, wrong, revoked or expired)."""
    now = utc(now)
    match = _TOKEN.match(token or "")
    if match is None:
        raise TrustfaceError(E_UNAUTHENTICATED, "send `Authorization: Bearer <api key>` with a trustface key")
    row = access_store.api_key(session, f"key_{match.group(1)}")
    # compare a digest even for an unknown id so timing does not tell ids apart
    stored = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(stored, _hash(match.group(2))) or row is None:
        raise TrustfaceError(E_UNAUTHENTICATED, "the API key is not valid")
    if row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
        raise TrustfaceError(E_UNAUTHENTICATED, "the API key was revoked or has expired")
    return Principal(row.id, row.role, row.tenant_id, row.site_id, row.subject_id)


def revoke_api_key(session: Session, *, key_id: str, actor: str, now: dt.datetime | None = None) -> ApiKey:
    now = utc(now)
    row = access_store.api_key(session, key_id)
    if row is None:
        raise not_found("API key", key_id)
    row.revoked_at = now
    audit.record(session, "admin", actor=actor, tenant_id=row.tenant_id, now=now,
                 payload={"action": "api_key_revoked", "key_id": key_id})
    return row


def key_to_dict(row: ApiKey) -> dict:
    return {"id": row.id, "role": row.role, "tenant_id": row.tenant_id, "site_id": row.site_id,
            "subject_id": row.subject_id, "name": row.name, "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
