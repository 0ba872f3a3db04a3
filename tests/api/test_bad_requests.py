"""Requests the API must refuse as requests, before anything happens: oversized bodies (413, before
the body is read), wrong content types (415), malformed JSON and unknown fields (422), uploads that
are not images (422 E_IMAGE_INVALID), unknown routes (404) and wrong methods (405).

Every refusal is the exact envelope ``{"error": {"code", "message", "requirements"}}``, and after
each one the row count of every table and the audit chain (length and verification) are what they
were before. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from conftest import NOTICE, PIA_SECTIONS, build_site, error_code
from sqlalchemy import inspect, text

from trustface import audit

LIMIT = 2 * 1024 * 1024  # max_body_mb = 2 in the `api` fixture's settings.toml
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# --- helpers --------------------------------------------------------------------------------------

def snapshot(api) -> dict:
    """Row counts of every table, and the audit chain's length and verification."""
    engine = api.dep.engine
    with engine.connect() as conn:
        counts = {name: conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
                  for name in sorted(inspect(engine).get_table_names())}
        last_seq = conn.execute(text("SELECT MAX(seq) FROM audit_events")).scalar_one()
    with api.dep.session() as session:
        try:
            result = audit.verify(session)
        finally:
            session.rollback()
    assert result.ok, result
    return {"rows": counts, "audit_events": result.events, "last_seq": last_seq}


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert error_code(response) == code, response.text
    return response.json()["error"]


def tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 90, 60)).save(buf, "JPEG")
    return buf.getvalue()


TINY = tiny_jpeg()
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<script>alert(1)</script><circle cx="32" cy="32" r="30"/></svg>')


@pytest.fixture
def world(api):
    """A site ready for every face route: a subject with verify, identify and analyze consents,
    a face gate, and one of each object a path can name."""
    root = api.admin["key"]
    w = build_site(api, root)
    sid, version = w["site_id"], w["notice_version"]
    w["admin"] = api.ok("POST", "/v1/api-keys", root, 201, json={"role": "admin", "name": "a",
                                                                 "tenant_id": w["tenant_id"]})["key"]
    key = w["admin"]
    api.ok("POST", f"/v1/sites/{sid}/purposes", key, 201, json={
        "name": "wellbeing", "allowed_modes": ["analyze"], "necessity_justification": "kiosk framing",
        "retention_days": 30})
    api.ok("POST", f"/v1/sites/{sid}/pias", key, 201, json={"purpose": "wellbeing", "modes": ["analyze"],
                                                             "sections": PIA_SECTIONS, "approver": "dpo"})
    subject = api.ok("POST", f"/v1/sites/{sid}/subjects", key, 201, json={"age_band": "18+"})["id"]
    consents = [api.ok("POST", f"/v1/subjects/{subject}/consents", key, 201, json={
        "purpose": purpose, "mode": mode, "notice_version": version, "channel": "app", "method": "click"})["id"]
        for purpose, mode in (("door_access", "verify"), ("door_access", "identify"), ("wellbeing", "analyze"))]
    w["params"] = {
        "site_id": sid, "subject_id": subject, "gate_id": w["gate_ids"][0], "consent_id": consents[0],
        "notice_id": api.ok("POST", f"/v1/sites/{sid}/notices", key, 201, json={"content": NOTICE})["id"],
        "credential_id": api.ok("POST", f"/v1/sites/{sid}/visitor-passes", key, 201, json={})["id"],
        "key_id": api.ok("POST", "/v1/api-keys", key, 201, json={"role": "auditor", "name": "x"})["id"],
        "nonce": "never-issued-nonce",
    }
    return w


def valid_json(path: str, w: dict) -> dict | None:
    """A well-formed JSON body for each route that takes one (so that only the defect under test is
    wrong); None for routes without a JSON body."""
    b64 = base64.b64encode(TINY).decode()
    p = w["params"]
    return {
        "/v1/tenants": {"name": "T", "contact": "c@t.example"},
        "/v1/sites": {"name": "S"},
        "/v1/sites/{site_id}/purposes": {"name": "p", "allowed_modes": ["verify"], "necessity_justification": "n",
                                         "retention_days": 30},
        "/v1/sites/{site_id}/pias": {"purpose": "door_access", "modes": ["verify"], "sections": PIA_SECTIONS,
                                     "approver": "dpo"},
        "/v1/sites/{site_id}/signage": {"attested_by": "wu", "evidence": "photo"},
        "/v1/sites/{site_id}/notices": {"content": NOTICE},
        "/v1/sites/{site_id}/gates": {"name": "G", "methods": ["pin"]},
        "/v1/sites/{site_id}/visitor-passes": {"valid_minutes": 60},
        "/v1/sites/{site_id}/subjects": {"age_band": "18+"},
        "/v1/subjects/{subject_id}/consents": {"purpose": "door_access", "mode": "verify", "notice_version": 1,
                                               "channel": "app", "method": "click"},
        "/v1/subjects/{subject_id}/consents/{consent_id}/withdraw": {"channel": "app"},
        "/v1/subjects/{subject_id}/refusals": {"purpose": "door_access", "mode": "identify"},
        "/v1/subjects/{subject_id}/credentials": {"type": "qr"},
        "/v1/subjects/{subject_id}/restrict": {"reason": "dispute"},
        "/v1/subjects/{subject_id}/enrolments": {"image": b64, "purpose": "door_access", "mode": "verify"},
        "/v1/sites/{site_id}/verify": {"image": b64, "subject_id": p["subject_id"], "purpose": "door_access"},
        "/v1/sites/{site_id}/identify": {"image": b64, "purpose": "door_access"},
        "/v1/sites/{site_id}/analyze": {"image": b64, "subject_id": p["subject_id"], "purpose": "wellbeing",
                                        "attributes": "face_count"},
        "/v1/gates/{gate_id}/access": {"method": "pin", "value": "40917362"},
        "/v1/api-keys": {"role": "auditor", "name": "k"},
    }.get(path)


def body_routes(api, w) -> list[tuple[str, str, dict]]:
    """(url, path template, valid body) of every route whose OpenAPI request body is JSON."""
    spec = api.ok("GET", "/openapi.json", None)
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                assert method == "post", (method, path)
                body = valid_json(path, w)
                assert body is not None, f"no valid body known for {path}: add it to valid_json()"
                out.append((path.format(**w["params"]), path, body))
    # withdraw takes an optional JSON body (no requestBody in the schema)
    out.append((("/v1/subjects/{subject_id}/consents/{consent_id}/withdraw").format(**w["params"]),
                "/v1/subjects/{subject_id}/consents/{consent_id}/withdraw",
                valid_json("/v1/subjects/{subject_id}/consents/{consent_id}/withdraw", w)))
    return out


IMAGE_ROUTES = {  # path template -> form fields next to the image
    "/v1/subjects/{subject_id}/enrolments": lambda p: {"purpose": "door_access", "mode": "verify"},
    "/v1/sites/{site_id}/verify": lambda p: {"subject_id": p["subject_id"], "purpose": "door_access"},
    "/v1/sites/{site_id}/identify": lambda p: {"purpose": "door_access"},
    "/v1/sites/{site_id}/analyze": lambda p: {"subject_id": p["subject_id"], "purpose": "wellbeing",
                                              "attributes": "face_count"},
    "/v1/gates/{gate_id}/access": lambda p: {},
}


# --- 413: over the size limit, refused before the body is read ------------------------------------

def test_declared_length_over_limit(api, world):
    before = snapshot(api)
    big = b"{" + b" " * LIMIT + b"}"
    p = world["params"]
    for path, kw in ((f"/v1/sites/{p['site_id']}/subjects", {"content": big,
                                                             "headers": {"Content-Type": "application/json"}}),
                     (f"/v1/subjects/{p['subject_id']}/enrolments",
                      {"files": [("image", ("big.jpg", b"\xff\xd8" + b"\0" * LIMIT, "image/jpeg"))],
                       "data": {"purpose": "door_access", "mode": "verify"}}),
                     ("/v1/no-such-route", {"content": big})):
        for key in (world["admin"], None):  # before authentication too: the body is never read
            r = api.call("POST", path, key, **kw)
            refused(r, 413, "E_BODY_TOO_LARGE")
            assert r.headers["connection"] == "close" and r.headers["x-content-type-options"] == "nosniff"
    # exactly at the limit is fine
    at_limit = b'{"age_band": "18+"' + b" " * (LIMIT - 19) + b"}"
    assert len(at_limit) == LIMIT
    api.ok("POST", f"/v1/sites/{p['site_id']}/subjects", world["admin"], 201, content=at_limit,
           headers={"Content-Type": "application/json"})
    after = snapshot(api)
    assert after["rows"]["subjects"] == before["rows"]["subjects"] + 1


def test_streamed_body_over_limit(api, world):
    """Chunked bodies without Content-Length: refused once they pass the limit."""
    p = world["params"]
    before = snapshot(api)

    def chunks(n=48, size=64 * 1024, first=b""):
        yield first
        for _ in range(n):
            yield b" " * size

    boundary = "tfboundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8"
    cases = [
        (f"/v1/sites/{p['site_id']}/subjects", "application/json", b"{"),
        (f"/v1/subjects/{p['subject_id']}/consents", "application/json", b"{"),
        (f"/v1/subjects/{p['subject_id']}/enrolments", f"multipart/form-data; boundary={boundary}", head),
        (f"/v1/sites/{p['site_id']}/identify", "application/json", b'{"image": "'),
        (f"/v1/gates/{p['gate_id']}/access", f"multipart/form-data; boundary={boundary}", head),
    ]
    for path, media, first in cases:
        r = api.call("POST", path, world["admin"], content=chunks(first=first), headers={"Content-Type": media})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        refused(r, 413, "E_BODY_TOO_LARGE")
    assert snapshot(api) == before


def asgi_post(api, path: str, headers: list[tuple[bytes, bytes]], parts: list[bytes]) -> tuple[int, dict, int]:
    """POST through the app's ASGI interface chunk by chunk, counting how many chunks it pulled."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if pulled < len(parts):
            pulled += 1
            return {"type": "http.request", "body": parts[pulled - 1], "more_body": pulled < len(parts)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    api.client.portal.call(api.client.app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


def test_stream_stops_at_the_limit(api, world):
    """The app stops pulling the body the moment it passes the limit (64 KiB chunks: the 33rd
    passes 2 MiB) and never reads the remaining ~2 MiB."""
    p = world["params"]
    auth = (b"authorization", f"Bearer {world['admin']}".encode())
    size, total = 64 * 1024, 64
    passing = LIMIT // size + 1
    before = snapshot(api)
    boundary = b"tfboundary"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n\xff\xd8")
    # a declared length over the limit (or not a number) is refused before the first chunk is pulled
    for declared in (str(LIMIT + 1).encode(), str(10**12).encode(), b"12abc", b"-1"):
        status, body, pulled = asgi_post(api, f"/v1/sites/{p['site_id']}/subjects",
                                         [auth, (b"content-type", b"application/json"), (b"content-length", declared)],
                                         [b'{"age_band": "18+"}'])
        assert (status, body["error"]["code"], pulled) == (413, "E_BODY_TOO_LARGE", 0), (declared, status, body)
    for path, media, first in (
            (f"/v1/sites/{p['site_id']}/subjects", b"application/json", b"{"),
            (f"/v1/subjects/{p['subject_id']}/enrolments", b"multipart/form-data; boundary=" + boundary, head),
            (f"/v1/gates/{p['gate_id']}/access", b"application/json", b'{"image": "')):
        parts = [first] + [b"A" * size] * total
        status, body, pulled = asgi_post(api, path, [auth, (b"content-type", media),
                                                     (b"transfer-encoding", b"chunked")], parts)
        assert status == 413 and body["error"]["code"] == "E_BODY_TOO_LARGE", (path, status, body)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "requirements"}
        assert pulled <= passing + 1 < len(parts), (path, pulled)
    assert snapshot(api) == before


# --- 415, 422: content types, JSON, fields ----------------------------------------------------------

def test_wrong_content_type(api, world):
    before = snapshot(api)
    routes = body_routes(api, world)
    assert len(routes) >= 20
    for url, _path, body in routes:
        raw = json.dumps(body).encode()
        for media in ("text/plain", "application/xml", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": media} if media else {}
            r = api.call("POST", url, world["admin"], content=raw, headers=headers)
            refused(r, 415, "E_UNSUPPORTED_MEDIA")
    # JSON-only routes refuse multipart, image routes take it
    p = world["params"]
    refused(api.call("POST", f"/v1/sites/{p['site_id']}/subjects", world["admin"], files=[("x", ("a", b"1"))]),
            415, "E_UNSUPPORTED_MEDIA")
    assert snapshot(api) == before


def test_malformed_json_and_unknown_fields(api, world):
    before = snapshot(api)
    for url, path, body in body_routes(api, world):
        for raw in (b'{"name": ', b"{'single': 'quotes'}", b"\xff\xfe{}", b"[1, 2]", b'"text"', b"null",
                    b"NaN", b"{" * 5000 + b"}" * 5000):
            r = api.call("POST", url, world["admin"], content=raw, headers={"Content-Type": "application/json"})
            refused(r, 422, "E_MALFORMED_REQUEST")
        # an unknown field next to a valid body; a consent payload calls it bundling (SPC-4(2))
        code = "E_CONSENT_BUNDLED" if path.endswith("/consents") else "E_MALFORMED_REQUEST"
        refused(api.call("POST", url, world["admin"], json={**body, "bogus_field": 1}), 422, code)
    # wrong types and missing fields on typed bodies
    p = world["params"]
    for url, body in ((f"/v1/sites/{p['site_id']}/subjects", {"birth_date": 19800101}),
                      (f"/v1/sites/{p['site_id']}/purposes", {"name": "p", "allowed_modes": "verify",
                                                              "necessity_justification": "n", "retention_days": 3}),
                      (f"/v1/sites/{p['site_id']}/gates", {"methods": ["pin"]}),
                      ("/v1/api-keys", {"role": "auditor"}),
                      (f"/v1/gates/{p['gate_id']}/access", {"method": "pin", "value": 40917362}),
                      (f"/v1/sites/{p['site_id']}/identify", {"images": "not-a-list", "purpose": "door_access"})):
        refused(api.call("POST", url, world["admin"], json=body), 422, "E_MALFORMED_REQUEST")
    # malformed multipart
    refused(api.call("POST", f"/v1/sites/{p['site_id']}/identify", world["admin"], content=b"--nope\r\n\r\n",
                     headers={"Content-Type": "multipart/form-data; boundary=other"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{p['site_id']}/identify", world["admin"],
                     files=[("image", ("a.jpg", TINY, "image/jpeg"))], data={"purpose": "door_access", "x": "1"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/subjects/{p['subject_id']}/enrolments", world["admin"],
                     files=[("image", (f"{n}.jpg", TINY, "image/jpeg")) for n in range(12)],
                     data={"purpose": "door_access", "mode": "verify"}), 422, "E_MALFORMED_REQUEST")
    assert snapshot(api) == before


# --- 422 E_IMAGE_INVALID: uploads that are not images ----------------------------------------------

def test_not_an_image(api, world, examples):
    truncated = (examples / "obama.jpg").read_bytes()
    truncated = truncated[: len(truncated) // 3]
    uploads = [("notes.txt", b"hello, this is not a picture\n" * 20, "text/plain"),
               ("cut.jpg", truncated, "image/jpeg"),
               ("vector.svg", SVG, "image/svg+xml"),
               ("empty.jpg", b"", "image/jpeg"),
               ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")]
    p = world["params"]
    for path, fields in IMAGE_ROUTES.items():
        url = path.format(**p)
        sends = [{"files": [("image", upload)], "data": fields(p)} for upload in uploads]
        sends += [{"json": {"image": "!!! not base64 !!!", **fields(p)}},
                  {"json": {"image": base64.b64encode(SVG).decode(), **fields(p)}},
                  {"json": {"image": 42, **fields(p)}},
                  {"content": _multipart_text_field("b", "image", "not a file", fields(p)),
                   "headers": {"Content-Type": "multipart/form-data; boundary=b"}}]
        for kw in sends:
            before = snapshot(api)
            r = api.call("POST", url, world["admin"], **kw)
            refused(r, 422, "E_IMAGE_INVALID")
            assert "hello" not in r.text and "<svg" not in r.text  # the upload is never echoed
            # uploads are decoded before the policy gate is asked: nothing written, not even a grant
            assert snapshot(api) == before, (path, kw.keys())
        # control: the same route and fields take a real (if faceless) JPEG
        control = api.call("POST", url, world["admin"], files=[("image", ("ok.jpg", TINY, "image/jpeg"))],
                           data=fields(p))
        assert control.status_code < 500 and "E_IMAGE_INVALID" not in control.text, (path, control.text)


def _multipart_text_field(boundary: str, name: str, value: str, fields: dict) -> bytes:
    out = b""
    for k, v in {name: value, **fields}.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    return out + f"--{boundary}--\r\n".encode()


# --- 404, 405 -------------------------------------------------------------------------------------

def test_unknown_routes_and_wrong_methods(api, world):
    before = snapshot(api)
    for key in (world["admin"], None):
        for method, path in (("GET", "/api/v1/sites"), ("GET", "/v1"), ("GET", "/v1/nothing-here"),
                             ("POST", "/v2/sites"),
                             ("GET", "/v1/sites/x/y/z"), ("DELETE", "/v1/tenants/ten_1"), ("GET", "/.env"),
                             ("GET", "/v1/sites/%2e%2e/%2e%2e/etc/passwd"), ("GET", "/public/sites")):
            r = api.call(method, path, key)
            err = refused(r, 404, "E_NOT_FOUND")
            assert err["requirements"] == []
    spec = api.ok("GET", "/openapi.json", None)
    checked = 0
    for path, ops in spec["paths"].items():
        url = path.format(**world["params"])
        served = {m.upper() for m in ops} | ({"HEAD"} if "get" in ops else set())
        for method in METHODS:
            if method in served:
                continue
            for key in (world["admin"], None):
                r = api.call(method, url, key, json={} if method in ("POST", "PUT", "PATCH") else None)
                refused(r, 405, "E_METHOD_NOT_ALLOWED")
                allowed = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
                # (Starlette names the methods of the first route on the path only: GET and POST
                # /v1/sites are two routes, so a PUT there is answered "Allow: POST")
                assert allowed and allowed <= served, (method, path, r.headers.get("allow"))
                checked += 1
    assert checked > 100
    assert snapshot(api) == before
