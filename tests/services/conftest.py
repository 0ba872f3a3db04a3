"""Fixtures of the services tests: the API fixtures of tests/api (a deployment on SQLite and
PostgreSQL behind the app), so each use case is tried through the API, the CLI and directly."""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0]))

if "_api_conftest" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("_api_conftest", HERE.parents[0] / "api" / "conftest.py")
    _api = importlib.util.module_from_spec(_spec)
    sys.modules["_api_conftest"] = _api
    _spec.loader.exec_module(_api)

from _api_conftest import _pg_template, _sqlite_template, api, database_url  # noqa: E402,F401


@pytest.fixture
def demo_site(tmp_path):
    """The demo property (``trustface.demo.setup_demo``: a residential site, door_access, two gates)
    on a SQLite file, with one adult resident consented to verify and identify, closed again:
    (deployment folder, database URL, the demo's ids, the resident's id)."""
    import trustface
    from trustface import demo
    from trustface.policy import ledger

    url = f"sqlite:///{tmp_path / 'tf.db'}"
    info = trustface.init_deployment(tmp_path / "site", database_url=url)
    dep = trustface.Deployment(info["dir"], database_url=url)
    with dep.transaction() as s:
        world = demo.setup_demo(s, actor="admin:test")
        resident = ledger.create_subject(s, tenant_id=world["tenant_id"], age_band="18+", site_id=world["site_id"],
                                         actor="admin:test").id
        for mode in ("verify", "identify"):
            ledger.give_consent(s, subject_id=resident, site_id=world["site_id"], purpose=demo.PURPOSE, mode=mode,
                                notice_hash=world["notice_hash"], channel="kiosk", method="click", actor="admin:test")
    dep.close()
    return info["dir"], url, world, resident
