"""API keys: an administrator makes keys with a role and a scope; the secret is shown once.
Thin: parse, call :mod:`trustface.services.accounts`, format."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from trustface.api.deps import Body, Caller, Ctx, json_content
from trustface.services import accounts

router = APIRouter(tags=["api keys"])


class KeyIn(Body):
    role: Literal["admin", "operator", "gate", "auditor", "subject"]
    name: str = Field(max_length=200, description="who holds the key, e.g. 'Tower A north gate kiosk'")
    tenant_id: str | None = Field(None, description="deployment administrator only")
    site_id: str | None = Field(None, description="gate keys: the one site they serve")
    subject_id: str | None = Field(None, description="subject tokens: the one subject they belong to")
    expires_days: int | None = Field(None, gt=0, le=3650)


@router.post("/v1/api-keys", status_code=201, dependencies=[Depends(json_content)])
def create_key(body: KeyIn, who: Caller, ctx: Ctx) -> dict:
    """Make a key; ``key`` in the answer is the only copy (only its SHA-256 is stored)."""
    issued = accounts.create_key(ctx, who, role=body.role, name=body.name, tenant_id=body.tenant_id,
                                 site_id=body.site_id, subject_id=body.subject_id,
                                 expires_in=dt.timedelta(days=body.expires_days) if body.expires_days else None)
    return {**issued.document, "key": issued.token}


@router.get("/v1/api-keys")
def list_keys(who: Caller, ctx: Ctx) -> dict:
    return {"keys": list(accounts.list_keys(ctx, who))}


@router.delete("/v1/api-keys/{key_id}")
def revoke_key(key_id: str, who: Caller, ctx: Ctx) -> dict:
    return accounts.revoke_key(ctx, who, key_id)
