"""The audit trail over HTTP: paginated events (one tenant's, or all for the deployment
administrator) and chain verification."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query

from trustface import audit
from trustface.api.deps import Caller, Svc
from trustface.db import audit_store
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

router = APIRouter(tags=["audit"])


@router.get("/v1/audit/events")
def events(who: Caller, svc: Svc, limit: int = Query(100, description="1-1000"),
           cursor: str | None = Query(None, description="next_cursor of the previous page")) -> dict:
    """Events in chain order, ``limit`` per page; pass ``next_cursor`` back for the next page."""
    who.require("audit:read")
    if not 1 <= limit <= 1000:
        raise TrustfaceError(E_INVALID_ARGUMENT, "limit is between 1 and 1000")
    after = 0
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 18:
            raise TrustfaceError(E_INVALID_ARGUMENT, "cursor is the next_cursor of a previous page")
        after = int(cursor)
    with svc.deployment.session() as s:
        try:
            rows = audit_store.events_page(s, tenant_id=None if who.is_root else who.tenant_id, after_seq=after,
                                           limit=limit)
        finally:
            s.rollback()
    out = [{"seq": r["seq"], "occurred_at": r["occurred_at"], "type": r["type"], "actor": r["actor"],
            "tenant_id": r["tenant_id"], "subject_id": r["subject_id"], "payload": json.loads(r["payload"]),
            "hash": r["hash"]} for r in rows]
    return {"events": out, "next_cursor": str(rows[-1]["seq"]) if len(rows) == limit else None}


@router.get("/v1/audit/verify")
def verify(who: Caller, svc: Svc) -> dict:
    """Walk the whole hash chain and check the signed head: ``ok``, ``events``, ``first_bad``."""
    who.require("audit:read")
    with svc.deployment.session() as s:
        try:
            result = audit.verify(s)
        finally:
            s.rollback()
    return {"ok": result.ok, "events": result.events, "first_bad": result.first_bad, "reason": result.reason or None}
