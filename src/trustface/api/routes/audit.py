"""The audit trail over HTTP: paginated events (one tenant's, or all for the deployment
administrator) and chain verification. Thin: parse, call :mod:`trustface.services.oversight`,
format."""

from __future__ import annotations

from fastapi import APIRouter, Query

from trustface.api.deps import Caller, Ctx
from trustface.services import oversight

router = APIRouter(tags=["audit"])


@router.get("/v1/audit/events")
def events(who: Caller, ctx: Ctx, limit: int = Query(100, description="1-1000"),
           cursor: str | None = Query(None, description="next_cursor of the previous page")) -> dict:
    """Events in chain order, ``limit`` per page; pass ``next_cursor`` back for the next page."""
    page = oversight.audit_events(ctx, who, limit=limit, cursor=cursor)
    return {"events": [e.to_dict() for e in page.events], "next_cursor": page.next_cursor}


@router.get("/v1/audit/verify")
def verify(who: Caller, ctx: Ctx) -> dict:
    """Walk the whole hash chain and check the signed head: ``ok``, ``events``, ``first_bad``."""
    result = oversight.verify_audit_chain(ctx, who)
    return {"ok": result.ok, "events": result.events, "first_bad": result.first_bad, "reason": result.reason or None}
