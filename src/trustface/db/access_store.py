"""Queries of the access room: gates, credentials and API keys (ARCHITECTURE: only ``db`` has SQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from trustface.db.models import ApiKey, Credential, Gate, Site, Subject, Tenant
from trustface.db.session import mark_domain_changed


def gate(session: Session, gate_id: str) -> Gate | None:
    return session.get(Gate, gate_id)


def gates_of_site(session: Session, site_id: str) -> list[Gate]:
    return list(session.scalars(select(Gate).where(Gate.site_id == site_id).order_by(Gate.created_at, Gate.id)))


def credential(session: Session, credential_id: str) -> Credential | None:
    return session.get(Credential, credential_id)


def credential_by_lookup(session: Session, site_id: str, type_: str, lookup: str) -> Credential | None:
    return session.scalars(select(Credential).where(Credential.site_id == site_id, Credential.type == type_,
                                                    Credential.lookup == lookup)).first()


def credentials_of_subject(session: Session, subject_id: str) -> list[Credential]:
    return list(session.scalars(select(Credential).where(Credential.subject_id == subject_id)
                                .order_by(Credential.created_at, Credential.id)))


def delete_credentials_of_subject(session: Session, subject_id: str) -> int:
    result = cast("CursorResult[Any]", session.execute(delete(Credential).where(Credential.subject_id == subject_id)))
    if result.rowcount:
        mark_domain_changed(session)
    return result.rowcount or 0


def delete_row(session: Session, row) -> None:
    session.delete(row)
    session.flush()


def api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def api_keys_of_tenant(session: Session, tenant_id: str | None) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id.is_(tenant_id) if tenant_id is None
                                                     else ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)))


def revoke_api_keys_of_subject(session: Session, subject_id: str, now: dt.datetime) -> int:
    keys = list(session.scalars(select(ApiKey).where(ApiKey.subject_id == subject_id, ApiKey.revoked_at.is_(None))))
    for k in keys:
        k.revoked_at = now
    session.flush()
    return len(keys)


def tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id)))


def sites_of_tenant(session: Session, tenant_id: str) -> list[Site]:
    return list(session.scalars(select(Site).where(Site.tenant_id == tenant_id).order_by(Site.created_at, Site.id)))


def subjects_of_tenant(session: Session, tenant_id: str, *, limit: int, after: str | None = None) -> list[Subject]:
    query = select(Subject).where(Subject.tenant_id == tenant_id)
    if after:
        query = query.where(Subject.id > after)
    return list(session.scalars(query.order_by(Subject.id).limit(limit)))


def count_subjects(session: Session, tenant_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Subject).where(Subject.tenant_id == tenant_id)) or 0
