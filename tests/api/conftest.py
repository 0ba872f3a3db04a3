"""Fixtures of the API tests: a deployment on SQLite and PostgreSQL, the app over HTTP
(Starlette's TestClient: real requests through the ASGI stack), the admin key from init, and a
residential site built through the API itself."""

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_fixtures import NOTICE, PIA_SECTIONS, _pg_template, _sqlite_template, database_url  # noqa: E402,F401

from trustface.api import create_app  # noqa: E402
from trustface.deployment import Deployment, init_deployment  # noqa: E402


@dataclass
class Api:
    client: TestClient
    dep: Deployment
    admin: dict
    world: dict = field(default_factory=dict)

    def call(self, method: str, path: str, key: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.request(method, path, headers=headers, **kw)

    def ok(self, method: str, path: str, key: str, status: int = 200, **kw) -> dict:
        r = self.call(method, path, key, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return r.json()


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "requirements"}, body
    assert body["error"]["message"]
    return body["error"]["code"]


@pytest.fixture
def api(database_url, tmp_path):
    directory = tmp_path / "deployment"
    info = init_deployment(directory, database_url=database_url)
    settings = directory / "settings.toml"
    settings.write_text(settings.read_text().replace('sqlite_synchronous = "FULL"', 'sqlite_synchronous = "NORMAL"')
                        + "identify_per_minute = 600\nmax_body_mb = 2\n")
    dep = Deployment(directory, database_url=database_url)
    with TestClient(create_app(deployment=dep), raise_server_exceptions=False) as client:
        yield Api(client, dep, {"key": info["admin_key"]})
    dep.close()


def build_site(api: Api, key: str, *, tenant_name: str = "Acme Property", minors_notice: bool = True) -> dict:
    """Tenant, residential site (cn), door_access (verify+identify) with PIA, published notices,
    a face+pin+card gate and a pin+card gate: all through the API."""
    tenant = api.ok("POST", "/v1/tenants", key, 201, json={"name": tenant_name, "contact": "dpo@acme.example"})
    site = api.ok("POST", "/v1/sites", key, 201, json={"name": "Tower A", "site_type": "residential",
                                                       "jurisdiction": "cn", "tenant_id": tenant["id"]})
    sid = site["id"]
    api.ok("POST", f"/v1/sites/{sid}/purposes", key, 201, json={
        "name": "door_access", "allowed_modes": ["verify", "identify"], "legal_basis": "consent",
        "necessity_justification": "hands-free entry for residents who choose it", "retention_days": 365})
    api.ok("POST", f"/v1/sites/{sid}/pias", key, 201, json={"purpose": "door_access", "modes": ["verify", "identify"],
                                                             "sections": PIA_SECTIONS, "approver": "dpo:lee"})
    notice = api.ok("POST", f"/v1/sites/{sid}/notices", key, 201, json={"content": NOTICE})
    api.ok("POST", f"/v1/notices/{notice['id']}/publish", key)
    if minors_notice:
        minors = api.ok("POST", f"/v1/sites/{sid}/notices", key, 201,
                        json={"content": {**NOTICE, "purposes": ["door_access (minors)"]}, "kind": "minors"})
        api.ok("POST", f"/v1/notices/{minors['id']}/publish", key)
    face_gate = api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={"name": "Main", "methods": ["face", "pin", "card"],
                    "liveness": "off", "liveness_off_reason": "attended by the concierge (test fixture)"})
    side_gate = api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={"name": "Side", "methods": ["pin", "card"]})
    return {"tenant_id": tenant["id"], "site_id": sid, "notice_version": notice["version"],
            "gate_ids": [face_gate["id"], side_gate["id"]]}


def born_years_ago(years: int) -> str:
    today = dt.date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28)).isoformat()


def photo(examples: Path, name: str) -> tuple:
    return ("image", (name, (examples / name).read_bytes(), "image/jpeg"))
