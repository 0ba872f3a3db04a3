"""Console overview and oversight pages: the tenant's sites at a glance, the live access log, the
audit chain's status (R21) and the site's compliance self-assessment (issue 7, PIPL-54)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from trustface.access.accounts import ConsolePrincipal
from trustface.errors import CATALOGUE
from trustface.services import admin, oversight, web_queries
from trustface.web import i18n
from trustface.web.console_residents import PAGE_SIZE, pick_site
from trustface.web.console_session import console_user, section
from trustface.web.render import PageRoute, context_of, lang_of, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/console")
def home(request: Request, who: ConsolePrincipal = Depends(console_user)) -> Response:
    ctx = context_of(request)
    sites = admin.list_sites(ctx, who)
    counts = web_queries.subject_counts(ctx, who, [site.id for site in sites])
    return page(request, "console/home.html", **section(who, "home", sites=sites, counts=counts))


def _log_events(request: Request, who: ConsolePrincipal) -> list[dict[str, object]]:
    """The latest gate decisions, a refusal's reason in the page's language."""
    lang = lang_of(request)
    out: list[dict[str, object]] = []
    for e in web_queries.gate_log(context_of(request), who, limit=PAGE_SIZE):
        reason = None
        if e.reason:
            spec = CATALOGUE.get(e.reason)
            reason = i18n.error_text(lang, e.reason, spec.description if spec else e.reason)
        out.append({"seq": e.seq, "at": e.at[:19].replace("T", " "), "gate": e.gate, "method": e.method,
                    "granted": e.granted, "reason": reason, "subject_id": e.subject_id})
    return out


@router.get("/console/log")
def access_log(request: Request, who: ConsolePrincipal = Depends(console_user)) -> Response:
    return page(request, "console/log.html", **section(who, "log", events=_log_events(request, who)))


@router.get("/console/log/rows")
def access_log_rows(request: Request, who: ConsolePrincipal = Depends(console_user)) -> Response:
    return page(request, "console/_log_rows.html", events=_log_events(request, who))


@router.get("/console/audit")
def audit_status(request: Request, who: ConsolePrincipal = Depends(console_user)) -> Response:
    checked = oversight.verify_audit_chain(context_of(request), who)
    result = {"ok": checked.ok, "events": checked.events, "first_bad": checked.first_bad,
              "reason": checked.reason or None}
    return page(request, "console/audit.html", **section(who, "audit", result=result))


@router.get("/console/compliance")
def compliance(request: Request, site: str | None = None, who: ConsolePrincipal = Depends(console_user)) -> Response:
    """The site assessed against its rule packs from the live state (one finding per check, with
    requirement ids, evidence and the fix); the assessment is itself an audit event (PIPL-54)."""
    ctx = context_of(request)
    sites = admin.list_sites(ctx, who)
    chosen = pick_site(sites, site)
    result = oversight.assess_site(ctx, who, chosen.id)
    return page(request, "console/compliance.html",
                **section(who, "compliance", sites=sites, site=chosen, result=result))


@router.get("/console/compliance/{site_id}.pdf")
def compliance_pdf(request: Request, site_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    from trustface.compliance import report

    result = oversight.assess_site(context_of(request), who, site_id)
    # as the API answers it: the PDF itself, without the pages' headers (a CSP would hinder the viewer)
    return Response(report.render(result, "pdf"), media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="assessment-{site_id}.pdf"'})


__all__ = ["router"]
