"""Pages anyone may open: the gate kiosk (it authenticates to the API with its gate key, kept in
the browser session only), a site's published processing rules in words, and the language switch."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from trustface.policy.vocab import NOTICE_FIELDS
from trustface.services import admin
from trustface.web import i18n
from trustface.web.render import PageRoute, context_of, lang_of, page, redirect
from trustface.web.security import LANG_COOKIE, safe_next, set_cookie

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def root(request: Request) -> Response:
    return redirect(request, "/console")


@router.get("/lang")
def switch_language(request: Request, to: str = "en", next: str | None = None) -> Response:
    response = redirect(request, safe_next(next, "/"))
    if to in i18n.LANGS:
        set_cookie(response, request, LANG_COOKIE, to, max_age=365 * 24 * 3600)
    return response


@router.get("/kiosk/{gate_id}")
def kiosk(request: Request, gate_id: str) -> Response:
    """The gate's full-screen page. It holds no data until the gate key (from the link's
    ``#key=`` fragment, or typed once) has been checked by the API itself."""
    if not gate_id.replace("_", "").isalnum() or len(gate_id) > 40:
        gate_id = ""
    return page(request, "kiosk.html", gate_id=gate_id, strings=i18n.kiosk_strings(lang_of(request)))


@router.get("/notice/{site_id}")
def notice(request: Request, site_id: str, kind: Literal["general", "minors"] = "general") -> Response:
    """The published processing rules (the same answer as ``/public/sites/{site_id}/notice``), in words."""
    published = admin.public_notice(context_of(request), site_id, kind=kind)
    notice = {**published.notice.to_dict(), "site": {"id": published.site_id, "name": published.site_name,
                                                     "site_type": published.site_type}}
    return page(request, "notice.html", notice=notice, fields=NOTICE_FIELDS)


__all__ = ["router"]
