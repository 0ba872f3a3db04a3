"""Console pages for residents: the list with each one's consent per purpose and mode, registering
a resident, a resident's page, enrolment from a photo, PINs and cards, and a self-service link.

Each handler parses the form, calls a :mod:`trustface.services` function as the signed-in user
(so the API's roles, scopes and rules apply), and renders the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from trustface.access.accounts import ConsolePrincipal
from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.access.keys import PERMISSIONS
from trustface.errors import CATALOGUE, E_INVALID_ARGUMENT, TrustfaceError
from trustface.services import accounts, admin, consents, faces, gates, rights, web_queries
from trustface.services.admin import SiteView
from trustface.web import i18n
from trustface.web.console_session import console_user, section
from trustface.web.forms import form_of, photo, text
from trustface.web.render import PageRoute, context_of, error_words, lang_of, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
#: the longest name or reference a resident may be registered with (the API's limit)
MAX_IDENTITY_TEXT = 200
#: the longest chosen PIN or card number (the API's limit)
MAX_CREDENTIAL_VALUE = 64
CREDENTIAL_TYPES = ("pin", "card", "qr")


def pick_site(sites: tuple[SiteView, ...], site_id: str | None) -> SiteView:
    """The site asked for, else the caller's first; a tenant without a site is told how to add one."""
    if not sites:
        raise TrustfaceError(E_INVALID_ARGUMENT, "this tenant has no site yet; create one through the API or CLI")
    return next((s for s in sites if s.id == site_id), sites[0])


def _columns(site: SiteView) -> list[dict[str, str]]:
    return [{"purpose": p.name, "mode": m, "key": f"{p.name}/{m}"} for p in site.purposes for m in p.modes]


@router.get("/console/residents")
def residents(request: Request, site: str | None = None, who: ConsolePrincipal = Depends(console_user)) -> Response:
    ctx = context_of(request)
    who.require("subjects:read")
    sites = admin.list_sites(ctx, who)
    chosen = pick_site(sites, site)
    raw_page = request.query_params.get("page", "0")
    page_no = min(int(raw_page), 10_000) if raw_page.isdigit() else 0
    found = web_queries.residents(ctx, who, chosen.id, page=page_no, size=PAGE_SIZE)
    states = consents.consent_states(ctx, who, chosen.id, [r.id for r in found.residents])
    rows = [{"id": r.id, "name": r.name, "ref": r.ref, "credentials": r.credentials,
             "status": {f"{row.purpose}/{row.mode}": row for row in states[r.id].rows}} for r in found.residents]
    return page(request, "console/residents.html",
                **section(who, "residents", sites=sites, site=chosen, rows=rows, total=found.total,
                          columns=_columns(chosen), more=found.more, page=page_no))


def _identity_text(form: dict[str, Any], name: str) -> str | None:
    value = text(form, name)
    if value is not None and len(value) > MAX_IDENTITY_TEXT:
        raise TrustfaceError(E_MALFORMED_REQUEST, f"{name}: at most {MAX_IDENTITY_TEXT} characters")
    return value


def _birth_date(form: dict[str, Any]) -> dt.date | None:
    """The date of birth when the form chose to give one (else the resident is 18 or older)."""
    if form.get("age") != "birth_date":
        return None
    given = text(form, "birth_date")
    if not given:
        raise TrustfaceError(E_INVALID_ARGUMENT, "give the date of birth, or choose 18 or older")
    try:
        return dt.date.fromisoformat(given)
    except ValueError:
        raise TrustfaceError(E_MALFORMED_REQUEST, "birth_date: give a date as YYYY-MM-DD") from None


@router.post("/console/residents")
async def add_resident(request: Request, who: ConsolePrincipal = Depends(console_user)) -> Response:
    form = await form_of(request)
    birth = _birth_date(form)
    identity = {k: v for k in ("display_name", "external_ref") if (v := _identity_text(form, k))}
    created = admin.create_subject(context_of(request), who, site_id=text(form, "site_id") or "", birth_date=birth,
                                   age_band=None if birth else "18+", identity=identity or None)
    return redirect(request, f"/console/residents/{created.id}?added=1")


def _resident_context(request: Request, who: ConsolePrincipal, subject_id: str, **extra: Any) -> dict[str, Any]:
    ctx = context_of(request)
    record = rights.subject_record(ctx, who, subject_id)
    details = web_queries.resident_details(ctx, who, subject_id)
    rows = consents.consent_state(ctx, who, subject_id).rows
    enrol_modes = [{"purpose": r.purpose, "mode": r.mode} for r in rows
                   if r.kind == "active" and r.mode in ("verify", "identify")]
    return section(who, "residents", subject=record.document, name=details.name, ref=details.ref,
                   consent_rows=rows, enrol_modes=enrol_modes, credentials=record.document["credentials"],
                   templates=details.templates, minor=details.minor,
                   can_link="keys:write" in PERMISSIONS[who.role], **extra)


def _resident_page(request: Request, who: ConsolePrincipal, subject_id: str, *, status: int = 200,
                   **extra: Any) -> Response:
    return page(request, "console/resident.html", status=status,
                **_resident_context(request, who, subject_id, **extra))


#: the query flag a redirect sets -> the message shown on the resident's page
FLASHES = (("added", "resident_added"), ("consented", "consent_recorded"), ("withdrawn", "withdrawn_done"),
           ("card", "card_registered"))


@router.get("/console/residents/{subject_id}")
def resident(request: Request, subject_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    t = i18n.translator(lang_of(request))
    q = request.query_params
    flash = next((t(key) for flag, key in FLASHES if q.get(flag)), None)
    return _resident_page(request, who, subject_id, flash=flash, declined=bool(q.get("declined")))


@router.post("/console/residents/{subject_id}/enrol")
async def enrol(request: Request, subject_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    """Enrol from one photo under an active consent (``target`` is ``purpose|mode``); the photo is
    discarded once its descriptor is taken (R9)."""
    form = await form_of(request)
    purpose, _, mode = (text(form, "target") or "").partition("|")
    t = i18n.translator(lang_of(request))
    try:
        data = await photo(form)
        done = await run_in_threadpool(faces.enrol, context_of(request), who, subject_id, [data], purpose=purpose,
                                       modes=[mode])
    except TrustfaceError as exc:
        return _resident_page(request, who, subject_id, status=CATALOGUE[exc.code].http_status,
                              error=error_words(request, exc))
    return _resident_page(request, who, subject_id, flash=t("enrolled", n=len(done.to_dict()["enrolments"])))


def _credential_choice(form: dict[str, Any]) -> tuple[str, str | None]:
    kind, value = text(form, "type"), text(form, "value")
    if kind not in CREDENTIAL_TYPES:
        raise TrustfaceError(E_MALFORMED_REQUEST, f"type: one of {', '.join(CREDENTIAL_TYPES)}")
    if value is not None and len(value) > MAX_CREDENTIAL_VALUE:
        raise TrustfaceError(E_MALFORMED_REQUEST, f"value: at most {MAX_CREDENTIAL_VALUE} characters")
    return kind, value


@router.post("/console/residents/{subject_id}/credentials")
async def issue(request: Request, subject_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    """A non-face way in (R6, SPC-10): a generated PIN is shown once, on this answer only."""
    form = await form_of(request)
    t = i18n.translator(lang_of(request))
    ctx = context_of(request)
    try:
        kind, value = _credential_choice(form)
        site_id = rights.subject_record(ctx, who, subject_id).site_id
        made = gates.issue_credential(ctx, who, subject_id=subject_id, site_id=site_id, type=kind, value=value)
    except TrustfaceError as exc:
        return _resident_page(request, who, subject_id, status=CATALOGUE[exc.code].http_status,
                              error=error_words(request, exc))
    if made.get("value"):  # a generated PIN: shown in this answer only, never in an address
        return _resident_page(request, who, subject_id, shown_once={"label": t("pin_issued"), "value": made["value"]})
    return redirect(request, f"/console/residents/{subject_id}?card=1#ways-in")


@router.post("/console/residents/{subject_id}/self-service")
async def self_service_link(request: Request, subject_id: str,
                            who: ConsolePrincipal = Depends(console_user)) -> Response:
    """A subject token for the resident, shown once inside a link to ``/me`` (only admins make keys)."""
    await form_of(request)
    t = i18n.translator(lang_of(request))
    made = accounts.create_key(context_of(request), who, role="subject", subject_id=subject_id,
                               name=f"self-service link for {subject_id}")
    link = f"{str(request.base_url).rstrip('/')}/me#token={made.token}"
    return page(request, "console/shown_once.html", title=t("link_title"), help=t("link_help"), link=link,
                back=f"/console/residents/{subject_id}", **section(who, "residents"))


__all__ = ["pick_site", "router"]
