"""The deployment's ``grant_ttl_seconds`` bounds every grant, whichever door the request came in by:
the REST API (enrol, verify, identify), the gate (a face attempt) and the CLI. Before the services
layer only the CLI honoured it; the API and the gate always used the 5-minute default (R22, SPC-5:
a grant lives only as long as the operation needs)."""

import datetime as dt
import json
import re

from _api_conftest import build_site, photo
from fastapi.testclient import TestClient

from trustface.api import create_app
from trustface.db import audit_store
from trustface.deployment import Deployment
from trustface.services import cli_principal, faces, gates

TTL = 45


def _with_ttl(api, seconds: int):
    path = api.dep.directory / "settings.toml"
    path.write_text(re.sub(r"(?m)^grant_ttl_seconds\s*=.*$", f"grant_ttl_seconds = {seconds}", path.read_text()))
    return Deployment(api.dep.directory, database_url=api.dep.database_url)


def _grant_lifetimes(dep: Deployment, after_seq: int) -> dict[str, list[float]]:
    """mode -> lifetimes (s) of the grants issued after ``after_seq``."""
    out: dict[str, list[float]] = {}
    with dep.session() as s:
        for event in audit_store.events_of_type(s, "grant"):
            if event["seq"] <= after_seq:
                continue
            payload = json.loads(event["payload"])
            issued = dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
            expires = dt.datetime.fromisoformat(payload["expires_at"])
            out.setdefault(payload["mode"], []).append((expires - issued).total_seconds())
    return out


def _head(dep: Deployment) -> int:
    with dep.session() as s:
        head = audit_store.read_head(s)
        return head.seq if head else 0


def test_grant_lifetime_from_settings_on_the_api_and_the_gate(api, examples):
    key = api.admin["key"]
    world = build_site(api, key)
    site_id, face_gate = world["site_id"], world["gate_ids"][0]
    subject = api.ok("POST", f"/v1/sites/{site_id}/subjects", key, 201, json={"age_band": "18+"})["id"]
    for mode in ("verify", "identify"):
        api.ok("POST", f"/v1/subjects/{subject}/consents", key, 201, json={
            "purpose": "door_access", "mode": mode, "notice_version": world["notice_version"], "channel": "kiosk",
            "method": "click"})

    dep = _with_ttl(api, TTL)
    assert dep.settings.grant_ttl_seconds == TTL
    start = _head(dep)
    with TestClient(create_app(deployment=dep), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {key}"}
        r = client.post(f"/v1/subjects/{subject}/enrolments", headers=auth, files=[photo(examples, "obama.jpg")],
                        data={"purpose": "door_access", "mode": "verify,identify"})
        assert r.status_code == 201, r.text
        r = client.post(f"/v1/sites/{site_id}/verify", headers=auth, files=[photo(examples, "obama2.jpg")],
                        data={"purpose": "door_access", "subject_id": subject})
        assert r.status_code == 200 and r.json()["match"] is True, r.text
        r = client.post(f"/v1/sites/{site_id}/identify", headers=auth, files=[photo(examples, "obama2.jpg")],
                        data={"purpose": "door_access"})
        assert r.status_code == 200 and r.json()["candidates"][0]["subject_id"] == subject, r.text
        r = client.post(f"/v1/gates/{face_gate}/access", headers=auth, files=[photo(examples, "obama2.jpg")])
        assert r.status_code == 200 and r.json()["granted"] is True, r.text
    lifetimes = _grant_lifetimes(dep, start)
    # enrol: one verify and one identify grant; verify; identify; the gate's identify grant
    assert sorted(len(v) for v in lifetimes.values()) == [2, 3], lifetimes
    assert {t for times in lifetimes.values() for t in times} == {float(TTL)}, lifetimes

    # the same use cases called directly, as the CLI and the web pages do
    ctx = __import__("trustface.services", fromlist=["Context"]).Context.open(dep)
    start = _head(dep)
    who = cli_principal("admin:test")
    assert faces.verify(ctx, who, site_id, subject, examples / "obama2.jpg", purpose="door_access").match
    # another frame: the one the API used is refused as a replay at this gate
    assert gates.attempt_face(ctx, who, face_gate, (examples / "obama-720p.jpg").read_bytes()).granted
    assert {t for times in _grant_lifetimes(dep, start).values() for t in times} == {float(TTL)}
    dep.close()
