"""The residential story end to end over HTTP (issue 5), on SQLite and PostgreSQL.

A consents (identify, door_access) and enters by face; B declines face, gets a PIN and enters;
child C (10) is refused without guardian consent (E_GUARDIAN_REQUIRED, SPC-2(3)/PIPL-31) and
enrolled with it; A withdraws (PIPL-15, R14): A's face no longer opens the gate and the other
ways in are offered (PIPL-24), A's card still works (SPC-10, R6); A's evidence bundle shows it all
(SPC-6) and the audit chain verifies (R21).
"""

from conftest import born_years_ago, build_site, error_code, photo

from trustface import audit


def consent(api, key, subject_id, version, **extra):
    return api.call("POST", f"/v1/subjects/{subject_id}/consents", key, json={
        "purpose": "door_access", "mode": "identify", "notice_version": version, "channel": "kiosk",
        "method": "click", **extra})


def test_residential_story(api, examples):
    admin = api.admin["key"]
    world = build_site(api, admin)
    sid, face_gate, side_gate = world["site_id"], *world["gate_ids"]
    version = world["notice_version"]
    gate_key = api.ok("POST", "/v1/api-keys", admin, 201,
                      json={"role": "gate", "name": "Main gate kiosk", "site_id": sid,
                            "tenant_id": world["tenant_id"]})["key"]

    # A consents to identify and enrols one photo; the photo is not kept (R9)
    a = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"age_band": "18+", "external_ref": "unit 12A"})["id"]
    r = consent(api, admin, a, version)
    assert r.status_code == 201, r.text
    enrolled = api.ok("POST", f"/v1/subjects/{a}/enrolments", admin, 201,
                      files=[photo(examples, "obama.jpg")], data={"purpose": "door_access", "mode": "identify"})
    assert enrolled["photos_kept"] == 0 and enrolled["enrolments"][0]["mode"] == "identify"
    card = api.ok("POST", f"/v1/subjects/{a}/credentials", admin, 201, json={"type": "card", "value": "0451-7789-2231"})
    assert card["value"] is None  # a card number is never echoed back

    # A enters by face (another sitting)
    entry = api.ok("POST", f"/v1/gates/{face_gate}/access", gate_key, files=[photo(examples, "obama2.jpg")])
    assert entry["granted"] is True and entry["method"] == "face" and entry["subject_id"] == a

    # someone never enrolled is not let in, and is offered the other ways in
    stranger = api.ok("POST", f"/v1/gates/{face_gate}/access", gate_key, files=[photo(examples, "biden.jpg")])
    assert stranger["granted"] is False and stranger["reason"]["code"] == "E_NO_MATCH"
    assert stranger["alternatives"] == ["pin", "card"]

    # B declines face: the refusal is recorded and a PIN is issued instead
    b = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"birth_date": "1958-04-02"})["id"]
    declined = api.ok("POST", f"/v1/subjects/{b}/refusals", admin, 201,
                      json={"purpose": "door_access", "mode": "identify", "channel": "desk"})
    assert "pin" in declined["issue_instead"]
    pin = api.ok("POST", f"/v1/subjects/{b}/credentials", admin, 201, json={"type": "pin"})["value"]
    assert pin.isdigit() and len(pin) == 8
    for gate in (face_gate, side_gate):
        entry = api.ok("POST", f"/v1/gates/{gate}/access", gate_key, json={"method": "pin", "value": pin})
        assert entry["granted"] is True and entry["subject_id"] == b and entry["method"] == "pin"
    wrong = api.ok("POST", f"/v1/gates/{side_gate}/access", gate_key, json={"method": "pin", "value": "90817263"})
    assert wrong["granted"] is False and wrong["reason"]["code"] == "E_CREDENTIAL_INVALID"

    # child C (10): refused without a guardian, accepted with one, then enrolled
    c = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"birth_date": born_years_ago(10)})["id"]
    refused = consent(api, admin, c, version)
    assert refused.status_code == 403 and error_code(refused) == "E_GUARDIAN_REQUIRED"
    assert "R3" in refused.json()["error"]["requirements"]
    no_enrol = api.call("POST", f"/v1/subjects/{c}/enrolments", admin, files=[photo(examples, "biden.jpg")],
                        data={"purpose": "door_access", "mode": "identify"})
    assert no_enrol.status_code == 403 and error_code(no_enrol) == "E_CONSENT_MISSING"
    with_guardian = consent(api, admin, c, version, guardian={"name": "Li Na", "relationship": "parent",
                                                              "verification": "id_document"})
    assert with_guardian.status_code == 201, with_guardian.text
    api.ok("POST", f"/v1/subjects/{c}/enrolments", admin, 201, files=[photo(examples, "biden.jpg")],
           data={"purpose": "door_access", "mode": "identify"})

    # A withdraws in one call: the face no longer opens the gate, the card still does
    consent_id = api.ok("GET", f"/v1/subjects/{a}", admin)["consents"][0]["id"]
    withdrawn = api.ok("POST", f"/v1/subjects/{a}/consents/{consent_id}/withdraw", admin, json={"channel": "app"})
    assert withdrawn["status"] == "withdrawn"
    # (a frame not seen at this gate before: a repeated frame would be refused as a replay anyway)
    after = api.ok("POST", f"/v1/gates/{face_gate}/access", gate_key, files=[photo(examples, "obama-480p.jpg")])
    assert after["granted"] is False and after["subject_id"] is None and after["reason"]["code"] == "E_NO_MATCH"
    assert after["alternatives"] == ["pin", "card"]
    by_card = api.ok("POST", f"/v1/gates/{face_gate}/access", gate_key, json={"method": "card", "value": "0451 7789 2231"})
    assert by_card["granted"] is True and by_card["subject_id"] == a

    # A's evidence bundle tells the whole story and verifies offline; the chain is intact
    bundle = api.ok("GET", f"/v1/subjects/{a}/evidence", admin)
    actions = [(e["type"], e["payload"].get("action"), e["payload"].get("result")) for e in bundle["events"]]
    assert ("consent", "given", None) in actions
    assert any(t == "enrolment" for t, _, _ in actions)
    assert ("access", "gate_access", "granted") in actions
    assert ("consent", "withdrawn", None) in actions
    assert any(t == "deletion" for t, _, _ in actions)  # the withdrawal purged A's template
    assert audit.verify_bundle(bundle).ok
    check = api.ok("GET", "/v1/audit/verify", admin)
    assert check["ok"] is True and check["first_bad"] is None and check["events"] > 20

    # the report shows what is held, never template bytes or credential values
    report = api.ok("GET", f"/v1/subjects/{a}/report", admin)
    assert report["templates"] == {} and report["photos_kept"] == 0
    assert [c["type"] for c in report["credentials"]] == ["card"]
    assert "0451" not in str(report)
