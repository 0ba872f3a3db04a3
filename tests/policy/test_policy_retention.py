"""Retention (R13; PIPL-19, PIPL-47, BIPA-15a): min(purpose end, retention, last interaction +
profile limit), purge handlers, a deletion certificate per subject x purpose x mode."""

from __future__ import annotations

import datetime as dt

import pytest
from db_fixtures import ADMIN, NOW, add_subject, authorize, consent, make_world, raises_code

from trustface.db import audit_store
from trustface.policy import codes, ledger, profiles, retention, sites
from trustface.policy.gate import Denial, Grant

DAY = dt.timedelta(days=1)


@pytest.fixture
def purged():
    calls = []

    def handler(session, *, subject_id, purpose_id, mode, reason, now):
        calls.append((subject_id, purpose_id, mode, reason, now))
        return 1

    retention.register_purge_handler("test.templates", handler)
    yield calls
    retention.unregister_purge_handler("test.templates")


def run(dep, now):
    with dep.transaction() as s:
        return retention.run(s, now=now)


def test_R13_PIPL_47_inactivity_limit_cn(deployment, purged):
    w = make_world(deployment, jurisdiction="cn", retention_days=1000)
    active, idle = add_subject(w), add_subject(w)
    consent(w, active)
    consent(w, idle)
    assert isinstance(authorize(w, active, now=NOW + 300 * DAY), Grant)  # last interaction moves
    report = run(deployment, NOW + 366 * DAY)
    assert [(e["subject_id"], e["reason"]) for e in report.ended] == [(idle, "inactivity")]
    assert [c[0] for c in purged] == [idle]
    assert isinstance(authorize(w, idle, now=NOW + 366 * DAY), Denial)
    assert isinstance(authorize(w, active, now=NOW + 366 * DAY), Grant)
    report = run(deployment, NOW + 800 * DAY)
    assert [(e["subject_id"], e["reason"]) for e in report.ended] == [(active, "inactivity")]


def test_R13_gate_refuses_lapsed_consent_before_the_job_runs(deployment):
    w = make_world(deployment, jurisdiction="cn", retention_days=1000)
    sub = add_subject(w)
    consent(w, sub)
    result = authorize(w, sub, now=NOW + 400 * DAY)
    assert isinstance(result, Denial) and result.code == codes.E_CONSENT_MISSING


def test_R13_BIPA_15a_us_il_three_years_after_last_interaction(deployment, purged):
    assert profiles.load("us-il").inactivity_limit_days == 1095
    assert profiles.load("us-il").max_retention_days == 1095
    w = make_world(deployment, jurisdiction="us-il", retention_days=1095)
    sub = add_subject(w)
    consent(w, sub)
    assert isinstance(authorize(w, sub, now=NOW + 30 * DAY), Grant)
    assert run(deployment, NOW + 1094 * DAY).ended == []
    report = run(deployment, NOW + 1095 * DAY)
    assert [(e["subject_id"], e["reason"]) for e in report.ended] == [(sub, "retention_period")]


def test_R13_retention_period_and_certificate(deployment, purged):
    w = make_world(deployment, retention_days=30)
    sub = add_subject(w)
    consent(w, sub, "verify")
    consent(w, sub, "identify")
    assert run(deployment, NOW + 29 * DAY).ended == []
    report = run(deployment, NOW + 30 * DAY)
    assert sorted(e["mode"] for e in report.ended) == ["identify", "verify"]
    assert sorted(c[2] for c in purged) == ["identify", "verify"]
    with deployment.session() as s:
        certs = audit_store.events_of_type(s, "deletion", subject_id=sub)
    assert len(certs) == 2
    assert all('"action":"deletion_certificate"' in c["payload"] and '"test.templates":1' in c["payload"] for c in certs)
    assert run(deployment, NOW + 31 * DAY).ended == []  # idempotent


def test_R13_purpose_end(deployment, purged):
    w = make_world(deployment)
    with deployment.transaction() as s:
        sites.create_purpose(s, site_id=w.site_id, name="conference", allowed_modes=["verify"],
                             legal_basis="consent", necessity_justification="badge-free entry for 3 days",
                             retention_days=365, ends_at=NOW + 3 * DAY, actor=ADMIN, now=NOW)
    sub = add_subject(w)
    c = consent(w, sub, purpose="conference")
    assert c.expires_at == NOW + 3 * DAY
    report = run(deployment, NOW + 4 * DAY)
    assert [(e["subject_id"], e["reason"]) for e in report.ended] == [(sub, "purpose_ended")]


@pytest.fixture
def broken_handler_module(monkeypatch):
    """A purge handler module that fails to import, next to the real ones (a broken install)."""
    monkeypatch.setattr(retention, "HANDLER_MODULES", (*retention.HANDLER_MODULES, "trustface._no_such_purge_handlers"))


def _events(dep, type_):
    with dep.session() as s:
        events = audit_store.events_of_type(s, type_)
        s.rollback()
    return events


@pytest.mark.parametrize("how", ["withdraw", "retention", "purge"])
def test_R13_R14_R21_a_handler_module_that_fails_to_load_stops_the_purge(deployment, purged, broken_handler_module,
                                                                         how):
    """No deletion certificate for data no handler deleted: E_PURGE_UNAVAILABLE (HTTP 503) before any
    handler runs, and the caller's transaction rolls back (the consent stays active)."""
    assert codes.E_PURGE_UNAVAILABLE == "E_PURGE_UNAVAILABLE"
    from trustface.errors import CATALOGUE

    assert CATALOGUE[codes.E_PURGE_UNAVAILABLE].http_status == 503
    w = make_world(deployment, retention_days=30)
    sub = add_subject(w)
    consent(w, sub, "verify")
    consents_before = len(_events(deployment, "consent"))
    with raises_code(codes.E_PURGE_UNAVAILABLE) as info, deployment.transaction() as s:
        if how == "withdraw":
            ledger.withdraw_consent(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                    channel="app", actor=f"subject:{sub}", now=NOW)
        elif how == "retention":
            retention.run(s, now=NOW + 31 * DAY)
        else:
            retention.purge(s, subject_id=sub, tenant_id=w.tenant_id, purpose_id=w.purpose_id, mode="verify",
                            reason="erasure_request", actor=ADMIN, now=NOW)
    assert "trustface._no_such_purge_handlers" in info.value.message
    assert purged == []  # no handler ran
    assert _events(deployment, "deletion") == []
    assert len(_events(deployment, "consent")) == consents_before
    assert isinstance(authorize(w, sub, now=NOW), Grant)  # the withdrawal did not happen either

