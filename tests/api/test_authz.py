"""The authorization matrix, generated from ``/openapi.json``: every route x every kind of caller x
an object of the caller's own scope, of the same tenant but outside a gate key's site or a subject
token's subject ("sibling"), and of another tenant.

Rules checked for every cell (one table, ``TABLE``, says which roles may call which route):

* no key or an unknown key -> 401 E_UNAUTHENTICATED
* a role without the route's permission -> 403 E_FORBIDDEN (before any object is looked up)
* another tenant's object -> 404 E_NOT_FOUND, exactly like a missing one (only the deployment
  administrator sees every tenant)
* a gate key on another site of its tenant, a subject token on another subject -> 404
* otherwise the route's own answer (``ok``): a 2xx, or the domain refusal that proves the call got
  past authorization (e.g. E_CONSENT_MISSING for an enrolment nobody consented to)

and for every response: never a 5xx, every error in the exact envelope. List routes are also
checked for leaks (no other tenant's ids in the answer). Calls that destroy or consume their object
(erase, withdraw, revoke, publish, restrict) get a fresh object for every allowed cell.

Runs on SQLite and PostgreSQL (~1,000 requests each).
"""

from __future__ import annotations

import io
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

from conftest import NOTICE, PIA_SECTIONS, build_site, error_code

ROLES = ("root", "admin", "operator", "gate", "auditor", "subject", "none", "invalid")
UNKNOWN_KEY = "tf_0123456789abcdef_" + "A" * 43
OWN, SIBLING, OTHER = "own", "sibling", "other"

ROOT, ADMIN, OPERATOR, GATE, AUDITOR, SUBJECT = "root", "admin", "operator", "gate", "auditor", "subject"
STAFF = frozenset({ROOT, ADMIN, OPERATOR})           # sites:write, subjects:write, faces:*, credentials:write
SITE_READERS = STAFF | {GATE, AUDITOR}                # sites:read
SUBJECT_READERS = STAFF | {AUDITOR, SUBJECT}          # subjects:read, reports:read
CONSENTERS = STAFF | {SUBJECT}                        # consents:write, subjects:erase
MATCHERS = STAFF | {GATE}                             # faces:match, access
AUDIT_READERS = frozenset({ROOT, ADMIN, AUDITOR})     # audit:read
KEY_ADMINS = frozenset({ROOT, ADMIN})                 # keys:write, tenants:write


@dataclass(frozen=True)
class Route:
    roles: frozenset                      # roles that may call it
    kind: str | None                      # what the path (or body) points at: site, gate, subject, ...
    body: Callable = lambda ctx, v: {}    # request kwargs for the variant's objects
    ok: tuple = (200, None)               # the answer past authorization: (status, code or None for 2xx)
    fresh: bool = False                   # destroys/consumes its object: a new one per allowed call
    public: bool = False
    special: dict = field(default_factory=dict)  # role -> (status, code) overriding the rules


def tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 90, 60)).save(buf, "JPEG")
    return buf.getvalue()


TINY = tiny_jpeg()


def image(**data):
    return lambda ctx, v: {"files": [("image", ("t.jpg", TINY, "image/jpeg"))],
                           "data": {k: (f(ctx, v) if callable(f) else f) for k, f in data.items()}}


def js(**values):
    return lambda ctx, v: {"json": {k: (f(ctx, v) if callable(f) else f) for k, f in values.items()}}


def subject_of(ctx, v):
    return ctx.subject[v]


def tenant_of(ctx, v):
    return ctx.tenant[v]


def site_of(ctx, v):
    return ctx.site[v]


TABLE: dict[tuple[str, str], Route] = {
    ("GET", "/healthz"): Route(frozenset(ROLES), None, public=True),
    ("GET", "/livez"): Route(frozenset(ROLES), None, public=True),
    ("GET", "/readyz"): Route(frozenset(ROLES), None, public=True),
    ("GET", "/public/sites/{site_id}/notice"): Route(frozenset(ROLES), "site", public=True),
    ("POST", "/v1/tenants"): Route(KEY_ADMINS, None, lambda c, v: {"json": {"name": c.uniq("Tenant"),
                                                                            "contact": "dpo@t.example"}},
                                   ok=(201, None), special={ADMIN: (404, "E_NOT_FOUND")}),
    ("POST", "/v1/sites"): Route(STAFF, "tenant", js(name=lambda c, v: c.uniq("Site"), tenant_id=tenant_of),
                                 ok=(201, None)),
    ("GET", "/v1/sites"): Route(SITE_READERS, None),
    ("GET", "/v1/sites/{site_id}"): Route(SITE_READERS, "site"),
    ("POST", "/v1/sites/{site_id}/purposes"): Route(STAFF, "site", js(
        name=lambda c, v: c.uniq("purpose"), allowed_modes=["verify"], necessity_justification="n",
        retention_days=30), ok=(201, None)),
    ("POST", "/v1/sites/{site_id}/pias"): Route(STAFF, "site", js(purpose="door_access", modes=["verify"],
                                                                   sections=PIA_SECTIONS, approver="dpo"),
                                                ok=(201, None)),
    ("POST", "/v1/sites/{site_id}/signage"): Route(STAFF, "site", js(attested_by="wu", evidence="photo")),
    ("POST", "/v1/sites/{site_id}/notices"): Route(STAFF, "site", js(content=NOTICE, kind="minors"), ok=(201, None)),
    ("POST", "/v1/notices/{notice_id}/publish"): Route(STAFF, "notice", fresh=True),
    ("POST", "/v1/sites/{site_id}/gates"): Route(STAFF, "site", js(name="G", methods=["pin"]), ok=(201, None)),
    ("GET", "/v1/sites/{site_id}/gates"): Route(SITE_READERS, "site"),
    ("GET", "/v1/gates/{gate_id}"): Route(SITE_READERS, "gate"),
    ("POST", "/v1/sites/{site_id}/visitor-passes"): Route(STAFF, "site", js(label="visitor"), ok=(201, None)),
    ("POST", "/v1/sites/{site_id}/subjects"): Route(STAFF, "site", js(age_band="18+"), ok=(201, None)),
    ("GET", "/v1/subjects/{subject_id}"): Route(SUBJECT_READERS, "subject"),
    ("DELETE", "/v1/subjects/{subject_id}"): Route(CONSENTERS, "subject", fresh=True),
    ("POST", "/v1/subjects/{subject_id}/consents"): Route(CONSENTERS, "subject", lambda c, v: {"json": {
        "purpose": "door_access", "mode": "verify", "notice_version": c.version[v], "channel": "app",
        "method": "click"}}, ok=(201, None), fresh=True),
    ("POST", "/v1/subjects/{subject_id}/consents/{consent_id}/withdraw"): Route(CONSENTERS, "consent", fresh=True),
    ("POST", "/v1/subjects/{subject_id}/refusals"): Route(CONSENTERS, "subject", js(purpose="door_access",
                                                                                    mode="identify"),
                                                          ok=(201, None)),
    ("POST", "/v1/subjects/{subject_id}/credentials"): Route(STAFF, "subject", js(type="qr"), ok=(201, None)),
    ("DELETE", "/v1/credentials/{credential_id}"): Route(STAFF, "credential", fresh=True),
    ("GET", "/v1/subjects/{subject_id}/report"): Route(SUBJECT_READERS, "subject"),
    ("GET", "/v1/subjects/{subject_id}/evidence"): Route(AUDIT_READERS | {SUBJECT}, "subject"),
    ("POST", "/v1/subjects/{subject_id}/restrict"): Route(STAFF, "subject", js(reason="dispute"), fresh=True),
    # no identify consent exists: the gate refuses, which shows the call got past authorization
    ("POST", "/v1/subjects/{subject_id}/enrolments"): Route(STAFF, "subject", image(purpose="door_access",
                                                                                   mode="identify"),
                                                            ok=(403, "E_CONSENT_MISSING")),
    ("POST", "/v1/sites/{site_id}/verify"): Route(MATCHERS, "site", image(subject_id=subject_of, purpose="door_access"),
                                                  ok=(422, "E_NO_FACE")),
    ("POST", "/v1/sites/{site_id}/identify"): Route(MATCHERS, "site", image(purpose="door_access"),
                                                    ok=(422, "E_NO_FACE")),
    ("POST", "/v1/sites/{site_id}/analyze"): Route(STAFF, "site", image(subject_id=subject_of, purpose="door_access",
                                                                       attributes="face_count"),
                                                   ok=(403, "E_MODE_NOT_ALLOWED")),
    ("POST", "/v1/gates/{gate_id}/access"): Route(MATCHERS, "gate", js(method="pin", value="40917362")),
    ("GET", "/v1/sites/{site_id}/assessment"): Route(STAFF | {AUDITOR}, "site"),  # subject tokens: 403 too
    ("GET", "/public/sites/{site_id}/notice.html"): Route(frozenset(ROLES), "site", public=True),
    # the matrix's gates offer no face: the challenge is refused past authorization
    ("POST", "/v1/gates/{gate_id}/liveness/challenge"): Route(MATCHERS, "gate", ok=(422, "E_METHOD_NOT_OFFERED")),
    ("POST", "/v1/gates/{gate_id}/liveness/{nonce}"): Route(
        MATCHERS, "gate", lambda c, v: {"files": [("frame", ("f.jpg", TINY, "image/jpeg"))] * 2},
        ok=(404, "E_CHALLENGE_UNKNOWN")),
    ("GET", "/v1/audit/events"): Route(AUDIT_READERS, None),
    ("GET", "/v1/audit/verify"): Route(AUDIT_READERS, None),
    ("POST", "/v1/api-keys"): Route(KEY_ADMINS, "site", js(role="gate", name="kiosk", site_id=site_of,
                                                           tenant_id=tenant_of), ok=(201, None)),
    ("GET", "/v1/api-keys"): Route(KEY_ADMINS, None),
    ("DELETE", "/v1/api-keys/{key_id}"): Route(KEY_ADMINS, "key", fresh=True),
}

#: objects of another tenant named in the body or a second path segment, with an object of the
#: caller's own tenant in the path: still 404 (method, path template, caller, kwargs builder)
MIXED = [
    ("POST", "/v1/sites/{A1}/verify", ADMIN, image(subject_id=lambda c, v: c.subject[OTHER], purpose="door_access")),
    ("POST", "/v1/sites/{A1}/verify", GATE, image(subject_id=lambda c, v: c.subject[SIBLING], purpose="door_access")),
    ("POST", "/v1/sites/{A1}/analyze", OPERATOR, image(subject_id=lambda c, v: c.subject[OTHER],
                                                       purpose="door_access", attributes="face_count")),
    ("POST", "/v1/subjects/{a1}/enrolments", OPERATOR, image(purpose="door_access", mode="verify",
                                                             site_id=lambda c, v: c.site[OTHER])),
    ("POST", "/v1/subjects/{a1}/consents", OPERATOR, lambda c, v: {"json": {
        "purpose": "door_access", "mode": "identify", "notice_version": 1, "channel": "app", "method": "click",
        "site_id": c.site[OTHER]}}),
    ("POST", "/v1/subjects/{a1}/consents", SUBJECT, lambda c, v: {"json": {
        "purpose": "door_access", "mode": "identify", "notice_version": 1, "channel": "app", "method": "click",
        "site_id": c.site[OTHER]}}),
    ("POST", "/v1/subjects/{a1}/consents/{consent_b1}/withdraw", ADMIN, lambda c, v: {}),
    ("POST", "/v1/subjects/{a1}/refusals", OPERATOR, js(purpose="door_access", mode="identify",
                                                        site_id=lambda c, v: c.site[OTHER])),
    ("POST", "/v1/subjects/{a1}/credentials", OPERATOR, js(type="qr", site_id=lambda c, v: c.site[OTHER])),
    ("POST", "/v1/api-keys", ADMIN, js(role="gate", name="k", site_id=lambda c, v: c.site[OTHER])),
    ("POST", "/v1/api-keys", ADMIN, js(role="subject", name="k", subject_id=lambda c, v: c.subject[OTHER])),
]


class Ctx:
    """Two tenants built through the API, keys of every role for tenant A, and shared objects."""

    def __init__(self, api):
        self.api = api
        self.root = api.admin["key"]
        self._n = itertools.count()
        a = build_site(api, self.root, tenant_name="Acme", minors_notice=False)
        b = build_site(api, self.root, tenant_name="Beta", minors_notice=False)
        a2_site, a2_version, a2_gate = self.add_site(a["tenant_id"])
        self.tenant = {OWN: a["tenant_id"], SIBLING: a["tenant_id"], OTHER: b["tenant_id"]}
        self.site = {OWN: a["site_id"], SIBLING: a2_site, OTHER: b["site_id"]}
        self.version = {OWN: a["notice_version"], SIBLING: a2_version, OTHER: b["notice_version"]}
        self.gate = {OWN: a["gate_ids"][1], SIBLING: a2_gate, OTHER: b["gate_ids"][1]}
        self.subject = {v: self.new_subject(v) for v in (OWN, SIBLING, OTHER)}
        self.consent = {v: self.new_consent(v, self.subject[v]) for v in (OWN, SIBLING, OTHER)}
        self.credential = {v: self.new_credential(v) for v in (OWN, SIBLING, OTHER)}
        self.notice = {v: self.new_notice(v) for v in (OWN, SIBLING, OTHER)}
        self.key = {v: self.new_key(v) for v in (OWN, SIBLING, OTHER)}
        tid = self.tenant[OWN]
        self.keys = {ROOT: self.root, "none": None, "invalid": UNKNOWN_KEY,
                     ADMIN: self.mint("admin", tenant_id=tid), OPERATOR: self.mint("operator", tenant_id=tid),
                     GATE: self.mint("gate", tenant_id=tid, site_id=self.site[OWN]),
                     AUDITOR: self.mint("auditor", tenant_id=tid),
                     SUBJECT: self.mint("subject", tenant_id=tid, subject_id=self.subject[OWN])}
        #: ids a tenant-A caller must never see in a list (and, for the gate key, site A2's)
        self.foreign = {b["tenant_id"], b["site_id"], self.subject[OTHER], *b["gate_ids"]}

    def uniq(self, prefix: str) -> str:
        return f"{prefix}_{next(self._n)}"

    def add_site(self, tenant_id: str) -> tuple[str, int, str]:
        api, root = self.api, self.root
        sid = api.ok("POST", "/v1/sites", root, 201, json={"name": "Tower A2", "tenant_id": tenant_id})["id"]
        api.ok("POST", f"/v1/sites/{sid}/purposes", root, 201, json={
            "name": "door_access", "allowed_modes": ["verify", "identify"], "necessity_justification": "entry",
            "retention_days": 365})
        api.ok("POST", f"/v1/sites/{sid}/pias", root, 201, json={
            "purpose": "door_access", "modes": ["verify", "identify"], "sections": PIA_SECTIONS, "approver": "dpo"})
        notice = api.ok("POST", f"/v1/sites/{sid}/notices", root, 201, json={"content": NOTICE})
        api.ok("POST", f"/v1/notices/{notice['id']}/publish", root)
        gate = api.ok("POST", f"/v1/sites/{sid}/gates", root, 201, json={"name": "Side", "methods": ["pin", "card"]})
        return sid, notice["version"], gate["id"]

    def mint(self, role: str, **scope) -> str:
        return self.api.ok("POST", "/v1/api-keys", self.root, 201, json={"role": role, "name": role, **scope})["key"]

    def new_subject(self, v: str) -> str:
        return self.api.ok("POST", f"/v1/sites/{self.site[v]}/subjects", self.root, 201, json={"age_band": "18+"})["id"]

    def new_consent(self, v: str, subject_id: str) -> str:
        return self.api.ok("POST", f"/v1/subjects/{subject_id}/consents", self.root, 201, json={
            "purpose": "door_access", "mode": "verify", "notice_version": self.version[v], "channel": "app",
            "method": "click"})["id"]

    def new_credential(self, v: str) -> str:
        return self.api.ok("POST", f"/v1/sites/{self.site[v]}/visitor-passes", self.root, 201, json={})["id"]

    def new_notice(self, v: str) -> str:
        return self.api.ok("POST", f"/v1/sites/{self.site[v]}/notices", self.root, 201,
                           json={"content": NOTICE, "kind": "minors"})["id"]

    def new_key(self, v: str) -> str:
        return self.api.ok("POST", "/v1/api-keys", self.root, 201,
                           json={"role": "auditor", "name": "spare", "tenant_id": self.tenant[v]})["id"]

    def target(self, route: Route, role: str, v: str, fresh: bool) -> tuple[dict, str | None]:
        """Path parameters for the variant's object, and a key to use instead of the role's own
        (a subject token for a fresh subject)."""
        kind, key = route.kind, None
        if kind in ("subject", "consent"):
            subject_id = self.new_subject(v) if fresh else self.subject[v]
            if fresh and role == SUBJECT:
                key = self.mint("subject", tenant_id=self.tenant[v], subject_id=subject_id)
            params = {"subject_id": subject_id}
            if kind == "consent":
                params["consent_id"] = self.new_consent(v, subject_id) if fresh else self.consent[v]
            return params, key
        if kind == "site":
            return {"site_id": self.site[v]}, None
        if kind == "gate":
            return {"gate_id": self.gate[v], "nonce": "never-issued-nonce"}, None
        if kind == "notice":
            return {"notice_id": self.new_notice(v) if fresh else self.notice[v]}, None
        if kind == "credential":
            return {"credential_id": self.new_credential(v) if fresh else self.credential[v]}, None
        if kind == "key":
            return {"key_id": self.new_key(v) if fresh else self.key[v]}, None
        return {}, None


def variants(route: Route) -> tuple[str, ...]:
    if route.kind is None:
        return (OWN,)
    if route.kind in ("tenant", "key"):
        return (OWN, OTHER)
    return (OWN, SIBLING, OTHER)


def expected(route: Route, role: str, v: str) -> tuple[int, str | None]:
    if route.public:
        return 200, None
    if role in ("none", "invalid"):
        return 401, "E_UNAUTHENTICATED"
    if role in route.special:
        return route.special[role]
    if role not in route.roles:
        return 403, "E_FORBIDDEN"
    if v == OTHER and role != ROOT:
        return 404, "E_NOT_FOUND"
    if v == SIBLING and role in (GATE, SUBJECT):
        return 404, "E_NOT_FOUND"
    return route.ok


def check(response, want: tuple[int, str | None], where: str, failures: list) -> None:
    status, code = want
    if response.status_code >= 500:
        failures.append(f"{where}: 5xx {response.status_code} {response.text[:200]}")
        return
    got_code = None
    if response.status_code >= 400:
        try:
            got_code = error_code(response)
        except AssertionError as exc:
            failures.append(f"{where}: not the error envelope: {exc}")
            return
    if response.status_code != status or got_code != code:
        failures.append(f"{where}: expected {status} {code}, got {response.status_code} {response.text[:200]}")


def test_authorization_matrix(api):
    spec = api.ok("GET", "/openapi.json", None)
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert served == set(TABLE), ("routes without a row in TABLE", sorted(served - set(TABLE)),
                                  "rows without a route", sorted(set(TABLE) - served))
    started = time.perf_counter()
    ctx = Ctx(api)
    failures: list[str] = []
    cells = 0
    for (method, path), route in sorted(TABLE.items()):
        for role in ROLES:
            for v in variants(route):
                want = expected(route, role, v)
                allowed = want == route.ok and not route.public
                params, key = ctx.target(route, role, v, fresh=route.fresh and allowed)
                key = key or ctx.keys[role]
                url = path.format(**params)
                r = api.call(method, url, key, **route.body(ctx, v))
                cells += 1
                where = f"{method} {path} as {role} on {v} object ({url})"
                check(r, want, where, failures)
                if v == OTHER and role != ROOT and 200 <= r.status_code < 300 and not route.public:
                    failures.append(f"{where}: a 2xx across tenants")
                if r.status_code < 300 and role not in (ROOT, "none", "invalid") and not route.public:
                    leaked = {x for x in ctx.foreign | ({ctx.site[SIBLING]} if role == GATE else set()) if x in r.text}
                    if leaked:
                        failures.append(f"{where}: the answer names objects outside the caller's scope: {leaked}")
    for method, template, role, body in MIXED:
        url = template.format(A1=ctx.site[OWN], a1=ctx.subject[OWN], consent_b1=ctx.consent[OTHER])
        r = api.call(method, url, ctx.keys[role], **body(ctx, OWN))
        cells += 1
        check(r, (404, "E_NOT_FOUND"), f"{method} {url} as {role} naming another tenant's object", failures)
    elapsed = time.perf_counter() - started
    assert not failures, f"{len(failures)} of {cells} cells wrong:\n" + "\n".join(failures)
    assert cells > 700, cells
    print(f"authorization matrix: {cells} requests in {elapsed:.1f}s")

    # nothing of tenant B was touched by tenant A's callers: its shared objects are all still there
    root = ctx.root
    assert api.ok("GET", f"/v1/subjects/{ctx.subject[OTHER]}", root)["suspended"] is None
    assert [c["status"] for c in api.ok("GET", f"/v1/subjects/{ctx.subject[OTHER]}", root)["consents"]] == ["active"]
    assert api.ok("GET", "/v1/audit/verify", root)["ok"] is True


def test_revoked_and_expired_callers(api):
    """A revoked key, the key of an erased subject, and keys with a broken secret are all 401."""
    ctx_root = api.admin["key"]
    world = build_site(api, ctx_root, minors_notice=False)
    admin = api.ok("POST", "/v1/api-keys", ctx_root, 201, json={"role": "admin", "name": "a",
                                                                 "tenant_id": world["tenant_id"]})
    api.ok("DELETE", f"/v1/api-keys/{admin['id']}", ctx_root)
    subject = api.ok("POST", f"/v1/sites/{world['site_id']}/subjects", ctx_root, 201, json={"age_band": "18+"})["id"]
    token = api.ok("POST", "/v1/api-keys", ctx_root, 201, json={"role": "subject", "name": "me", "subject_id": subject,
                                                                 "tenant_id": world["tenant_id"]})["key"]
    api.ok("DELETE", f"/v1/subjects/{subject}", ctx_root)
    secret_swapped = ctx_root[:20] + ("B" if ctx_root[20] != "B" else "C") + ctx_root[21:]
    for key in (admin["key"], token, secret_swapped, ctx_root.upper(), ctx_root + " "):
        for method, path in (("GET", "/v1/sites"), ("GET", f"/v1/subjects/{subject}"),
                             ("POST", f"/v1/gates/{world['gate_ids'][0]}/access")):
            r = api.call(method, path, key, json={"method": "pin", "value": "40917362"} if method == "POST" else None)
            if key == ctx_root + " ":  # surrounding whitespace is not part of the key
                assert r.status_code < 300, r.text
                continue
            assert r.status_code == 401 and error_code(r) == "E_UNAUTHENTICATED", (key[:8], path, r.text)
