"""Unattended face gates require liveness by default (issue 17, ISO30107-3: a PAD module is
mandatory for unattended doors): the demo's Main gate requires it, a face gate made without saying
otherwise requires it, turning it off needs a reason that is audited and shows as a warning in the
compliance assessment (R25, R26)."""

import json

from _api_conftest import build_site

from trustface import audit
from trustface.compliance import assessment
from trustface.db import audit_store
from trustface.services import cli_principal, gates


def test_the_demo_main_gate_requires_liveness(cli, tmp_path):
    out = cli("init", "--dir", str(tmp_path / "demo"), "--demo", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    from trustface import open_deployment

    ctx = open_deployment(tmp_path / "demo")
    try:
        main, side = (gates.get_gate(ctx, cli_principal("admin:test"), g) for g in info["gate_ids"])
    finally:
        ctx.deployment.close()
    assert main["name"] == "Main gate" and "face" in main["methods"] and main["liveness"] == "required"
    assert side["liveness"] == "off" and "face" not in side["methods"]


def test_liveness_off_needs_a_reason_is_audited_and_warned(api):
    admin = api.admin["key"]
    world = build_site(api, admin, minors_notice=False)  # its Main gate: off, "attended by the concierge"
    sid = world["site_id"]
    with api.dep.session() as s:
        found = {f["id"]: f for f in assessment.assess(s, sid)["findings"]}
        events = [json.loads(e["payload"]) for e in audit_store.iter_events(s) if e["type"] == "admin"]
        assert audit.verify(s).ok
    finding = found["face_gate_liveness"]
    assert finding["status"] == "warn" and finding["evidence"]["liveness_off"] == [world["gate_ids"][0]]
    assert "concierge" in finding["evidence"]["reasons"][world["gate_ids"][0]]
    assert finding["evidence"]["audit_seqs"] and "R26" in finding["requirements"]
    created = [e for e in events if e.get("action") == "gate_created" and e.get("gate_id") == world["gate_ids"][0]]
    assert created[0]["liveness"] == "off" and "concierge" in created[0]["liveness_off_reason"]

    # a face gate made without saying otherwise requires liveness: it adds no warning
    lobby = api.ok("POST", f"/v1/sites/{sid}/gates", admin, 201, json={"name": "Lobby", "methods": ["face", "card"]})
    assert lobby["liveness"] == "required" and lobby["liveness_off_reason"] is None
    with api.dep.session() as s:
        finding = {f["id"]: f for f in assessment.assess(s, sid)["findings"]}["face_gate_liveness"]
    assert finding["evidence"]["face_gates"] == 2 and len(finding["evidence"]["liveness_off"]) == 1
