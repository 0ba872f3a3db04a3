"""Health for load balancers and orchestrators: ``/livez`` (the process answers), ``/readyz`` (the
deployment can serve: 200, or 503 naming the failed check), and ``/healthz`` (kept: liveness)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from trustface.api.deps import Ctx
from trustface.services import health

router = APIRouter(tags=["public"])


@router.get("/healthz")
def healthz() -> dict:
    """The process answers (the same as /livez; kept for existing probes)."""
    return {"ok": True}


@router.get("/livez")
def livez() -> dict:
    """The process answers. Says nothing of the database: see /readyz."""
    return {"ok": True}


@router.get("/readyz", responses={503: {"description": "not ready: the failed checks are named"}})
async def readyz(ctx: Ctx) -> JSONResponse:
    """Ready to serve: the database answers, the schema is at this code's revision, the gallery's
    indexes are built without integrity failures, the key file is readable. 503 names what failed."""
    result = await run_in_threadpool(health.readiness, ctx)
    return JSONResponse(result.to_dict(), status_code=200 if result.ready else 503)
