"""Self-service for a resident, opened from a subject-token link (``/me#token=...`` or
``/me?token=...``): the token is exchanged once for a short signed cookie naming the token's key
id (never the token itself), re-checked on every request, so erasure or revocation ends it at once.

Shows what is held (consents, counts of templates, credentials by type, recent gate events; never
template bytes or credential values), withdraws a consent in one click (consenting took two: tick
and confirm), gives a consent on the same separate screen as the desk, downloads the evidence
bundle, and erases on request. Every action is the API's own route function with the subject
token's principal as the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from trustface.access import keys
from trustface.access.codes import E_FORBIDDEN
from trustface.api.routes import subjects as api_subjects
from trustface.db import access_store, repo
from trustface.errors import CATALOGUE, E_INVALID_ARGUMENT, TrustfaceError
from trustface.web import bridge, i18n
from trustface.web.console import consent_context, consent_payload, consent_rows, form_of
from trustface.web.render import LoginRequired, PageRoute, error_words, finish, key_of, lang_of, page, redirect, services
from trustface.web.security import (
    SELF_SERVICE_COOKIE,
    SELF_SERVICE_LIFETIME,
    clear_cookie,
    rotate_csrf,
    set_cookie,
    sign,
    unsign,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _principal_of_row(row, now) -> keys.Principal | None:
    if row is None or row.role != "subject" or row.revoked_at is not None:
        return None
    if row.expires_at is not None and now >= row.expires_at:
        return None
    return keys.Principal(row.id, row.role, row.tenant_id, row.site_id, row.subject_id)


def subject_session(request: Request) -> keys.Principal:
    claims = unsign(key_of(request), request.cookies.get(SELF_SERVICE_COOKIE))
    if not claims or claims.get("k") != "subject" or not isinstance(claims.get("id"), str):
        raise LoginRequired("me")
    svc = services(request)
    with svc.deployment.session() as s:
        try:
            who = _principal_of_row(access_store.api_key(s, claims["id"]), dt.datetime.now(dt.timezone.utc))
        finally:
            s.rollback()
    if who is None:
        raise LoginRequired("me")
    return who


def _optional_session(request: Request) -> keys.Principal | None:
    try:
        return subject_session(request)
    except LoginRequired:
        return None


def _exchange(request: Request, token: str | None) -> Response:
    """A subject token for a session cookie; anything else is the start page with a message."""
    svc = services(request)
    try:
        with svc.deployment.session() as s:
            try:
                who = keys.authenticate(s, (token or "").strip())
            finally:
                s.rollback()
        if who.role != "subject":
            raise TrustfaceError(E_FORBIDDEN, "this is not a resident's self-service link")
    except TrustfaceError as exc:
        return page(request, "me/start.html", status=CATALOGUE[exc.code].http_status,
                    error=i18n.translator(lang_of(request))("me_link_invalid"))
    rotate_csrf(request, key_of(request))
    response = redirect(request, "/me")
    claims = {"k": "subject", "id": who.key_id, "exp": int(time.time()) + SELF_SERVICE_LIFETIME}
    set_cookie(response, request, SELF_SERVICE_COOKIE, sign(key_of(request), claims), max_age=SELF_SERVICE_LIFETIME)
    return response


def _site_offer(session, site_id: str) -> dict:
    return {"id": site_id, "purposes": [{"id": p.id, "name": p.name, "modes": p.allowed_modes.split(",")}
                                        for p in repo.purposes_of_site(session, site_id)]}


@router.get("/me")
def me(request: Request, token: str | None = None):
    if token:  # /me?token=...: exchanged at once, and the address loses the token
        return _exchange(request, token)
    who = _optional_session(request)
    if who is None:
        return page(request, "me/start.html")
    svc = services(request)
    t = i18n.translator(lang_of(request))
    report = api_subjects.subject_report(who.subject_id, who, svc)
    with svc.tx() as s:
        rows = consent_rows(s, who.subject_id, _site_offer(s, report["site_id"]), report["consents"])
    q = request.query_params
    flash = (t("withdrawn_done") if q.get("withdrawn") else t("me_consent_given") if q.get("consented")
             else t("declined_me") if q.get("declined") else None)
    recent = list(reversed(report["recent_access"]))[:20]
    for e in recent:
        e["at"] = e["at"][:19].replace("T", " ")
    return page(request, "me/home.html", signed_in=True, report=report, consent_rows=rows, recent=recent, flash=flash)


@router.post("/me/session")
async def me_session(request: Request):
    form = await form_of(request)
    return _exchange(request, form.get("token") if isinstance(form.get("token"), str) else None)


@router.post("/me/logout")
async def me_logout(request: Request):
    await form_of(request)
    response = redirect(request, "/me")
    clear_cookie(response, request, SELF_SERVICE_COOKIE)
    return response


@router.post("/me/withdraw")
async def me_withdraw(request: Request, who=Depends(subject_session)):
    """One click, like the API's one call (PIPL-15, GDPR-7(3))."""
    form = await form_of(request)
    consent_id = form.get("consent_id") if isinstance(form.get("consent_id"), str) else ""
    await bridge.call_json(api_subjects.withdraw_consent, {"channel": "app"}, subject_id=who.subject_id,
                           consent_id=consent_id, who=who, svc=services(request))
    return redirect(request, "/me?withdrawn=1")


def _consent_page(request: Request, who, purpose: str, mode: str, *, status: int = 200, **extra):
    ctx = consent_context(request, who, who.subject_id, purpose, mode)
    return page(request, "consent.html", status=status, layout="me_base.html", signed_in=True, asked=True,
                accept_url="/me/consent", decline_url="/me/decline", **{"form": {}, **extra}, **ctx)


@router.get("/me/consent")
def me_consent_screen(request: Request, purpose: str = "door_access", mode: str = "identify",
                      who=Depends(subject_session)):
    return _consent_page(request, who, purpose, mode)


@router.post("/me/consent")
async def me_consent(request: Request, who=Depends(subject_session)):
    form = await form_of(request)
    purpose, mode = form.get("purpose") or "", form.get("mode") or ""
    try:
        if form.get("agree") != "yes":
            raise TrustfaceError(E_INVALID_ARGUMENT, i18n.translator(lang_of(request))("consent_tick_first"))
        await bridge.call_json(api_subjects.give_consent, consent_payload(form, channel="app", asked=True),
                               subject_id=who.subject_id, who=who, svc=services(request))
    except TrustfaceError as exc:
        return _consent_page(request, who, purpose, mode, status=CATALOGUE[exc.code].http_status,
                             error=error_words(request, exc), form=form)
    return redirect(request, "/me?consented=1")


@router.post("/me/decline")
async def me_decline(request: Request, who=Depends(subject_session)):
    form = await form_of(request)
    body = bridge.body(api_subjects.RefusalIn, purpose=form.get("purpose"), mode=form.get("mode"), channel="app")
    api_subjects.record_refusal(who.subject_id, body, who, services(request))
    return redirect(request, "/me?declined=1")


@router.get("/me/evidence")
def me_evidence(request: Request, who=Depends(subject_session)):
    bundle = api_subjects.evidence_bundle(who.subject_id, who, services(request))
    response = Response(json.dumps(bundle, indent=2, ensure_ascii=False, default=str),
                        media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="evidence-{who.subject_id}.json"'})
    return finish(request, response)


@router.get("/me/erase")
def me_erase_confirm(request: Request, who=Depends(subject_session)):
    return page(request, "me/erase.html", signed_in=True)


@router.post("/me/erase")
async def me_erase(request: Request, who=Depends(subject_session)):
    await form_of(request)
    certificate = api_subjects.erase(who.subject_id, who, services(request))
    response = page(request, "me/erased.html", certificate=certificate)
    clear_cookie(response, request, SELF_SERVICE_COOKIE)
    return response

