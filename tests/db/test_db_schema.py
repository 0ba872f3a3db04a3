"""Storage: Alembic migrations match the models, SQLite settings, constraints, UTC times, the
key file (issue 3 §1)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from db_fixtures import ADMIN, NOW
from sqlalchemy.exc import IntegrityError, StatementError

from trustface import audit
from trustface.db import migrate
from trustface.db.models import Base, Consent, Tenant
from trustface.db.session import make_engine
from trustface.deployment import Deployment, init_deployment
from trustface.errors import TrustfaceError


def test_migrations_match_models(database_url):
    engine = make_engine(database_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys_and_full_sync(tmp_path):
    init_deployment(tmp_path / "dep")
    dep = Deployment(tmp_path / "dep")
    try:
        with dep.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        dep.close()
    with pytest.raises(ValueError):
        make_engine(f"sqlite:///{tmp_path / 'y.db'}", sqlite_synchronous="OFF")


def test_foreign_keys_and_one_active_consent_enforced(deployment):
    with deployment.session() as s:
        s.add(Consent(id="con_x", subject_id="sub_missing", purpose_id="pur_missing", mode="verify", status="active",
                      notice_id="ntc_missing", notice_hash="0" * 64, given_at=NOW, channel="app", actor="a",
                      method="click", initiated_by="subject", expires_at=NOW))
        audit.record(s, "admin", actor=ADMIN, payload={"action": "x"}, now=NOW)
        with pytest.raises(IntegrityError):
            s.commit()


def test_one_active_consent_per_subject_purpose_mode(deployment):
    from db_fixtures import add_subject, consent, make_world

    w = make_world(deployment)
    sub = add_subject(w)
    first = consent(w, sub)
    second = consent(w, sub)  # re-consent supersedes, never two active rows
    with deployment.session() as s:
        from trustface.db import repo

        rows = {r.id: r for r in repo.consents_of_subject(s, sub)}
        assert {k: r.status for k, r in rows.items()} == {first.id: "superseded", second.id: "active"}
        rows[first.id].status = "active"
        audit.record(s, "admin", actor=ADMIN, payload={"action": "x"}, now=NOW)
        with pytest.raises(IntegrityError):
            s.commit()


def test_times_are_stored_and_returned_as_utc(deployment):
    tz8 = dt.timezone(dt.timedelta(hours=8))
    with deployment.transaction() as s:
        s.add(Tenant(id="ten_tz", name="x", contact="y", created_at=dt.datetime(2025, 3, 1, 20, 0, tzinfo=tz8)))
        audit.record(s, "admin", actor=ADMIN, payload={"action": "x"}, now=NOW)
    with deployment.session() as s:
        from trustface.db import repo

        t = repo.tenant(s, "ten_tz")
        assert t.created_at == dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
        assert t.created_at.tzinfo is dt.timezone.utc
    with deployment.session() as s:
        s.add(Tenant(id="ten_naive", name="x", contact="y", created_at=dt.datetime(2025, 3, 1)))
        with pytest.raises(StatementError):
            s.flush()


def test_key_file_is_private_and_required(tmp_path):
    d = tmp_path / "dep"
    init_deployment(d)
    key = d / "trustface.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    Deployment(d).close()
    os.chmod(key, 0o644)
    with pytest.raises(TrustfaceError) as info:
        Deployment(d)
    assert info.value.code == "E_DEPLOYMENT" and "readable by other users" in info.value.message
    os.chmod(key, 0o600)
    key.write_text("{}")
    with pytest.raises(TrustfaceError):
        Deployment(d)
    with pytest.raises(TrustfaceError):
        Deployment(tmp_path / "nothing-here")


def test_two_deployments_get_different_keys(tmp_path):
    from trustface.deployment import load_keys

    init_deployment(tmp_path / "a")
    init_deployment(tmp_path / "b")
    a, b = load_keys(tmp_path / "a"), load_keys(tmp_path / "b")
    assert a.audit_hmac_key != b.audit_hmac_key and a.tenant_kek_seed != b.tenant_kek_seed
