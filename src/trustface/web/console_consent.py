"""The consent screen at the desk: separate per purpose and mode, unticked, the published notice
with why it is necessary and how to withdraw; a one-click decline that leads straight to a PIN or
card (R6, R7, SPC-4); a guardian for a minor (R3); withdrawal in one click (PIPL-15, R14)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from trustface.access.accounts import ConsolePrincipal
from trustface.errors import CATALOGUE, TrustfaceError
from trustface.services import consents
from trustface.web import i18n
from trustface.web.consent_form import consent_request, require_ticked
from trustface.web.console_session import console_user, section
from trustface.web.forms import form_of, text
from trustface.web.render import PageRoute, context_of, error_words, lang_of, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _consent_page(request: Request, who: ConsolePrincipal, subject_id: str, purpose: str, mode: str, *,
                  asked: bool, status: int = 200, **extra: Any) -> Response:
    screen = consents.consent_screen(context_of(request), who, subject_id, purpose, mode)
    return page(request, "consent.html", status=status, layout="console_base.html", asked=asked,
                accept_url=f"/console/residents/{subject_id}/consent",
                decline_url=f"/console/residents/{subject_id}/decline",
                **{"form": {}, **extra}, **section(who, "residents"), **screen.to_dict())


@router.get("/console/residents/{subject_id}/consent")
def consent_screen(request: Request, subject_id: str, purpose: str = "door_access", mode: str = "identify",
                   asked: str | None = None, who: ConsolePrincipal = Depends(console_user)) -> Response:
    return _consent_page(request, who, subject_id, purpose, mode, asked=bool(asked))


@router.post("/console/residents/{subject_id}/consent")
async def consent_accept(request: Request, subject_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    form = await form_of(request)
    asked = bool(form.get("asked"))
    try:
        require_ticked(form, i18n.translator(lang_of(request))("consent_tick_first"))
        consents.give(context_of(request), who, subject_id, consent_request(form, channel="desk", asked=asked))
    except TrustfaceError as exc:
        return _consent_page(request, who, subject_id, text(form, "purpose") or "", text(form, "mode") or "",
                             asked=asked, status=CATALOGUE[exc.code].http_status, error=error_words(request, exc),
                             form=form)
    return redirect(request, f"/console/residents/{subject_id}?consented=1#enrol")


@router.post("/console/residents/{subject_id}/decline")
async def consent_decline(request: Request, subject_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    """One click: the refusal is recorded (no re-prompt within the cooldown, R7) and the screen goes
    straight to issuing a PIN or card (R6)."""
    form = await form_of(request)
    consents.refuse(context_of(request), who, subject_id, purpose=text(form, "purpose") or "",
                    mode=text(form, "mode") or "", channel="desk")
    return redirect(request, f"/console/residents/{subject_id}?declined=1#ways-in")


@router.post("/console/residents/{subject_id}/withdraw")
async def withdraw(request: Request, subject_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    """One click, as easy as consenting (PIPL-15, GDPR-7(3), R14)."""
    form = await form_of(request)
    consents.withdraw(context_of(request), who, subject_id, text(form, "consent_id") or "", channel="desk")
    return redirect(request, f"/console/residents/{subject_id}?withdrawn=1")


__all__ = ["router"]
