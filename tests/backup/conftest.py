"""Fixtures of the backup tests: a deployment whose SQLite file lives in its folder (as
``trustface init`` makes it), two residents enrolled with the real model and real photos."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_fixtures import _pg_template, _sqlite_template, database_url, deployment  # noqa: E402,F401

import trustface
from trustface import demo
from trustface.policy import ledger
from trustface.services import faces

NO_DB_ENV = {"TRUSTFACE_DATABASE_URL": ""}  # each deployment uses the SQLite file in its folder


@pytest.fixture(autouse=True)
def _sqlite_in_folder(monkeypatch):
    monkeypatch.delenv("TRUSTFACE_DATABASE_URL", raising=False)


@pytest.fixture
def tf(cli):
    def run(*args):
        return cli(*[str(a) for a in args], env=NO_DB_ENV)

    return run


def make_site(directory: Path, examples: Path) -> dict:
    """A demo site with residents A (obama.jpg) and B (biden.jpg), each enrolled for verify and
    identify at the demo purpose."""
    trustface.init_deployment(directory)
    dep = trustface.Deployment(directory)
    with dep.transaction() as s:
        world = demo.setup_demo(s, actor="admin:test")
        residents = {}
        for name in ("A", "B"):
            sid = ledger.create_subject(s, tenant_id=world["tenant_id"], age_band="18+", site_id=world["site_id"],
                                        actor="admin:test").id
            for mode in ("verify", "identify"):
                ledger.give_consent(s, subject_id=sid, site_id=world["site_id"], purpose=demo.PURPOSE, mode=mode,
                                    notice_hash=world["notice_hash"], channel="kiosk", method="click", actor="admin:test")
            residents[name] = sid
    dep.close()
    ctx = trustface.open_deployment(directory)
    try:
        me = trustface.local_caller("admin:test")
        for name, photo in (("A", "obama.jpg"), ("B", "biden.jpg")):
            faces.enrol(ctx, me, residents[name], [(examples / photo).read_bytes()], purpose=demo.PURPOSE,
                        modes="verify,identify")
    finally:
        ctx.deployment.close()
    return {"dir": directory, "world": world, **residents}


@pytest.fixture
def site(tmp_path, examples):
    return make_site(tmp_path / "site", examples)


def one_line_error(result, exit_code: int = 2) -> str:
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
