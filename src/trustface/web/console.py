"""The property console: sign-in, residents and their face consent per purpose and mode, the
consent screen (separate, unticked, one-click decline that leads straight to a PIN or card, a
guardian for minors), enrolment from a photo, PINs and cards, gates, the live access log and the
audit chain's status.

Every action calls the API's own route function with the signed-in user as the caller
(:mod:`trustface.web.bridge`), so the console obeys exactly the API's roles, scopes and rules.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from trustface import rights
from trustface.access.codes import E_MALFORMED_REQUEST, E_UNAUTHENTICATED
from trustface.access.methods import METHODS
from trustface.api.deps import UNSAFE_TEXT_MESSAGE, scoped_site, scoped_subject, unsafe_text
from trustface.api.routes import audit as api_audit
from trustface.api.routes import faces as api_faces
from trustface.api.routes import keys as api_keys
from trustface.api.routes import sites as api_sites
from trustface.api.routes import subjects as api_subjects
from trustface.db import access_store, repo, web_store
from trustface.errors import CATALOGUE, E_IMAGE_INVALID, E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import ledger, profiles
from trustface.policy._common import is_minor
from trustface.policy.vocab import GUARDIAN_RELATIONSHIPS, GUARDIAN_VERIFICATIONS
from trustface.web import bridge, i18n, users
from trustface.web.render import (
    LoginRequired,
    PageRoute,
    error_words,
    key_of,
    lang_of,
    page,
    redirect,
    services,
)
from trustface.web.security import (
    CONSOLE_COOKIE,
    CONSOLE_LIFETIME,
    check_csrf,
    clear_cookie,
    fingerprint,
    rotate_csrf,
    safe_next,
    set_cookie,
    sign,
    unsign,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
MAX_PHOTO = 10 * 1024 * 1024


# --- session -------------------------------------------------------------------------------------

def console_user(request: Request) -> users.ConsolePrincipal:
    """The signed-in user, re-checked against the account on every request."""
    claims = unsign(key_of(request), request.cookies.get(CONSOLE_COOKIE))
    if not claims or claims.get("k") != "user" or not isinstance(claims.get("id"), str):
        raise LoginRequired()
    svc = services(request)
    with svc.deployment.session() as s:
        try:
            row = web_store.user(s, claims["id"])
            valid = (row is not None and row.disabled_at is None
                     and fingerprint(row.password_hash) == claims.get("fp"))
            who = users.principal(row) if valid else None
        finally:
            s.rollback()
    if who is None:
        raise LoginRequired()
    request.state.tf_user = who
    return who


async def form_of(request: Request) -> dict:
    """The submitted form (after the CSRF check); repeated fields become lists."""
    form = await request.form(max_files=2, max_fields=40)
    check_csrf(request, key_of(request), form.get("csrf"))
    if unsafe_text([v for _, v in form.multi_items() if isinstance(v, str)]) is not None:
        # NUL, controls, bidi overrides: refused as in the API (a NUL in an id failed in PostgreSQL)
        raise TrustfaceError(E_MALFORMED_REQUEST, UNSAFE_TEXT_MESSAGE)
    out: dict = {}
    for k, v in form.multi_items():
        if k in out:
            out[k] = out[k] if isinstance(out[k], list) else [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


def _text(form: dict, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _ctx(request: Request, who, section: str, **extra) -> dict:
    return {"user": who, "section": section, **extra}


# --- sign in / out -------------------------------------------------------------------------------

@router.get("/console/login")
def login_form(request: Request, next: str | None = None):
    return page(request, "login.html", next=safe_next(next, "/console"))


@router.post("/console/login")
async def login(request: Request):
    svc = services(request)
    form = await form_of(request)
    email, password = _text(form, "email") or "", form.get("password") or ""
    target = safe_next(_text(form, "next"), "/console")
    ip = request.client.host if request.client else "-"
    try:
        svc_limiter(request).check(f"{ip}|{email.lower()}", "login")

        def check():
            with svc.tx() as s:
                return users.sign_in(s, email=email, password=password if isinstance(password, str) else "")

        row = await run_in_threadpool(check)
    except TrustfaceError as exc:
        return page(request, "login.html", status=401 if exc.code == E_UNAUTHENTICATED else 429,
                    error=error_words(request, exc), email=email, next=target)
    rotate_csrf(request, key_of(request))  # a token planted before sign-in is worth nothing after it
    response = redirect(request, target)
    claims = {"k": "user", "id": row.id, "fp": fingerprint(row.password_hash),
              "exp": int(time.time()) + CONSOLE_LIFETIME}
    set_cookie(response, request, CONSOLE_COOKIE, sign(key_of(request), claims), max_age=CONSOLE_LIFETIME)
    return response


def svc_limiter(request: Request):
    """Sign-in attempts: 10 a minute per address and e-mail (bursts of 5)."""
    svc = services(request)
    limiter = getattr(svc, "_web_login_limiter", None)
    if limiter is None:
        from trustface.api.limits import RateLimiter

        limiter = RateLimiter({"login": 10}, {"login": 5})
        svc._web_login_limiter = limiter
    return limiter


@router.post("/console/logout")
async def logout(request: Request):
    await form_of(request)
    response = redirect(request, "/console/login")
    clear_cookie(response, request, CONSOLE_COOKIE)
    return response


# --- overview ------------------------------------------------------------------------------------

def _sites(who, svc) -> list[dict]:
    return api_sites.list_sites(who, svc)["sites"]


def _pick_site(sites: list[dict], site_id: str | None) -> dict:
    if not sites:
        raise TrustfaceError(E_INVALID_ARGUMENT, "this tenant has no site yet; create one through the API or CLI")
    return next((s for s in sites if s["id"] == site_id), sites[0])


@router.get("/console")
def home(request: Request, who=Depends(console_user)):
    svc = services(request)
    sites = _sites(who, svc)
    with svc.tx() as s:
        counts = {site["id"]: web_store.count_subjects_of_site(s, site["id"]) for site in sites}
    return page(request, "console/home.html", **_ctx(request, who, "home", sites=sites, counts=counts))


# --- residents -----------------------------------------------------------------------------------

def _columns(site: dict) -> list[dict]:
    return [{"purpose": p["name"], "mode": m, "key": f"{p['name']}/{m}"} for p in site["purposes"] for m in p["modes"]]


def consent_rows(session, subject_id: str, site: dict, consents: list[dict]) -> list[dict]:
    """One row per purpose x mode the site offers: the latest state of the subject's consent
    (active, withdrawn, expired), or a refusal newer than it, or nothing asked yet."""
    rows = []
    for p in site["purposes"]:
        for mode in p["modes"]:
            mine = [c for c in consents if c["purpose"] == p["name"] and c["mode"] == mode
                    and c["site_id"] == site["id"]]
            active = next((c for c in mine if c["status"] == "active"), None)
            latest = max(mine, key=lambda c: c["ended_at"] or c["given_at"], default=None)
            refusal = repo.last_refusal(session, subject_id, p["id"], mode)
            row = {"purpose": p["name"], "mode": mode, "kind": "none", "when": None, "consent_id": None,
                   "may_prompt": True}
            if active is not None:
                row.update(kind="active", when=active["given_at"][:10], consent_id=active["id"])
            elif refusal is not None and (latest is None or
                                          refusal.refused_at.isoformat() >= (latest["ended_at"] or latest["given_at"])):
                row.update(kind="declined", when=refusal.refused_at.date().isoformat())
            elif latest is not None:
                row.update(kind=latest["status"] if latest["status"] in ("withdrawn", "expired") else "withdrawn",
                           when=(latest["ended_at"] or latest["given_at"])[:10])
            if active is None:
                row["may_prompt"] = ledger.may_prompt(session, subject_id=subject_id, site_id=site["id"],
                                                      purpose=p["name"], mode=mode)
            rows.append(row)
    return rows


@router.get("/console/residents")
def residents(request: Request, site: str | None = None, who=Depends(console_user)):
    svc = services(request)
    who.require("subjects:read")
    sites = _sites(who, svc)
    chosen = _pick_site(sites, site)
    raw_page = request.query_params.get("page", "0")
    page_no = min(int(raw_page), 10_000) if raw_page.isdigit() else 0
    rows = []
    with svc.tx() as s:
        total = web_store.count_subjects_of_site(s, chosen["id"])
        found = web_store.subjects_of_site(s, chosen["id"], limit=PAGE_SIZE + 1, offset=page_no * PAGE_SIZE)
        for subj in found[:PAGE_SIZE]:
            summary = rights.subject_summary(s, subj.id)
            identity = repo.subject_identity(s, subj.id)
            status = {f"{r['purpose']}/{r['mode']}": r for r in consent_rows(s, subj.id, chosen, summary["consents"])}
            creds = sorted({c.type for c in access_store.credentials_of_subject(s, subj.id)})
            rows.append({"id": subj.id, "name": identity.display_name if identity else None,
                         "ref": identity.external_ref if identity else None, "status": status, "credentials": creds})
    return page(request, "console/residents.html",
                **_ctx(request, who, "residents", sites=sites, site=chosen, rows=rows, total=total,
                       columns=_columns(chosen), more=len(found) > PAGE_SIZE, page=page_no))


@router.post("/console/residents")
async def add_resident(request: Request, who=Depends(console_user)):
    svc = services(request)
    form = await form_of(request)
    site_id = _text(form, "site_id") or ""
    birth = _text(form, "birth_date") if form.get("age") == "birth_date" else None
    if form.get("age") == "birth_date" and not birth:
        raise TrustfaceError(E_INVALID_ARGUMENT, "give the date of birth, or choose 18 or older")
    body = bridge.body(api_subjects.SubjectIn, birth_date=birth, age_band=None if birth else "18+",
                       display_name=_text(form, "display_name"), external_ref=_text(form, "external_ref"))
    created = api_subjects.create_subject(site_id, body, who, svc)
    return redirect(request, f"/console/residents/{created['id']}?added=1")


def _site_of(who, svc, site_id: str) -> dict:
    return api_sites.get_site(site_id, who, svc)


def _resident_context(request: Request, who, subject_id: str, **extra) -> dict:
    svc = services(request)
    summary = api_subjects.get_subject(subject_id, who, svc)
    site = _site_of(who, svc, summary["site_id"])
    with svc.tx() as s:
        identity = repo.subject_identity(s, subject_id)
        rows = consent_rows(s, subject_id, site, summary["consents"])
        templates: dict[str, int] = {}
        for row in repo.gallery_templates_of_subject(s, subject_id):
            purpose = repo.purpose_of_site(s, row.purpose_id)
            label = f"{purpose.name if purpose else row.purpose_id}/{row.mode}"
            templates[label] = templates.get(label, 0) + 1
        minor = _is_minor(s, subject_id, site["id"])
    enrol_modes = [{"purpose": r["purpose"], "mode": r["mode"]} for r in rows
                   if r["kind"] == "active" and r["mode"] in ("verify", "identify")]
    return _ctx(request, who, "residents", subject=summary, site=site, name=identity.display_name if identity else None,
                ref=identity.external_ref if identity else None, consent_rows=rows, enrol_modes=enrol_modes,
                credentials=summary["credentials"], templates=templates, minor=minor,
                can_link="keys:write" in _permissions(who), **extra)


def _permissions(who) -> frozenset:
    from trustface.access.keys import PERMISSIONS

    return PERMISSIONS[who.role]


def _is_minor(session, subject_id: str, site_id: str) -> bool:
    subject, site = repo.subject(session, subject_id), repo.site(session, site_id)
    profile = profiles.load(site.jurisdiction)
    return is_minor(subject.birth_date, subject.age_band, profile.guardian_age_for(site.guardian_age),
                    dt.datetime.now(dt.timezone.utc))


@router.get("/console/residents/{subject_id}")
def resident(request: Request, subject_id: str, who=Depends(console_user)):
    t = i18n.translator(lang_of(request))
    q = request.query_params
    flash = None
    if q.get("added"):
        flash = t("resident_added")
    elif q.get("consented"):
        flash = t("consent_recorded")
    elif q.get("withdrawn"):
        flash = t("withdrawn_done")
    elif q.get("card"):
        flash = t("card_registered")
    return page(request, "console/resident.html",
                **_resident_context(request, who, subject_id, flash=flash, declined=bool(q.get("declined"))))


# --- the consent screen --------------------------------------------------------------------------

def consent_context(request: Request, who, subject_id: str, purpose: str, mode: str) -> dict:
    """What the consent screen shows: the published notice version and its words, why the purpose
    is necessary, the impact, the right to withdraw; a guardian block for a minor."""
    svc = services(request)
    with svc.tx() as s:
        subject = scoped_subject(s, who, subject_id)
        site = scoped_site(s, who, subject.site_id)
        p = repo.purpose_by_name(s, site.id, purpose)
        if p is None or mode not in p.allowed_modes.split(","):
            raise TrustfaceError(E_INVALID_ARGUMENT, f"the site does not offer {purpose}/{mode}")
        notice = repo.current_notice(s, site.id)
        if notice is None:
            from trustface.policy import codes

            raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN, "the site has no published processing-rules notice: "
                                                           "face consent cannot be asked yet")
        minors = repo.current_notice(s, site.id, "minors")
        minor = _is_minor(s, subject_id, site.id)
        guardian_age = profiles.load(site.jurisdiction).guardian_age_for(site.guardian_age)
        identity = repo.subject_identity(s, subject_id)
        return {"purpose": purpose, "mode": mode, "site_id": site.id, "necessity": p.necessity_justification,
                "notice": json.loads(notice.content), "notice_version": notice.version,
                "notice_published": notice.published_at.date().isoformat() if notice.published_at else "",
                "minor": minor, "guardian_age": guardian_age,
                "minors_notice_version": minors.version if minors else None,
                "relationships": GUARDIAN_RELATIONSHIPS, "verifications": GUARDIAN_VERIFICATIONS,
                "who_for": identity.display_name if identity and identity.display_name else subject_id}


def consent_payload(form: dict, *, channel: str, asked: bool) -> dict:
    """The API's consent body from the consent form (the same one an API client sends)."""
    try:
        version = int(form.get("notice_version") or "")
    except ValueError:
        version = None
    payload = {"purpose": _text(form, "purpose"), "mode": _text(form, "mode"), "notice_version": version,
               "channel": channel, "method": "click", "initiated_by": "subject" if asked else "processor"}
    if _text(form, "guardian_name"):
        payload["guardian"] = {"name": _text(form, "guardian_name"),
                               "relationship": _text(form, "guardian_relationship"),
                               "verification": _text(form, "guardian_verification")}
    return payload


@router.get("/console/residents/{subject_id}/consent")
def consent_screen(request: Request, subject_id: str, purpose: str = "door_access", mode: str = "identify",
                   asked: str | None = None, who=Depends(console_user)):
    who.require("consents:write")
    ctx = consent_context(request, who, subject_id, purpose, mode)
    return page(request, "consent.html", layout="console_base.html", form={}, asked=bool(asked),
                accept_url=f"/console/residents/{subject_id}/consent",
                decline_url=f"/console/residents/{subject_id}/decline", **_ctx(request, who, "residents"), **ctx)


@router.post("/console/residents/{subject_id}/consent")
async def consent_accept(request: Request, subject_id: str, who=Depends(console_user)):
    svc = services(request)
    form = await form_of(request)
    asked = bool(form.get("asked"))
    purpose, mode = _text(form, "purpose") or "", _text(form, "mode") or ""
    try:
        if form.get("agree") != "yes":
            raise TrustfaceError(E_INVALID_ARGUMENT, i18n.translator(lang_of(request))("consent_tick_first"))
        await bridge.call_json(api_subjects.give_consent, consent_payload(form, channel="desk", asked=asked),
                               subject_id=subject_id, who=who, svc=svc)
    except TrustfaceError as exc:
        ctx = consent_context(request, who, subject_id, purpose, mode)
        return page(request, "consent.html", status=CATALOGUE[exc.code].http_status, layout="console_base.html",
                    error=error_words(request, exc), form=form, asked=asked,
                    accept_url=f"/console/residents/{subject_id}/consent",
                    decline_url=f"/console/residents/{subject_id}/decline", **_ctx(request, who, "residents"), **ctx)
    return redirect(request, f"/console/residents/{subject_id}?consented=1#enrol")


@router.post("/console/residents/{subject_id}/decline")
async def consent_decline(request: Request, subject_id: str, who=Depends(console_user)):
    """One click: the refusal is recorded (no re-prompt within the cooldown) and the screen goes
    straight to issuing a PIN or card."""
    svc = services(request)
    form = await form_of(request)
    body = bridge.body(api_subjects.RefusalIn, purpose=_text(form, "purpose"), mode=_text(form, "mode"),
                       channel="desk")
    api_subjects.record_refusal(subject_id, body, who, svc)
    return redirect(request, f"/console/residents/{subject_id}?declined=1#ways-in")


@router.post("/console/residents/{subject_id}/withdraw")
async def withdraw(request: Request, subject_id: str, who=Depends(console_user)):
    svc = services(request)
    form = await form_of(request)
    await bridge.call_json(api_subjects.withdraw_consent, {"channel": "desk"}, subject_id=subject_id,
                           consent_id=_text(form, "consent_id") or "", who=who, svc=svc)
    return redirect(request, f"/console/residents/{subject_id}?withdrawn=1")


# --- enrolment and credentials -------------------------------------------------------------------

@router.post("/console/residents/{subject_id}/enrol")
async def enrol(request: Request, subject_id: str, who=Depends(console_user)):
    svc = services(request)
    form = await form_of(request)
    upload = form.get("photo")
    target = _text(form, "target") or ""
    t = i18n.translator(lang_of(request))
    try:
        if upload is None or isinstance(upload, str):
            raise TrustfaceError(E_IMAGE_INVALID, "choose a photo to enrol")
        data = await upload.read(MAX_PHOTO + 1)
        if not data or len(data) > MAX_PHOTO:
            raise TrustfaceError(E_IMAGE_INVALID, "the photo is empty or larger than 10 MB")
        purpose, _, mode = target.partition("|")
        done = await bridge.call_json(api_faces.enrol, {"image": bridge.image_payload(data), "purpose": purpose,
                                                        "mode": mode}, subject_id=subject_id, who=who, svc=svc)
    except TrustfaceError as exc:
        return page(request, "console/resident.html", status=CATALOGUE[exc.code].http_status,
                    **_resident_context(request, who, subject_id, error=error_words(request, exc)))
    return page(request, "console/resident.html",
                **_resident_context(request, who, subject_id, flash=t("enrolled", n=len(done["enrolments"]))))


@router.post("/console/residents/{subject_id}/credentials")
async def issue(request: Request, subject_id: str, who=Depends(console_user)):
    svc = services(request)
    form = await form_of(request)
    t = i18n.translator(lang_of(request))
    kind = _text(form, "type")
    try:
        body = bridge.body(api_subjects.CredentialIn, type=kind, value=_text(form, "value"))
        made = api_subjects.issue_credential(subject_id, body, who, svc)
    except TrustfaceError as exc:
        return page(request, "console/resident.html", status=CATALOGUE[exc.code].http_status,
                    **_resident_context(request, who, subject_id, error=error_words(request, exc)))
    if made.get("value"):  # a generated PIN: shown in this answer only, never in an address
        return page(request, "console/resident.html",
                    **_resident_context(request, who, subject_id,
                                        shown_once={"label": t("pin_issued"), "value": made["value"]}))
    return redirect(request, f"/console/residents/{subject_id}?card=1#ways-in")


@router.post("/console/residents/{subject_id}/self-service")
async def self_service_link(request: Request, subject_id: str, who=Depends(console_user)):
    svc = services(request)
    await form_of(request)
    t = i18n.translator(lang_of(request))
    made = api_keys.create_key(bridge.body(api_keys.KeyIn, role="subject", subject_id=subject_id,
                                           name=f"self-service link for {subject_id}"), who, svc)
    link = f"{str(request.base_url).rstrip('/')}/me#token={made['key']}"
    return page(request, "console/shown_once.html", title=t("link_title"), help=t("link_help"), link=link,
                back=f"/console/residents/{subject_id}", **_ctx(request, who, "residents"))


# --- gates ---------------------------------------------------------------------------------------

def _gates_page(request: Request, who, site_id: str | None, status: int = 200, **extra):
    svc = services(request)
    sites = _sites(who, svc)
    chosen = _pick_site(sites, site_id)
    return page(request, "console/gates.html", status=status,
                **_ctx(request, who, "gates", sites=sites, site=chosen, gates=chosen["gates"], methods=METHODS,
                       can_kiosk="keys:write" in _permissions(who), **extra))


@router.get("/console/gates")
def gates(request: Request, site: str | None = None, who=Depends(console_user)):
    return _gates_page(request, who, site, form={})


@router.post("/console/gates")
async def add_gate(request: Request, who=Depends(console_user)):
    svc = services(request)
    form = await form_of(request)
    methods = form.get("methods") or []
    methods = [methods] if isinstance(methods, str) else list(methods)
    site_id = _text(form, "site_id") or ""
    t = i18n.translator(lang_of(request))
    try:
        body = bridge.body(api_sites.GateIn, name=_text(form, "name"), methods=methods,
                           purpose=_text(form, "purpose") or "door_access")
        api_sites.create_gate(site_id, body, who, svc)
    except TrustfaceError as exc:
        return _gates_page(request, who, site_id, status=CATALOGUE[exc.code].http_status,
                           error=error_words(request, exc), form={"name": _text(form, "name"), "methods": methods})
    return _gates_page(request, who, site_id, form={}, flash=t("gate_added"))


@router.post("/console/gates/{gate_id}/kiosk")
async def kiosk_link(request: Request, gate_id: str, who=Depends(console_user)):
    svc = services(request)
    await form_of(request)
    t = i18n.translator(lang_of(request))
    gate = api_sites.get_gate(gate_id, who, svc)
    made = api_keys.create_key(bridge.body(api_keys.KeyIn, role="gate", site_id=gate["site_id"],
                                           name=f"kiosk: {gate['name']}"[:200]), who, svc)
    link = f"{str(request.base_url).rstrip('/')}/kiosk/{gate_id}#key={made['key']}"
    return page(request, "console/shown_once.html", title=t("kiosk_link_title", gate=gate["name"]),
                help=t("kiosk_link_help"), link=link, back=f"/console/gates?site={gate['site_id']}",
                **_ctx(request, who, "gates"))


# --- live access log and the audit chain ---------------------------------------------------------

def _log_events(request: Request, who) -> list[dict]:
    who.require("audit:read")
    svc = services(request)
    lang = lang_of(request)
    out, names = [], {}
    with svc.deployment.session() as s:
        try:
            rows = web_store.latest_events(s, tenant_id=who.tenant_id, type_="access", limit=PAGE_SIZE * 2)
            for r in rows:
                p = json.loads(r["payload"])
                if p.get("action") != "gate_access" or len(out) >= PAGE_SIZE:
                    continue  # e.g. a liveness challenge being issued: not a decision
                gid = p.get("gate_id")
                if gid not in names:
                    g = access_store.gate(s, gid) if gid else None
                    names[gid] = g.name if g is not None else gid
                code = p.get("reason")
                reason = None
                if code:
                    spec = CATALOGUE.get(code)
                    reason = i18n.error_text(lang, code, spec.description if spec else code)
                out.append({"seq": r["seq"], "at": r["occurred_at"][:19].replace("T", " "), "gate": names[gid],
                            "method": p.get("method"), "granted": p.get("result") == "granted", "reason": reason,
                            "subject_id": r["subject_id"]})
        finally:
            s.rollback()
    return out


@router.get("/console/log")
def access_log(request: Request, who=Depends(console_user)):
    return page(request, "console/log.html", **_ctx(request, who, "log", events=_log_events(request, who)))


@router.get("/console/log/rows")
def access_log_rows(request: Request, who=Depends(console_user)):
    return page(request, "console/_log_rows.html", events=_log_events(request, who))


@router.get("/console/audit")
def audit_status(request: Request, who=Depends(console_user)):
    result = api_audit.verify(who, services(request))
    return page(request, "console/audit.html", **_ctx(request, who, "audit", result=result))


# --- compliance (issue 7): the site's self-assessment ---------------------------------------------

def _assessment(request: Request, who, site_id: str, fmt: str):
    from trustface.api.routes import compliance as api_compliance

    return api_compliance.assessment(site_id, who, services(request), format=fmt, regime=None)


@router.get("/console/compliance")
def compliance(request: Request, site: str | None = None, who=Depends(console_user)):
    """The site assessed against its rule packs from the live state (one finding per check, with
    requirement ids, evidence and the fix), as the API's assessment route answers it."""
    svc = services(request)
    sites = _sites(who, svc)
    chosen = _pick_site(sites, site)
    result = _assessment(request, who, chosen["id"], "json")
    return page(request, "console/compliance.html",
                **_ctx(request, who, "compliance", sites=sites, site=chosen, result=result))


@router.get("/console/compliance/{site_id}.pdf")
def compliance_pdf(request: Request, site_id: str, who=Depends(console_user)):
    return _assessment(request, who, site_id, "pdf")
