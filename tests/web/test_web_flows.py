"""The pages as thin doors (issue 15), without a browser: each one parses its form, calls a
``trustface.services`` function as the signed-in user or the subject's token, and renders the
answer. A desk story and a self-service story run end to end on a real deployment, with a real
photo through the real model; and the web room's own doors are checked in its source."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from db_fixtures import ADMIN, make_world
from fastapi.testclient import TestClient

from trustface.access import accounts as users
from trustface.api import create_app
from trustface.db import repo

PASSWORD = "a long enough passphrase"
WEB = Path(__file__).resolve().parents[2] / "src" / "trustface" / "web"


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def _login(client: TestClient, email: str) -> None:
    r = client.post("/console/login", data={"email": email, "password": PASSWORD, "csrf": _csrf(client, "/console/login")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def _post(client: TestClient, path: str, data: dict, *, csrf_from: str, files=None):
    return client.post(path, data={**data, "csrf": _csrf(client, csrf_from)}, files=files, follow_redirects=False)


@pytest.fixture
def world(deployment):
    w = make_world(deployment)
    with deployment.transaction() as s:
        users.create_user(s, tenant_id=w.tenant_id, email="desk@b.example", role="admin", password=PASSWORD, actor=ADMIN)
    return w


def test_desk_story_through_the_services(deployment, world, examples):
    """Register, consent at the desk (the staff prompt counts as the processor asking, R7), enrol
    from a photo, decline another mode (one click, R6), issue a PIN, add gates (never face alone,
    SPC-10), make a kiosk link; the log, the audit chain and the assessment render."""
    with TestClient(create_app(deployment=deployment)) as desk:
        _login(desk, "desk@b.example")
        assert "Tower A" in desk.get("/console").text
        r = _post(desk, "/console/residents", {"site_id": world.site_id, "display_name": "Ana Lima",
                                               "external_ref": "A-12", "age": "adult"}, csrf_from="/console/residents")
        assert r.status_code == 303, r.text
        subject_id = re.search(r"/console/residents/(sub_[0-9a-f]+)\?added=1", r.headers["location"]).group(1)
        page = desk.get(r.headers["location"])
        assert page.status_code == 200 and "Ana Lima" in page.text and "Resident registered" in page.text
        bad = _post(desk, "/console/residents", {"site_id": world.site_id, "age": "birth_date", "birth_date": "soon"},
                    csrf_from="/console/residents")
        assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text

        screen = f"/console/residents/{subject_id}/consent?purpose=door_access&mode=identify"
        assert "version 1" in desk.get(screen).text
        form = {"purpose": "door_access", "mode": "identify", "notice_version": "1"}
        unticked = _post(desk, f"/console/residents/{subject_id}/consent", form, csrf_from=screen)
        assert unticked.status_code == 422 and "Tick the box" in unticked.text
        r = _post(desk, f"/console/residents/{subject_id}/consent", {**form, "agree": "yes"}, csrf_from=screen)
        assert r.status_code == 303 and r.headers["location"].endswith("?consented=1#enrol")
        with deployment.session() as s:
            (consent,) = repo.consents_of_subject(s, subject_id)
            assert consent.initiated_by == "processor" and consent.channel == "desk"

        photo = (examples / "obama.jpg").read_bytes()
        r = _post(desk, f"/console/residents/{subject_id}/enrol", {"target": "door_access|identify"},
                  csrf_from=f"/console/residents/{subject_id}", files={"photo": ("obama.jpg", photo, "image/jpeg")})
        assert r.status_code == 200 and "Enrolled: 1 template" in r.text, r.text
        assert "door_access/identify" in r.text

        r = _post(desk, f"/console/residents/{subject_id}/decline", {"purpose": "door_access", "mode": "verify"},
                  csrf_from=f"/console/residents/{subject_id}")
        assert r.status_code == 303 and r.headers["location"].endswith("?declined=1#ways-in")
        listing = desk.get(f"/console/residents?site={world.site_id}").text
        assert subject_id in listing and "consented" in listing and "declined" in listing

        r = _post(desk, f"/console/residents/{subject_id}/credentials", {"type": "pin"},
                  csrf_from=f"/console/residents/{subject_id}")
        assert r.status_code == 200 and re.search(r'id="shown-value"[^>]*>\s*\d{8}\s*<', r.text), r.text
        r = _post(desk, f"/console/residents/{subject_id}/credentials", {"type": "badge"},
                  csrf_from=f"/console/residents/{subject_id}")
        assert r.status_code == 422

        face_only = _post(desk, "/console/gates", {"site_id": world.site_id, "name": "Lobby", "methods": ["face"]},
                          csrf_from="/console/gates")
        assert face_only.status_code == 422 and "only way through a gate" in face_only.text
        added = _post(desk, "/console/gates", {"site_id": world.site_id, "name": "Lobby", "methods": ["face", "pin"]},
                      csrf_from="/console/gates")
        assert added.status_code == 200 and "Gate added" in added.text
        gate_id = re.search(r"/console/gates/(gate_[0-9a-f]+)/kiosk", added.text).group(1)
        kiosk = _post(desk, f"/console/gates/{gate_id}/kiosk", {}, csrf_from="/console/gates")
        assert re.search(rf"/kiosk/{gate_id}#key=tf_[0-9a-f]{{16}}_", kiosk.text)
        missing = _post(desk, "/console/gates/gate_0000000000000000/kiosk", {}, csrf_from="/console/gates")
        assert missing.status_code == 404

        assert "No gate attempts yet" in desk.get("/console/log").text
        assert "The chain is intact" in desk.get("/console/audit").text
        assert re.search(r"\d+ pass, \d+ warn, \d+ fail", desk.get("/console/compliance").text)
        assert "Tower A" in desk.get(f"/notice/{world.site_id}").text


def test_self_service_story_through_the_services(deployment, world):
    """A resident's link: consent they ask for themselves (R7 "subject"), withdraw in one click
    (R14), download the evidence (SPC-6), erase (PIPL-47); the link then stops working."""
    app = create_app(deployment=deployment)
    with TestClient(app) as desk, TestClient(app) as me:
        _login(desk, "desk@b.example")
        r = _post(desk, "/console/residents", {"site_id": world.site_id, "age": "adult"},
                  csrf_from="/console/residents")
        subject_id = re.search(r"(sub_[0-9a-f]+)", r.headers["location"]).group(1)
        shown = _post(desk, f"/console/residents/{subject_id}/self-service", {},
                      csrf_from=f"/console/residents/{subject_id}")
        token = re.search(r"#token=(tf_[0-9a-f]{16}_[A-Za-z0-9_-]+)", shown.text).group(1)

        r = me.get(f"/me?token={token}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/me"
        assert "Your face data" in me.get("/me").text
        screen = "/me/consent?purpose=door_access&mode=verify"
        r = _post(me, "/me/consent", {"purpose": "door_access", "mode": "verify", "notice_version": "1", "agree": "yes"},
                  csrf_from=screen)
        assert r.status_code == 303 and r.headers["location"] == "/me?consented=1"
        with deployment.session() as s:
            (consent,) = repo.consents_of_subject(s, subject_id)
            assert consent.initiated_by == "subject" and consent.channel == "app"
        home = me.get("/me").text
        assert f'value="{consent.id}"' in home
        r = _post(me, "/me/withdraw", {"consent_id": consent.id}, csrf_from="/me")
        assert r.status_code == 303 and r.headers["location"] == "/me?withdrawn=1"
        assert "withdrawn" in me.get("/me").text

        evidence = me.get("/me/evidence")
        assert evidence.headers["content-disposition"] == f'attachment; filename="evidence-{subject_id}.json"'
        assert json.loads(evidence.text)["tenant_id"] == world.tenant_id

        erased = _post(me, "/me/erase", {}, csrf_from="/me/erase")
        assert erased.status_code == 200 and re.search(r'id="certificate">del_[0-9a-f]+<', erased.text)
        assert "Open your self-service page" in me.get("/me").text
        again = me.get(f"/me?token={token}", follow_redirects=False)
        assert again.status_code == 401 and "no longer valid" in again.text


def test_sign_in_attempts_are_limited(deployment, world):
    """Five quick attempts for one address and e-mail, then 429 until the bucket refills."""
    with TestClient(create_app(deployment=deployment)) as client:
        token = _csrf(client, "/console/login")
        codes = [client.post("/console/login", data={"email": "desk@b.example", "password": "wrong password here",
                                                     "csrf": token}).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_web_room_calls_services_never_the_api():
    """ARCHITECTURE: web is parse -> service -> render; it never calls the API (no fake requests),
    self-service shares nothing with the console pages, and no web module grows past ~450 lines."""
    sources = sorted(WEB.glob("*.py"))
    assert sources
    for path in sources:
        imported = _imports(path)
        assert not any(name == "trustface.api" or name.startswith("trustface.api.") for name in imported), path.name
        assert len(path.read_text().splitlines()) <= 450, path.name
    assert not any(".console" in name for name in _imports(WEB / "selfservice.py"))
    assert not (WEB / "bridge.py").exists()
