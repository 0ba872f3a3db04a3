"""Isolation cases the authorization matrix (tests/api/test_authz.py: every route x role x own /
sibling / other-tenant object, generated from /openapi.json) cannot express, because the second
object travels in the path next to the first (issue 9, part 3):

* a liveness nonce is bound to the gate that issued it: answered at another gate, of another
  tenant or of another site of the same tenant, it is E_CHALLENGE_UNKNOWN (404), even for the
  deployment administrator, nothing is written, and the nonce still works at its own gate;
* a subject token withdrawing a sibling's consent through its own subject's path is 404, and the
  sibling's consent stays active.
"""

from __future__ import annotations

import io

from _api_conftest import NOTICE, PIA_SECTIONS, build_site, error_code
from PIL import Image
from test_bad_requests import snapshot


def _frames(n: int = 3) -> list:
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (100 + i, 90, 80)).save(buf, "JPEG")
        out.append(("frame", (f"f{i}.jpg", buf.getvalue(), "image/jpeg")))
    return out


def _face_site(api, key: str, tenant_id: str) -> str:
    """A second site of the tenant, with a face gate; returns the gate id."""
    sid = api.ok("POST", "/v1/sites", key, 201, json={"name": "Tower B", "tenant_id": tenant_id})["id"]
    api.ok("POST", f"/v1/sites/{sid}/purposes", key, 201, json={
        "name": "door_access", "allowed_modes": ["verify", "identify"], "necessity_justification": "entry",
        "retention_days": 365})
    api.ok("POST", f"/v1/sites/{sid}/pias", key, 201, json={"purpose": "door_access", "modes": ["verify", "identify"],
                                                             "sections": PIA_SECTIONS, "approver": "dpo"})
    notice = api.ok("POST", f"/v1/sites/{sid}/notices", key, 201, json={"content": NOTICE})
    api.ok("POST", f"/v1/notices/{notice['id']}/publish", key)
    return api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={"name": "B", "methods": ["face", "pin"],
        "liveness": "off", "liveness_off_reason": "attended by the concierge (test fixture)"})["id"]


def test_liveness_nonces_are_bound_to_their_gate(api):
    root = api.admin["key"]
    a = build_site(api, root, tenant_name="Acme", minors_notice=False)
    b = build_site(api, root, tenant_name="Beta", minors_notice=False)
    sibling_gate = _face_site(api, root, a["tenant_id"])
    mint = lambda **kw: api.ok("POST", "/v1/api-keys", root, 201, json={"name": "kiosk", **kw})["key"]  # noqa: E731
    key_a = mint(role="gate", tenant_id=a["tenant_id"], site_id=a["site_id"])
    key_b = mint(role="gate", tenant_id=b["tenant_id"], site_id=b["site_id"])
    gate_a, gate_b = a["gate_ids"][0], b["gate_ids"][0]
    nonce_b = api.ok("POST", f"/v1/gates/{gate_b}/liveness/challenge", key_b, 201)["nonce"]
    nonce_sibling = api.ok("POST", f"/v1/gates/{sibling_gate}/liveness/challenge", root, 201)["nonce"]
    before = snapshot(api)
    for key, nonce, what in ((key_a, nonce_b, "another tenant's nonce"), (root, nonce_b, "as the administrator"),
                             (key_a, nonce_sibling, "a sibling site's nonce")):
        r = api.call("POST", f"/v1/gates/{gate_a}/liveness/{nonce}", key, files=_frames())
        assert r.status_code == 404 and error_code(r) == "E_CHALLENGE_UNKNOWN", (what, r.status_code, r.text)
    assert snapshot(api) == before
    # the foreign attempts did not spend the nonce: at its own gate it gets past the lookup
    r = api.call("POST", f"/v1/gates/{gate_b}/liveness/{nonce_b}", key_b, files=_frames())
    assert r.status_code < 500 and "E_CHALLENGE_UNKNOWN" not in r.text, r.text


def test_subject_token_cannot_withdraw_a_siblings_consent_through_its_own_path(api):
    root = api.admin["key"]
    w = build_site(api, root, minors_notice=False)
    mine, theirs = (api.ok("POST", f"/v1/sites/{w['site_id']}/subjects", root, 201, json={"age_band": "18+"})["id"]
                    for _ in range(2))
    consent = api.ok("POST", f"/v1/subjects/{theirs}/consents", root, 201, json={
        "purpose": "door_access", "mode": "identify", "notice_version": w["notice_version"], "channel": "app",
        "method": "click"})["id"]
    token = api.ok("POST", "/v1/api-keys", root, 201, json={"role": "subject", "name": "me", "subject_id": mine,
                                                            "tenant_id": w["tenant_id"]})["key"]
    before = snapshot(api)
    r = api.call("POST", f"/v1/subjects/{mine}/consents/{consent}/withdraw", token, json={"channel": "app"})
    assert r.status_code == 404 and error_code(r) == "E_NOT_FOUND", r.text
    assert snapshot(api) == before
    assert [c["status"] for c in api.ok("GET", f"/v1/subjects/{theirs}", root)["consents"]] == ["active"]
