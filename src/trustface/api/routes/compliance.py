"""Compliance over HTTP: the site self-assessment (JSON, HTML or PDF) and the public
processing-rules page in Chinese or English. Thin: parse, call :mod:`trustface.services`, format."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from trustface.api.deps import Caller, Ctx
from trustface.services import admin, oversight

router = APIRouter()
MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@router.get("/v1/sites/{site_id}/assessment", tags=["compliance"],
            responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()},
                             "description": "the assessment in the requested format"}})
def assessment(site_id: str, who: Caller, ctx: Ctx,
               format: Literal["json", "html", "pdf"] = Query("json", description="json, html or pdf"),
               regime: list[str] | None = Query(None, description="rule packs to apply (default: the site's profile)")):
    """Assess the site against the rule packs from its live state: one finding per check with
    status, requirement IDs, evidence and fix (issue 7). Admin, operator and auditor keys; the
    assessment itself is recorded in the audit trail (PIPL-54)."""
    from trustface.compliance import report

    result = oversight.assess_site(ctx, who, site_id, regimes=regime)
    if format == "json":
        return result
    body = report.render(result, format)
    headers = {}
    if format == "pdf":
        headers["content-disposition"] = f'inline; filename="assessment-{site_id}.pdf"'
    return Response(body, media_type=MEDIA[format], headers=headers)


#: a refusal of the page is the JSON error envelope, not HTML (FastAPI would document it as text/html)
_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
_JSON_ERRORS: dict[int | str, dict[str, Any]] = {status: {"content": _ENVELOPE}
                                                 for status in (400, 401, 403, 404, 409, 413, 415, 422, 429)}


@router.get("/public/sites/{site_id}/notice.html", tags=["public"], response_class=HTMLResponse,
            responses=_JSON_ERRORS)
def notice_page(site_id: str, ctx: Ctx, lang: Literal["zh", "en"] = "zh",
                kind: Literal["general", "minors"] = "general") -> HTMLResponse:
    """The site's published processing rules as a page, in Chinese or English (no key needed:
    the rules must be public, PIPL-17, SPC-2(2)). The page shows the version hash that consents cite."""
    return HTMLResponse(admin.notice_page(ctx, site_id, lang=lang, kind=kind))
