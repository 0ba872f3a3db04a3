"""Liveness and replay defence at a gate over HTTP, on SQLite and PostgreSQL (issue 8).

A resident (George W. Bush's LFW photos stand in for him) consents and enrols one photo. At the
face gate: a fresh frame opens it, the very same frame sent again is refused as a replay (and a
re-encoded copy of it too, once it is on the blocklist), and the gate's other ways in are offered;
a frame that was refused is not "used" and may come again. Then the challenge flow: a burst of
real frames that performs the random steps passes and opens the gate; the nonce cannot be used
twice; the same burst replayed, a single still repeated, edited frames and impossible timing are
refused. Every refusal is an ``access`` audit event.
"""

import io
import time

from _api_conftest import build_site, error_code
from conftest_data import require_data
from lvframes import NEUTRAL, first_photos, jpeg, lfw_bytes, pixels, sequence, times
from PIL import Image

#: another real photo of the resident, for the single-frame attempts (not part of the bursts)
SINGLE = "George_W_Bush_0114"


def frame(name: str, data: bytes) -> tuple:
    return ("frame", (name, data, "image/jpeg"))


def burst(api, key, gate, nonce, frames, stamps=None, **fields):
    data = {"timestamps": ",".join(str(t) for t in (stamps or times(len(frames)))), **fields}
    return api.call("POST", f"/v1/gates/{gate}/liveness/{nonce}", key,
                    files=[frame(f"f{i}.jpg", f) for i, f in enumerate(frames)], data=data)


def with_software(data: bytes, software: str) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x0131] = software
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def setup_resident(api):
    admin = api.admin["key"]
    world = build_site(api, admin)
    sid, face_gate = world["site_id"], world["gate_ids"][0]
    gate_key = api.ok("POST", "/v1/api-keys", admin, 201, json={"role": "gate", "name": "kiosk", "site_id": sid,
                                                                "tenant_id": world["tenant_id"]})["key"]
    a = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"age_band": "18+"})["id"]
    r = api.call("POST", f"/v1/subjects/{a}/consents", admin, json={
        "purpose": "door_access", "mode": "identify", "notice_version": world["notice_version"], "channel": "kiosk",
        "method": "click"})
    assert r.status_code == 201, r.text
    api.ok("POST", f"/v1/subjects/{a}/enrolments", admin, 201,
           files=[("image", ("enrol.jpg", lfw_bytes(NEUTRAL[2]), "image/jpeg"))],
           data={"purpose": "door_access", "mode": "identify"})
    return gate_key, face_gate, a


def test_gate_replay_and_challenge_bursts(api):
    require_data("lfw", "images")
    gate_key, face_gate, a = setup_resident(api)
    access = f"/v1/gates/{face_gate}/access"

    # single frames at POST /access: a fresh frame opens the gate, the same frame again does not
    fresh = lfw_bytes(SINGLE)
    first = api.ok("POST", access, gate_key, files=[("image", ("f.jpg", fresh, "image/jpeg"))])
    assert first["granted"] is True and first["subject_id"] == a
    again = api.ok("POST", access, gate_key, files=[("image", ("f.jpg", fresh, "image/jpeg"))])
    assert again["granted"] is False and again["reason"]["code"] == "E_REPLAY_DETECTED"
    assert again["alternatives"] == ["pin", "card"] and again["subject_id"] is None
    # the replay put the frame on the blocklist: a re-encoded copy is refused by its perceptual hash
    copy = jpeg(pixels(SINGLE), quality=75)
    assert copy != fresh
    refused = api.ok("POST", access, gate_key, files=[("image", ("c.jpg", copy, "image/jpeg"))])
    assert refused["reason"]["code"] == "E_REPLAY_DETECTED"
    # a refused frame was never "used": a frame without a face may be sent twice
    blank = jpeg(pixels(NEUTRAL[0])[:40, :40])
    for _ in range(2):
        assert api.ok("POST", access, gate_key, files=[("image", ("b.jpg", blank, "image/jpeg"))])["reason"]["code"] \
            == "E_NO_FACE"

    # the challenge flow: random steps, a burst of real frames that performs them, the gate opens
    ch = api.ok("POST", f"/v1/gates/{face_gate}/liveness/challenge", gate_key, 201)
    assert len(ch["nonce"]) >= 40 and len(ch["steps"]) == 3 and len(ch["prompts"]) == 3 and ch["expires_at"]
    frames = sequence(ch["steps"])
    time.sleep(1.2)  # a person needs time to perform three steps; a faster burst is refused
    r = burst(api, gate_key, face_gate, ch["nonce"], frames)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["passed"] is True, out["reasons"]
    assert [d["step"] for d in out["steps_done"]] == ch["steps"]
    assert out["decision"]["granted"] is True and out["decision"]["subject_id"] == a
    assert out["pad"]["model"] == "trustface-moire" and out["pad"]["score"] < out["pad"]["threshold"]

    # the nonce is single-use
    reused = burst(api, gate_key, face_gate, ch["nonce"], frames).json()
    assert reused["passed"] is False and reused["reasons"][0]["code"] == "E_CHALLENGE_EXPIRED"
    assert reused["decision"]["alternatives"] == ["pin", "card"]

    def new_challenge():  # answered at once: "too fast" is one more injection signal beside the one tested
        return api.ok("POST", f"/v1/gates/{face_gate}/liveness/challenge", gate_key, 201)

    # the same burst recorded and replayed against a new challenge: refused as a replay
    c = new_challenge()
    replay = burst(api, gate_key, face_gate, c["nonce"], sequence(c["steps"])).json()
    assert replay["passed"] is False and replay["decision"]["reason"]["code"] == "E_REPLAY_DETECTED"

    # a single still (never seen before) repeated: injection, and no step performed
    c = new_challenge()
    still = lfw_bytes("George_W_Bush_0104")
    out = burst(api, gate_key, face_gate, c["nonce"], [still] * 7).json()
    assert out["passed"] is False and out["decision"]["reason"]["code"] == "E_INJECTION_SUSPECTED"
    assert "identical_frames" in {x["signal"] for x in out["reasons"]}
    assert out["steps_done"] == []  # no face work on the frames of a refused burst
    assert out["decision"]["alternatives"] == ["pin", "card"]
    # a re-encoded copy of a frame of the burst that passed, repeated: that is a replay
    c = new_challenge()
    out = burst(api, gate_key, face_gate, c["nonce"], [jpeg(pixels(NEUTRAL[0]), 90)] * 7).json()
    assert out["decision"]["reason"]["code"] == "E_REPLAY_DETECTED"

    # editing-tool metadata; impossible timing (real photos of other people, never sent before)
    c = new_challenge()
    edited = first_photos("Colin_Powell", 7)
    edited[2] = with_software(edited[2], "GIMP 2.10.34")
    out = burst(api, gate_key, face_gate, c["nonce"], edited, client_id="app-install-42").json()
    assert out["decision"]["reason"]["code"] == "E_INJECTION_SUSPECTED"
    assert any(x["signal"] == "editing_metadata" and "GIMP" in x["message"] for x in out["reasons"])
    c = new_challenge()
    out = burst(api, gate_key, face_gate, c["nonce"], first_photos("Tony_Blair", 7),
                stamps=[0, 100, 100, 300, 400, 500, 600]).json()
    assert out["decision"]["reason"]["code"] == "E_INJECTION_SUSPECTED"
    assert "timing" in {x["signal"] for x in out["reasons"]}
    # the client caught injecting is blocklisted: its next burst is refused whatever it sends
    c = new_challenge()
    frames = first_photos("Donald_Rumsfeld", 7)
    out = burst(api, gate_key, face_gate, c["nonce"], frames, client_id="app-install-42").json()
    assert out["decision"]["reason"]["code"] == "E_INJECTION_SUSPECTED"
    assert "blocked_client" in {x["signal"] for x in out["reasons"]}

    # refusals of the request itself
    r = burst(api, gate_key, face_gate, "no-such-nonce", frames)
    assert r.status_code == 404 and error_code(r) == "E_CHALLENGE_UNKNOWN"
    r = api.call("POST", f"/v1/gates/{face_gate}/liveness/x", gate_key, json={"frame": "x"})
    assert r.status_code == 415 and error_code(r) == "E_UNSUPPORTED_MEDIA"

    # every refusal is on the audit trail as an access event with its code; the chain verifies
    events = api.dep.session()
    try:
        from trustface.db import audit_store

        reasons = [__import__("json").loads(e["payload"]).get("reason") for e in audit_store.iter_events(events)
                   if e["type"] == "access"]
    finally:
        events.close()
    assert {"E_REPLAY_DETECTED", "E_INJECTION_SUSPECTED", "E_CHALLENGE_EXPIRED"} <= set(reasons)
    assert api.ok("GET", "/v1/audit/verify", api.admin["key"])["ok"] is True


def test_a_gate_that_requires_liveness_refuses_single_frames(api):
    """A gate created with ``liveness: required`` never opens for one uploaded frame, however good
    (E_LIVENESS_REQUIRED, with the other ways in, R25); only a passed challenge burst opens it."""
    require_data("lfw", "images")
    gate_key, face_gate, a = setup_resident(api)
    admin = api.admin["key"]
    site_id = api.ok("GET", f"/v1/gates/{face_gate}", admin)["site_id"]
    strict = api.ok("POST", f"/v1/sites/{site_id}/gates", admin, 201,
                    json={"name": "Lobby (unattended)", "methods": ["face", "pin"], "liveness": "required"})
    assert strict["liveness"] == "required"
    no_face = api.call("POST", f"/v1/sites/{site_id}/gates", admin,
                       json={"name": "Side", "methods": ["pin"], "liveness": "required"})
    assert no_face.status_code == 422 and error_code(no_face) == "E_INVALID_ARGUMENT"

    single = api.ok("POST", f"/v1/gates/{strict['id']}/access", gate_key,
                    files=[("image", ("f.jpg", lfw_bytes(SINGLE), "image/jpeg"))])
    assert single["granted"] is False and single["reason"]["code"] == "E_LIVENESS_REQUIRED"
    assert single["alternatives"] == ["pin"] and single["subject_id"] is None

    ch = api.ok("POST", f"/v1/gates/{strict['id']}/liveness/challenge", gate_key, 201)
    frames = sequence(ch["steps"])
    time.sleep(1.2)
    out = burst(api, gate_key, strict["id"], ch["nonce"], frames).json()
    assert out["passed"] is True, out["reasons"]
    assert out["decision"]["granted"] is True and out["decision"]["subject_id"] == a
