"""Face as the second factor (issue 16, item 3), through the API on SQLite (and PostgreSQL where a
server is configured), with the real model and real photos.

At a gate whose ``face_mode`` is ``verify_after_credential`` a PIN, card or QR code names the
resident, then the face is matched 1:1 against that resident only (their verify consent and
template). A stranger needs a valid credential *and* a face within the 1:1 operating point. A wrong
credential is a denied decision and the face is never looked at; a resident who declined face
uses a credential alone where the gate lets it open alone (R6, SPC-10); a failed face offers the
ways in without a face (PIPL-24, R25); a replayed frame is refused as on the identify path.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

import pytest
from _api_conftest import build_site, error_code, photo

from trustface.db import audit_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "liveness"))

PIN_OBAMA, PIN_BIDEN, PIN_REFUSER = "482915", "730461", "615203"
CARD_REFUSER = "04 A2 19 FF 33"


def _events(api, after: int) -> list[dict]:
    with api.dep.session() as s:
        return [{**e, "payload": json.loads(e["payload"])} for e in audit_store.iter_events(s) if e["seq"] > after]


def _head(api) -> int:
    with api.dep.session() as s:
        head = audit_store.read_head(s)
        return head.seq if head else 0


def _resident(api, key, world, *, consent: bool, enrol: bytes | None, pin: str, card: str | None = None) -> str:
    sid = world["site_id"]
    subject = api.ok("POST", f"/v1/sites/{sid}/subjects", key, 201, json={"age_band": "18+"})["id"]
    if consent:
        api.ok("POST", f"/v1/subjects/{subject}/consents", key, 201, json={
            "purpose": "door_access", "mode": "verify", "notice_version": world["notice_version"],
            "channel": "kiosk", "method": "click"})
    if enrol is not None:
        api.ok("POST", f"/v1/subjects/{subject}/enrolments", key, 201,
               files=[("image", ("enrol.jpg", enrol, "image/jpeg"))], data={"purpose": "door_access", "mode": "verify"})
    api.ok("POST", f"/v1/subjects/{subject}/credentials", key, 201, json={"type": "pin", "value": pin})
    if card:
        api.ok("POST", f"/v1/subjects/{subject}/credentials", key, 201, json={"type": "card", "value": card})
    return subject


@pytest.fixture
def community(api, examples):
    """Tower A with a two-factor gate (a PIN needs the face after it, a card opens alone), a gate
    where the PIN also opens alone, three residents: Obama and Biden consented to verify and
    enrolled; a third declined face and holds a PIN and a card."""
    key = api.admin["key"]
    world = build_site(api, key)
    sid = world["site_id"]
    # attended gates (a guard at the desk): the single-frame route; the burst route is tested below
    door = api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={
        "name": "Tower door", "methods": ["face", "pin", "card"], "face_mode": "verify_after_credential",
        "credential_alone": ["card"], "liveness": "off", "liveness_off_reason": "attended desk: a guard watches this door"})
    lobby = api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={
        "name": "Lobby", "methods": ["face", "pin", "card"], "face_mode": "verify_after_credential",
        "liveness": "off", "liveness_off_reason": "attended desk: a guard watches this door"})
    gate_key = api.ok("POST", "/v1/api-keys", key, 201, json={"role": "gate", "name": "kiosk", "site_id": sid,
                                                              "tenant_id": world["tenant_id"]})["key"]
    people = {
        "obama": _resident(api, key, world, consent=True, enrol=(examples / "obama.jpg").read_bytes(), pin=PIN_OBAMA),
        "biden": _resident(api, key, world, consent=True, enrol=(examples / "biden.jpg").read_bytes(), pin=PIN_BIDEN),
        "refuser": _resident(api, key, world, consent=False, enrol=None, pin=PIN_REFUSER, card=CARD_REFUSER),
    }
    return {**world, "door": door, "lobby": lobby, "gate_key": gate_key, "people": people}


def _attempt(api, key, gate_id, examples, image: str, **fields):
    return api.call("POST", f"/v1/gates/{gate_id}/access", key, files=[photo(examples, image)], data=fields)


def test_gate_dicts_show_the_face_mode(api, community):
    door, lobby = community["door"], community["lobby"]
    assert door["face_mode"] == "verify_after_credential" and door["credential_alone"] == ["card"]
    assert door["alternatives"] == ["card"]
    assert lobby["credential_alone"] == ["pin", "card"]  # by default every credential also opens alone (R6)
    main = api.ok("GET", f"/v1/gates/{community['gate_ids'][0]}", api.admin["key"])
    assert main["face_mode"] == "identify" and main["credential_alone"] == ["pin", "card"]


def test_right_pin_and_face_granted_as_credential_plus_face(api, community, examples):
    key, door, obama = community["gate_key"], community["door"]["id"], community["people"]["obama"]
    start = _head(api)
    r = _attempt(api, key, door, examples, "obama2.jpg", method="pin", value=PIN_OBAMA)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["granted"] is True and out["method"] == "credential+face" and out["subject_id"] == obama
    assert out["alternatives"] == [] and out["reason"] is None
    events = _events(api, start)
    kinds = [(e["type"], e["payload"].get("mode") or e["payload"].get("action")) for e in events]
    assert kinds == [("grant", "verify"), ("match", "verify"), ("access", "gate_access")], kinds
    assert events[0]["subject_id"] == obama and events[1]["payload"]["result"] == "match"
    assert events[2]["payload"]["credential_method"] == "pin" and events[2]["payload"]["result"] == "granted"
    assert events[2]["payload"]["grant_id"] == events[0]["payload"]["grant_id"]

    # the same photo again: the replay screen refuses it exactly as at an identify gate
    again = _attempt(api, key, door, examples, "obama2.jpg", method="pin", value=PIN_OBAMA).json()
    assert again["granted"] is False and again["reason"]["code"] == "E_REPLAY_DETECTED"
    assert again["alternatives"] == ["card"] and again["subject_id"] is None


def test_right_pin_with_another_persons_face_is_no_match(api, community, examples):
    key, door = community["gate_key"], community["door"]["id"]
    start = _head(api)
    out = _attempt(api, key, door, examples, "biden.jpg", method="pin", value=PIN_OBAMA).json()
    assert out["granted"] is False and out["reason"]["code"] == "E_NO_MATCH"
    assert out["alternatives"] == ["card"] and out["subject_id"] is None  # the kiosk learns nobody's id
    match = [e for e in _events(api, start) if e["type"] == "match"]
    assert len(match) == 1 and match[0]["payload"]["result"] == "no_match"
    assert match[0]["subject_id"] == community["people"]["obama"]  # 1:1 against the PIN's holder only
    # Biden's own PIN with his face opens it: the gallery holds him, but only his PIN names him
    own = _attempt(api, key, door, examples, "biden.jpg", method="pin", value=PIN_BIDEN).json()
    assert own["granted"] is True and own["subject_id"] == community["people"]["biden"]


def test_wrong_pin_denies_without_any_face_work(api, community, examples):
    key, door = community["gate_key"], community["door"]["id"]
    start = _head(api)
    out = _attempt(api, key, door, examples, "obama2.jpg", method="pin", value="999111").json()
    assert out["granted"] is False and out["reason"]["code"] == "E_CREDENTIAL_INVALID"
    assert out["method"] == "credential+face" and out["alternatives"] == ["card"]
    events = _events(api, start)
    assert [e["type"] for e in events] == ["access"]  # no grant asked, no match, nothing remembered
    assert events[0]["payload"]["face"] == "not_processed"
    # the frame was never screened nor remembered: with the right PIN it opens the gate
    ok = _attempt(api, key, door, examples, "obama2.jpg", method="pin", value=PIN_OBAMA).json()
    assert ok["granted"] is True


def test_R6_a_resident_who_declined_face_uses_a_credential_alone_where_the_gate_offers_it(api, community, examples):
    key, refuser = community["gate_key"], community["people"]["refuser"]
    door, lobby = community["door"]["id"], community["lobby"]["id"]
    # the door: the card opens alone, the PIN only with a face
    card = api.ok("POST", f"/v1/gates/{door}/access", key, json={"method": "card", "value": CARD_REFUSER})
    assert card["granted"] is True and card["method"] == "card" and card["subject_id"] == refuser
    pin = api.ok("POST", f"/v1/gates/{door}/access", key, json={"method": "pin", "value": PIN_REFUSER})
    assert pin["granted"] is False and pin["reason"]["code"] == "E_METHOD_NOT_OFFERED"
    assert pin["alternatives"] == ["card"]
    start = _head(api)
    with_face = _attempt(api, key, door, examples, "obama2.jpg", method="pin", value=PIN_REFUSER).json()
    assert with_face["granted"] is False and with_face["reason"]["code"] == "E_CONSENT_MISSING"
    assert with_face["alternatives"] == ["card"]
    events = _events(api, start)
    assert [e["type"] for e in events] == ["denial", "access"]  # the policy said no: no face work
    # the lobby lets the PIN open alone: the declined face is not processed and the PIN decides
    alone = api.ok("POST", f"/v1/gates/{lobby}/access", key, json={"method": "pin", "value": PIN_REFUSER})
    assert alone["granted"] is True and alone["method"] == "pin"
    start = _head(api)
    sent = _attempt(api, key, lobby, examples, "obama2.jpg", method="pin", value=PIN_REFUSER).json()
    assert sent["granted"] is True and sent["method"] == "pin" and sent["subject_id"] == refuser
    access = [e for e in _events(api, start) if e["type"] == "access"][0]["payload"]
    assert access["face"] == "not_processed" and access["face_refused"] == "E_CONSENT_MISSING"
    assert not [e for e in _events(api, start) if e["type"] == "match"]


def test_route_shapes_at_a_two_factor_gate(api, community, examples):
    key, door, main = community["gate_key"], community["door"]["id"], community["gate_ids"][0]
    # JSON with a base64 image beside the credential
    image = base64.b64encode((examples / "obama.jpg").read_bytes()).decode()
    out = api.ok("POST", f"/v1/gates/{door}/access", key, json={"method": "pin", "value": PIN_OBAMA, "image": image})
    assert out["granted"] is True and out["method"] == "credential+face"
    # a face alone at a two-factor gate: a denied decision naming the rule and the ways in
    alone = api.ok("POST", f"/v1/gates/{door}/access", key, files=[photo(examples, "obama-480p.jpg")])
    assert alone["granted"] is False and alone["reason"]["code"] == "E_METHOD_NOT_OFFERED"
    assert alone["alternatives"] == ["card"]
    # a credential with a face at an identify gate, half a credential, an unknown method
    r = _attempt(api, key, main, examples, "obama-480p.jpg", method="pin", value=PIN_OBAMA)
    assert r.status_code == 422 and error_code(r) == "E_INVALID_ARGUMENT"
    r = _attempt(api, key, door, examples, "obama-480p.jpg", method="pin")
    assert r.status_code == 422 and error_code(r) == "E_MALFORMED_REQUEST"
    r = _attempt(api, key, door, examples, "obama-480p.jpg", method="retina", value="1")
    assert r.status_code == 422 and error_code(r) == "E_MALFORMED_REQUEST"
    r = _attempt(api, key, door, examples, "obama-480p.jpg", method="pin", value=PIN_OBAMA, extra="x")
    assert r.status_code == 422 and error_code(r) == "E_MALFORMED_REQUEST"
    r = api.call("POST", f"/v1/gates/{door}/access", key, files=[("image", ("x.jpg", b"not an image", "image/jpeg"))],
                 data={"method": "pin", "value": PIN_OBAMA})
    assert r.status_code == 422 and error_code(r) == "E_IMAGE_INVALID"
    r = api.call("POST", "/v1/gates/gate_nope/access", key, files=[photo(examples, "obama.jpg")],
                 data={"method": "pin", "value": PIN_OBAMA})
    assert r.status_code == 404 and error_code(r) == "E_NOT_FOUND"
    # a frame without a face after the right PIN: a denied decision, audited, with the ways in
    blank = api.ok("POST", f"/v1/gates/{door}/access", key, data={"method": "pin", "value": PIN_OBAMA},
                   files=[("image", ("b.jpg", _blank_jpeg(), "image/jpeg"))])
    assert blank["reason"]["code"] == "E_NO_FACE" and blank["alternatives"] == ["card"]
    assert api.ok("GET", "/v1/audit/verify", api.admin["key"])["ok"] is True


def _blank_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (120, 120), (200, 190, 180)).save(buf, "JPEG")
    return buf.getvalue()


def test_gate_validation_codes(api, community):
    key, sid = api.admin["key"], community["site_id"]

    def code(body: dict) -> tuple[int, str]:
        r = api.call("POST", f"/v1/sites/{sid}/gates", key, json={"name": "G", **body})
        return r.status_code, error_code(r)

    two = {"face_mode": "verify_after_credential"}
    assert code({"methods": ["face", "pin"], "face_mode": "sometimes"}) == (422, "E_MALFORMED_REQUEST")
    assert code({"methods": ["pin", "card"], **two}) == (422, "E_INVALID_ARGUMENT")  # no face to verify
    assert code({"methods": ["face", "visitor_pass"], **two}) == (422, "E_INVALID_ARGUMENT")  # nobody named
    assert code({"methods": ["face", "pin"], **two, "credential_alone": []}) == (422, "E_FACE_ONLY_POLICY")
    assert code({"methods": ["face", "pin"], **two, "credential_alone": ["card"]}) == (422, "E_INVALID_ARGUMENT")
    assert code({"methods": ["face", "pin"], "credential_alone": ["pin"]}) == (422, "E_INVALID_ARGUMENT")
    assert code({"methods": ["face"], **two}) == (422, "E_FACE_ONLY_POLICY")
    # the purpose must allow verify for a two-factor gate (and identify for an identify gate)
    api.ok("POST", f"/v1/sites/{sid}/purposes", key, 201, json={
        "name": "attendance", "allowed_modes": ["identify"], "legal_basis": "consent",
        "necessity_justification": "hands-free sign-in for staff who choose it", "retention_days": 30})
    assert code({"methods": ["face", "pin"], "purpose": "attendance", **two})[1] == "E_MODE_NOT_ALLOWED"
    made = api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={"name": "Staff", "methods": ["face", "pin"],
                                                                     "purpose": "attendance"})
    assert made["face_mode"] == "identify"


def test_a_two_factor_gate_that_requires_liveness_takes_the_credential_with_the_burst(api, examples):
    from lvframes import VIDEO_STEPS, require_data, sequence, times, video_burst, video_person_photo

    from trustface.services import cli_principal, gates

    require_data("lfw", "images")
    key = api.admin["key"]
    world = build_site(api, key)
    sid = world["site_id"]
    gate = api.ok("POST", f"/v1/sites/{sid}/gates", key, 201, json={
        "name": "Unattended", "methods": ["face", "pin", "card"], "liveness": "required",
        "face_mode": "verify_after_credential", "credential_alone": ["card"]})["id"]
    gate_key = api.ok("POST", "/v1/api-keys", key, 201, json={"role": "gate", "name": "kiosk", "site_id": sid,
                                                              "tenant_id": world["tenant_id"]})["key"]
    # the person of the data set's video, enrolled from another photo of him
    lin = _resident(api, key, world, consent=True, enrol=video_person_photo(), pin=PIN_OBAMA)

    def burst(nonce, frames, stamps=None, **fields):
        data = {"timestamps": ",".join(str(t) for t in (stamps or times(len(frames)))), **fields}
        return api.call("POST", f"/v1/gates/{gate}/liveness/{nonce}", gate_key, data=data,
                        files=[("frame", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)])

    # a single frame with the right PIN: this gate needs the burst
    single = _attempt(api, gate_key, gate, examples, "obama.jpg", method="pin", value=PIN_OBAMA).json()
    assert single["granted"] is False and single["reason"]["code"] == "E_LIVENESS_REQUIRED"
    # a burst without the credential is refused (nothing written), as a credential at an identify gate
    ch = api.ok("POST", f"/v1/gates/{gate}/liveness/challenge", gate_key, 201)
    r = burst(ch["nonce"], sequence(ch["steps"]))
    assert r.status_code == 422 and error_code(r) == "E_INVALID_ARGUMENT"
    # a wrong PIN with the burst: denied, the burst never judged, the challenge spent
    start = _head(api)
    out = burst(ch["nonce"], sequence(ch["steps"]), method="pin", value="999111").json()
    assert out["passed"] is False and out["decision"]["reason"]["code"] == "E_CREDENTIAL_INVALID"
    assert out["steps_done"] == [] and out["pad"] is None and out["decision"]["alternatives"] == ["card"]
    assert [e["type"] for e in _events(api, start)] == ["access"]
    again = burst(ch["nonce"], sequence(ch["steps"]), method="pin", value=PIN_OBAMA).json()
    assert again["decision"]["reason"]["code"] == "E_CHALLENGE_EXPIRED"
    # the right PIN with a genuine burst of the resident (one capture: the video, performing the
    # steps a fixed kiosk asked for): granted as credential+face
    nonce = gates.issue_challenge(api.client.app.state.trustface.ctx, cli_principal("gate:test"), gate,
                                  steps=VIDEO_STEPS).nonce
    time.sleep(1.2)  # a person needs time to perform three steps
    frames, stamps = video_burst()
    out = burst(nonce, frames, stamps, method="pin", value=PIN_OBAMA).json()
    assert out["passed"] is True, out["reasons"]
    assert out["decision"]["granted"] is True and out["decision"]["method"] == "credential+face"
    assert out["decision"]["subject_id"] == lin
