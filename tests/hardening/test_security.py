"""Security review (issue 9, part 6), one test per finding:

* secrets are compared in constant time (``hmac.compare_digest``), by code inspection and by
  behaviour: an unknown key id and a wrong secret take the same path;
* PINs and console passwords are argon2id hashes; no credential or key secret is stored in clear;
* the deployment key file (and the SQLite file) is 0600, even under umask 000, and a readable
  key file is refused;
* every answer carries the security headers (API, errors, early refusals, pages, static files);
  pages add a strict Content-Security-Policy;
* every state-changing page refuses a form without its CSRF token and changes nothing (the
  sign-in form's own CSRF test is in tests/web/test_web_pages.py);
* CORS is off: no ``Access-Control-Allow-*`` header for a cross-origin request or preflight;
* no biometric data in the logs of a real server (uvicorn at trace level, Python logging at
  DEBUG) through enrolment, identification, verification and gate access by face;
* the dependency audit gate (scripts/test.sh runs ``pip-audit`` through it) fails on a known
  vulnerability and only warns when the advisory service cannot be reached.
"""

from __future__ import annotations

import ast
import base64
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pip_audit_gate
import pytest
from _api_conftest import build_site, error_code
from sqlalchemy import inspect, text
from test_bad_requests import snapshot

from trustface.deployment import Deployment, init_deployment
from trustface.errors import TrustfaceError

SRC = Path(__file__).resolve().parents[2] / "src" / "trustface"
SECRET_WORDS = ("secret", "hash", "signature", "mac", "digest", "token", "expected", "csrf", "pin")
HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
           "cache-control": "no-store"}


# --- constant-time comparison -------------------------------------------------------------------

def _names(node) -> set[str]:
    return {n.id.lower() for n in ast.walk(node) if isinstance(n, ast.Name)} | \
           {n.attr.lower() for n in ast.walk(node) if isinstance(n, ast.Attribute)}


@pytest.mark.parametrize("module", ["access/keys.py", "access/credentials.py", "access/decisions.py",
                                    "access/issuance.py", "access/accounts.py", "web/security.py"])
def test_no_secret_is_compared_with_equals(module):
    """No ``==`` / ``!=`` between expressions naming a secret, hash, MAC, digest or token."""
    tree = ast.parse((SRC / module).read_text())
    offenders = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Constant) and side.value is None for side in sides):
                continue
            named = {w for side in sides for name in _names(side) for w in SECRET_WORDS if w in name}
            if named and not all(isinstance(side, ast.Constant) for side in sides[1:]):
                offenders.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders


@pytest.mark.parametrize("module,function", [("access/keys.py", "authenticate"), ("access/credentials.py", "read_qr"),
                                             ("web/security.py", "unsign"), ("web/security.py", "check_csrf")])
def test_secret_checks_use_compare_digest(module, function):
    tree = ast.parse((SRC / module).read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    calls = [ast.unparse(n.func) for n in ast.walk(fn) if isinstance(n, ast.Call)]
    assert "hmac.compare_digest" in calls, (module, function, calls)


def test_unknown_key_and_wrong_secret_take_the_same_path(api, monkeypatch):
    """authenticate() hashes and compares once whether the key id exists or not, on equal-length
    digests: response time does not tell a valid key id from an invalid one."""
    from trustface.access import keys

    calls = []
    real = keys.hmac.compare_digest

    def counting(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", counting)
    admin = api.admin["key"]
    for token in (admin[:20] + "A" * 43, "tf_0123456789abcdef_" + "A" * 43):
        with api.dep.session() as s, pytest.raises(TrustfaceError) as info:
            keys.authenticate(s, token)
        assert info.value.code == "E_UNAUTHENTICATED"
    assert calls == [(64, 64), (64, 64)], calls


# --- argon2id, nothing in clear ---------------------------------------------------------------------

def _all_text(api) -> str:
    out = []
    with api.dep.engine.connect() as conn:
        for table in inspect(api.dep.engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.extend(str(v) if not isinstance(v, (bytes, memoryview)) else bytes(v).hex() for v in row)
    return "\n".join(out)


def test_pins_and_passwords_are_argon2id_and_nothing_is_stored_in_clear(api):
    from trustface.access import accounts as users

    root = api.admin["key"]
    w = build_site(api, root, minors_notice=False)
    subject = api.ok("POST", f"/v1/sites/{w['site_id']}/subjects", root, 201, json={"age_band": "18+"})["id"]
    pin = api.ok("POST", f"/v1/subjects/{subject}/credentials", root, 201, json={"type": "pin"})
    chosen = api.ok("POST", f"/v1/subjects/{subject}/credentials", root, 201, json={"type": "pin", "value": "40917362"})
    card = api.ok("POST", f"/v1/subjects/{subject}/credentials", root, 201, json={"type": "card", "value": "CARD-7731-0042"})
    qr = api.ok("POST", f"/v1/subjects/{subject}/credentials", root, 201, json={"type": "qr"})
    password = "a long enough passphrase for the desk"
    with api.dep.transaction() as s:
        users.create_user(s, tenant_id=w["tenant_id"], email="desk@acme.example", role="operator", password=password,
                          actor="admin:test")
    with api.dep.engine.connect() as conn:
        hashes = [h for (h,) in conn.execute(text("SELECT secret_hash FROM credentials WHERE type = 'pin'"))]
        pw = conn.execute(text("SELECT password_hash FROM web_users")).scalar_one()
    assert len(hashes) == 2 and all(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for h in hashes), hashes
    assert pw.startswith("$argon2id$v=19$m=65536,t=3,p=1$"), pw
    stored = _all_text(api)
    shown = [pin["value"], "40917362", "CARD-7731-0042", "77310042", qr["value"], password, root[20:]]
    for value in shown:
        assert value and value not in stored, f"{value[:6]}... is stored in clear"
    assert chosen["id"] and card["id"]


# --- key file permissions ---------------------------------------------------------------------------

def test_key_file_is_owner_only_even_under_umask_000(tmp_path):
    old = os.umask(0)
    try:
        init_deployment(tmp_path / "dep")
    finally:
        os.umask(old)
    for name in ("trustface.key", "trustface.db"):
        mode = stat.S_IMODE((tmp_path / "dep" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    Deployment(tmp_path / "dep").close()
    os.chmod(tmp_path / "dep" / "trustface.key", 0o644)
    with pytest.raises(TrustfaceError) as info:
        Deployment(tmp_path / "dep")
    assert info.value.code == "E_DEPLOYMENT" and "chmod 600" in info.value.message
    # the CLI refuses too, with one line and exit 2
    r = subprocess.run([sys.executable, "-m", "trustface", "gallery", "check", "--dir", str(tmp_path / "dep")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "readable by other users" in r.stderr, (r.returncode, r.stderr)


# --- headers, CORS ------------------------------------------------------------------------------------

def test_security_headers_on_every_kind_of_answer(api):
    root = api.admin["key"]
    w = build_site(api, root, minors_notice=False)
    answers = {
        "200 API": api.call("GET", "/v1/sites", root),
        "201 API": api.call("POST", f"/v1/sites/{w['site_id']}/subjects", root, json={"age_band": "18+"}),
        "401": api.call("GET", "/v1/sites", None),
        "404 route": api.call("GET", "/v1/nothing", root),
        "404 unsafe path": api.call("GET", "/v1/sites/a%00b", root),
        "413 before the body": api.call("POST", "/v1/sites", root, content=b"x" * (3 * 1024 * 1024),
                                        headers={"Content-Type": "application/json"}),
        "422": api.call("POST", "/v1/sites", root, content=b"{", headers={"Content-Type": "application/json"}),
        "405": api.call("PUT", "/v1/sites", root),
        "healthz": api.call("GET", "/healthz"),
        "openapi": api.call("GET", "/openapi.json"),
        "docs": api.call("GET", "/docs"),
        "public notice": api.call("GET", f"/public/sites/{w['site_id']}/notice"),
        "page": api.call("GET", "/console/login"),
        "static": api.call("GET", "/static/web/web.css"),
    }
    for name, r in answers.items():
        assert r.status_code < 500, (name, r.status_code)
        for header, value in HEADERS.items():
            assert r.headers.get(header) == value, (name, header, r.headers.get(header))
    csp = answers["page"].headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_cors_is_off_by_default(api):
    root = api.admin["key"]
    evil = {"Origin": "https://evil.example"}
    sent = [
        api.call("GET", "/v1/sites", root, headers=dict(evil)),
        api.call("GET", "/healthz", None, headers=dict(evil)),
        api.call("OPTIONS", "/v1/sites", None, headers={**evil, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization"}),
        api.call("OPTIONS", "/v1/api-keys", None, headers={**evil, "Access-Control-Request-Method": "POST"}),
        api.call("POST", "/v1/api-keys", root, headers=dict(evil), json={"role": "auditor", "name": "x",
                                                                        "tenant_id": "ten_missing"}),
    ]
    for r in sent:
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], dict(r.headers)
    assert sent[2].status_code == 405 and error_code(sent[2]) == "E_METHOD_NOT_ALLOWED"


# --- CSRF on every state-changing page ----------------------------------------------------------------

def _routes(routes, prefix: str = ""):
    """(path, methods) of every route, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes, prefix + getattr(route.original_router, "prefix", ""))
        elif hasattr(route, "methods") and hasattr(route, "path"):
            yield prefix + route.path, set(route.methods or ())


def test_every_state_changing_page_refuses_a_form_without_its_token(api):
    from fastapi.testclient import TestClient

    from trustface.access import accounts as users

    root = api.admin["key"]
    w = build_site(api, root, minors_notice=False)
    subject = api.ok("POST", f"/v1/sites/{w['site_id']}/subjects", root, 201, json={"age_band": "18+"})["id"]
    token = api.ok("POST", "/v1/api-keys", root, 201, json={"role": "subject", "name": "me", "subject_id": subject,
                                                            "tenant_id": w["tenant_id"]})["key"]
    password = "a long enough passphrase for the desk"
    with api.dep.transaction() as s:
        users.create_user(s, tenant_id=w["tenant_id"], email="boss@acme.example", role="admin", password=password,
                          actor="admin:test")
    params = {"subject_id": subject, "gate_id": w["gate_ids"][0], "site_id": w["site_id"]}
    posts = sorted({path for path, methods in _routes(api.client.app.routes)
                    if "POST" in methods and path.startswith(("/console", "/me"))})
    assert len(posts) >= 12, posts
    client = TestClient(api.client.app, raise_server_exceptions=False)
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/console/login", data={"email": "boss@acme.example", "password": password, "csrf": csrf},
                       follow_redirects=False).status_code == 303
    assert client.get(f"/me?token={token}", follow_redirects=False).status_code == 303
    before = snapshot(api)
    refused = []
    for path in posts:
        url = path.format(**params)
        for form in ({}, {"csrf": "A" * 43}):
            r = client.post(url, data={"purpose": "door_access", "mode": "identify", "name": "G", "methods": "pin",
                                       **form}, follow_redirects=False)
            assert r.status_code == 403, (url, form, r.status_code, r.text[:300])
        r = client.post(url, data={"csrf": csrf}, headers={"Origin": "https://evil.example"}, follow_redirects=False)
        assert r.status_code == 403, (url, "cross-origin", r.status_code)
        refused.append(url)
    assert snapshot(api) == before
    # control: the same session with its real token is let through
    fresh = re.search(r'name="csrf" value="([^"]+)"', client.get("/console").text).group(1)
    assert client.post("/console/logout", data={"csrf": fresh}, follow_redirects=False).status_code == 303
    print(f"CSRF: {len(refused)} state-changing pages refuse forged forms; nothing written")


# --- no biometric data in logs ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LAUNCH = """
import logging, sys
import uvicorn
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
from trustface.api import create_app
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="trace", access_log=True)
"""


@pytest.mark.slow
def test_no_biometric_data_in_server_logs(tmp_path, examples):
    """A real uvicorn server at trace level with every logger at DEBUG; enrol (multipart and base64
    JSON), identify, verify, gate access by face (both encodings), a refused upload. The log must
    hold no image bytes, no base64 of them, no descriptor-like list of floats and no key secret."""
    import httpx
    from _api_conftest import Api
    from fastapi.testclient import TestClient

    from trustface.api import create_app

    info = init_deployment(tmp_path / "dep")
    root = info["admin_key"]
    dep = Deployment(tmp_path / "dep")
    with TestClient(create_app(deployment=dep)) as client:
        w = build_site(Api(client, dep, {"key": root}), root, minors_notice=False)
    dep.close()
    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(tmp_path / "dep"), str(port)], stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    photos = {name: (examples / name).read_bytes() for name in ("obama.jpg", "biden.jpg", "obama2.jpg")}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {root}"}
        sid, gate = w["site_id"], w["gate_ids"][0]
        with httpx.Client(base_url=base, headers=auth, timeout=120) as http:
            subjects = []
            for _n in range(2):
                s = http.post(f"/v1/sites/{sid}/subjects", json={"age_band": "18+"}).json()["id"]
                for mode in ("verify", "identify"):
                    assert http.post(f"/v1/subjects/{s}/consents", json={
                        "purpose": "door_access", "mode": mode, "notice_version": w["notice_version"],
                        "channel": "app", "method": "click"}).status_code == 201
                subjects.append(s)
            r = http.post(f"/v1/subjects/{subjects[0]}/enrolments", data={"purpose": "door_access",
                                                                          "mode": "verify,identify"},
                          files=[("image", ("obama.jpg", photos["obama.jpg"], "image/jpeg"))])
            assert r.status_code == 201, r.text
            r = http.post(f"/v1/subjects/{subjects[1]}/enrolments", json={
                "image": base64.b64encode(photos["biden.jpg"]).decode(), "purpose": "door_access",
                "mode": "verify,identify"})
            assert r.status_code == 201, r.text
            r = http.post(f"/v1/sites/{sid}/identify", data={"purpose": "door_access"},
                          files=[("image", ("p.jpg", photos["obama2.jpg"], "image/jpeg"))])
            assert r.status_code == 200 and r.json()["candidates"][0]["subject_id"] == subjects[0], r.text
            r = http.post(f"/v1/sites/{sid}/verify", json={"image": base64.b64encode(photos["obama2.jpg"]).decode(),
                                                           "subject_id": subjects[0], "purpose": "door_access"})
            assert r.status_code == 200 and r.json()["match"], r.text
            r = http.post(f"/v1/gates/{gate}/access", files=[("image", ("f.jpg", photos["obama2.jpg"], "image/jpeg"))])
            assert r.status_code == 200 and r.json()["granted"], r.text
            r = http.post(f"/v1/gates/{gate}/access", json={"image": base64.b64encode(photos["biden.jpg"]).decode()})
            assert r.status_code == 200, r.text
            cut = photos["obama.jpg"][: len(photos["obama.jpg"]) // 2]
            r = http.post(f"/v1/sites/{sid}/identify", json={"image": base64.b64encode(cut).decode(),
                                                             "purpose": "door_access"})
            assert r.status_code == 422, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    raw = log_path.read_bytes()
    logs = raw.decode("utf-8", errors="replace")
    assert "POST /v1/subjects/" in logs and "/enrolments" in logs  # the access log did record the requests
    problems = []
    for name, data in photos.items():
        b64 = base64.b64encode(data).decode()
        for at in range(0, len(data) - 48, max(1, len(data) // 20)):  # 20 windows of the raw bytes
            if data[at:at + 48] in raw:
                problems.append(f"raw bytes of {name} at {at}")
                break
        for at in range(0, len(b64) - 64, max(1, len(b64) // 20)):
            if b64[at:at + 64] in logs:
                problems.append(f"base64 of {name} at {at}")
                break
    for marker in (b"\xff\xd8\xff", b"JFIF", b"Exif\x00"):
        if marker in raw:
            problems.append(f"image marker {marker!r}")
    long_b64 = re.findall(r"[A-Za-z0-9+/]{64,}={0,2}", logs)
    if long_b64:
        problems.append(f"{len(long_b64)} base64-like runs, e.g. {long_b64[0][:40]}...")
    floats = re.findall(r"(?:-?\d+\.\d{3,}(?:e-?\d+)?[,\s]+){8,}", logs)
    if floats:
        problems.append(f"descriptor-like float lists, e.g. {floats[0][:80]}")
    if root[20:] in logs:
        problems.append("the admin key's secret")
    assert not problems, problems
    # nor in the audit trail: distances are single numbers, never vectors
    with Deployment(tmp_path / "dep") as dep2, dep2.engine.connect() as conn:
        payloads = [p for (p,) in conn.execute(text("SELECT payload FROM audit_events"))]
    assert not [p for p in payloads if re.search(r"(?:-?\d+\.\d+,\s*){8,}", p)]
    print(f"logs: {len(raw):,} bytes at trace/DEBUG level over {logs.count('HTTP/1.1')} requests, no biometric data")


# --- the dependency audit gate ----------------------------------------------------------------------------

def test_pip_audit_gate_is_fatal_on_vulnerabilities_and_not_offline():
    ok = {"dependencies": [{"name": "fastapi", "version": "0.165.0", "vulns": []}], "fixes": []}
    bad = {"dependencies": [{"name": "pillow", "version": "9.0.0", "vulns": [{"id": "PYSEC-2022-10",
                                                                               "fix_versions": ["9.0.1"]}]}]}
    offline = {"dependencies": [{"name": "fastapi", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}
    assert pip_audit_gate.verdict(ok, 0)[0] == 0
    code, message = pip_audit_gate.verdict(bad, 1)
    assert code == 1 and "PYSEC-2022-10" in message and "9.0.1" in message
    assert pip_audit_gate.verdict(offline, 0)[0] == 0
    assert pip_audit_gate.verdict(offline, 0, strict=True)[0] == 1
    assert pip_audit_gate.verdict(None, 1, "ConnectionError: no route to host")[0] == 0
    assert pip_audit_gate.verdict(None, 1, "ConnectionError", strict=True)[0] == 1
    script = (Path(__file__).resolve().parents[2] / "scripts" / "test.sh").read_text()
    assert "tests/hardening/pip_audit_gate.py" in script
