"""Upgrades are guarded and health means something (issue 18): the server refuses a schema that is
not at this code's revision, naming `trustface db upgrade`; the upgrade brings a database filled
by the previous release to head with its data and its audit chain intact; /livez and /readyz say
what they check. Real SQLite files, the real CLI."""

import json
import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from trustface.api import create_app
from trustface.cli import app as cli
from trustface.db import migrate
from trustface.deployment import Deployment
from trustface.errors import TrustfaceError
from trustface.services import Context, admin, cli_principal, gates, oversight

RELEASE = Path(__file__).resolve().parent / "release-0.1.0"
IDS = json.loads((RELEASE / "ids.json").read_text())


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def old_site(tmp_path):
    """A copy of the deployment made by release 0.1.0 (git keeps no file modes: the key is 0600 again)."""
    target = tmp_path / "site"
    shutil.copytree(RELEASE, target)
    os.chmod(target / "trustface.key", 0o600)
    return target


def test_a_database_filled_by_the_previous_release_upgrades_with_its_data(old_site):
    before = _run("db", "status", "--dir", str(old_site), "--json")
    status = json.loads(before.output)
    assert status["revision"] == IDS["schema_revision"] and status["head"] == migrate.head_revision()
    upgraded = _run("db", "upgrade", "--dir", str(old_site), "--json")
    assert upgraded.exit_code == 0, upgraded.output
    assert json.loads(upgraded.output)["to"] == migrate.head_revision()
    assert _run("db", "status", "--dir", str(old_site)).exit_code == 0
    again = _run("db", "upgrade", "--dir", str(old_site))
    assert again.exit_code == 0 and "nothing to do" in again.output

    dep = Deployment(old_site)
    try:
        ctx, who = Context.open(dep, preload=False), cli_principal("admin:test")
        assert oversight.verify_audit_chain(ctx, who).ok
        assert [s.id for s in admin.list_sites(ctx, who)] == [IDS["site_id"]]
        # the old release's residents still get in with their cards at the side gate
        decision = gates.attempt_credential(ctx, who, IDS["gate_ids"][1], method="card", value="7000 0000 0001")
        assert decision.granted and decision.method == "card"
    finally:
        dep.close()


def test_the_server_refuses_a_schema_behind_this_code_and_names_the_command(old_site, tmp_path):
    assert _run("db", "upgrade", "--dir", str(old_site)).exit_code == 0
    dep = Deployment(old_site)
    try:
        previous = migrate.alembic_config()
        from alembic.script import ScriptDirectory

        down = ScriptDirectory.from_config(previous).get_revision(migrate.head_revision()).down_revision
        migrate.downgrade(dep.engine, str(down))
        with pytest.raises(TrustfaceError) as info:
            create_app(deployment=dep)
        assert info.value.code == "E_DEPLOYMENT" and "trustface db upgrade" in info.value.message
    finally:
        dep.close()
    served = _run("serve", "--dir", str(old_site), "--port", "8765")
    assert served.exit_code == 2 and "trustface db upgrade" in served.output and "Traceback" not in served.output
    assert _run("db", "status", "--dir", str(old_site)).exit_code == 1
    upgraded = _run("db", "upgrade", "--dir", str(old_site), "--json")
    assert upgraded.exit_code == 0 and json.loads(upgraded.output)["changed"] is True
    dep = Deployment(old_site)
    try:
        with dep.session() as s:
            from trustface.db import audit_store

            events = [json.loads(e["payload"]) for e in audit_store.events_of_type(s, "admin")]
        assert any(e.get("action") == "schema_upgraded" and e["to_revision"] == migrate.head_revision()
                   for e in events)
    finally:
        dep.close()


def test_livez_and_readyz_say_what_they_check(old_site):
    assert _run("db", "upgrade", "--dir", str(old_site)).exit_code == 0
    dep = Deployment(old_site)
    try:
        with TestClient(create_app(deployment=dep)) as client:
            assert client.get("/livez").json() == {"ok": True}
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            body = ready.json()
            assert body["ready"] is True and set(body["checks"]) == {"database", "schema", "gallery", "key_file"}
            os.chmod(old_site / "trustface.key", 0o644)  # a key file others can read: not ready
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["key_file"]["ok"] is False
            assert "chmod 600" in not_ready.json()["checks"]["key_file"]["detail"]
            assert str(old_site) not in not_ready.text  # public: never where the deployment's files are
    finally:
        dep.close()
