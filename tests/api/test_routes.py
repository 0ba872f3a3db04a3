"""Every route of the REST API over HTTP (real app, real database, real photos), on SQLite and
PostgreSQL: the happy path and each refusal the route can answer, with the error envelope
``{"error": {"code", "message", "requirements"}}`` checked on every refusal.

Face work is slow-ish, so the photo routes share one enrolled subject per test; everything that
can be refused before a photo is decoded uses a tiny generated JPEG.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from conftest import NOTICE, PIA_SECTIONS, Api, born_years_ago, build_site, error_code, photo
from fastapi.testclient import TestClient

from trustface import audit
from trustface.api import create_app
from trustface.deployment import Deployment

#: every route of the app -> the test(s) below that cover it (test_route_inventory keeps this honest)
ROUTES = {
    ("GET", "/healthz"): "test_health_and_auth",
    ("GET", "/livez"): "test_health_and_auth",
    ("GET", "/readyz"): "test_health_and_auth",
    ("POST", "/v1/tenants"): "test_tenants_and_sites",
    ("POST", "/v1/sites"): "test_tenants_and_sites",
    ("GET", "/v1/sites"): "test_tenants_and_sites",
    ("GET", "/v1/sites/{site_id}"): "test_tenants_and_sites",
    ("POST", "/v1/sites/{site_id}/purposes"): "test_purposes_pias_signage",
    ("POST", "/v1/sites/{site_id}/pias"): "test_purposes_pias_signage",
    ("POST", "/v1/sites/{site_id}/signage"): "test_purposes_pias_signage",
    ("POST", "/v1/sites/{site_id}/notices"): "test_notices",
    ("POST", "/v1/notices/{notice_id}/publish"): "test_notices",
    ("GET", "/public/sites/{site_id}/notice"): "test_notices",
    ("POST", "/v1/sites/{site_id}/gates"): "test_gates",
    ("GET", "/v1/sites/{site_id}/gates"): "test_gates",
    ("GET", "/v1/gates/{gate_id}"): "test_gates",
    ("POST", "/v1/sites/{site_id}/visitor-passes"): "test_credentials_and_gate_access",
    ("POST", "/v1/gates/{gate_id}/access"): "test_credentials_and_gate_access, test_faces",
    ("POST", "/v1/sites/{site_id}/subjects"): "test_subjects_and_consents",
    ("GET", "/v1/subjects/{subject_id}"): "test_subjects_and_consents",
    ("POST", "/v1/subjects/{subject_id}/consents"): "test_subjects_and_consents",
    ("POST", "/v1/subjects/{subject_id}/consents/{consent_id}/withdraw"): "test_subjects_and_consents",
    ("POST", "/v1/subjects/{subject_id}/refusals"): "test_subjects_and_consents",
    ("POST", "/v1/subjects/{subject_id}/credentials"): "test_credentials_and_gate_access",
    ("DELETE", "/v1/credentials/{credential_id}"): "test_credentials_and_gate_access",
    ("POST", "/v1/subjects/{subject_id}/enrolments"): "test_faces",
    ("POST", "/v1/sites/{site_id}/verify"): "test_faces",
    ("POST", "/v1/sites/{site_id}/identify"): "test_faces, test_identify_rate_limit",
    ("POST", "/v1/sites/{site_id}/analyze"): "test_analyze",
    ("GET", "/v1/subjects/{subject_id}/report"): "test_faces",
    ("GET", "/v1/subjects/{subject_id}/evidence"): "test_faces",
    ("POST", "/v1/subjects/{subject_id}/restrict"): "test_faces",
    ("DELETE", "/v1/subjects/{subject_id}"): "test_faces, test_subject_token_self_service",
    ("GET", "/v1/sites/{site_id}/assessment"): "test_assessment_and_notice_page",
    ("GET", "/public/sites/{site_id}/notice.html"): "test_assessment_and_notice_page",
    ("POST", "/v1/gates/{gate_id}/liveness/challenge"): "test_liveness_routes",
    ("POST", "/v1/gates/{gate_id}/liveness/{nonce}"): "test_liveness_routes",
    ("GET", "/v1/audit/events"): "test_audit_events_and_verify",
    ("GET", "/v1/audit/verify"): "test_audit_events_and_verify",
    ("POST", "/v1/api-keys"): "test_api_keys",
    ("GET", "/v1/api-keys"): "test_api_keys",
    ("DELETE", "/v1/api-keys/{key_id}"): "test_api_keys",
}


# --- helpers --------------------------------------------------------------------------------------

def refused(response, status: int, code: str) -> dict:
    """The response is a refusal with this status and code, in the exact error envelope."""
    assert response.status_code == status, (response.status_code, response.text)
    assert error_code(response) == code, response.text
    assert isinstance(response.json()["error"]["requirements"], list)
    return response.json()["error"]


def tiny_jpeg(color=(120, 90, 60)) -> bytes:
    """A real (decodable) 16x16 JPEG without a face."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, "JPEG")
    return buf.getvalue()


def tiny(name: str = "tiny.jpg") -> tuple:
    return ("image", (name, tiny_jpeg(), "image/jpeg"))


def make_key(api: Api, key: str, role: str, **scope) -> str:
    return api.ok("POST", "/v1/api-keys", key, 201, json={"role": role, "name": f"{role} key", **scope})["key"]


def new_subject(api: Api, key: str, site_id: str, **body) -> str:
    return api.ok("POST", f"/v1/sites/{site_id}/subjects", key, 201, json=body or {"age_band": "18+"})["id"]


def give_consent(api: Api, key: str, subject_id: str, version: int, mode: str = "verify", **extra):
    return api.call("POST", f"/v1/subjects/{subject_id}/consents", key, json={
        "purpose": "door_access", "mode": mode, "notice_version": version, "channel": "kiosk", "method": "click",
        **extra})


def consented(api: Api, key: str, subject_id: str, version: int, mode: str = "verify", **extra) -> dict:
    r = give_consent(api, key, subject_id, version, mode, **extra)
    assert r.status_code == 201, r.text
    return r.json()


def attempt(api: Api, key: str, gate_id: str, method: str, value: str) -> dict:
    return api.ok("POST", f"/v1/gates/{gate_id}/access", key, json={"method": method, "value": value})


def denied(decision: dict, code: str) -> None:
    assert decision["granted"] is False and decision["reason"]["code"] == code, decision
    assert decision["reason"]["message"]


@pytest.fixture
def world(api):
    """Tenant with a residential site (door_access verify+identify, PIA, notices, a face+pin+card
    and a pin+card gate) built by the deployment administrator, and keys of the tenant."""
    root = api.admin["key"]
    w = build_site(api, root)
    w["root"] = root
    w["admin"] = make_key(api, root, "admin", tenant_id=w["tenant_id"])
    w["operator"] = make_key(api, w["admin"], "operator")
    w["gate"] = make_key(api, w["admin"], "gate", site_id=w["site_id"])
    w["face_gate"], w["side_gate"] = w["gate_ids"]
    return w


@pytest.fixture
def api_factory(api):
    """Another app on the same deployment and database, with settings.toml entries replaced."""
    opened = []

    def make(**settings) -> Api:
        path = api.dep.directory / "settings.toml"
        text = path.read_text()
        for name, value in settings.items():
            text = re.sub(rf"(?m)^{name}\s*=.*\n?", "", text) + f"{name} = {value}\n"
        path.write_text(text)
        dep = Deployment(api.dep.directory, database_url=api.dep.database_url)
        client = TestClient(create_app(deployment=dep), raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, dep))
        return Api(client, dep, api.admin)

    yield make
    for client, dep in opened:
        client.__exit__(None, None, None)
        dep.close()


# --- inventory, health, authentication ------------------------------------------------------------

def test_route_inventory(api):
    """The table above names every route of the app, and only those."""
    spec = api.ok("GET", "/openapi.json", None)
    served = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert served == set(ROUTES), (sorted(served - set(ROUTES)), sorted(set(ROUTES) - served))
    # every error status a route can answer is documented with the envelope
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not path.startswith(("/healthz", "/livez", "/readyz", "/public/")):
                assert {"401", "403", "404", "422"} <= set(op["responses"]), (method, path)


def test_health_and_auth(api):
    r = api.call("GET", "/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert api.call("GET", "/livez").json() == {"ok": True}
    ready = api.call("GET", "/readyz")  # no key needed: it names checks, never data
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in r.headers
    bogus = "tf_0123456789abcdef_" + "A" * 43
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
                    {"Authorization": "Bearer not-a-trustface-key"}, {"Authorization": f"Bearer {bogus}"},
                    {"Authorization": f"Bearer {api.admin['key']}x"}):
        r = api.client.get("/v1/sites", headers=headers)
        refused(r, 401, "E_UNAUTHENTICATED")
        assert r.headers["www-authenticate"] == "Bearer"
        assert api.admin["key"] not in r.text
    # the scheme is case-insensitive
    assert api.client.get("/v1/sites", headers={"Authorization": f"bearer {api.admin['key']}"}).status_code == 200


# --- tenants, sites, purposes, PIAs, signage, notices, gates ---------------------------------------

def test_tenants_and_sites(api, world):
    root, admin = world["root"], world["admin"]
    other = api.ok("POST", "/v1/tenants", root, 201, json={"name": "Beta Estates", "contact": "dpo@beta.example"})
    assert other["id"].startswith("ten") and other["name"] == "Beta Estates"
    refused(api.call("POST", "/v1/tenants", admin, json={"name": "X", "contact": "x@x.example"}), 404, "E_NOT_FOUND")
    refused(api.call("POST", "/v1/tenants", world["operator"], json={"name": "X", "contact": "x"}), 403, "E_FORBIDDEN")
    refused(api.call("POST", "/v1/tenants", root, json={"name": "No contact"}), 422, "E_MALFORMED_REQUEST")

    # a tenant key creates sites in its own tenant; the administrator must name one of several
    site = api.ok("POST", "/v1/sites", admin, 201, json={"name": "Tower B"})
    assert site["tenant_id"] == world["tenant_id"] and site["site_type"] == "residential"
    assert site["jurisdiction"] == "cn" and site["purposes"] == [] and site["notice_version"] is None
    refused(api.call("POST", "/v1/sites", root, json={"name": "Where?"}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", "/v1/sites", root, json={"name": "Nowhere", "tenant_id": "ten_missing"}),
            404, "E_NOT_FOUND")
    refused(api.call("POST", "/v1/sites", admin, json={"name": "B's", "tenant_id": other["id"]}), 404, "E_NOT_FOUND")
    refused(api.call("POST", "/v1/sites", admin, json={"name": "Moon", "jurisdiction": "moon"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/sites", admin, json={"name": "x" * 201}), 422, "E_MALFORMED_REQUEST")
    beta_site = api.ok("POST", "/v1/sites", root, 201, json={"name": "Beta Hall", "tenant_id": other["id"],
                                                              "site_type": "business"})

    listed = api.ok("GET", "/v1/sites", admin)["sites"]
    assert sorted(s["id"] for s in listed) == sorted([world["site_id"], site["id"]])
    assert {s["id"] for s in api.ok("GET", "/v1/sites", root)["sites"]} >= {world["site_id"], beta_site["id"]}
    assert [s["id"] for s in api.ok("GET", "/v1/sites", world["gate"])["sites"]] == [world["site_id"]]

    got = api.ok("GET", f"/v1/sites/{world['site_id']}", world["operator"])
    assert got["notice_version"] == world["notice_version"]
    assert [(p["name"], p["modes"]) for p in got["purposes"]] == [("door_access", ["verify", "identify"])]
    assert sorted(g["id"] for g in got["gates"]) == sorted(world["gate_ids"])
    refused(api.call("GET", "/v1/sites/site_missing", admin), 404, "E_NOT_FOUND")
    refused(api.call("GET", f"/v1/sites/{beta_site['id']}", admin), 404, "E_NOT_FOUND")


def test_purposes_pias_signage(api, world):
    op, sid = world["operator"], world["site_id"]
    purpose = {"name": "parcel_lockers", "allowed_modes": ["verify"], "legal_basis": "consent",
               "necessity_justification": "collect parcels hands-free", "retention_days": 90}
    made = api.ok("POST", f"/v1/sites/{sid}/purposes", op, 201, json=purpose)
    assert made["name"] == "parcel_lockers" and made["modes"] == ["verify"] and made["retention_days"] == 90
    # finite retention, within the profile's cap (R13, SPC-11)
    refused(api.call("POST", f"/v1/sites/{sid}/purposes", op, json={**purpose, "name": "p2", "retention_days": 4000}),
            422, "E_RETENTION_UNBOUNDED")
    for bad in ({"retention_days": 0}, {"retention_days": None}, {"retention_days": "forever"}):
        refused(api.call("POST", f"/v1/sites/{sid}/purposes", op, json={**purpose, "name": "p3", **bad}),
                422, "E_MALFORMED_REQUEST")
    no_retention = {k: v for k, v in purpose.items() if k != "retention_days"}
    refused(api.call("POST", f"/v1/sites/{sid}/purposes", op, json={**no_retention, "name": "p4"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{sid}/purposes", op, json={**purpose, "name": "p5", "allowed_modes": []}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{sid}/purposes", op, json={**purpose, "name": "p6", "legal_basis": "whim"}),
            422, "E_LEGAL_BASIS_INVALID")
    refused(api.call("POST", f"/v1/sites/{sid}/purposes", op, json=purpose), 422, "E_INVALID_ARGUMENT")  # duplicate
    refused(api.call("POST", "/v1/sites/site_missing/purposes", op, json=purpose), 404, "E_NOT_FOUND")

    pia = api.ok("POST", f"/v1/sites/{sid}/pias", op, 201, json={"purpose": "parcel_lockers", "modes": ["verify"],
                                                                  "sections": PIA_SECTIONS, "approver": "dpo:lee"})
    assert pia["purpose"] == "parcel_lockers" and pia["modes"] == ["verify"] and pia["id"]
    refused(api.call("POST", f"/v1/sites/{sid}/pias", op, json={"purpose": "nope", "modes": ["verify"],
                                                                 "sections": PIA_SECTIONS, "approver": "dpo"}),
            403, "E_PURPOSE_NOT_CONSENTED")  # the site declares no such purpose
    refused(api.call("POST", f"/v1/sites/{sid}/pias", op, json={"purpose": "parcel_lockers", "modes": ["verify"],
                                                                 "approver": "dpo"}), 422, "E_MALFORMED_REQUEST")

    signed = api.ok("POST", f"/v1/sites/{sid}/signage", op, json={"attested_by": "manager:wu",
                                                                  "evidence": "photo-of-sign.jpg"})
    assert signed["site_id"] == sid and signed["signage_attested_at"]
    assert api.ok("GET", f"/v1/sites/{sid}", op)["signage_attested"] is True
    refused(api.call("POST", f"/v1/sites/{sid}/signage", op, json={"attested_by": "wu"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{sid}/signage", world["gate"], json={"attested_by": "wu", "evidence": "e"}),
            403, "E_FORBIDDEN")


def test_notices(api, world):
    op, sid = world["operator"], world["site_id"]
    public = api.ok("GET", f"/public/sites/{sid}/notice", None)  # no key: the rules are public (PIPL-17)
    assert public["version"] == world["notice_version"] and public["content"] == NOTICE
    assert public["site"] == {"id": sid, "name": "Tower A", "site_type": "residential"} and "id" not in public
    minors = api.ok("GET", f"/public/sites/{sid}/notice?kind=minors", None)
    assert minors["kind"] == "minors"
    refused(api.call("GET", "/public/sites/site_unknown/notice"), 404, "E_NOT_FOUND")
    refused(api.call("GET", f"/public/sites/{sid}/notice?kind=secret"), 422, "E_MALFORMED_REQUEST")

    draft = api.ok("POST", f"/v1/sites/{sid}/notices", op, 201, json={"content": {**NOTICE, "retention": "180 days"}})
    assert draft["published_at"] is None and draft["version"] == world["notice_version"] + 1
    assert api.ok("GET", f"/public/sites/{sid}/notice", None)["version"] == world["notice_version"]  # not yet
    refused(api.call("POST", f"/v1/sites/{sid}/notices", op, json={"content": {"controller": "Acme"}}),
            422, "E_INVALID_ARGUMENT")  # PIPL-17 fields missing
    refused(api.call("POST", f"/v1/sites/{sid}/notices", op, json={"content": NOTICE, "kind": "fine print"}),
            422, "E_MALFORMED_REQUEST")
    published = api.ok("POST", f"/v1/notices/{draft['id']}/publish", op)
    assert published["published_at"] and published["version"] == draft["version"]
    assert api.ok("GET", f"/public/sites/{sid}/notice", None)["content"]["retention"] == "180 days"
    refused(api.call("POST", "/v1/notices/ntc_missing/publish", op), 404, "E_NOT_FOUND")

    # a site without a published notice has no public page
    bare = api.ok("POST", "/v1/sites", op, 201, json={"name": "Annex"})["id"]
    refused(api.call("GET", f"/public/sites/{bare}/notice"), 404, "E_NOT_FOUND")


def test_gates(api, world):
    op, sid = world["operator"], world["site_id"]
    gate = api.ok("POST", f"/v1/sites/{sid}/gates", op, 201,
                  json={"name": "Garage", "methods": ["card", "face", "card"],
                        "schedule": {"days": [0, 1, 2, 3, 4], "from": "06:00", "to": "22:00"}})
    assert gate["methods"] == ["face", "card"] and gate["alternatives"] == ["card"]
    assert gate["purpose"] == "door_access" and gate["schedule"] == {"days": [0, 1, 2, 3, 4], "from": "06:00",
                                                                     "to": "22:00"}
    # face is never the only way in (SPC-10, PIPL-16, R6)
    err = refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": ["face"]}),
                  422, "E_FACE_ONLY_POLICY")
    assert "SPC-10" in err["requirements"]
    refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": []}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": ["retina", "pin"]}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": ["face", "pin"],
                                                                  "purpose": "no_such_purpose"}),
            403, "E_PURPOSE_NOT_CONSENTED")
    api.ok("POST", f"/v1/sites/{sid}/purposes", op, 201, json={
        "name": "lockers", "allowed_modes": ["verify"], "necessity_justification": "n", "retention_days": 30})
    refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": ["face", "pin"],
                                                                  "purpose": "lockers"}), 403, "E_MODE_NOT_ALLOWED")
    refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": ["pin"],
                                                                  "schedule": {"from": "23:00", "to": "01:00"}}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/sites/{sid}/gates", op, json={"name": "F", "methods": ["pin"],
                                                                  "location_id": "loc_missing"}), 404, "E_NOT_FOUND")
    refused(api.call("POST", "/v1/sites/site_missing/gates", op, json={"name": "F", "methods": ["pin"]}),
            404, "E_NOT_FOUND")

    listed = api.ok("GET", f"/v1/sites/{sid}/gates", world["gate"])["gates"]
    assert sorted(g["id"] for g in listed) == sorted([*world["gate_ids"], gate["id"]])
    assert api.ok("GET", f"/v1/gates/{gate['id']}", world["gate"]) == gate
    refused(api.call("GET", "/v1/gates/gate_missing", op), 404, "E_NOT_FOUND")
    refused(api.call("GET", "/v1/sites/site_missing/gates", op), 404, "E_NOT_FOUND")


# --- subjects, consents, refusals -----------------------------------------------------------------

def test_subjects_and_consents(api, world):
    op, sid, version = world["operator"], world["site_id"], world["notice_version"]
    a = api.ok("POST", f"/v1/sites/{sid}/subjects", op, 201,
               json={"birth_date": "1980-02-03", "external_ref": "unit 3", "display_name": "Resident A"})
    assert a["site_id"] == sid and a["id"].startswith("sub")
    a = a["id"]
    refused(api.call("POST", "/v1/sites/site_missing/subjects", op, json={"age_band": "18+"}), 404, "E_NOT_FOUND")
    refused(api.call("POST", f"/v1/sites/{sid}/subjects", op, json={"birth_date": "yesterday"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{sid}/subjects", op, json={"age_band": "18+", "name": "Real Name"}),
            422, "E_MALFORMED_REQUEST")

    got = api.ok("GET", f"/v1/subjects/{a}", op)
    assert got["id"] == a and got["birth_date"] == "1980-02-03" and got["consents"] == [] and got["credentials"] == []
    assert "Resident A" not in str(got)  # identity is kept apart (R10)
    refused(api.call("GET", "/v1/subjects/sub_missing", op), 404, "E_NOT_FOUND")

    # one separate consent for one purpose and mode, citing the current notice
    given = consented(api, op, a, version, "verify")
    assert given["status"] == "active" and given["mode"] == "verify" and given["purpose"] == "door_access"
    assert dt.datetime.fromisoformat(given["expires_at"]) > dt.datetime.now(dt.timezone.utc)
    refused(give_consent(api, op, a, version + 7, "identify"), 403, "E_NOTICE_NOT_SHOWN")
    refused(give_consent(api, op, a, version, "identify", notice_version=None), 422, "E_MALFORMED_REQUEST")
    refused(give_consent(api, op, a, version, "identify", marketing=True), 422, "E_CONSENT_BUNDLED")
    refused(give_consent(api, op, a, version, "identify", pre_ticked=True), 422, "E_CONSENT_BUNDLED")
    refused(give_consent(api, op, a, version, ["verify", "identify"]), 422, "E_CONSENT_BUNDLED")
    refused(give_consent(api, op, a, version, "analyze"), 403, "E_MODE_NOT_ALLOWED")  # door_access lacks analyze
    refused(give_consent(api, op, a, version, "verify", purpose="parking"), 404, "E_NOT_FOUND")
    refused(give_consent(api, op, "sub_missing", version), 404, "E_NOT_FOUND")
    refused(api.call("POST", f"/v1/subjects/{a}/consents", op, content=b'{"purpose": "door_access"',
                     headers={"Content-Type": "application/json"}), 422, "E_MALFORMED_REQUEST")
    # a child needs a guardian (R3, PIPL-31)
    child = new_subject(api, op, sid, birth_date=born_years_ago(9))
    refused(give_consent(api, op, child, version), 403, "E_GUARDIAN_REQUIRED")
    consented(api, op, child, version, guardian={"name": "Li Na", "relationship": "parent",
                                                 "verification": "id_document"})

    # withdrawal: one call, as easy as giving (R14); withdrawn consents cannot be withdrawn again
    listed = api.ok("GET", f"/v1/subjects/{a}", op)["consents"]
    assert [(c["id"], c["status"]) for c in listed] == [(given["id"], "active")]
    refused(api.call("POST", f"/v1/subjects/{child}/consents/{given['id']}/withdraw", op), 404, "E_NOT_FOUND")
    refused(api.call("POST", f"/v1/subjects/{a}/consents/con_missing/withdraw", op), 404, "E_NOT_FOUND")
    refused(api.call("POST", f"/v1/subjects/{a}/consents/{given['id']}/withdraw", op, json={"channel": "fax"}),
            422, "E_MALFORMED_REQUEST")
    done = api.ok("POST", f"/v1/subjects/{a}/consents/{given['id']}/withdraw", op)  # no body: channel "app"
    assert done["id"] == given["id"] and done["status"] == "withdrawn" and done["ended_at"]
    assert api.ok("GET", f"/v1/subjects/{a}", op)["consents"][0]["status"] == "withdrawn"
    refused(api.call("POST", f"/v1/subjects/{a}/consents/{given['id']}/withdraw", op, json={"channel": "kiosk"}),
            403, "E_CONSENT_MISSING")

    # a refusal is recorded, answered with the non-face ways in, and not re-prompted (R6, R7)
    b = new_subject(api, op, sid)
    declined = api.ok("POST", f"/v1/subjects/{b}/refusals", op, 201,
                      json={"purpose": "door_access", "mode": "identify", "channel": "kiosk"})
    assert declined == {"recorded": True, "issue_instead": ["card", "pin"]}
    refused(give_consent(api, op, b, version, "identify"), 429, "E_REPROMPT_COOLDOWN")
    own = make_key(api, world["admin"], "subject", subject_id=b)
    assert consented(api, own, b, version, "identify")["status"] == "active"  # the subject may start it
    refused(api.call("POST", f"/v1/subjects/{b}/refusals", op, json={"purpose": "nope", "mode": "verify"}),
            404, "E_NOT_FOUND")
    refused(api.call("POST", f"/v1/subjects/{b}/refusals", op, json={"purpose": "door_access", "mode": "stare"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/subjects/sub_missing/refusals", op,
                     json={"purpose": "door_access", "mode": "verify"}), 404, "E_NOT_FOUND")


# --- credentials, visitor passes, gate access -------------------------------------------------------

def test_credentials_and_gate_access(api, world):
    op, gk, sid = world["operator"], world["gate"], world["site_id"]
    face_gate, side_gate = world["face_gate"], world["side_gate"]
    pass_gate = api.ok("POST", f"/v1/sites/{sid}/gates", op, 201,
                       json={"name": "Lobby", "methods": ["qr", "visitor_pass"]})["id"]
    a, b = new_subject(api, op, sid), new_subject(api, op, sid)

    # PINs: weak ones refused, chosen ones never echoed, generated ones shown once
    for weak in ("123456", "000000", "12"):
        refused(api.call("POST", f"/v1/subjects/{a}/credentials", op, json={"type": "pin", "value": weak}),
                422, "E_WEAK_PIN")
    chosen = api.ok("POST", f"/v1/subjects/{a}/credentials", op, 201, json={"type": "pin", "value": "40917362"})
    assert chosen["type"] == "pin" and chosen["value"] is None and chosen["subject_id"] == a
    refused(api.call("POST", f"/v1/subjects/{b}/credentials", op, json={"type": "pin", "value": "40917362"}),
            409, "E_CREDENTIAL_CONFLICT")
    # cards: one holder per card number, whatever the punctuation
    card = api.ok("POST", f"/v1/subjects/{a}/credentials", op, 201, json={"type": "card", "value": "0451-7789-2231"})
    assert card["value"] is None
    refused(api.call("POST", f"/v1/subjects/{b}/credentials", op, json={"type": "card", "value": "0451 7789 2231"}),
            409, "E_CREDENTIAL_CONFLICT")
    refused(api.call("POST", f"/v1/subjects/{b}/credentials", op, json={"type": "card"}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/subjects/{b}/credentials", op, json={"type": "face"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/subjects/{b}/credentials", op, json={"type": "qr", "value": "mine"}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", "/v1/subjects/sub_missing/credentials", op, json={"type": "qr"}), 404, "E_NOT_FOUND")
    qr = api.ok("POST", f"/v1/subjects/{b}/credentials", op, 201, json={"type": "qr", "valid_days": 30})
    assert qr["value"] and qr["expires_at"]

    # decisions at the gates (the gate key of the site)
    granted = attempt(api, gk, side_gate, "pin", "40917362")
    assert granted["granted"] is True and granted["subject_id"] == a and granted["method"] == "pin"
    assert granted["alternatives"] == [] and granted["reason"] is None and granted["audit_seq"] > 0
    assert attempt(api, gk, face_gate, "card", "0451 7789 2231")["subject_id"] == a
    wrong = attempt(api, gk, side_gate, "pin", "90817263")
    denied(wrong, "E_CREDENTIAL_INVALID")
    assert wrong["subject_id"] is None and wrong["alternatives"] == ["pin", "card"]
    denied(attempt(api, gk, pass_gate, "pin", "40917362"), "E_METHOD_NOT_OFFERED")
    assert attempt(api, gk, pass_gate, "qr", qr["value"])["subject_id"] == b
    denied(attempt(api, gk, pass_gate, "qr", qr["value"][:-4] + "AAAA"), "E_CREDENTIAL_INVALID")
    refused(api.call("POST", f"/v1/gates/{side_gate}/access", gk, json={"method": "retina", "value": "x"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/gates/{side_gate}/access", gk, json={"method": "pin", "value": ""}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/gates/{side_gate}/access", gk, json={"method": "pin"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/gates/gate_missing/access", gk, json={"method": "pin", "value": "40917362"}),
            404, "E_NOT_FOUND")
    # closed by its schedule on a day that is not today (UTC)
    today = dt.datetime.now(dt.timezone.utc).weekday()
    closed = api.ok("POST", f"/v1/sites/{sid}/gates", op, 201, json={
        "name": "Weekend", "methods": ["pin"], "schedule": {"days": [(today + 3) % 7]}})["id"]
    denied(attempt(api, gk, closed, "pin", "40917362"), "E_GATE_CLOSED")

    # a visitor pass: single use, QR gates only
    vp = api.ok("POST", f"/v1/sites/{sid}/visitor-passes", op, 201, json={"valid_minutes": 90, "label": "plumber"})
    assert vp["type"] == "visitor_pass" and vp["subject_id"] is None and vp["qr"] and vp["expires_at"]
    denied(attempt(api, gk, face_gate, "visitor_pass", vp["qr"]), "E_METHOD_NOT_OFFERED")
    first = attempt(api, gk, pass_gate, "visitor_pass", vp["qr"])
    assert first["granted"] is True and first["method"] == "visitor_pass" and first["subject_id"] is None
    denied(attempt(api, gk, pass_gate, "visitor_pass", vp["qr"]), "E_CREDENTIAL_INVALID")
    refused(api.call("POST", f"/v1/sites/{sid}/visitor-passes", op, json={"valid_minutes": 0}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{sid}/visitor-passes", op, json={"valid_minutes": 60 * 24 * 8}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/sites/site_missing/visitor-passes", op, json={}), 404, "E_NOT_FOUND")

    # revoking: never the last way in of someone who declined face (R6)
    c = new_subject(api, op, sid)
    api.ok("POST", f"/v1/subjects/{c}/refusals", op, 201, json={"purpose": "door_access", "mode": "identify"})
    only = api.ok("POST", f"/v1/subjects/{c}/credentials", op, 201, json={"type": "pin"})
    assert re.fullmatch(r"\d{8}", only["value"])
    err = refused(api.call("DELETE", f"/v1/credentials/{only['id']}", op), 409, "E_ALTERNATIVE_REQUIRED")
    assert "R6" in err["requirements"]
    spare = api.ok("POST", f"/v1/subjects/{c}/credentials", op, 201, json={"type": "card", "value": "7001 0002 0003"})
    assert api.ok("DELETE", f"/v1/credentials/{only['id']}", op) == {"id": only["id"], "revoked": True}
    denied(attempt(api, gk, side_gate, "pin", only["value"]), "E_CREDENTIAL_INVALID")
    refused(api.call("DELETE", f"/v1/credentials/{spare['id']}", op), 409, "E_ALTERNATIVE_REQUIRED")
    refused(api.call("DELETE", f"/v1/credentials/{only['id']}", op), 404, "E_NOT_FOUND")
    assert api.ok("DELETE", f"/v1/credentials/{vp['id']}", op)["revoked"] is True  # a pass has no holder
    assert [x["id"] for x in api.ok("GET", f"/v1/subjects/{c}", op)["credentials"]] == [spare["id"]]


# --- faces: enrol, verify, identify, gate by face, report, evidence, restrict, erase ----------------

def test_faces(api, world, examples):
    op, gk, sid, version = world["operator"], world["gate"], world["site_id"], world["notice_version"]
    face_gate, side_gate = world["face_gate"], world["side_gate"]
    a = new_subject(api, op, sid)
    for mode in ("verify", "identify"):
        consented(api, op, a, version, mode)
    enrolled = api.ok("POST", f"/v1/subjects/{a}/enrolments", op, 201, files=[photo(examples, "obama.jpg")],
                      data={"purpose": "door_access", "mode": "verify,identify"})
    assert enrolled["subject_id"] == a and enrolled["photos_kept"] == 0
    assert sorted(e["mode"] for e in enrolled["enrolments"]) == ["identify", "verify"]
    refused(api.call("POST", f"/v1/subjects/{a}/enrolments", op, files=[photo(examples, "two_people.jpg")],
                     data={"purpose": "door_access", "mode": "verify"}), 422, "E_MULTIPLE_FACES")
    refused(api.call("POST", f"/v1/subjects/{a}/enrolments", op, files=[tiny()],
                     data={"purpose": "door_access", "mode": "stare"}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/subjects/{a}/enrolments", op, files=[tiny()], data={"mode": "verify"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/subjects/sub_missing/enrolments", op, files=[tiny()],
                     data={"purpose": "door_access", "mode": "verify"}), 404, "E_NOT_FOUND")
    b = new_subject(api, op, sid)  # no consent at all
    refused(api.call("POST", f"/v1/subjects/{b}/enrolments", op, files=[tiny()],
                     data={"purpose": "door_access", "mode": "verify"}), 403, "E_CONSENT_MISSING")

    # 1:1 verify
    match = api.ok("POST", f"/v1/sites/{sid}/verify", gk, files=[photo(examples, "obama2.jpg")],
                   data={"subject_id": a, "purpose": "door_access"})
    assert match["match"] is True, match
    refused(api.call("POST", f"/v1/sites/{sid}/verify", gk, files=[tiny()],
                     data={"subject_id": b, "purpose": "door_access"}), 403, "E_CONSENT_MISSING")
    c = new_subject(api, op, sid)
    consented(api, op, c, version, "verify")
    refused(api.call("POST", f"/v1/sites/{sid}/verify", gk, files=[photo(examples, "obama2.jpg")],
                     data={"subject_id": c, "purpose": "door_access"}), 404, "E_NOT_ENROLLED")
    refused(api.call("POST", f"/v1/sites/{sid}/verify", gk, files=[tiny()], data={"purpose": "door_access"}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", f"/v1/sites/{sid}/verify", gk, files=[tiny()],
                     data={"subject_id": a, "purpose": "marketing"}), 403, "E_PURPOSE_NOT_CONSENTED")

    # 1:N identify (JSON with base64 works as well as multipart)
    import base64

    found = api.ok("POST", f"/v1/sites/{sid}/identify", gk,
                   json={"image": base64.b64encode((examples / "obama2.jpg").read_bytes()).decode(),
                         "purpose": "door_access", "k": 3})
    assert found["candidates"][0]["subject_id"] == a, found
    refused(api.call("POST", f"/v1/sites/{sid}/identify", gk, files=[tiny()],
                     data={"purpose": "door_access", "k": "many"}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/sites/{sid}/identify", gk, files=[tiny()], data={"purpose": "door_access"}),
            422, "E_NO_FACE")

    # a face at the gates: granted where face is offered, otherwise the other ways in
    entry = api.ok("POST", f"/v1/gates/{face_gate}/access", gk, files=[photo(examples, "obama2.jpg")])
    assert entry["granted"] is True and entry["method"] == "face" and entry["subject_id"] == a
    side = api.ok("POST", f"/v1/gates/{side_gate}/access", gk, files=[tiny()])
    denied(side, "E_METHOD_NOT_OFFERED")
    assert side["alternatives"] == ["pin", "card"]
    no_face = api.ok("POST", f"/v1/gates/{face_gate}/access", gk, files=[tiny()])
    denied(no_face, "E_NO_FACE")
    assert no_face["alternatives"] == ["pin", "card"]

    # what is held about A: counts, never template bytes or credential values
    api.ok("POST", f"/v1/subjects/{a}/credentials", op, 201, json={"type": "card", "value": "5512 0000 1234"})
    report = api.ok("GET", f"/v1/subjects/{a}/report", op)
    assert report["templates"] == {"door_access/verify": 1, "door_access/identify": 1}
    assert report["photos_kept"] == 0 and [x["type"] for x in report["credentials"]] == ["card"]
    assert [e["result"] for e in report["recent_access"]] == ["granted"] and "5512" not in str(report)
    refused(api.call("GET", "/v1/subjects/sub_missing/report", op), 404, "E_NOT_FOUND")
    bundle = api.ok("GET", f"/v1/subjects/{a}/evidence", world["admin"])
    assert bundle["tenant_id"] == world["tenant_id"] and audit.verify_bundle(bundle).ok
    assert {"consent", "grant", "enrolment", "match", "access"} <= {e["type"] for e in bundle["events"]}
    refused(api.call("GET", f"/v1/subjects/{a}/evidence", op), 403, "E_FORBIDDEN")  # operators do not read audit

    # restriction stops face processing at once (PIPL-44, GDPR-18)
    restricted = api.ok("POST", f"/v1/subjects/{c}/restrict", op, json={"reason": "dispute over a match"})
    assert restricted["id"] == c and restricted["suspended"] == "restrict" and restricted["since"]
    refused(api.call("POST", f"/v1/sites/{sid}/verify", gk, files=[tiny()],
                     data={"subject_id": c, "purpose": "door_access"}), 403, "E_SUSPENDED")
    refused(api.call("POST", f"/v1/subjects/{c}/restrict", op, json={}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/subjects/sub_missing/restrict", op, json={"reason": "x"}), 404, "E_NOT_FOUND")

    # erasure: a certificate; afterwards A's face matches nobody and A's credentials are gone
    cert = api.ok("DELETE", f"/v1/subjects/{a}", op)
    assert cert["action"] == "subject_erased" and cert["subject_id"] == a and cert["certificate_id"]
    assert cert["consents_withdrawn"] == 2 and cert["deleted"]["credentials"] == 1 and cert["seq"] > 0
    assert cert["deleted"]["gallery_certificates"]
    # (a frame that opened the gate once is refused as a replay: use the enrolment photo at the gate)
    after = api.ok("POST", f"/v1/gates/{face_gate}/access", gk, files=[photo(examples, "obama.jpg")])
    denied(after, "E_NO_MATCH")
    assert after["subject_id"] is None and after["alternatives"] == ["pin", "card"]
    gone = api.ok("POST", f"/v1/sites/{sid}/identify", gk, files=[photo(examples, "obama2.jpg")],
                  data={"purpose": "door_access", "k": "3"})
    assert gone["candidates"] == [] and gone["unknown"] is True, gone
    denied(attempt(api, gk, face_gate, "card", "5512 0000 1234"), "E_CREDENTIAL_INVALID")
    refused(api.call("POST", f"/v1/sites/{sid}/verify", gk, files=[tiny()],
                     data={"subject_id": a, "purpose": "door_access"}), 403, "E_CONSENT_MISSING")
    held = api.ok("GET", f"/v1/subjects/{a}/report", op)
    assert held["templates"] == {} and held["credentials"] == [] and held["identity"] is None
    assert {x["status"] for x in held["consents"]} == {"withdrawn"}
    refused(api.call("DELETE", "/v1/subjects/sub_missing", op), 404, "E_NOT_FOUND")
    assert api.ok("GET", "/v1/audit/verify", world["admin"])["ok"] is True


def test_analyze(api, world):
    """Gated analysis: its own purpose, PIA and consent; deny-listed attributes refused by the gate."""
    op, sid, version = world["operator"], world["site_id"], world["notice_version"]
    api.ok("POST", f"/v1/sites/{sid}/purposes", op, 201, json={
        "name": "wellbeing", "allowed_modes": ["analyze"], "necessity_justification": "check the kiosk framing",
        "retention_days": 30})
    subject = new_subject(api, op, sid)
    body = {"subject_id": subject, "purpose": "wellbeing", "attributes": "face_count"}
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()], data=body), 403, "E_PIA_MISSING")
    api.ok("POST", f"/v1/sites/{sid}/pias", op, 201, json={"purpose": "wellbeing", "modes": ["analyze"],
                                                            "sections": PIA_SECTIONS, "approver": "dpo:lee"})
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()], data=body), 403, "E_CONSENT_MISSING")
    consented(api, op, subject, version, "analyze", purpose="wellbeing")
    result = api.ok("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()],
                    data={"subject_id": subject, "attributes": "face_count"})  # the one analysis purpose
    assert result["attributes"] == {"face_count": 0} and result["audit_seq"] > 0, result
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()], data={**body, "attributes": "race"}),
            403, "E_PROHIBITED_INFERENCE")
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()], data={**body, "attributes": "emotion"}),
            422, "E_ATTRIBUTE_UNSUPPORTED")
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()], data={**body, "attributes": ""}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", op, files=[tiny()], data={**body, "purpose": "door_access"}),
            403, "E_MODE_NOT_ALLOWED")
    refused(api.call("POST", f"/v1/sites/{sid}/analyze", world["gate"], files=[tiny()], data=body),
            403, "E_FORBIDDEN")


def test_identify_rate_limit(api, world, api_factory):
    """identify_per_minute from settings.toml: 429 E_RATE_LIMITED with Retry-After, per key; a
    rate-limited face never blocks the non-face ways in."""
    op, sid = world["operator"], world["site_id"]
    holder = new_subject(api, op, sid)
    pin = api.ok("POST", f"/v1/subjects/{holder}/credentials", op, 201, json={"type": "pin"})["value"]
    limited = api_factory(identify_per_minute=1)
    identify = {"files": [tiny()], "data": {"purpose": "door_access"}}
    refused(limited.call("POST", f"/v1/sites/{sid}/identify", op, **identify), 422, "E_NO_FACE")
    before = api.ok("GET", "/v1/audit/verify", world["admin"])["events"]
    r = limited.call("POST", f"/v1/sites/{sid}/identify", op, **identify)
    refused(r, 429, "E_RATE_LIMITED")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert api.ok("GET", "/v1/audit/verify", world["admin"])["events"] == before  # refused before the gate
    # another key has its own bucket; the gate key's face attempts share the identify bucket
    refused(limited.call("POST", f"/v1/sites/{sid}/identify", world["admin"], **identify), 422, "E_NO_FACE")
    denied(limited.ok("POST", f"/v1/gates/{world['face_gate']}/access", world["gate"], files=[tiny()]), "E_NO_FACE")
    refused(limited.call("POST", f"/v1/gates/{world['face_gate']}/access", world["gate"], files=[tiny()]),
            429, "E_RATE_LIMITED")
    assert limited.ok("POST", f"/v1/gates/{world['face_gate']}/access", world["gate"],
                      json={"method": "pin", "value": pin})["granted"] is True
    # the access bucket limits every attempt at a gate
    strict = api_factory(access_per_minute=6)
    strict.ok("POST", f"/v1/gates/{world['side_gate']}/access", world["gate"], json={"method": "pin", "value": pin})
    r = strict.call("POST", f"/v1/gates/{world['side_gate']}/access", world["gate"],
                    json={"method": "pin", "value": pin})
    refused(r, 429, "E_RATE_LIMITED")
    assert int(r.headers["retry-after"]) >= 1


# --- compliance and liveness routes (thin checks: their rooms test the content) -------------------

def test_assessment_and_notice_page(api, world):
    op, sid = world["operator"], world["site_id"]
    result = api.ok("GET", f"/v1/sites/{sid}/assessment", op)
    assert result["site"]["id"] == sid and result["audit_seq"] > 0
    auditor = make_key(api, world["admin"], "auditor")
    page = api.call("GET", f"/v1/sites/{sid}/assessment", auditor, params={"format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refused(api.call("GET", f"/v1/sites/{sid}/assessment", op, params={"regime": "mars-law"}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("GET", f"/v1/sites/{sid}/assessment", op, params={"format": "docx"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("GET", "/v1/sites/site_missing/assessment", op), 404, "E_NOT_FOUND")
    refused(api.call("GET", f"/v1/sites/{sid}/assessment", world["gate"]), 403, "E_FORBIDDEN")
    subject = make_key(api, world["admin"], "subject", subject_id=new_subject(api, op, sid))
    refused(api.call("GET", f"/v1/sites/{sid}/assessment", subject), 403, "E_FORBIDDEN")

    content_hash = api.ok("GET", f"/public/sites/{sid}/notice", None)["content_hash"]
    for lang in ("zh", "en"):
        html = api.call("GET", f"/public/sites/{sid}/notice.html", params={"lang": lang})
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert content_hash in html.text
    refused(api.call("GET", f"/public/sites/{sid}/notice.html", params={"lang": "fr"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("GET", "/public/sites/site_missing/notice.html"), 404, "E_NOT_FOUND")


def test_liveness_routes(api, world):
    gk, face_gate = world["gate"], world["face_gate"]
    challenge = api.ok("POST", f"/v1/gates/{face_gate}/liveness/challenge", gk, 201)
    assert challenge["nonce"] and challenge["steps"] and challenge["gate_id"] == face_gate
    refused(api.call("POST", f"/v1/gates/{world['side_gate']}/liveness/challenge", gk), 422, "E_METHOD_NOT_OFFERED")
    refused(api.call("POST", "/v1/gates/gate_missing/liveness/challenge", gk), 404, "E_NOT_FOUND")
    frames = [("frame", (f"{n}.jpg", tiny_jpeg(), "image/jpeg")) for n in range(3)]
    refused(api.call("POST", f"/v1/gates/{face_gate}/liveness/never-issued", gk, files=frames),
            404, "E_CHALLENGE_UNKNOWN")
    refused(api.call("POST", f"/v1/gates/{face_gate}/liveness/{challenge['nonce']}", gk,
                     json={"frame": "x"}), 415, "E_UNSUPPORTED_MEDIA")
    refused(api.call("POST", f"/v1/gates/{face_gate}/liveness/{challenge['nonce']}", gk,
                     files=[("other", ("a.jpg", tiny_jpeg(), "image/jpeg"))]), 422, "E_MALFORMED_REQUEST")
    # identical still frames are no living person: a denied answer, with the other ways in
    answer = api.ok("POST", f"/v1/gates/{face_gate}/liveness/{challenge['nonce']}", gk, files=frames)
    assert answer["passed"] is False and answer["reasons"], answer


# --- audit, API keys, subject tokens --------------------------------------------------------------

def test_audit_events_and_verify(api, world):
    root, admin = world["root"], world["admin"]
    everything = api.ok("GET", "/v1/audit/events?limit=1000", root)
    assert everything["next_cursor"] is None
    seqs = [e["seq"] for e in everything["events"]]
    assert seqs == sorted(set(seqs)) and len(seqs) >= 12
    assert {"seq", "occurred_at", "type", "actor", "tenant_id", "subject_id", "payload", "hash"} == \
        set(everything["events"][0])

    # walk the tenant's events 4 at a time
    mine, cursor, pages = [], None, 0
    while True:
        page = api.ok("GET", "/v1/audit/events", admin, params={"limit": 4, **({"cursor": cursor} if cursor else {})})
        assert len(page["events"]) <= 4
        mine += page["events"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == str(page["events"][-1]["seq"])
    assert pages >= 3
    ours = [e for e in everything["events"] if e["tenant_id"] == world["tenant_id"]]
    assert [e["seq"] for e in mine] == [e["seq"] for e in ours] and mine == ours
    assert any(e["tenant_id"] is None for e in everything["events"])  # deployment events: administrator only
    assert api.ok("GET", "/v1/audit/events", admin, params={"cursor": str(seqs[-1])}) == {"events": [],
                                                                                       "next_cursor": None}
    for params, code in (({"limit": 0}, "E_INVALID_ARGUMENT"), ({"limit": 1001}, "E_INVALID_ARGUMENT"),
                         ({"limit": "ten"}, "E_MALFORMED_REQUEST"), ({"cursor": "abc"}, "E_INVALID_ARGUMENT"),
                         ({"cursor": "-1"}, "E_INVALID_ARGUMENT"), ({"cursor": "9" * 19}, "E_INVALID_ARGUMENT")):
        refused(api.call("GET", "/v1/audit/events", admin, params=params), 422, code)

    auditor = make_key(api, admin, "auditor")
    seen = api.ok("GET", "/v1/audit/events", auditor)["events"]
    assert seen[:len(ours)] == ours and {e["tenant_id"] for e in seen} == {world["tenant_id"]}
    check = api.ok("GET", "/v1/audit/verify", auditor)
    assert check["ok"] is True and check["first_bad"] is None and check["reason"] is None
    assert check["events"] >= len(seqs)
    refused(api.call("GET", "/v1/audit/verify", world["operator"]), 403, "E_FORBIDDEN")
    refused(api.call("GET", "/v1/audit/events", world["gate"]), 403, "E_FORBIDDEN")


def test_api_keys(api, world):
    root, admin, sid = world["root"], world["admin"], world["site_id"]
    made = api.ok("POST", "/v1/api-keys", admin, 201, json={"role": "auditor", "name": "  Auditor Ng  ",
                                                            "expires_days": 30})
    assert re.fullmatch(r"tf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", made["key"])
    assert made["id"] == "key_" + made["key"][3:19] and made["role"] == "auditor" and made["name"] == "Auditor Ng"
    assert made["tenant_id"] == world["tenant_id"] and made["expires_at"] and made["revoked_at"] is None
    assert api.ok("GET", "/v1/audit/verify", made["key"])["ok"] is True

    listed = api.ok("GET", "/v1/api-keys", admin)["keys"]
    assert made["id"] in {k["id"] for k in listed}
    assert {k["tenant_id"] for k in listed} == {world["tenant_id"]}
    assert made["key"] not in str(listed) and all("key" not in k and "secret_hash" not in k for k in listed)
    assert {k["role"] for k in api.ok("GET", "/v1/api-keys", root)["keys"]} == {"admin"}  # the deployment's own

    # scopes: gate keys name a site, subject tokens a subject, only the administrator names a tenant
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "gate", "name": "kiosk"}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "subject", "name": "me"}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "operator", "name": "op", "site_id": sid}),
            422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "gate", "name": "k", "site_id": "site_missing"}),
            404, "E_NOT_FOUND")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "auditor", "name": "x", "tenant_id": "ten_other"}),
            404, "E_NOT_FOUND")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "root", "name": "x"}), 422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "auditor", "name": " "}), 422, "E_INVALID_ARGUMENT")
    refused(api.call("POST", "/v1/api-keys", admin, json={"role": "auditor", "name": "x", "expires_days": 0}),
            422, "E_MALFORMED_REQUEST")
    refused(api.call("POST", "/v1/api-keys", world["operator"], json={"role": "auditor", "name": "x"}),
            403, "E_FORBIDDEN")
    refused(api.call("GET", "/v1/api-keys", world["operator"]), 403, "E_FORBIDDEN")

    # revocation takes effect on the next request
    revoked = api.ok("DELETE", f"/v1/api-keys/{made['id']}", admin)
    assert revoked["id"] == made["id"] and revoked["revoked_at"]
    r = api.call("GET", "/v1/audit/verify", made["key"])
    refused(r, 401, "E_UNAUTHENTICATED")
    assert r.headers["www-authenticate"] == "Bearer"
    refused(api.call("DELETE", "/v1/api-keys/key_0000000000000000", admin), 404, "E_NOT_FOUND")
    root_id = "key_" + root[3:19]
    refused(api.call("DELETE", f"/v1/api-keys/{root_id}", admin), 404, "E_NOT_FOUND")  # not the tenant's
    # a tenant administrator may revoke its own key: afterwards it is locked out too
    api.ok("DELETE", f"/v1/api-keys/{'key_' + admin[3:19]}", admin)
    refused(api.call("GET", "/v1/api-keys", admin), 401, "E_UNAUTHENTICATED")


def test_subject_token_self_service(api, world):
    """A subject token: own record, report, evidence, consent and withdrawal, and erasure, which
    revokes the token itself."""
    op, sid, version = world["operator"], world["site_id"], world["notice_version"]
    me = new_subject(api, op, sid)
    token = make_key(api, world["admin"], "subject", subject_id=me)
    assert api.ok("GET", f"/v1/subjects/{me}", token)["id"] == me
    given = consented(api, token, me, version, "verify")
    assert api.ok("POST", f"/v1/subjects/{me}/consents/{given['id']}/withdraw", token,
                  json={"channel": "app"})["status"] == "withdrawn"
    assert api.ok("GET", f"/v1/subjects/{me}/report", token)["id"] == me
    bundle = api.ok("GET", f"/v1/subjects/{me}/evidence", token)
    assert audit.verify_bundle(bundle).ok and {"consent", "export"} <= {e["type"] for e in bundle["events"]}
    refused(api.call("POST", f"/v1/subjects/{me}/credentials", token, json={"type": "qr"}), 403, "E_FORBIDDEN")
    refused(api.call("GET", "/v1/audit/events", token), 403, "E_FORBIDDEN")
    cert = api.ok("DELETE", f"/v1/subjects/{me}", token)
    assert cert["tokens_revoked"] == 1
    refused(api.call("GET", f"/v1/subjects/{me}", token), 401, "E_UNAUTHENTICATED")
