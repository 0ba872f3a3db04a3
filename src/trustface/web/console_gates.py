"""Console pages for gates: a site's gates and their ways in, adding a gate (never face alone,
SPC-10, R6), and a kiosk link carrying a new gate key (shown once)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from trustface.access.accounts import ConsolePrincipal
from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.access.keys import PERMISSIONS
from trustface.access.methods import FACE_MODES, FIRST_FACTORS, IDENTIFY_FACE, METHODS
from trustface.errors import CATALOGUE, TrustfaceError
from trustface.services import accounts, admin, web_queries
from trustface.services import gates as gate_service
from trustface.web import i18n
from trustface.web.console_residents import pick_site
from trustface.web.console_session import console_user, section
from trustface.web.forms import form_of, text, texts
from trustface.web.render import PageRoute, context_of, error_words, lang_of, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: the longest gate name (the API's limit); a kiosk key's name is cut to the same length
MAX_NAME = 200
DEFAULT_PURPOSE = "door_access"


def _gates_page(request: Request, who: ConsolePrincipal, site_id: str | None, *, status: int = 200,
                **extra: Any) -> Response:
    sites = admin.list_sites(context_of(request), who)
    chosen = pick_site(sites, site_id)
    return page(request, "console/gates.html", status=status,
                **section(who, "gates", sites=sites, site=chosen, gates=chosen.gates, methods=METHODS,
                          face_modes=FACE_MODES, first_factors=FIRST_FACTORS,
                          can_kiosk="keys:write" in PERMISSIONS[who.role], **extra))


@router.get("/console/gates")
def gates(request: Request, site: str | None = None, who: ConsolePrincipal = Depends(console_user)) -> Response:
    return _gates_page(request, who, site, form={})


def _gate_name(form: dict[str, Any]) -> str:
    name = text(form, "name")
    if name is None or len(name) > MAX_NAME:
        raise TrustfaceError(E_MALFORMED_REQUEST, f"name: give the gate a name of at most {MAX_NAME} characters")
    return name


@router.post("/console/gates")
async def add_gate(request: Request, who: ConsolePrincipal = Depends(console_user)) -> Response:
    form = await form_of(request)
    methods = texts(form, "methods")
    site_id = text(form, "site_id") or ""
    face_mode = text(form, "face_mode") or IDENTIFY_FACE
    # the form ticks the credentials that also open a two-factor gate alone (R6); an identify gate ignores them
    alone = [m for m in texts(form, "credential_alone") if m in methods] if face_mode != IDENTIFY_FACE else None
    # a face gate requires liveness; a reason (an attended gate) turns it off, recorded (issue 17)
    off_reason = text(form, "liveness_off_reason") if "face" in methods else None
    t = i18n.translator(lang_of(request))
    try:
        gate_service.create_gate(context_of(request), who, site_id=site_id, name=_gate_name(form), methods=methods,
                                 purpose=text(form, "purpose") or DEFAULT_PURPOSE, face_mode=face_mode,
                                 credential_alone=alone, liveness="off" if off_reason else None,
                                 liveness_off_reason=off_reason)
    except TrustfaceError as exc:
        return _gates_page(request, who, site_id, status=CATALOGUE[exc.code].http_status,
                           error=error_words(request, exc), form={"name": text(form, "name"), "methods": methods,
                                                                  "face_mode": face_mode,
                                                                  "credential_alone": alone or [],
                                                                  "liveness_off_reason": off_reason})
    return _gates_page(request, who, site_id, form={}, flash=t("gate_added"))


@router.post("/console/gates/{gate_id}/kiosk")
async def kiosk_link(request: Request, gate_id: str, who: ConsolePrincipal = Depends(console_user)) -> Response:
    """A gate key for the kiosk at this gate, inside the kiosk's link (the ``#key=`` fragment never
    reaches a server log); only admins make keys."""
    await form_of(request)
    t = i18n.translator(lang_of(request))
    ctx = context_of(request)
    gate = web_queries.gate(ctx, who, gate_id)
    made = accounts.create_key(ctx, who, role="gate", site_id=gate["site_id"], name=f"kiosk: {gate['name']}"[:MAX_NAME])
    link = f"{str(request.base_url).rstrip('/')}/kiosk/{gate_id}#key={made.token}"
    return page(request, "console/shown_once.html", title=t("kiosk_link_title", gate=gate["name"]),
                help=t("kiosk_link_help"), link=link, back=f"/console/gates?site={gate['site_id']}",
                **section(who, "gates"))


__all__ = ["router"]
