"""The two-factor gate in a real browser (issue 16, item 3): the console's gate form makes a gate
whose face step follows a PIN, card or QR code (1:1), keeping a credential that opens alone for
residents who decline face (R6, SPC-10); at its kiosk the person enters the PIN first, then the
camera (a fake camera showing a real photo of the enrolled resident) takes the face, and the gate
opens as "credential+face". A wrong PIN is refused without the face being looked at.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from trustface.config import data_root

pytestmark = pytest.mark.slow

PIN = "582036"


def _resident_with_verify_face(server) -> str:
    """A resident who consented to 1:1 verify for door access, enrolled from obama.jpg, with a PIN
    (through the API, as the property's back office would)."""
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        subject = http.post(f"/v1/sites/{server.site_id}/subjects", json={"age_band": "18+"}).json()["id"]
        r = http.post(f"/v1/subjects/{subject}/consents", json={
            "purpose": "door_access", "mode": "verify", "notice_version": 1, "channel": "kiosk", "method": "click"})
        assert r.status_code == 201, r.text
        photo = (data_root() / "photos" / "examples" / "obama.jpg").read_bytes()
        r = http.post(f"/v1/subjects/{subject}/enrolments", files=[("image", ("o.jpg", photo, "image/jpeg"))],
                      data={"purpose": "door_access", "mode": "verify"})
        assert r.status_code == 201, r.text
        r = http.post(f"/v1/subjects/{subject}/credentials", json={"type": "pin", "value": PIN})
        assert r.status_code == 201, r.text
    return subject


def test_console_makes_a_two_factor_gate_and_its_kiosk_takes_the_pin_then_the_face(browser, server, artifacts):
    from test_web_pages import console, shot

    subject = _resident_with_verify_face(server)
    desk = console(browser, server)
    desk.goto("/console/gates")

    def fill(name: str, alone: list[str]) -> None:
        desk.locator("#gate-name").fill(name)
        for m in ("face", "pin", "card"):
            desk.locator(f"#gate-form input[name=methods][value={m}]").check()
        desk.get_by_label("PIN, card or QR code, then face (1:1)").check()
        # an attended kiosk (the fake camera shows a still photo): single frames, with the reason recorded
        desk.locator("#gate-liveness-off").fill("attended lobby desk: a guard watches every entry")
        for m in ("pin", "card", "qr"):
            box = desk.locator(f"#gate-form input[name=credential_alone][value={m}]")
            box.check() if m in alone else box.uncheck()
        desk.get_by_role("button", name="Add a gate").click()

    # no credential left to open alone: refused in words (R6), nothing made
    fill("Tower door", alone=[])
    expect(desk.locator(".banner.error, [role=alert]").first).to_contain_text(re.compile("declines face|R6"))
    fill("Tower door", alone=["card"])
    cell = desk.get_by_test_id("face-mode-Tower door")
    expect(cell).to_contain_text("PIN, card or QR code, then face (1:1)")
    expect(cell).to_contain_text("opens alone: card")
    shot(desk, artifacts, "console-gates-two-factor")

    desk.get_by_test_id("kiosk-Tower door").click()
    link = desk.locator("#shown-link").get_attribute("href")
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    kiosk = ctx.new_page()
    kiosk.goto(link)
    expect(kiosk.locator("#gate-name")).to_have_text("Tower door")
    expect(kiosk.locator("#result-title")).to_have_text("Enter your PIN, card or QR code, then look at the camera.")
    expect(kiosk.get_by_role("button", name="Enter with my face")).to_be_hidden()
    expect(kiosk.get_by_role("group", name="PIN pad")).to_be_visible()
    expect(kiosk.get_by_role("button", name="Without my face")).to_be_visible()
    for _ in range(100):  # the fake camera is running
        if kiosk.evaluate("() => document.getElementById('kiosk-video').videoWidth") > 0:
            break
        kiosk.wait_for_timeout(100)

    def enter(pin: str) -> None:
        for digit in pin:
            kiosk.locator(f".key[data-digit='{digit}']").click()
        kiosk.get_by_role("button", name="Enter PIN").click()

    # a wrong PIN: refused, the face never looked at
    enter("917364")
    expect(kiosk.locator("#result")).to_have_class(re.compile("denied"), timeout=20_000)
    expect(kiosk.locator("#result-detail")).to_contain_text("not valid")
    kiosk.wait_for_timeout(6500)  # the result box resets
    # the right PIN, then the face of the resident it names: the gate opens
    enter(PIN)
    expect(kiosk.locator("#result")).to_have_class(re.compile("granted"), timeout=20_000)
    shot(kiosk, artifacts, "kiosk-two-factor-granted")

    desk.goto("/console/log")
    expect(desk.locator("#log-rows tr").first).to_contain_text("granted")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}) as http:
        r = http.get("/v1/audit/verify")
        assert r.status_code == 200 and r.json()["ok"] is True
    assert subject
