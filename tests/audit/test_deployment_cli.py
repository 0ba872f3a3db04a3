"""The deployment CLI: init, admin workflow, audit verify/export, retention run (issue 3)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from db_fixtures import NOTICE
from typer.testing import CliRunner

from trustface.audit import verify_bundle
from trustface.cli import app
from trustface.deployment import load_keys

runner = CliRunner()


def cli(url, *args):
    result = runner.invoke(app, list(args), env={"TRUSTFACE_DATABASE_URL": url})
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


def ok(url, *args) -> str:
    result = cli(url, *args)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout.strip()


def one_line_error(result, code: str | None = None):
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    if code:
        assert code in lines[0]


@pytest.fixture
def workflow(database_url, tmp_path):
    """A deployment built with the CLI only: tenant, site, purpose, notice, subject, consent."""
    d = str(tmp_path / "dep")
    info = json.loads(ok(database_url, "init", "--dir", d, "--json"))
    tenant = ok(database_url, "tenant", "add", "--dir", d, "--name", "Acme", "--contact", "dpo@acme.example")
    site = ok(database_url, "site", "add", "--dir", d, "--tenant", tenant, "--name", "Tower", "--type", "residential",
              "--jurisdiction", "cn")
    ok(database_url, "purpose", "add", "--dir", d, "--site", site, "--name", "door_access", "--modes", "verify",
       "--legal-basis", "consent", "--necessity", "hands-free entry", "--retention-days", "365")
    notice_file = tmp_path / "notice.json"
    notice_file.write_text(json.dumps(NOTICE))
    notice_hash = ok(database_url, "notice", "publish", "--dir", d, "--site", site, "--file", str(notice_file))
    subject = ok(database_url, "subject", "add", "--dir", d, "--tenant", tenant, "--birth-date", "1990-01-01")
    ok(database_url, "consent", "give", "--dir", d, "--subject", subject, "--site", site, "--purpose", "door_access",
       "--mode", "verify", "--notice-hash", notice_hash, "--channel", "desk", "--method", "signature")
    return {"url": database_url, "dir": d, "info": info, "tenant": tenant, "site": site, "subject": subject,
            "notice_hash": notice_hash, "tmp": tmp_path}


def test_init_creates_key_and_settings_and_refuses_twice(workflow):
    d, url = workflow["dir"], workflow["url"]
    key = os.path.join(d, "trustface.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    keys = load_keys(d)
    assert len(keys.audit_hmac_key) == 32 and keys.audit_hmac_key != keys.tenant_kek_seed
    assert os.path.isfile(os.path.join(d, "settings.toml"))
    assert workflow["info"]["schema_revision"]
    one_line_error(cli(url, "init", "--dir", d), "E_DEPLOYMENT")


def test_init_refuses_database_that_holds_a_deployment(workflow, tmp_path):
    one_line_error(cli(workflow["url"], "init", "--dir", str(tmp_path / "other")), "E_DEPLOYMENT")


def test_R21_audit_verify_clean_exits_0(workflow):
    out = ok(workflow["url"], "audit", "verify", "--dir", workflow["dir"])
    assert out.startswith("ok:")
    data = json.loads(ok(workflow["url"], "audit", "verify", "--dir", workflow["dir"], "--json"))
    assert data["ok"] and data["events"] >= 8


def _tamper(url, statement):
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute(statement)
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute(statement)


@pytest.mark.parametrize("statement, seq, word", [
    ("UPDATE audit_events SET payload = '{}' WHERE seq = 4", 4, "altered"),
    ("DELETE FROM audit_events WHERE seq = 3", 3, "missing"),
    ("DELETE FROM audit_events WHERE seq >= (SELECT max(seq) - 1 FROM audit_events)", None, "truncated"),
])
def test_R21_audit_verify_after_tampering_exits_1_naming_the_event(workflow, statement, seq, word):
    _tamper(workflow["url"], statement)
    result = cli(workflow["url"], "audit", "verify", "--dir", workflow["dir"])
    assert result.exit_code == 1
    assert "TAMPERED: first bad event seq" in result.stderr and word in result.stderr
    if seq is not None:
        assert f"seq {seq}:" in result.stderr


def test_R21_audit_export_writes_a_verifiable_bundle(workflow):
    out = workflow["tmp"] / "bundle.json"
    result = cli(workflow["url"], "audit", "export", "--dir", workflow["dir"], "--subject", workflow["subject"],
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    bundle = json.loads(out.read_text())
    assert bundle["subject_id"] == workflow["subject"] and bundle["verification"]["ok"]
    assert {e["type"] for e in bundle["events"]} >= {"admin", "consent", "export"}
    assert verify_bundle(bundle, load_keys(workflow["dir"]).audit_hmac_key).ok
    one_line_error(cli(workflow["url"], "audit", "export", "--dir", workflow["dir"], "--subject", "sub_nobody"),
                   "E_NOT_FOUND")


def test_R13_retention_run_with_moved_clock(workflow):
    url, d = workflow["url"], workflow["dir"]
    early = json.loads(ok(url, "retention", "run", "--dir", d, "--now", "2000-01-01T00:00:00Z", "--json"))
    assert early["ended"] == []
    import datetime as dt

    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)).isoformat()
    report = json.loads(ok(url, "retention", "run", "--dir", d, "--now", later, "--json"))
    assert [e["subject_id"] for e in report["ended"]] == [workflow["subject"]]
    assert report["ended"][0]["reason"] == "retention_period"
    bundle = json.loads(ok(url, "audit", "export", "--dir", d, "--subject", workflow["subject"]))
    certs = [e for e in bundle["events"] if e["type"] == "deletion"]
    assert len(certs) == 1 and certs[0]["payload"]["certificate_id"] == report["ended"][0]["certificate_id"]
    ok(url, "audit", "verify", "--dir", d)


def test_R14_consent_withdraw_and_suspend_commands(workflow):
    url, d, sub, site = workflow["url"], workflow["dir"], workflow["subject"], workflow["site"]
    assert ok(url, "suspend", "--dir", d, "--subject", sub, "--reason", "court order") == f"suspended {sub}"
    assert ok(url, "resume", "--dir", d, "--subject", sub) == f"resumed {sub}"
    assert ok(url, "suspend", "--dir", d, "--site", site, "--reason", "hold", "--restrict").startswith("restricted")
    ok(url, "consent", "withdraw", "--dir", d, "--subject", sub, "--site", site, "--purpose", "door_access",
       "--mode", "verify", "--channel", "app")
    one_line_error(cli(url, "consent", "withdraw", "--dir", d, "--subject", sub, "--site", site, "--purpose",
                       "door_access", "--mode", "verify"), "E_CONSENT_MISSING")


def test_R7_cli_consent_is_processor_initiated_and_refused_in_the_cooldown(workflow, tmp_path):
    """Staff entering a consent at the command line are the processor asking: within the cooldown
    after a refusal it is refused (E_REPROMPT_COOLDOWN), as through the API and the console, unless
    they state that the person asked (R7, NDSR-22(5); issue 15)."""
    from trustface.deployment import Deployment
    from trustface.policy import ledger

    url, d, site = workflow["url"], workflow["dir"], workflow["site"]
    sub = ok(url, "subject", "add", "--dir", d, "--tenant", workflow["tenant"], "--age-band", "18+")
    with Deployment(d, database_url=url) as dep, dep.transaction() as s:
        ledger.record_refusal(s, subject_id=sub, site_id=site, purpose="door_access", mode="verify", channel="desk",
                              actor="admin:test")
    give = ("consent", "give", "--dir", d, "--subject", sub, "--site", site, "--purpose", "door_access", "--mode",
            "verify", "--notice-hash", workflow["notice_hash"])
    one_line_error(cli(url, *give), "E_REPROMPT_COOLDOWN")
    asked = tmp_path / "asked.json"
    asked.write_text(json.dumps({"initiated_by": "subject"}))
    assert ok(url, *give, "--extra", str(asked)).startswith("con_")
    bundle = json.loads(ok(url, "audit", "export", "--dir", d, "--subject", sub))
    given = [e["payload"] for e in bundle["events"] if e["type"] == "consent" and e["payload"]["action"] == "given"]
    assert [g["initiated_by"] for g in given] == ["subject"]


def test_R6_R7_cli_consent_refuse_starts_the_cooldown(workflow):
    url, d, site = workflow["url"], workflow["dir"], workflow["site"]
    sub = ok(url, "subject", "add", "--dir", d, "--tenant", workflow["tenant"], "--age-band", "18+")
    out = ok(url, "consent", "refuse", "--dir", d, "--subject", sub, "--site", site, "--purpose", "door_access",
             "--mode", "verify")
    assert out.startswith(f"refused {sub}")
    one_line_error(cli(url, "consent", "give", "--dir", d, "--subject", sub, "--site", site, "--purpose",
                       "door_access", "--mode", "verify", "--notice-hash", workflow["notice_hash"]),
                   "E_REPROMPT_COOLDOWN")
    assert ok(url, "consent", "give", "--dir", d, "--subject", sub, "--site", site, "--purpose", "door_access",
              "--mode", "verify", "--notice-hash", workflow["notice_hash"], "--subject-asked").startswith("con_")


def test_bad_input_is_one_line_and_nonzero(workflow, tmp_path):
    url, d = workflow["url"], workflow["dir"]
    one_line_error(cli(url, "site", "add", "--dir", d, "--tenant", workflow["tenant"], "--name", "Mall",
                       "--type", "mall", "--jurisdiction", "cn"), "E_INVALID_ARGUMENT")
    one_line_error(cli(url, "retention", "run", "--dir", d, "--now", "next tuesday"))
    one_line_error(cli(url, "purpose", "add", "--dir", d, "--site", workflow["site"], "--name", "x", "--modes",
                       "verify", "--legal-basis", "consent", "--necessity", "n", "--retention-days", "0"),
                   "E_RETENTION_UNBOUNDED")
    bundled = tmp_path / "extra.json"
    bundled.write_text(json.dumps({"scopes": ["face", "marketing"]}))
    one_line_error(cli(url, "consent", "give", "--dir", d, "--subject", workflow["subject"], "--site", workflow["site"],
                       "--purpose", "door_access", "--mode", "verify", "--notice-hash", workflow["notice_hash"],
                       "--extra", str(bundled)), "E_CONSENT_BUNDLED")
    one_line_error(cli(url, "audit", "verify", "--dir", str(tmp_path / "nowhere")), "E_DEPLOYMENT")
    one_line_error(cli(url, "suspend", "--dir", d, "--reason", "x"))


def test_installed_command_runs_audit_verify(tmp_path):
    """The real entry point (`python -m trustface`), SQLite default database in the folder."""
    d = tmp_path / "dep"
    env = {k: v for k, v in os.environ.items() if k != "TRUSTFACE_DATABASE_URL"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "trustface", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, timeout=120)
    assert run("init", "--dir", str(d)).returncode == 0
    assert (d / "trustface.db").is_file()
    result = run("audit", "verify", "--dir", str(d))
    assert result.returncode == 0, result.stderr
    import sqlite3

    conn = sqlite3.connect(d / "trustface.db")
    conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
    conn.commit()
    conn.close()
    result = run("audit", "verify", "--dir", str(d))
    assert result.returncode == 1 and "seq 1" in result.stderr
