"""Gated analysis (R19, SPC-2(7)): its own consent and grant, the grant's attributes only, one audit event.

Runs on SQLite and on PostgreSQL (``deployment`` fixture, tests/db_fixtures.py).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from db_fixtures import NOW, add_subject, authorize, consent, make_world, raises_code

from trustface import analysis, audit
from trustface.db import audit_store
from trustface.errors import E_ATTRIBUTE_UNSUPPORTED, E_NO_FACE
from trustface.policy import codes
from trustface.policy.gate import Denial, Grant

ATTRIBUTES = ["face_count", "head_pose", "image_quality"]


@pytest.fixture
def world(deployment):
    """A residential site whose purpose allows verify and analyze; one subject consenting to both."""
    w = make_world(deployment, purpose="lobby_analytics", modes=("verify", "analyze"))
    sub = add_subject(w)
    consent(w, sub, "analyze")
    consent(w, sub, "verify")
    return w, sub


@pytest.fixture(scope="module")
def portrait(examples) -> bytes:
    return (examples / "obama-480p.jpg").read_bytes()


def analysis_events(dep, sub) -> list[dict]:
    with dep.session() as s:
        return audit_store.events_of_type(s, "analysis", subject_id=sub)


def test_analyze_grant_runs_the_analysis_and_writes_one_event(world, portrait):
    w, sub = world
    grant = authorize(w, sub, "analyze", attributes=ATTRIBUTES)
    assert isinstance(grant, Grant) and grant.attributes == tuple(ATTRIBUTES)
    with w.dep.transaction() as s:
        out = analysis.analyze(s, grant, portrait, ATTRIBUTES, actor="api:test", now=NOW)
    result = out["attributes"]
    assert result["face_count"] == 1 and abs(result["head_pose"]["yaw"]) < 10
    assert result["image_quality"]["enrolment_ready"] is True

    events = analysis_events(w.dep, sub)
    assert [e["seq"] for e in events] == [out["audit_seq"]]
    payload = json.loads(events[0]["payload"])
    assert payload == {"action": "analyze", "grant_id": grant.grant_id, "site_id": w.site_id,
                       "purpose": "lobby_analytics", "attributes": ATTRIBUTES, "result_keys": ATTRIBUTES}
    assert events[0]["actor"] == "api:test" and events[0]["tenant_id"] == w.tenant_id
    with w.dep.session() as s:
        assert audit.verify(s).ok


def test_a_path_and_an_array_work_too(world, examples):
    from trustface import imaging

    w, sub = world
    grant = authorize(w, sub, "analyze", attributes=["face_count"])
    path = examples / "two_people.jpg"
    with w.dep.transaction() as s:
        by_path = analysis.analyze(s, grant, path, ["face_count"], now=NOW)
        by_array = analysis.analyze(s, grant, imaging.load_image(path), ["face_count"], now=NOW)
    assert by_path["attributes"] == by_array["attributes"] == {"face_count": 2}
    assert len(analysis_events(w.dep, sub)) == 2


def test_a_verify_grant_does_not_cover_analysis(world, portrait):
    w, sub = world
    grant = authorize(w, sub, "verify")
    assert isinstance(grant, Grant)
    with w.dep.transaction() as s, raises_code(codes.E_MODE_NOT_ALLOWED):
        analysis.analyze(s, grant, portrait, ["face_count"], now=NOW)
    assert analysis_events(w.dep, sub) == []


def test_no_grant_or_an_expired_grant_is_refused(world, portrait):
    w, sub = world
    grant = authorize(w, sub, "analyze", attributes=["face_count"])
    with w.dep.transaction() as s:
        with raises_code(codes.E_CONSENT_MISSING):
            analysis.analyze(s, None, portrait, ["face_count"], now=NOW)
        with raises_code(codes.E_CONSENT_MISSING):
            analysis.analyze(s, grant, portrait, ["face_count"], now=NOW + dt.timedelta(hours=1))
    assert analysis_events(w.dep, sub) == []


def test_attributes_outside_the_grant_are_prohibited(world, portrait):
    w, sub = world
    grant = authorize(w, sub, "analyze", attributes=["face_count"])
    with w.dep.transaction() as s:
        with raises_code(codes.E_PROHIBITED_INFERENCE) as info:
            analysis.analyze(s, grant, portrait, ["face_count", "head_pose"], now=NOW)
        assert "head_pose" in info.value.message
        with raises_code(codes.E_PROHIBITED_INFERENCE):
            analysis.analyze(s, grant, portrait, ["race"], now=NOW)
    assert analysis_events(w.dep, sub) == []


@pytest.mark.parametrize("attribute", ["race", "religion", "health", "sexual_orientation"])
def test_deny_listed_attributes_are_refused_at_the_gate(world, attribute):
    w, sub = world
    denial = authorize(w, sub, "analyze", attributes=["face_count", attribute])
    assert isinstance(denial, Denial) and denial.code == codes.E_PROHIBITED_INFERENCE
    assert "R19" in denial.requirement_ids and "SPC-2(7)" in denial.requirement_ids


def test_analysis_needs_its_own_consent(deployment, portrait):
    w = make_world(deployment, purpose="lobby_analytics", modes=("verify", "analyze"))
    sub = add_subject(w)
    consent(w, sub, "verify")  # verify consent does not carry over to analysis
    denial = authorize(w, sub, "analyze", attributes=["face_count"])
    assert isinstance(denial, Denial) and denial.code == codes.E_CONSENT_MISSING


def test_an_allowed_attribute_without_a_model_is_unsupported_not_faked(world, portrait):
    w, sub = world
    grant = authorize(w, sub, "analyze", attributes=["face_count", "glasses"])
    assert isinstance(grant, Grant)  # policy allows it ...
    with w.dep.transaction() as s, raises_code(E_ATTRIBUTE_UNSUPPORTED):
        analysis.analyze(s, grant, portrait, ["glasses"], now=NOW)  # ... but no model ships for it
    assert analysis_events(w.dep, sub) == []


def test_no_face_writes_no_event(world, detection_dir):
    w, sub = world
    grant = authorize(w, sub, "analyze", attributes=["head_pose"])
    with w.dep.transaction() as s, raises_code(E_NO_FACE):
        analysis.analyze(s, grant, detection_dir / "dogs.jpg", ["head_pose"], now=NOW)
    assert analysis_events(w.dep, sub) == []
