"""Self-service for a resident, opened from a subject-token link (``/me#token=...`` or
``/me?token=...``): the token is exchanged once for a short signed cookie naming the token's key
id (never the token itself), re-checked on every request, so erasure or revocation ends it at once.

Shows what is held (consents, counts of templates, credentials by type, recent gate events; never
template bytes or credential values), withdraws a consent in one click (consenting took two: tick
and confirm), gives a consent on the same separate screen as the desk, downloads the evidence
bundle, and erases on request. Every action is a :mod:`trustface.services` function with the
subject token's principal as the caller, as through the API.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from trustface.access.codes import E_FORBIDDEN
from trustface.access.keys import Principal
from trustface.errors import CATALOGUE, TrustfaceError
from trustface.services import consents, rights, sessions
from trustface.web import i18n
from trustface.web.consent_form import consent_request, require_ticked
from trustface.web.forms import form_of, text
from trustface.web.render import (
    LoginRequired,
    PageRoute,
    context_of,
    error_words,
    finish,
    key_of,
    lang_of,
    page,
    redirect,
)
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
#: the most recent gate events shown on the home page
RECENT_SHOWN = 20


def subject_session(request: Request) -> Principal:
    """The subject behind the session cookie (a page dependency), re-checked against the token on
    every request, or :class:`LoginRequired`."""
    claims = unsign(key_of(request), request.cookies.get(SELF_SERVICE_COOKIE))
    if not claims or claims.get("k") != "subject" or not isinstance(claims.get("id"), str):
        raise LoginRequired("me")
    who = sessions.subject_token(context_of(request), claims["id"])
    if who is None:
        raise LoginRequired("me")
    return who


def _optional_session(request: Request) -> Principal | None:
    try:
        return subject_session(request)
    except LoginRequired:
        return None


def _subject_id(who: Principal) -> str:
    assert who.subject_id is not None  # a subject token always names its subject
    return who.subject_id


def _exchange(request: Request, token: str | None) -> Response:
    """A subject token for a session cookie; anything else is the start page with a message."""
    try:
        who = sessions.caller_of_token(context_of(request), (token or "").strip())
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


@router.get("/me")
def me(request: Request, token: str | None = None) -> Response:
    if token:  # /me?token=...: exchanged at once, and the address loses the token
        return _exchange(request, token)
    who = _optional_session(request)
    if who is None:
        return page(request, "me/start.html")
    ctx = context_of(request)
    t = i18n.translator(lang_of(request))
    report = rights.access_report(ctx, who, _subject_id(who)).document
    rows = consents.consent_state(ctx, who, _subject_id(who)).rows
    q = request.query_params
    flash = (t("withdrawn_done") if q.get("withdrawn") else t("me_consent_given") if q.get("consented")
             else t("declined_me") if q.get("declined") else None)
    recent = [{**e, "at": e["at"][:19].replace("T", " ")} for e in list(reversed(report["recent_access"]))[:RECENT_SHOWN]]
    return page(request, "me/home.html", signed_in=True, report=report, consent_rows=rows, recent=recent, flash=flash)


@router.post("/me/session")
async def me_session(request: Request) -> Response:
    form = await form_of(request)
    return _exchange(request, form.get("token") if isinstance(form.get("token"), str) else None)


@router.post("/me/logout")
async def me_logout(request: Request) -> Response:
    await form_of(request)
    response = redirect(request, "/me")
    clear_cookie(response, request, SELF_SERVICE_COOKIE)
    return response


@router.post("/me/withdraw")
async def me_withdraw(request: Request, who: Principal = Depends(subject_session)) -> Response:
    """One click, like the API's one call (PIPL-15, GDPR-7(3))."""
    form = await form_of(request)
    consents.withdraw(context_of(request), who, _subject_id(who), text(form, "consent_id") or "", channel="app")
    return redirect(request, "/me?withdrawn=1")


def _consent_page(request: Request, who: Principal, purpose: str, mode: str, *, status: int = 200,
                  **extra: Any) -> Response:
    screen = consents.consent_screen(context_of(request), who, _subject_id(who), purpose, mode)
    return page(request, "consent.html", status=status, layout="me_base.html", signed_in=True, asked=True,
                accept_url="/me/consent", decline_url="/me/decline", **{"form": {}, **extra}, **screen.to_dict())


@router.get("/me/consent")
def me_consent_screen(request: Request, purpose: str = "door_access", mode: str = "identify",
                      who: Principal = Depends(subject_session)) -> Response:
    return _consent_page(request, who, purpose, mode)


@router.post("/me/consent")
async def me_consent(request: Request, who: Principal = Depends(subject_session)) -> Response:
    """The same separate screen as at the desk; the person asked for it themselves (R7)."""
    form = await form_of(request)
    try:
        require_ticked(form, i18n.translator(lang_of(request))("consent_tick_first"))
        consents.give(context_of(request), who, _subject_id(who), consent_request(form, channel="app", asked=True))
    except TrustfaceError as exc:
        return _consent_page(request, who, text(form, "purpose") or "", text(form, "mode") or "",
                             status=CATALOGUE[exc.code].http_status, error=error_words(request, exc), form=form)
    return redirect(request, "/me?consented=1")


@router.post("/me/decline")
async def me_decline(request: Request, who: Principal = Depends(subject_session)) -> Response:
    form = await form_of(request)
    consents.refuse(context_of(request), who, _subject_id(who), purpose=text(form, "purpose") or "",
                    mode=text(form, "mode") or "", channel="app")
    return redirect(request, "/me?declined=1")


@router.get("/me/evidence")
def me_evidence(request: Request, who: Principal = Depends(subject_session)) -> Response:
    """The subject's audit events with a chain proof, as a download (SPC-6)."""
    bundle = rights.evidence(context_of(request), who, _subject_id(who))
    document = {**bundle.document, "tenant_id": bundle.tenant_id}
    response = Response(json.dumps(document, indent=2, ensure_ascii=False, default=str),
                        media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="evidence-{bundle.subject_id}.json"'})
    return finish(request, response)


@router.get("/me/erase")
def me_erase_confirm(request: Request, who: Principal = Depends(subject_session)) -> Response:
    return page(request, "me/erase.html", signed_in=True)


@router.post("/me/erase")
async def me_erase(request: Request, who: Principal = Depends(subject_session)) -> Response:
    """Erasure on request (PIPL-47, GDPR-17): the deletion certificate, and the session ends."""
    await form_of(request)
    certificate = rights.erase(context_of(request), who, _subject_id(who))
    response = page(request, "me/erased.html", certificate=certificate.document)
    clear_cookie(response, request, SELF_SERVICE_COOKIE)
    return response
