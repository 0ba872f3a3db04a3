"""API keys: an administrator makes keys with a role and a scope; the secret is shown once."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from trustface.access import keys
from trustface.api.deps import Body, Caller, Svc, json_content, scoped_site, scoped_subject, tenant_for
from trustface.db import access_store
from trustface.errors import TrustfaceError
from trustface.policy import codes

router = APIRouter(tags=["api keys"])


class KeyIn(Body):
    role: Literal["admin", "operator", "gate", "auditor", "subject"]
    name: str = Field(max_length=200, description="who holds the key, e.g. 'Tower A north gate kiosk'")
    tenant_id: str | None = Field(None, description="deployment administrator only")
    site_id: str | None = Field(None, description="gate keys: the one site they serve")
    subject_id: str | None = Field(None, description="subject tokens: the one subject they belong to")
    expires_days: int | None = Field(None, gt=0, le=3650)


@router.post("/v1/api-keys", status_code=201, dependencies=[Depends(json_content)])
def create_key(body: KeyIn, who: Caller, svc: Svc) -> dict:
    """Make a key; ``key`` in the answer is the only copy (only its SHA-256 is stored)."""
    who.require("keys:write")
    with svc.tx() as s:
        tenant = tenant_for(s, who, body.tenant_id)
        if body.site_id is not None:
            scoped_site(s, who, body.site_id)
        if body.subject_id is not None:
            scoped_subject(s, who, body.subject_id)
        row, token = keys.create_api_key(
            s, role=body.role, tenant_id=tenant, name=body.name, site_id=body.site_id, subject_id=body.subject_id,
            expires_in=dt.timedelta(days=body.expires_days) if body.expires_days else None, actor=who.actor)
        return {**keys.key_to_dict(row), "key": token}


@router.get("/v1/api-keys")
def list_keys(who: Caller, svc: Svc) -> dict:
    who.require("keys:write")
    with svc.tx() as s:
        return {"keys": [keys.key_to_dict(k) for k in access_store.api_keys_of_tenant(s, who.tenant_id)]}


@router.delete("/v1/api-keys/{key_id}")
def revoke_key(key_id: str, who: Caller, svc: Svc) -> dict:
    who.require("keys:write")
    with svc.tx() as s:
        row = access_store.api_key(s, key_id)
        if row is None or not who.sees_tenant(row.tenant_id) and not who.is_root:
            raise TrustfaceError(codes.E_NOT_FOUND, f"API key {key_id!r} does not exist")
        return keys.key_to_dict(keys.revoke_api_key(s, key_id=key_id, actor=who.actor))
