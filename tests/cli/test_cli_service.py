"""The service CLI as a user runs it (`python -m trustface ...` in a subprocess): init --demo,
gates, credentials, enrolment under consent, 1:N identify, serve's secure default (issue 5 §3-4).

One demo deployment (SQLite in tmp) is shared by the tests of this module; each test makes its own
subjects. Every subprocess costs ~1-2 s of imports, so the tests are few and each checks several
things. PostgreSQL is covered by the service tests (the commands are thin over the same calls).
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from trustface.access import keys as api_keys
from trustface.db import access_store
from trustface.deployment import Deployment
from trustface.policy import ledger

NO_DB_ENV = {"TRUSTFACE_DATABASE_URL": ""}  # each deployment uses the SQLite file in its folder


@pytest.fixture(scope="module")
def tf(cli):
    def run(*args):
        return cli(*[str(a) for a in args], env=NO_DB_ENV)

    return run


def one_line_error(result, code: str | None = None, exit_code: int = 2) -> str:
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    if code:
        assert lines[0].startswith(f"error: {code}: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def demo(tf, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "demo"
    result = tf("init", "--dir", d, "--demo", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    return {"dir": d, "info": info, "tmp": d.parent}


def _open(demo) -> Deployment:
    return Deployment(demo["dir"], database_url=demo["info"]["db"])


def _subject(demo) -> str:
    with _open(demo) as dep, dep.transaction() as s:
        return ledger.create_subject(s, tenant_id=demo["info"]["tenant_id"], age_band="18+", actor="admin:test").id


def test_init_demo_json_keys_gates_and_admin_key(demo):
    info, d = demo["info"], demo["dir"]
    for key in ("db", "admin_key", "tenant_id", "site_id", "gate_ids", "notice_version"):
        assert key in info
    assert info["db"].startswith("sqlite:///") and info["db"].endswith("trustface.db")
    assert all(isinstance(info[k], str) and info[k] for k in ("admin_key", "tenant_id", "site_id"))
    assert isinstance(info["notice_version"], int) and not isinstance(info["notice_version"], bool)
    assert info["notice_version"] == 1 and len(info["notice_hash"]) == 64
    assert isinstance(info["gate_ids"], list) and len(info["gate_ids"]) == 2
    assert stat.S_IMODE(os.stat(d / "trustface.key").st_mode) == 0o600
    with _open(demo) as dep, dep.session() as s:
        principal = api_keys.authenticate(s, info["admin_key"])
        assert principal.role == "admin" and principal.is_root and principal.key_id == info["admin_key_id"]
        face_gate, other_gate = (access_store.gate(s, g) for g in info["gate_ids"])
        assert face_gate.methods.split(",") == ["face", "pin", "card"] and face_gate.site_id == info["site_id"]
        assert other_gate.methods.split(",") == ["pin", "card"] and other_gate.site_id == info["site_id"]
        s.rollback()


def test_init_refuses_an_existing_deployment(tf, demo):
    line = one_line_error(tf("init", "--dir", demo["dir"], "--demo"), "E_DEPLOYMENT")
    assert "already holds a trustface deployment" in line


def test_init_plain_prints_the_admin_key_once_and_can_keep_it_in_a_0600_file(tf, demo):
    plain = json.loads(tf("init", "--dir", demo["tmp"] / "plain", "--json").stdout)
    assert plain["admin_key"].startswith("tf_") and plain["db"].endswith("trustface.db")
    assert all(plain.get(k) is None for k in ("tenant_id", "site_id", "gate_ids", "notice_version"))

    d = demo["tmp"] / "human"
    key_file = d / "admin-api-key"
    result = tf("init", "--dir", d, "--admin-key-file", key_file)
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("admin API key (shown once, store it now): ")]
    assert len(shown) == 1
    key = shown[0].rsplit(" ", 1)[1]
    assert key.startswith("tf_") and result.stdout.count(key) == 1
    assert key_file.read_text().strip() == key and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_gate_create_refuses_face_only_and_prints_the_id_otherwise(tf, demo):
    d, site = demo["dir"], demo["info"]["site_id"]
    one_line_error(tf("gate", "create", "--dir", d, "--site", site, "--name", "Lobby", "--methods", "face"),
                   "E_FACE_ONLY_POLICY")
    made = tf("gate", "create", "--dir", d, "--site", site, "--name", "Garage", "--methods", "card,qr")
    assert made.returncode == 0 and made.stdout.strip().startswith("gate_")


def test_credential_issue_then_gate_access_by_pin(tf, demo):
    d, site = demo["dir"], demo["info"]["site_id"]
    side_gate = demo["info"]["gate_ids"][1]
    sub = _subject(demo)
    issued = tf("credential", "issue", "--dir", d, "--subject", sub, "--site", site, "--type", "pin", "--json")
    assert issued.returncode == 0, issued.stderr
    out = json.loads(issued.stdout)
    pin = out["shown_once"]
    assert pin.isdigit() and out["credential"]["type"] == "pin" and pin not in json.dumps(out["credential"])

    granted = tf("gate", "access", "--dir", d, "--gate", side_gate, "--pin", pin)
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.startswith("granted: pin") and sub in granted.stdout

    wrong = "9" + pin[1:] if pin[0] != "9" else "8" + pin[1:]
    denied = tf("gate", "access", "--dir", d, "--gate", side_gate, "--pin", wrong)
    assert denied.returncode == 1, denied.stderr
    assert denied.stdout.startswith("denied: pin: E_CREDENTIAL_INVALID") and "other ways in: pin, card" in denied.stdout

    one_line_error(tf("gate", "access", "--dir", d, "--gate", side_gate, "--pin", pin, "--card", "42"))


def test_enroll_needs_consent_then_identify_finds_the_person(tf, demo, examples):
    d, info = demo["dir"], demo["info"]
    site = info["site_id"]
    resident, visitor = _subject(demo), _subject(demo)

    one_line_error(tf("enroll", "--dir", d, "--site", site, "--subject", resident, "--purpose", "door_access",
                      "--mode", "identify", examples / "obama.jpg"), "E_CONSENT_MISSING")

    given = tf("consent", "give", "--dir", d, "--subject", resident, "--site", site, "--purpose", "door_access",
               "--mode", "identify", "--notice-hash", info["notice_hash"])
    assert given.returncode == 0 and given.stdout.strip().startswith("con_"), given.stderr

    # the batch form: the consented resident is enrolled, the visitor (no consent) refused with nothing written
    batch = demo["tmp"] / "photos"
    batch.mkdir()
    (batch / f"{resident}.jpg").write_bytes((examples / "obama.jpg").read_bytes())
    (batch / f"{visitor}.jpg").write_bytes((examples / "biden.jpg").read_bytes())
    result = tf("enroll", "--dir", d, "--site", site, "--purpose", "door_access", "--mode", "identify",
                "--folder", batch)
    assert result.returncode == 1, result.stderr
    assert f"enrolled  {resident}" in result.stdout
    assert f"refused   {visitor} ({visitor}.jpg): E_CONSENT_MISSING" in result.stdout
    assert "1 enrolled, 1 refused, 0 failed of 2 subject(s)" in result.stdout
    assert "Traceback" not in result.stderr

    found = tf("identify", "--dir", d, "--site", site, "--purpose", "door_access", examples / "obama2.jpg")
    assert found.returncode == 0, found.stderr
    subject_id, _, distance = found.stdout.split()
    assert subject_id == resident and 0 <= float(distance) < 0.6

    unknown = tf("identify", "--dir", d, "--site", site, "--purpose", "door_access", examples / "biden.jpg")
    assert unknown.returncode == 1 and unknown.stdout.startswith("unknown"), unknown.stdout

    listed = tf("subjects", "--dir", d, "--tenant", info["tenant_id"], "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[resident]["templates"] == 1 and rows[visitor]["templates"] == 0
    assert [(c["purpose"], c["mode"], c["status"]) for c in rows[resident]["consents"]] == \
        [("door_access", "identify", "active")]
    assert rows[visitor]["consents"] == []
    assert "ciphertext" not in listed.stdout and "display_name" not in listed.stdout


def test_serve_refuses_a_public_host_without_public(tf, demo):
    line = one_line_error(tf("serve", "--dir", demo["dir"], "--host", "0.0.0.0"))
    assert "--public" in line
