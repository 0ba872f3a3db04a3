"""Liveness and replay defence at a gate over HTTP, on SQLite and PostgreSQL (issues 8 and 17).

A resident (George W. Bush's LFW photos stand in for him) consents and enrols one photo. At an
attended face gate (liveness off, with its reason): a fresh frame opens it, the very same frame
sent again is refused as a replay, and so is every common edit of it (brightness, contrast, crop,
scale, mirror, rotation, re-encoding, noise: a near copy), while another photo of him a moment
later opens it; the gate's other ways in are offered; a frame that was refused is not "used" and
may come again. Then the challenge flow: a genuine burst of the data set's video (Lin-Manuel
Miranda, enrolled from another photo, performing the steps) passes and opens the gate; the nonce
cannot be used twice; the same burst replayed, as is or edited, a single still repeated, edited
frames and impossible timing are refused; five photos of the enrolled resident from different
events fail continuity. Every refusal is an ``access`` audit event.
"""

import io
import time

import numpy as np
from _api_conftest import build_site, error_code
from conftest_data import require_data
from lvframes import (
    NEUTRAL,
    VIDEO_STEPS,
    first_photos,
    jpeg,
    lfw_bytes,
    near_copies,
    pixels,
    sequence,
    times,
    video_burst,
    video_person_photo,
)
from PIL import Image, ImageEnhance

from trustface import imaging
from trustface.services import cli_principal, gates

#: another real photo of the resident, for the single-frame attempts (not part of the bursts)
SINGLE = "George_W_Bush_0114"


def frame(name: str, data: bytes) -> tuple:
    return ("frame", (name, data, "image/jpeg"))


def burst(api, key, gate, nonce, frames, stamps=None, **fields):
    data = {"timestamps": ",".join(str(t) for t in (stamps or times(len(frames)))), **fields}
    return api.call("POST", f"/v1/gates/{gate}/liveness/{nonce}", key,
                    files=[frame(f"f{i}.jpg", f) for i, f in enumerate(frames)], data=data)


def pixels_of(data: bytes):
    return imaging.load_image(data)


def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def with_software(data: bytes, software: str) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x0131] = software
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def enrol(api, world, photo: bytes) -> str:
    admin, sid = api.admin["key"], world["site_id"]
    a = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"age_band": "18+"})["id"]
    r = api.call("POST", f"/v1/subjects/{a}/consents", admin, json={
        "purpose": "door_access", "mode": "identify", "notice_version": world["notice_version"], "channel": "kiosk",
        "method": "click"})
    assert r.status_code == 201, r.text
    api.ok("POST", f"/v1/subjects/{a}/enrolments", admin, 201,
           files=[("image", ("enrol.jpg", photo, "image/jpeg"))], data={"purpose": "door_access", "mode": "identify"})
    return a


def setup_resident(api, world=None):
    admin = api.admin["key"]
    world = world or build_site(api, admin)
    sid, face_gate = world["site_id"], world["gate_ids"][0]
    gate_key = api.ok("POST", "/v1/api-keys", admin, 201, json={"role": "gate", "name": "kiosk", "site_id": sid,
                                                                "tenant_id": world["tenant_id"]})["key"]
    return gate_key, face_gate, enrol(api, world, lfw_bytes(NEUTRAL[2])), world


def challenge(api, gate, steps):
    """A challenge with known steps (as a fixed kiosk may ask), issued through the service."""
    ctx = api.client.app.state.trustface.ctx
    return gates.issue_challenge(ctx, cli_principal("gate:test"), gate, steps=steps).nonce


def test_gate_replay_and_challenge_bursts(api):
    require_data("lfw", "images")
    gate_key, face_gate, a, world = setup_resident(api)
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
    # every common edit of the granted frame is refused too (a near copy of its face: issue 17)
    for name, data in near_copies(pixels(SINGLE)).items():
        out = api.ok("POST", access, gate_key, files=[("image", (f"{name}.jpg", data, "image/jpeg"))])
        assert out["granted"] is False and out["reason"]["code"] == "E_REPLAY_DETECTED", name
    # ... while a new picture of him a moment later opens the gate (not a copy of anything)
    later = api.ok("POST", access, gate_key, files=[("image", ("n.jpg", lfw_bytes(NEUTRAL[1]), "image/jpeg"))])
    assert later["granted"] is True and later["subject_id"] == a
    # a refused frame was never "used": a frame without a face may be sent twice
    blank = jpeg(pixels(NEUTRAL[0])[:40, :40])
    for _ in range(2):
        assert api.ok("POST", access, gate_key, files=[("image", ("b.jpg", blank, "image/jpeg"))])["reason"]["code"] \
            == "E_NO_FACE"

    # the challenge flow: random steps, prompts, a window
    ch = api.ok("POST", f"/v1/gates/{face_gate}/liveness/challenge", gate_key, 201)
    assert len(ch["nonce"]) >= 40 and len(ch["steps"]) == 3 and len(ch["prompts"]) == 3 and ch["expires_at"]
    # a genuine burst of the video performing known steps opens the gate for the person filmed
    lin = enrol(api, world, video_person_photo())
    nonce = challenge(api, face_gate, VIDEO_STEPS)
    frames, stamps = video_burst()
    time.sleep(1.0)  # a person needs time to perform three steps; a faster burst is refused
    r = burst(api, gate_key, face_gate, nonce, frames, stamps)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["passed"] is True, out["reasons"]
    assert [d["step"] for d in out["steps_done"]] == VIDEO_STEPS
    assert out["decision"]["granted"] is True and out["decision"]["subject_id"] == lin
    assert out["pad"]["model"] == "trustface-moire" and out["pad"]["score"] < out["pad"]["threshold"]

    # the nonce is single-use
    reused = burst(api, gate_key, face_gate, nonce, frames, stamps).json()
    assert reused["passed"] is False and reused["reasons"][0]["code"] == "E_CHALLENGE_EXPIRED"
    assert reused["decision"]["alternatives"] == ["pin", "card"]

    # the same burst recorded and replayed against a new challenge: refused as a replay, as is ...
    replay = burst(api, gate_key, face_gate, challenge(api, face_gate, VIDEO_STEPS), frames, stamps).json()
    assert replay["passed"] is False and replay["decision"]["reason"]["code"] == "E_REPLAY_DETECTED"
    # ... and brightened by 15 % and mirrored (a near copy of every frame)
    edited = [jpeg(np.asarray(ImageEnhance.Brightness(Image.fromarray(pixels_of(f)[:, ::-1].copy())).enhance(1.15)))
              for f in frames]
    nonce = challenge(api, face_gate, VIDEO_STEPS)
    time.sleep(1.0)  # not "too fast": the near copies are what is refused
    replay = burst(api, gate_key, face_gate, nonce, edited, stamps).json()
    assert replay["passed"] is False and replay["decision"]["reason"]["code"] == "E_REPLAY_DETECTED"
    assert "near_copy" in {x["signal"] for x in replay["reasons"]}

    # a single still (never seen before) repeated: injection, and no step performed
    still = lfw_bytes("George_W_Bush_0104")
    out = burst(api, gate_key, face_gate, challenge(api, face_gate, VIDEO_STEPS), [still] * 7).json()
    assert out["passed"] is False and out["decision"]["reason"]["code"] == "E_INJECTION_SUSPECTED"
    assert "identical_frames" in {x["signal"] for x in out["reasons"]}
    assert out["steps_done"] == []  # no face work on the frames of a refused burst
    assert out["decision"]["alternatives"] == ["pin", "card"]

    # a gate hands out a few challenges a minute (5 here so far): the 7th is refused for a while
    api.ok("POST", f"/v1/gates/{face_gate}/liveness/challenge", gate_key, 201)
    limited = api.call("POST", f"/v1/gates/{face_gate}/liveness/challenge", gate_key)
    assert limited.status_code == 429 and error_code(limited) == "E_RATE_LIMITED"

    # the other injection signals at a second face gate (required liveness: the default)
    admin = api.admin["key"]
    lobby = api.ok("POST", f"/v1/sites/{world['site_id']}/gates", admin, 201,
                   json={"name": "Lobby", "methods": ["face", "pin", "card"]})
    assert lobby["liveness"] == "required"
    face_gate = lobby["id"]

    def new_challenge():  # answered at once: "too fast" is one more injection signal beside the one tested
        return api.ok("POST", f"/v1/gates/{face_gate}/liveness/challenge", gate_key, 201)

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
    gate_key, face_gate, a, world = setup_resident(api)
    admin = api.admin["key"]
    site_id = api.ok("GET", f"/v1/gates/{face_gate}", admin)["site_id"]
    strict = api.ok("POST", f"/v1/sites/{site_id}/gates", admin, 201,
                    json={"name": "Lobby (unattended)", "methods": ["face", "pin"]})
    assert strict["liveness"] == "required"  # the default for a face gate (issue 17)
    no_face = api.call("POST", f"/v1/sites/{site_id}/gates", admin,
                       json={"name": "Side", "methods": ["pin"], "liveness": "required"})
    assert no_face.status_code == 422 and error_code(no_face) == "E_INVALID_ARGUMENT"
    assert api.ok("POST", f"/v1/sites/{site_id}/gates", admin, 201,
                  json={"name": "Side", "methods": ["pin"]})["liveness"] == "off"
    # turning it off at a face gate needs a reason (an attended gate), which is kept and audited
    for bad in ({}, {"liveness_off_reason": "no"}):
        r = api.call("POST", f"/v1/sites/{site_id}/gates", admin,
                     json={"name": "Desk", "methods": ["face", "pin"], "liveness": "off", **bad})
        assert r.status_code == 422 and error_code(r) == "E_INVALID_ARGUMENT"
    desk = api.ok("POST", f"/v1/sites/{site_id}/gates", admin, 201,
                  json={"name": "Desk", "methods": ["face", "pin"], "liveness": "off",
                        "liveness_off_reason": "staffed reception desk, 24 h"})
    assert desk["liveness"] == "off" and desk["liveness_off_reason"] == "staffed reception desk, 24 h"

    single = api.ok("POST", f"/v1/gates/{strict['id']}/access", gate_key,
                    files=[("image", ("f.jpg", lfw_bytes(SINGLE), "image/jpeg"))])
    assert single["granted"] is False and single["reason"]["code"] == "E_LIVENESS_REQUIRED"
    assert single["alternatives"] == ["pin"] and single["subject_id"] is None

    # five photos of the resident from different events, each showing a prompted pose, re-encoded
    # as PNG, with plausible capture times: the poses are there, one capture is not (continuity)
    steps = ["turn_left", "open_mouth"]
    nonce = challenge(api, strict["id"], steps)
    photos = [png(pixels_of(f)) for f in sequence(steps)]
    assert len(photos) == 5
    time.sleep(0.7)
    out = burst(api, gate_key, strict["id"], nonce, photos, [0, 450, 900, 1350, 1800]).json()
    assert out["passed"] is False and out["decision"]["granted"] is False
    assert out["decision"]["reason"]["code"] == "E_LIVENESS_FAILED"
    assert "continuity" in {x["signal"] for x in out["reasons"]}
    assert out["decision"]["alternatives"] == ["pin"]

    # a genuine burst opens it for the person filmed
    lin = enrol(api, world, video_person_photo())
    nonce = challenge(api, strict["id"], VIDEO_STEPS)
    frames, stamps = video_burst()
    time.sleep(1.0)
    out = burst(api, gate_key, strict["id"], nonce, frames, stamps).json()
    assert out["passed"] is True, out["reasons"]
    assert out["decision"]["granted"] is True and out["decision"]["subject_id"] == lin
