"""Compliance over HTTP: the site self-assessment (JSON, HTML or PDF) and the public
processing-rules page in Chinese or English. Thin: scope, call :mod:`trustface.compliance`, format."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from trustface.access.codes import E_FORBIDDEN
from trustface.api.deps import Caller, Svc, scoped_site
from trustface.errors import TrustfaceError

router = APIRouter()
MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@router.get("/v1/sites/{site_id}/assessment", tags=["compliance"],
            responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()},
                             "description": "the assessment in the requested format"}})
def assessment(site_id: str, who: Caller, svc: Svc,
               format: Literal["json", "html", "pdf"] = Query("json", description="json, html or pdf"),
               regime: list[str] | None = Query(None, description="rule packs to apply (default: the site's profile)")):
    """Assess the site against the rule packs from its live state: one finding per check with
    status, requirement IDs, evidence and fix (issue 7). Admin, operator and auditor keys; the
    assessment itself is recorded in the audit trail (PIPL-54)."""
    from trustface.compliance import assessment as assess_mod
    from trustface.compliance import packs, report

    who.require("reports:read")
    if who.role == "subject":  # the evidence names other people: not for a subject's own token
        raise TrustfaceError(E_FORBIDDEN, "a subject token may not read a site assessment (reports:read)")
    if regime:
        unknown = [r for r in regime if r not in packs.REGIMES]
        if unknown:
            raise TrustfaceError("E_INVALID_ARGUMENT", f"unknown regime(s) {', '.join(unknown)}: use "
                                                       f"{', '.join(packs.REGIMES)}")
    with svc.tx() as s:
        scoped_site(s, who, site_id)
        result = assess_mod.assess(s, site_id, directory=svc.deployment.directory, regimes=regime or None)
        result["audit_seq"] = assess_mod.record(s, result, actor=who.actor)
    if format == "json":
        return result
    body = report.render(result, format)
    headers = {}
    if format == "pdf":
        headers["content-disposition"] = f'inline; filename="assessment-{site_id}.pdf"'
    return Response(body, media_type=MEDIA[format], headers=headers)


#: a refusal of the page is the JSON error envelope, not HTML (FastAPI would document it as text/html)
_JSON_ERRORS = {status: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
                for status in (400, 401, 403, 404, 409, 413, 415, 422, 429)}


@router.get("/public/sites/{site_id}/notice.html", tags=["public"], response_class=HTMLResponse,
            responses=_JSON_ERRORS)
def notice_page(site_id: str, svc: Svc, lang: Literal["zh", "en"] = "zh",
                kind: Literal["general", "minors"] = "general") -> HTMLResponse:
    """The site's published processing rules as a page, in Chinese or English (no key needed:
    the rules must be public, PIPL-17, SPC-2(2)). The page shows the version hash that consents cite."""
    from trustface.compliance import notices

    with svc.deployment.session() as s:
        try:
            html = notices.render_current(s, site_id, lang=lang, kind=kind)
        finally:
            s.rollback()
    return HTMLResponse(html)
