"""Hostile inputs over the REST API (issue 9, part 1), on SQLite and PostgreSQL.

``REFUSED`` is a table of more than 80 attacks: image bombs, truncated files, polyglots and files
that are not images, huge and deeply nested JSON, NUL and odd Unicode in names, SQL-looking
strings, negative or huge pagination, path tricks in ids, forged / expired / revoked /
other-tenant tokens. Every one must be answered with a 4xx in the error envelope with the
expected code; never a 5xx; and the row count of every table and the audit chain (length, last
seq, verification) must be exactly what they were before the request (``snapshot`` of
tests/api/test_bad_requests.py).

``ANSWERED`` holds the attacks that the API answers by design with HTTP 200 and a denied gate
decision (a kiosk shows it): a replayed visitor QR code, a forged or foreign QR code, and the
JPEG+ZIP / PNG+HTML polyglots (valid images with a payload appended: decoded as the image they
are; the payload is dropped with the pixels). Each writes exactly its ``access`` audit event (and,
for a face, the policy gate's ``grant`` event), nothing else, and the polyglot payload is found in
no table afterwards.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Callable

import hostile as H
import pytest
from _api_conftest import build_site, error_code
from sqlalchemy import inspect, text
from test_bad_requests import snapshot

from trustface.access import keys as access_keys


@dataclass
class World:
    api: object
    root: str
    admin: str          # tenant A's administrator
    other_admin: str    # tenant B's administrator
    tenant: str
    other_tenant: str
    site: str
    other_site: str
    subject: str        # tenant A, door_access verify + identify consents
    sibling: str        # another subject of tenant A
    other_subject: str  # tenant B
    gate: str           # tenant A, face + pin + card
    lobby: str          # tenant A, every method (QR codes and visitor passes too)
    other_gate: str
    gate_key: str
    subject_token: str
    expired_token: str
    revoked_key: str
    credential: str
    photo: bytes        # a real photo (for the truncated case)


@pytest.fixture
def world(api, examples) -> World:
    root = api.admin["key"]
    a = build_site(api, root, tenant_name="Acme")
    b = build_site(api, root, tenant_name="Beta", minors_notice=False)
    mint = lambda **kw: api.ok("POST", "/v1/api-keys", root, 201, json={"name": "k", **kw})  # noqa: E731
    admin = mint(role="admin", tenant_id=a["tenant_id"])["key"]
    other_admin = mint(role="admin", tenant_id=b["tenant_id"])["key"]
    sid = a["site_id"]
    subject = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"age_band": "18+"})["id"]
    for mode in ("verify", "identify"):
        api.ok("POST", f"/v1/subjects/{subject}/consents", admin, 201, json={
            "purpose": "door_access", "mode": mode, "notice_version": a["notice_version"], "channel": "app",
            "method": "click"})
    sibling = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"age_band": "18+"})["id"]
    other_subject = api.ok("POST", f"/v1/sites/{b['site_id']}/subjects", other_admin, 201,
                           json={"age_band": "18+"})["id"]
    revoked = mint(role="operator", tenant_id=a["tenant_id"])
    api.ok("DELETE", f"/v1/api-keys/{revoked['id']}", root)
    with api.dep.transaction() as s:  # a subject token that expired yesterday
        _, expired = access_keys.create_api_key(
            s, role="subject", tenant_id=a["tenant_id"], name="old phone", subject_id=subject,
            expires_in=dt.timedelta(days=1), actor="admin:test",
            now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    credential = api.ok("POST", f"/v1/subjects/{subject}/credentials", admin, 201, json={"type": "qr"})["id"]
    return World(
        api=api, root=root, admin=admin, other_admin=other_admin, tenant=a["tenant_id"], other_tenant=b["tenant_id"],
        site=sid, other_site=b["site_id"], subject=subject, sibling=sibling, other_subject=other_subject,
        gate=a["gate_ids"][0], other_gate=b["gate_ids"][0],
        lobby=api.ok("POST", f"/v1/sites/{sid}/gates", admin, 201, json={
            "name": "Lobby", "methods": ["face", "pin", "card", "qr", "visitor_pass"],
            "liveness": "off", "liveness_off_reason": "attended by the concierge (test fixture)"})["id"],
        gate_key=mint(role="gate", tenant_id=a["tenant_id"], site_id=sid)["key"],
        subject_token=mint(role="subject", tenant_id=a["tenant_id"], subject_id=subject)["key"],
        expired_token=expired, revoked_key=revoked["key"], credential=credential,
        photo=(examples / "obama.jpg").read_bytes())


# --- request builders -----------------------------------------------------------------------------

def _image_route(w: World, route: str) -> tuple[str, dict]:
    return {
        "enrol": (f"/v1/subjects/{w.subject}/enrolments", {"purpose": "door_access", "mode": "identify"}),
        "identify": (f"/v1/sites/{w.site}/identify", {"purpose": "door_access"}),
        "verify": (f"/v1/sites/{w.site}/verify", {"subject_id": w.subject, "purpose": "door_access"}),
        "analyze": (f"/v1/sites/{w.site}/analyze", {"subject_id": w.subject, "purpose": "door_access",
                                                    "attributes": "face_count"}),
        "gate": (f"/v1/gates/{w.gate}/access", {}),
    }[route]


def upload(route: str, data, name: str = "photo.jpg", ctype: str = "image/jpeg"):
    """Multipart upload of ``data`` (bytes, or a function of the world) to an image route."""
    def send(w: World):
        url, fields = _image_route(w, route)
        body = data(w) if callable(data) else data
        return w.api.call("POST", url, w.admin, files=[("image", (name, body, ctype))], data=fields)
    return send


def upload_b64(route: str, data: bytes, prefix: str = ""):
    """JSON upload: base64 ``image`` (optionally a data URL) next to the route's fields."""
    def send(w: World):
        url, fields = _image_route(w, route)
        return w.api.call("POST", url, w.admin, json={"image": prefix + base64.b64encode(data).decode(), **fields})
    return send


def raw_json(path: Callable[[World], str], body: bytes | Callable[[World], bytes], key: str = "admin"):
    def send(w: World):
        content = body(w) if callable(body) else body
        return w.api.call("POST", path(w), getattr(w, key), content=content,
                          headers={"Content-Type": "application/json"})
    return send


def post(path: Callable[[World], str], body: Callable[[World], dict], key: str = "admin"):
    return lambda w: w.api.call("POST", path(w), getattr(w, key), json=body(w))


def get(path: Callable[[World], str], key: str = "admin", **kw):
    return lambda w: w.api.call("GET", path(w), getattr(w, key) if key in World.__dataclass_fields__ else key, **kw)


def call(method: str, path: Callable[[World], str], token: Callable[[World], str | None], **kw):
    return lambda w: w.api.call(method, path(w), token(w), **kw)


def deep(n: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * n + close * n


SUBJECTS = lambda w: f"/v1/sites/{w.site}/subjects"  # noqa: E731
SITES = lambda w: "/v1/sites"  # noqa: E731
GATES = lambda w: f"/v1/sites/{w.site}/gates"  # noqa: E731
ACCESS = lambda w: f"/v1/gates/{w.gate}/access"  # noqa: E731
CONSENTS = lambda w: f"/v1/subjects/{w.subject}/consents"  # noqa: E731
IDENTIFY = lambda w: f"/v1/sites/{w.site}/identify"  # noqa: E731
EVENTS = "/v1/audit/events"
BAD_TEXT = "E_MALFORMED_REQUEST"
NUL, RLO, ZWSP, BOM, RLI, ESC = "\x00", "\u202e", "\u200b", "\ufeff", "\u2067", "\x1b"


def consent_body(w: World, **changes) -> dict:
    return {"purpose": "door_access", "mode": "identify", "notice_version": 1, "channel": "app", "method": "click",
            **changes}


def bearer(token: str):
    return lambda w: token


# --- the table ------------------------------------------------------------------------------------

#: (group, case, request, HTTP status, error code)
REFUSED: list[tuple[str, str, Callable, int, str]] = [
    # image bombs: refused from the header, before any pixel is decoded
    ("image bomb", "PNG header claiming 30000x30000 (enrol)", upload("enrol", H.png_claiming(30000, 30000), "b.png",
                                                                      "image/png"), 413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "PNG decompression bomb 10000x10000, 97 KB (identify)", upload("identify", H.png_bomb(), "b.png",
                                                                                 "image/png"), 413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "PNG bomb 6500x6500: over our 40 MP, under Pillow's 89 MP (gate)",
     upload("gate", H.png_bomb(6500, 6500), "b.png", "image/png"), 413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "JPEG SOF claiming 65500x65500 (verify)", upload("verify", H.jpeg_claiming(65500, 65500)),
     413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "BMP header claiming 60000x60000, base64 JSON (gate)", upload_b64("gate", H.bmp_claiming(60000, 60000)),
     413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "BMP with height -2^31 (analyze)", upload("analyze", H.bmp_claiming(100, -2**31), "b.bmp", "image/bmp"),
     413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "PPM header claiming 100000x100000 (identify)", upload("identify", H.ppm_claiming(100000, 100000),
                                                                         "b.ppm", "image/x-portable-pixmap"),
     413, "E_IMAGE_TOO_LARGE"),
    ("image bomb", "JPEG SOF claiming 0x0 (enrol)", upload("enrol", H.jpeg_claiming(0, 0)), 422, "E_IMAGE_INVALID"),
    # truncated and corrupt files
    ("truncated", "real photo cut at 90% (enrol)", upload("enrol", lambda w: w.photo[: len(w.photo) * 9 // 10]),
     422, "E_IMAGE_INVALID"),
    ("truncated", "JPEG cut at 200 bytes (gate)", upload("gate", H.encode("JPEG", (64, 64))[:200]), 422, "E_IMAGE_INVALID"),
    ("truncated", "PNG cut at 60 bytes (identify)", upload("identify", H.encode("PNG", (64, 64))[:60], "t.png",
                                                           "image/png"), 422, "E_IMAGE_INVALID"),
    ("truncated", "JPEG SOI marker only (verify)", upload("verify", b"\xff\xd8\xff"), 422, "E_IMAGE_INVALID"),
    ("truncated", "PNG signature only, base64 JSON (enrol)", upload_b64("enrol", b"\x89PNG\r\n\x1a\n"), 422,
     "E_IMAGE_INVALID"),
    ("truncated", "PNG with corrupted IDAT (gate)", upload("gate", H.png_bad_crc(), "c.png", "image/png"), 422,
     "E_IMAGE_INVALID"),
    # polyglots and files that are not (accepted) images
    ("polyglot", "GIF/JavaScript polyglot (gate)", upload("gate", H.GIF_JS, "x.gif", "image/gif"), 422, "E_IMAGE_INVALID"),
    ("polyglot", "GIF/JavaScript polyglot labelled image/jpeg (enrol)", upload("enrol", H.GIF_JS), 422, "E_IMAGE_INVALID"),
    ("not an image", "SVG with onload sent as image/png (identify)", upload("identify", H.SVG, "x.png", "image/png"),
     422, "E_IMAGE_INVALID"),
    ("not an image", "SVG as a base64 data URL (gate)", upload_b64("gate", H.SVG, "data:image/svg+xml;base64,"),
     422, "E_IMAGE_INVALID"),
    ("not an image", "HTML with a script sent as image/jpeg (enrol)", upload("enrol", H.HTML), 422, "E_IMAGE_INVALID"),
    ("not an image", "PDF sent as image (verify)", upload("verify", H.PDF), 422, "E_IMAGE_INVALID"),
    ("not an image", "TIFF (analyze)", upload("analyze", H.encode("TIFF", (8, 8)), "x.tif", "image/tiff"), 422,
     "E_IMAGE_INVALID"),
    ("not an image", "animated PNG (gate)", upload("gate", H.animated_png(), "a.png", "image/png"), 422, "E_IMAGE_INVALID"),
    ("not an image", "ZIP archive (enrol)", upload("enrol", H.zip_bytes(H.MARKER), "x.zip", "application/zip"),
     422, "E_IMAGE_INVALID"),
    ("not an image", "ELF executable (identify)", upload("identify", H.ELF, "x.jpg"), 422, "E_IMAGE_INVALID"),
    # huge and deeply nested JSON
    ("json", "array nested 100,000 deep (identify, hand-parsed JSON)", raw_json(IDENTIFY, deep(100_000)), 422, BAD_TEXT),
    ("json", "object nested 50,000 deep (gate access)", raw_json(ACCESS, deep(50_000, b'{"a":', b"}")[:-1] + b"1}"),
     422, BAD_TEXT),
    ("json", "object nested 50,000 deep (typed body: subjects)", raw_json(SUBJECTS, b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
     422, BAD_TEXT),
    ("json", "nested 100,000 deep inside a consent", raw_json(CONSENTS, b'{"purpose": ' + deep(100_000) + b"}"),
     422, BAD_TEXT),
    ("json", "1.9 MB body of 120,000 unknown keys (typed body)",
     raw_json(SUBJECTS, json.dumps({f"k{i}": i for i in range(120_000)}).encode()[: 2 * 1024 * 1024 - 1]), 422, BAD_TEXT),
    ("json", "3 MB array: over the body limit", raw_json(SUBJECTS, b"[" + b"1," * 1_500_000 + b"1]"), 413,
     "E_BODY_TOO_LARGE"),
    ("json", "a 5,000-digit integer", raw_json(lambda w: f"/v1/sites/{w.site}/purposes",
                                               b'{"name":"p","allowed_modes":["verify"],"necessity_justification":"n",'
                                               b'"retention_days":' + b"9" * 5000 + b"}"), 422, BAD_TEXT),
    ("json", "a 5,000-digit integer (hand-parsed JSON)", raw_json(ACCESS, b'{"method":"pin","value":' + b"9" * 5000
                                                                  + b"}"), 422, BAD_TEXT),
    ("json", "1e999 (infinity) as a number", raw_json(lambda w: f"/v1/sites/{w.site}/purposes",
                                                     b'{"name":"p","allowed_modes":["verify"],'
                                                     b'"necessity_justification":"n","retention_days":1e999}'),
     422, BAD_TEXT),
    ("json", "NaN as a number", raw_json(lambda w: f"/v1/sites/{w.site}/visitor-passes", b'{"valid_minutes": NaN}'),
     422, BAD_TEXT),
    ("json", "a lone surrogate in a name", raw_json(SITES, lambda w: b'{"name": "ab\\ud800cd", "tenant_id": "'
                                                    + w.tenant.encode() + b'"}'), 422, BAD_TEXT),
    ("json", "a lone surrogate in a PIN (hand-parsed JSON)", raw_json(ACCESS, b'{"method":"pin","value":"4091\\udc00"}'),
     422, BAD_TEXT),
    # NUL and odd Unicode in names and text
    ("text", "NUL in a site name", post(SITES, lambda w: {"name": "Tower" + NUL, "tenant_id": w.tenant}), 422, BAD_TEXT),
    ("text", "NUL in a tenant name", post(lambda w: "/v1/tenants", lambda w: {"name": "T" + NUL, "contact": "c@t.example"},
                                          "root"), 422, BAD_TEXT),
    ("text", "NUL in a gate name", post(GATES, lambda w: {"name": "Main" + NUL + "gate", "methods": ["pin"]}), 422,
     BAD_TEXT),
    ("text", "RTL override in an API key name", post(lambda w: "/v1/api-keys",
                                                    lambda w: {"role": "auditor", "name": "audit" + RLO + "txt.exe"}),
     422, BAD_TEXT),
    ("text", "zero-width space in a site name", post(SITES, lambda w: {"name": "Tower" + ZWSP + "A", "tenant_id": w.tenant}),
     422, BAD_TEXT),
    ("text", "byte-order mark in a purpose name", post(lambda w: f"/v1/sites/{w.site}/purposes", lambda w: {
        "name": BOM + "door_access", "allowed_modes": ["verify"], "necessity_justification": "n", "retention_days": 30}),
     422, BAD_TEXT),
    ("text", "RTL isolate inside a notice (nested object)", post(lambda w: f"/v1/sites/{w.site}/notices", lambda w: {
        "content": {"controller": "Acme " + RLI + "Ltd", "contact": "dpo@acme.example"}}), 422, BAD_TEXT),
    # issue 18: a 3,000-character purpose on a non-face gate reached the audit payload check (was a 500)
    ("text", "a 3,000-character purpose on a PIN gate", post(GATES, lambda w: {"name": "Side", "methods": ["pin"],
                                                                              "purpose": "p" * 3000}),
     422, "E_INVALID_ARGUMENT"),
    ("text", "ANSI escape in a gate name (terminal/log injection)",
     post(GATES, lambda w: {"name": ESC + "[2J" + ESC + "[31mgate", "methods": ["pin"]}), 422, BAD_TEXT),
    ("text", "NUL in a consent's purpose (hand-parsed JSON)", post(CONSENTS, lambda w: consent_body(w, purpose="door" + NUL)),
     422, BAD_TEXT),
    ("text", "NUL in a multipart form field (identify)",
     lambda w: w.api.call("POST", IDENTIFY(w), w.admin, files=[("image", ("p.jpg", H.encode("JPEG"), "image/jpeg"))],
                          data={"purpose": "door_access" + NUL}), 422, BAD_TEXT),
    ("text", "NUL in a PIN", post(ACCESS, lambda w: {"method": "pin", "value": "4091" + NUL + "7362"}), 422, BAD_TEXT),
    ("text", "NUL in a verify subject_id (base64 JSON)", lambda w: w.api.call(
        "POST", f"/v1/sites/{w.site}/verify", w.admin,
        json={"image": base64.b64encode(H.encode("JPEG")).decode(), "subject_id": w.subject + NUL,
              "purpose": "door_access"}), 422, BAD_TEXT),
    ("text", "NUL in a JSON key", raw_json(SUBJECTS, b'{"age_band\\u0000": "18+"}'), 422, BAD_TEXT),
    # SQL-looking strings
    ("sql", "site id ' OR '1'='1", get(lambda w: "/v1/sites/x' OR '1'='1"), 404, "E_NOT_FOUND"),
    ("sql", "subject id 1; DROP TABLE subjects;--", get(lambda w: "/v1/subjects/1; DROP TABLE subjects;--"), 404,
     "E_NOT_FOUND"),
    ("sql", "tenant_id ' OR 1=1 -- in a body", post(SITES, lambda w: {"name": "S", "tenant_id": "' OR 1=1 --"}, "root"),
     404, "E_NOT_FOUND"),
    ("sql", "verify subject_id UNION SELECT", lambda w: w.api.call(
        "POST", f"/v1/sites/{w.site}/verify", w.admin, files=[("image", ("p.jpg", H.encode("JPEG"), "image/jpeg"))],
        data={"subject_id": "x' UNION SELECT secret_hash FROM api_keys --", "purpose": "door_access"}), 404, "E_NOT_FOUND"),
    ("sql", "credential id %' -- (revoke)", lambda w: w.api.call("DELETE", "/v1/credentials/%25'%20--", w.admin), 404,
     "E_NOT_FOUND"),
    ("sql", "audit cursor 1 OR 1=1", get(lambda w: EVENTS, params={"cursor": "1 OR 1=1"}), 422, "E_INVALID_ARGUMENT"),
    ("sql", "bearer token tf_' OR '1'='1", call("GET", SITES, bearer("tf_' OR '1'='1")), 401, "E_UNAUTHENTICATED"),
    # negative or huge pagination
    ("pagination", "limit=-1", get(lambda w: EVENTS, params={"limit": "-1"}), 422, "E_INVALID_ARGUMENT"),
    ("pagination", "limit=0", get(lambda w: EVENTS, params={"limit": "0"}), 422, "E_INVALID_ARGUMENT"),
    ("pagination", "limit=10^40", get(lambda w: EVENTS, params={"limit": "1" + "0" * 40}), 422, "E_INVALID_ARGUMENT"),
    ("pagination", "limit of 5,000 digits", get(lambda w: EVENTS, params={"limit": "9" * 5000}), 422, BAD_TEXT),
    ("pagination", "limit=abc", get(lambda w: EVENTS, params={"limit": "abc"}), 422, BAD_TEXT),
    ("pagination", "limit=1.5", get(lambda w: EVENTS, params={"limit": "1.5"}), 422, BAD_TEXT),
    ("pagination", "cursor=-5", get(lambda w: EVENTS, params={"cursor": "-5"}), 422, "E_INVALID_ARGUMENT"),
    ("pagination", "cursor=10^30", get(lambda w: EVENTS, params={"cursor": "1" + "0" * 30}), 422, "E_INVALID_ARGUMENT"),
    # issue 18: "²" passes str.isdigit() and fails int() (was a 500)
    ("pagination", "cursor=² (a superscript digit)", get(lambda w: EVENTS, params={"cursor": "²"}), 422,
     "E_INVALID_ARGUMENT"),
    # path tricks in ids
    ("path", "%2e%2e%2f in a subject id", get(lambda w: "/v1/subjects/%2e%2e%2fsites"), 404, "E_NOT_FOUND"),
    ("path", "..%2f..%2fapi-keys after a site id", get(lambda w: f"/v1/sites/{w.site}%2f..%2f..%2fapi-keys"), 404,
     "E_NOT_FOUND"),
    ("path", "encoded ../ in a key id (revoke)", lambda w: w.api.call("DELETE", "/v1/api-keys/..%2F..%2Fsites", w.admin),
     404, "E_NOT_FOUND"),
    ("path", "a 20,000-character subject id", get(lambda w: "/v1/subjects/" + "a" * 20_000), 404, "E_NOT_FOUND"),
    ("path", "%00 in a subject id", get(lambda w: f"/v1/subjects/{w.subject}%00"), 404, "E_NOT_FOUND"),
    ("path", "%00 in the public notice's site id (no key)", get(lambda w: f"/public/sites/{w.site}%00/notice", None),
     404, "E_NOT_FOUND"),
    ("path", "RTL override in a gate id", get(lambda w: f"/v1/gates/%E2%80%AE{w.gate}"), 404, "E_NOT_FOUND"),
    ("path", "Cyrillic look-alike of a site id", get(lambda w: "/v1/sites/" + w.site.replace("s", "\u0455", 1)), 404,
     "E_NOT_FOUND"),
    ("path", "invalid UTF-8 (%ED%A0%80) in a subject id", get(lambda w: "/v1/subjects/%ED%A0%80"), 404, "E_NOT_FOUND"),
    ("path", "a gate id of another tenant (gate access)", post(lambda w: f"/v1/gates/{w.other_gate}/access",
                                                                lambda w: {"method": "pin", "value": "40917362"}),
     404, "E_NOT_FOUND"),
    # expired, forged, revoked and other-tenant tokens
    ("token", "forged token (right shape, random secret)", call("GET", SITES, bearer("tf_0123456789abcdef_" + "Q" * 43)),
     401, "E_UNAUTHENTICATED"),
    ("token", "a real key id with a forged secret", call("GET", SITES, lambda w: w.admin[:20] + "Z" * 43), 401,
     "E_UNAUTHENTICATED"),
    ("token", "expired subject token", call("GET", lambda w: f"/v1/subjects/{w.subject}", lambda w: w.expired_token),
     401, "E_UNAUTHENTICATED"),
    ("token", "revoked operator key", call("GET", SITES, lambda w: w.revoked_key), 401, "E_UNAUTHENTICATED"),
    ("token", "JWT with alg=none claiming admin",
     call("GET", SITES, bearer("eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4iLCJ0ZW5hbnQiOm51bGx9.")), 401,
     "E_UNAUTHENTICATED"),
    ("token", "HTTP Basic admin:admin", lambda w: w.api.call("GET", "/v1/sites", None,
                                                             headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
     401, "E_UNAUTHENTICATED"),
    ("token", "the key in the query string instead of the header",
     lambda w: w.api.call("GET", "/v1/sites", None, params={"api_key": w.admin, "access_token": w.admin}), 401,
     "E_UNAUTHENTICATED"),
    ("token", "a 10,000-character bearer token", call("GET", SITES, bearer("tf_" + "a" * 10_000)), 401,
     "E_UNAUTHENTICATED"),
    ("token", "two keys in one header", call("GET", SITES, lambda w: f"{w.admin} {w.root}"), 401, "E_UNAUTHENTICATED"),
    ("tenant", "other tenant's admin reads a site", get(lambda w: f"/v1/sites/{w.site}", "other_admin"), 404,
     "E_NOT_FOUND"),
    ("tenant", "other tenant's admin reads a subject", get(lambda w: f"/v1/subjects/{w.subject}", "other_admin"), 404,
     "E_NOT_FOUND"),
    ("tenant", "other tenant's admin erases a subject",
     lambda w: w.api.call("DELETE", f"/v1/subjects/{w.subject}", w.other_admin), 404, "E_NOT_FOUND"),
    ("tenant", "other tenant's admin enrols a face into A's subject", lambda w: w.api.call(
        "POST", f"/v1/subjects/{w.subject}/enrolments", w.other_admin,
        files=[("image", ("p.jpg", H.encode("JPEG"), "image/jpeg"))], data={"purpose": "door_access",
                                                                              "mode": "identify"}),
     404, "E_NOT_FOUND"),
    ("tenant", "other tenant's admin mints a gate key for A's site",
     post(lambda w: "/v1/api-keys", lambda w: {"role": "gate", "name": "x", "site_id": w.site}, "other_admin"), 404,
     "E_NOT_FOUND"),
    ("tenant", "other tenant's admin reads A's evidence", get(lambda w: f"/v1/subjects/{w.subject}/evidence",
                                                              "other_admin"), 404, "E_NOT_FOUND"),
    ("tenant", "subject token reads another subject", get(lambda w: f"/v1/subjects/{w.sibling}", "subject_token"), 404,
     "E_NOT_FOUND"),
    ("tenant", "subject token erases another subject",
     lambda w: w.api.call("DELETE", f"/v1/subjects/{w.sibling}", w.subject_token), 404, "E_NOT_FOUND"),
    ("tenant", "gate key mints an admin key", post(lambda w: "/v1/api-keys", lambda w: {"role": "admin", "name": "x"},
                                                   "gate_key"), 403, "E_FORBIDDEN"),
    ("tenant", "gate key reads the audit trail", get(lambda w: EVENTS, "gate_key"), 403, "E_FORBIDDEN"),
    ("tenant", "gate key revokes a credential", lambda w: w.api.call("DELETE", f"/v1/credentials/{w.credential}",
                                                                    w.gate_key), 403, "E_FORBIDDEN"),
]


def _rows_changed(before: dict, after: dict) -> dict:
    return {t: after["rows"][t] - before["rows"].get(t, 0) for t in after["rows"] if after["rows"][t] != before["rows"].get(t, 0)}


def test_hostile_requests_are_refused_without_a_trace(api, world):
    """Every attack in REFUSED: its 4xx and code, the exact error envelope, and no change at all."""
    assert len(REFUSED) >= 80, len(REFUSED)
    assert len({name for _, name, *_ in REFUSED}) == len(REFUSED), "case names must be unique"
    failures: list[str] = []
    before = snapshot(api)
    counts: dict[str, int] = {}
    for group, name, send, status, code in REFUSED:
        counts[group] = counts.get(group, 0) + 1
        r = send(world)
        where = f"[{group}] {name}"
        if r.status_code >= 500:
            failures.append(f"{where}: {r.status_code} {r.text[:200]}")
        elif r.status_code != status:
            failures.append(f"{where}: expected {status} {code}, got {r.status_code} {r.text[:200]}")
        else:
            try:
                got = error_code(r)
            except AssertionError as exc:
                failures.append(f"{where}: not the error envelope: {exc}")
            else:
                if got != code:
                    failures.append(f"{where}: expected {code}, got {got}: {r.text[:200]}")
        for leaked in (H.MARKER, "<script", "<svg"):  # an upload is never echoed back
            if leaked in r.text:
                failures.append(f"{where}: the answer echoes {leaked!r}")
        assert r.headers.get("x-content-type-options") == "nosniff", where
        after = snapshot(api)
        if after != before:
            failures.append(f"{where}: the database changed: rows {_rows_changed(before, after)}, audit "
                            f"{before['audit_events']} -> {after['audit_events']}")
        before = after
    assert not failures, f"{len(failures)} of {len(REFUSED)} hostile requests mishandled:\n" + "\n".join(failures)
    print(f"hostile inputs: {len(REFUSED)} refused with a 4xx and nothing written; by group: {counts}")


# --- answered by design (HTTP 200, a denied decision) -------------------------------------------------

def _qr_pass(w: World) -> str:
    return w.api.ok("POST", f"/v1/sites/{w.site}/visitor-passes", w.admin, 201, json={"valid_minutes": 30})["qr"]


def _tamper(token: str) -> str:
    body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = raw.replace(b'"u":true', b'"u":false')
    assert forged != raw
    return base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + sig


def _scan_tables(api, needle: str) -> list[str]:
    """Tables whose rows contain ``needle`` (text or bytes columns)."""
    hits = []
    raw = needle.encode()
    with api.dep.engine.connect() as conn:
        for table in inspect(api.dep.engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if (isinstance(value, str) and needle in value) or (
                            isinstance(value, (bytes, bytearray, memoryview)) and raw in bytes(value)):
                        hits.append(table)
                        break
    return sorted(set(hits))


def _events_since(api, seq: int) -> list[dict]:
    with api.dep.engine.connect() as conn:
        rows = conn.execute(text("SELECT type, payload FROM audit_events WHERE seq > :s ORDER BY seq"), {"s": seq})
        return [{"type": t, **json.loads(p)} for t, p in rows]


def test_answered_attacks_write_only_their_audit_events(api, world):
    """A replayed visitor pass, a forged QR, a foreign site's QR, an SQL-looking card number and two
    image polyglots at the gate: a 200 with a denied decision and the stated reason; the only rows
    written are the audit events of the attempt; the polyglot payload is stored nowhere."""
    w = world
    lobby = f"/v1/gates/{w.lobby}/access"
    used = _qr_pass(w)
    assert api.ok("POST", lobby, w.gate_key, json={"method": "qr", "value": used})["granted"] is True
    fresh = _qr_pass(w)
    foreign = api.ok("POST", f"/v1/sites/{w.other_site}/visitor-passes", w.other_admin, 201, json={})["qr"]
    jpeg_zip = lambda: {"files": [("image", ("p.jpg", H.JPEG_ZIP, "image/jpeg"))]}  # noqa: E731
    png_html = lambda: {"files": [("image", ("p.png", H.PNG_HTML, "image/png"))]}  # noqa: E731
    cases = [
        ("replayed visitor QR", {"json": {"method": "qr", "value": used}}, "E_CREDENTIAL_INVALID", ["access"]),
        ("replayed visitor QR, sent as visitor_pass", {"json": {"method": "visitor_pass", "value": used}},
         "E_CREDENTIAL_INVALID", ["access"]),
        ("visitor QR with forged claims (single use removed)", {"json": {"method": "qr", "value": _tamper(fresh)}},
         "E_CREDENTIAL_INVALID", ["access"]),
        ("visitor QR with a truncated signature", {"json": {"method": "qr", "value": fresh[:-4]}},
         "E_CREDENTIAL_INVALID", ["access"]),
        ("another tenant's visitor QR", {"json": {"method": "qr", "value": foreign}}, "E_CREDENTIAL_INVALID", ["access"]),
        ("SQL-looking card number", {"json": {"method": "card", "value": "' OR 1=1 --"}}, "E_CREDENTIAL_INVALID",
         ["access"]),
        ("SQL-looking PIN", {"json": {"method": "pin", "value": "1' OR '1'='1"}}, "E_CREDENTIAL_INVALID", ["access"]),
        ("JPEG+ZIP polyglot (faceless JPEG)", jpeg_zip(), "E_NO_FACE", ["grant", "access"]),
        ("PNG+HTML polyglot (faceless PNG)", png_html(), "E_NO_FACE", ["grant", "access"]),
    ]
    failures = []
    for name, kw, reason, events in cases:
        before = snapshot(api)
        r = api.call("POST", lobby, w.gate_key, **kw)
        after = snapshot(api)
        if r.status_code != 200:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
            continue
        answer = r.json()
        if answer["granted"] or (answer["reason"] or {}).get("code") != reason or not answer["alternatives"]:
            failures.append(f"{name}: {answer}")
        changed = _rows_changed(before, after)
        written = _events_since(api, before["last_seq"])
        if set(changed) - {"audit_events", "grants"} or [e["type"] for e in written] != events:
            failures.append(f"{name}: wrote {changed}, events {[e['type'] for e in written]}")
        if written and written[-1].get("result") != "denied":
            failures.append(f"{name}: the access event says {written[-1]}")
    assert not failures, "\n".join(failures)
    # the pass that was used once is still used, and nothing of the polyglots' payloads was kept
    assert _scan_tables(api, H.MARKER) == []
    assert _scan_tables(api, "payload.sh") == []
    print(f"answered by design: {len(cases)} attacks denied at the gate, only their audit events written")


def test_console_forms_refuse_unsafe_text(api, world):
    """The pages share the API's text rule: NUL or a bidi override in any form field is a 422 page,
    never a 500 (a NUL e-mail at sign-in, or a NUL site id in the residents form, reached
    PostgreSQL), and nothing is written."""
    import re

    from fastapi.testclient import TestClient

    from trustface.access import accounts as users

    password = "a long enough passphrase for the desk"
    with api.dep.transaction() as s:
        users.create_user(s, tenant_id=world.tenant, email="desk@acme.example", role="admin", password=password,
                          actor="admin:test")
    client = TestClient(api.client.app, raise_server_exceptions=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
    for email in ("desk\x00@acme.example", "desk@acme.example\x00"):
        r = client.post("/console/login", data={"email": email, "password": password, "csrf": csrf})
        assert r.status_code in (401, 422), (repr(email), r.status_code)
    assert client.post("/console/login", data={"email": "desk@acme.example", "password": password, "csrf": csrf},
                       follow_redirects=False).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console").text).group(1)
    before = snapshot(api)
    for path, form in (("/console/residents", {"site_id": world.site + NUL, "display_name": "Ann", "age_band": "18+"}),
                       ("/console/residents", {"site_id": world.site, "display_name": "Ann" + RLO + "Lee",
                                               "age_band": "18+"}),
                       ("/console/gates", {"site_id": world.site, "name": "Gate" + NUL, "methods": "pin"}),
                       (f"/console/residents/{world.subject}/withdraw", {"consent_id": "c" + NUL}),
                       ("/me/session", {"token": "tf_" + NUL})):
        r = client.post(path, data={"csrf": csrf, **form}, follow_redirects=False)
        assert r.status_code == 422, (path, form, r.status_code, r.text[:300])
    assert snapshot(api) == before
