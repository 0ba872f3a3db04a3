"""Shared database fixtures for tests/policy, tests/audit and tests/db (issue 3).

Every test that takes ``deployment`` runs twice: on SQLite (a file in tmp_path) and on PostgreSQL
(marked ``postgres``; a fresh database per test, cloned from a migrated template, on the server named by
``$TRUSTFACE_TEST_PG``, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5433/postgres`` as printed by
``scripts/start-postgres.sh``). Without that variable the PostgreSQL runs are skipped locally, but
fail when ``$CI`` is set, so CI never silently skips PostgreSQL.

The conftest.py of each test folder imports these names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from trustface.db import migrate
from trustface.db.session import make_engine
from trustface.deployment import Deployment, init_deployment
from trustface.errors import TrustfaceError
from trustface.policy import ledger, sites

PG_ENV = "TRUSTFACE_TEST_PG"
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
ADMIN = "admin:test"

NOTICE = {
    "controller": "Acme Property Management Ltd.",
    "contact": "dpo@acme.example",
    "purposes": ["door_access"],
    "methods": "1:1 face verification at the entrance kiosk",
    "categories": ["face template"],
    "retention": "365 days or 1 year after your last visit, whichever is first",
    "rights_procedure": "ask at the desk or in the app; answer within 15 days",
    "necessity": "hands-free entry for residents who choose it; a card or PIN is always available",
    "impact": "templates are encrypted and never leave the site",
    "withdrawal": "withdraw in the app, at the kiosk or at the desk at any time",
}
PIA_SECTIONS = {
    "lawfulness_necessity": "lawful, legitimate, necessary; alternatives offered",
    "rights_impact": "low; opt-in with alternatives",
    "risks": "leakage, tampering, misuse; mitigations listed",
    "protections": "encryption, RBAC, audit chain",
}


def _psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def _pg_admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def pg_server_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"${PG_ENV} is not set in CI: start PostgreSQL with scripts/start-postgres.sh")
        pytest.skip(f"${PG_ENV} not set (run: eval \"$(scripts/start-postgres.sh)\")")
    return url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def _pg_template():
    """One migrated PostgreSQL database per test session (created lazily, dropped at the end);
    each test empties it with TRUNCATE, which is ~5x faster than CREATE DATABASE ... TEMPLATE."""
    state: dict = {}

    def get() -> str:
        if "url" not in state:
            server = pg_server_url()
            name = f"tf_test_{uuid.uuid4().hex[:10]}"
            _pg_admin(server, f'CREATE DATABASE "{name}"')
            state.update(server=server, name=name, url=_with_db(server, name))
            engine = make_engine(state["url"])
            migrate.upgrade(engine)
            state["engine"] = engine
        return state["url"]

    def reset() -> None:
        from trustface.db.models import Base

        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with state["engine"].begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables}")

    get.reset = reset  # type: ignore[attr-defined]
    yield get
    if "url" in state:
        state["engine"].dispose()
        _pg_admin(state["server"], f'DROP DATABASE IF EXISTS "{state["name"]}" WITH (FORCE)')


#: the two backends every ``deployment`` test runs on; the PostgreSQL run carries the ``postgres``
#: marker, so ``pytest -m "not postgres"`` leaves it out instead of reporting a skip
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, _sqlite_template, _pg_template):
    """A migrated, empty database: a SQLite file in tmp_path, or the session's PostgreSQL
    database emptied for this test."""
    if request.param == "sqlite":
        target = tmp_path / "db" / "trustface.db"
        target.parent.mkdir()
        shutil.copy(_sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    url = _pg_template()
    _pg_template.reset()
    yield url


@pytest.fixture
def deployment(database_url, tmp_path):
    """An initialised deployment (key file, settings, audit chain started) on that database."""
    directory = tmp_path / "deployment"
    init_deployment(directory, database_url=database_url, now=NOW - dt.timedelta(days=1))
    # tests trade SQLite durability (fsync per commit) for speed; the default stays FULL
    settings = directory / "settings.toml"
    settings.write_text(settings.read_text().replace('sqlite_synchronous = "FULL"', 'sqlite_synchronous = "NORMAL"'))
    dep = Deployment(directory, database_url=database_url)
    yield dep
    dep.close()


# --- building a world -----------------------------------------------------------------------------

@dataclass
class World:
    dep: Deployment
    tenant_id: str
    site_id: str
    purpose: str
    purpose_id: str
    notice_hash: str
    jurisdiction: str
    site_type: str
    minors_notice_hash: str | None = None


def make_world(dep: Deployment, *, site_type: str = "residential", jurisdiction: str = "cn",
               modes=("verify", "identify", "analyze"), purpose: str = "door_access", retention_days: int = 365,
               guardian_age: int | None = None, pia: bool = True, legal_basis: bool = True, signage: bool = True,
               notice: bool = True, minors_notice: bool = True, now: dt.datetime = NOW) -> World:
    """A tenant with one site and one purpose, ready for consents (each option can be left out to
    reach a refusal)."""
    with dep.transaction() as s:
        t = sites.create_tenant(s, name="Acme", contact="dpo@acme.example", actor=ADMIN, now=now)
        site = sites.create_site(s, tenant_id=t.id, name="Tower A", site_type=site_type, jurisdiction=jurisdiction,
                                 guardian_age=guardian_age, actor=ADMIN, now=now)
        p = sites.create_purpose(s, site_id=site.id, name=purpose, allowed_modes=list(modes), legal_basis="consent",
                                 necessity_justification="residents choose hands-free entry",
                                 retention_days=retention_days, actor=ADMIN, now=now)
        notice_hash = None
        minors_hash = None
        if notice:
            n = sites.create_notice(s, site_id=site.id, content=NOTICE, actor=ADMIN, now=now)
            sites.publish_notice(s, notice_id=n.id, actor=ADMIN, now=now)
            notice_hash = n.content_hash
            if minors_notice:
                m = sites.create_notice(s, site_id=site.id, kind="minors",
                                        content={**NOTICE, "purposes": ["door_access (minors)"]}, actor=ADMIN, now=now)
                sites.publish_notice(s, notice_id=m.id, actor=ADMIN, now=now)
                minors_hash = m.content_hash
        if pia:
            sites.approve_pia(s, purpose_id=p.id, modes=list(modes), sections=PIA_SECTIONS, approver="dpo:lee",
                              actor=ADMIN, now=now)
        if legal_basis:
            for mode in modes:
                if mode != "verify":
                    sites.record_legal_basis(s, purpose_id=p.id, mode=mode, basis="consent",
                                             justification="documented consent-based processing",
                                             approver="dpo:lee", actor=ADMIN, now=now)
        if signage:
            sites.attest_signage(s, site_id=site.id, attested_by="manager:wu", evidence="photo-2025-03-01.jpg",
                                 actor=ADMIN, now=now)
    return World(dep, t.id, site.id, purpose, p.id, notice_hash, jurisdiction, site_type, minors_hash)


def add_subject(w: World, *, birth_date: dt.date | None = dt.date(1990, 5, 17), age_band: str | None = None,
                now: dt.datetime = NOW) -> str:
    with w.dep.transaction() as s:
        return ledger.create_subject(s, tenant_id=w.tenant_id, birth_date=birth_date, age_band=age_band,
                                     identity={"display_name": "Resident"}, actor=ADMIN, now=now).id


def release_for(w: World, purpose: str | None = None) -> dict:
    return {"purpose": purpose or w.purpose, "term": "until you withdraw, at most 3 years",
            "signed_at": NOW.isoformat(), "signature": "e_signature", "document_hash": "ab" * 32}


def guardian_for(w: World) -> dict:
    g = {"name": "Parent Example", "relationship": "parent", "verification": "id_document"}
    if w.minors_notice_hash:
        g["minors_notice_hash"] = w.minors_notice_hash
    return g


def consent(w: World, subject_id: str, mode: str = "verify", *, purpose: str | None = None,
            now: dt.datetime = NOW, **extra):
    if w.jurisdiction == "us-il" and "written_release" not in extra:
        extra["written_release"] = release_for(w, purpose)
        extra.setdefault("method", "signature")
    with w.dep.transaction() as s:
        return ledger.give_consent(s, subject_id=subject_id, site_id=w.site_id, purpose=purpose or w.purpose,
                                   mode=mode, notice_hash=w.notice_hash, channel=extra.pop("channel", "kiosk"),
                                   method=extra.pop("method", "click"), actor=f"subject:{subject_id}", now=now,
                                   **extra)


def authorize(w: World, subject_id: str | None = None, mode: str = "verify", *, purpose: str | None = None,
              now: dt.datetime = NOW, **kw):
    with w.dep.transaction() as s:
        from trustface.policy import gate

        return gate.authorize(s, tenant_id=w.tenant_id, site_id=w.site_id, purpose=purpose or w.purpose,
                              mode=mode, subject_id=subject_id, now=now, **kw)


@contextlib.contextmanager
def raises_code(code: str):
    """Like pytest.raises(TrustfaceError), and the error must carry ``code``."""
    with pytest.raises(TrustfaceError) as info:
        yield info
    assert info.value.code == code, info.value
