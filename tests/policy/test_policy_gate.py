"""The gate and the ledger: for every code, the allowed path and the refused path (issue 3).

Every test runs on SQLite and on PostgreSQL (``deployment`` fixture, tests/db_fixtures.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from db_fixtures import (
    ADMIN,
    NOTICE,
    NOW,
    add_subject,
    authorize,
    consent,
    guardian_for,
    make_world,
    raises_code,
    release_for,
)

from trustface.db import audit_store, repo
from trustface.db.models import DeviceLocation, new_id
from trustface.errors import CATALOGUE
from trustface.policy import codes, gate, ledger, sites
from trustface.policy.gate import Denial, Grant, GrantForgeryError

DAY = dt.timedelta(days=1)


def assert_denied(result, code):
    assert isinstance(result, Denial), f"expected {code}, got a grant {result}"
    assert result.code == code, result
    assert result.requirement_ids == CATALOGUE[code].requirements
    return result


def assert_granted(result):
    assert isinstance(result, Grant), f"expected a grant, got {result}"
    return result


# --- E_CONSENT_MISSING (R1) -----------------------------------------------------------------------

def test_R1_SPC_2_3_consent_missing_denied_then_granted_with_separate_consent(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    assert_denied(authorize(w, sub), codes.E_CONSENT_MISSING)
    c = consent(w, sub, "verify")
    g = assert_granted(authorize(w, sub))
    assert (g.tenant_id, g.site_id, g.subject_id, g.purpose, g.mode) == (w.tenant_id, w.site_id, sub, w.purpose, "verify")
    assert g.consent_id == c.id and g.basis == "consent"
    assert NOW < g.expires_at <= NOW + gate.DEFAULT_GRANT_TTL
    # evidence on the consent record (R1): notice hash, time, channel, actor, method
    assert (c.notice_hash, c.given_at, c.channel, c.actor, c.method) == (w.notice_hash, NOW, "kiosk", f"subject:{sub}", "click")


def test_R1_consent_is_per_mode_verify_does_not_cover_identify(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub, "verify")
    assert_denied(authorize(w, sub, "identify"), codes.E_CONSENT_MISSING)
    consent(w, sub, "identify")
    assert_granted(authorize(w, sub, "identify"))


def test_R1_unknown_subject_and_other_tenant_subject_denied(deployment):
    w = make_world(deployment)
    other = make_world(deployment)
    stranger = add_subject(other)
    consent(other, stranger)
    assert_denied(authorize(w, "sub_doesnotexist"), codes.E_CONSENT_MISSING)
    assert_denied(authorize(w, stranger), codes.E_CONSENT_MISSING)


def test_R13_consent_expires_with_purpose_retention(deployment):
    w = make_world(deployment, retention_days=30)
    sub = add_subject(w)
    consent(w, sub)
    assert_granted(authorize(w, sub, now=NOW + 29 * DAY))
    assert_denied(authorize(w, sub, now=NOW + 31 * DAY), codes.E_CONSENT_MISSING)


# --- E_CONSENT_BUNDLED (R1, SPC-4(2)) ----------------------------------------------------------------

def _payload(w, sub, **extra):
    return {"subject_id": sub, "site_id": w.site_id, "purpose": w.purpose, "mode": "verify",
            "notice_hash": w.notice_hash, "channel": "app", "method": "click", **extra}


@pytest.mark.parametrize("extra", [
    {"scopes": ["face", "marketing"]},
    {"scope": "all"},
    {"pre_ticked": True},
    {"accept_all": True},
    {"terms_accepted": True},
    {"marketing": True},
    {"purposes": ["door_access", "payment"]},
    {"mode": ["verify", "identify"]},
])
def test_R1_SPC_4_2_consent_bundled_refused(deployment, extra):
    w = make_world(deployment)
    sub = add_subject(w)
    with deployment.transaction() as s, raises_code(codes.E_CONSENT_BUNDLED):
        ledger.give_consent_from_payload(s, _payload(w, sub, **extra), actor="subject:x", now=NOW)
    assert_denied(authorize(w, sub), codes.E_CONSENT_MISSING)


def test_R1_SPC_4_2_separate_unticked_consent_allowed(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    with deployment.transaction() as s:
        c = ledger.give_consent_from_payload(s, _payload(w, sub, scopes=["face"], pre_ticked=False),
                                             actor="subject:x", now=NOW)
    assert c.status == "active"
    assert_granted(authorize(w, sub))


def test_R1_bundled_keyword_arguments_refused(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    for kw in ({"pre_ticked": True}, {"accept_all": True}, {"scopes": ("face", "analytics")}):
        with raises_code(codes.E_CONSENT_BUNDLED):
            consent(w, sub, **kw)


# --- E_GUARDIAN_REQUIRED (R3) --------------------------------------------------------------------

def test_R3_PIPL_31_cn_minor_needs_guardian(deployment):
    w = make_world(deployment, jurisdiction="cn")
    child = add_subject(w, birth_date=dt.date(2012, 1, 1))  # 13 on NOW
    with raises_code(codes.E_GUARDIAN_REQUIRED):
        consent(w, child)
    with raises_code(codes.E_GUARDIAN_REQUIRED):
        consent(w, child, guardian={"name": "P", "relationship": "neighbour", "verification": "id_document"})
    c = consent(w, child, guardian=guardian_for(w))
    assert c.guardian and "parent" in c.guardian
    assert_granted(authorize(w, child))


def test_R3_cn_fourteen_year_old_consents_alone(deployment):
    w = make_world(deployment, jurisdiction="cn")
    teen = add_subject(w, birth_date=dt.date(2011, 3, 1))  # 14 on NOW
    consent(w, teen)
    assert_granted(authorize(w, teen))


def test_R3_PIPL_31_cn_minor_needs_published_minors_rules(deployment):
    w = make_world(deployment, jurisdiction="cn", minors_notice=False)
    child = add_subject(w, birth_date=dt.date(2013, 1, 1))
    with raises_code(codes.E_NOTICE_NOT_SHOWN):
        consent(w, child, guardian=guardian_for(w))


def test_R3_GDPR_8_eu_member_state_age_is_configurable(deployment):
    default = make_world(deployment, jurisdiction="eu")          # 16
    lower = make_world(deployment, jurisdiction="eu", guardian_age=14)
    for w, needs_guardian in ((default, True), (lower, False)):
        sub = add_subject(w, birth_date=dt.date(2010, 1, 1))  # 15
        if needs_guardian:
            with raises_code(codes.E_GUARDIAN_REQUIRED):
                consent(w, sub)
            consent(w, sub, guardian=guardian_for(w))
        else:
            consent(w, sub)
        assert_granted(authorize(w, sub))


@pytest.mark.parametrize("age", [12, 17, None])
def test_R3_GDPR_8_eu_guardian_age_outside_13_16_rejected(deployment, age):
    w = make_world(deployment, jurisdiction="eu")
    if age is None:
        return
    with deployment.transaction() as s, raises_code("E_INVALID_ARGUMENT"):
        sites.create_site(s, tenant_id=w.tenant_id, name="x", site_type="online", jurisdiction="eu",
                          guardian_age=age, actor=ADMIN, now=NOW)


def test_R3_BIPA_15b_us_il_minor_needs_legally_authorized_representative(deployment):
    w = make_world(deployment, jurisdiction="us-il")
    teen = add_subject(w, birth_date=dt.date(2008, 1, 1))  # 17
    with raises_code(codes.E_GUARDIAN_REQUIRED):
        consent(w, teen)
    consent(w, teen, guardian={"name": "Rep", "relationship": "legally_authorized_representative",
                               "verification": "signed_form"})
    assert_granted(authorize(w, teen))


def test_R3_gate_denies_minor_whose_consent_lacks_guardian(deployment):
    """Age corrected after consent (the person was a minor all along): the gate stops at once."""
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub)
    assert_granted(authorize(w, sub))
    with deployment.transaction() as s:
        ledger.correct_subject_age(s, subject_id=sub, birth_date=dt.date(2013, 6, 1), actor=ADMIN, now=NOW)
    assert_denied(authorize(w, sub), codes.E_GUARDIAN_REQUIRED)


def test_R3_age_band_counts_conservatively(deployment):
    w = make_world(deployment, jurisdiction="cn")
    band_minor = add_subject(w, birth_date=None, age_band="12-17")
    band_adult = add_subject(w, birth_date=None, age_band="18+")
    with raises_code(codes.E_GUARDIAN_REQUIRED):
        consent(w, band_minor)
    consent(w, band_adult)
    assert_granted(authorize(w, band_adult))


def test_R3_subject_needs_age_data(deployment):
    w = make_world(deployment)
    with deployment.transaction() as s, raises_code("E_INVALID_ARGUMENT"):
        ledger.create_subject(s, tenant_id=w.tenant_id, actor=ADMIN, now=NOW)


# --- E_WRITTEN_RELEASE_REQUIRED (R2) ------------------------------------------------------------

def test_R2_BIPA_15b_us_il_written_release_required(deployment):
    w = make_world(deployment, jurisdiction="us-il")
    sub = add_subject(w)
    with raises_code(codes.E_WRITTEN_RELEASE_REQUIRED):
        consent(w, sub, written_release=None)
    with raises_code(codes.E_WRITTEN_RELEASE_REQUIRED):
        consent(w, sub, written_release={**release_for(w), "term": ""})
    with raises_code(codes.E_WRITTEN_RELEASE_REQUIRED):
        consent(w, sub, written_release=release_for(w, purpose="marketing"))
    with raises_code(codes.E_WRITTEN_RELEASE_REQUIRED):
        consent(w, sub, written_release=release_for(w), method="click")
    assert_denied(authorize(w, sub), codes.E_CONSENT_MISSING)
    c = consent(w, sub, written_release=release_for(w), method="written_release")
    assert '"term"' in c.written_release and w.purpose in c.written_release
    assert_granted(authorize(w, sub))


def test_R2_cn_profile_does_not_require_written_release(deployment):
    w = make_world(deployment, jurisdiction="cn")
    sub = add_subject(w)
    consent(w, sub)
    assert_granted(authorize(w, sub))


# --- E_NOTICE_NOT_SHOWN (R4) -----------------------------------------------------------------------

def test_R4_SPC_2_2_no_published_notice_denied(deployment):
    w = make_world(deployment, notice=False)
    sub = add_subject(w)
    assert_denied(authorize(w, sub), codes.E_NOTICE_NOT_SHOWN)
    with raises_code(codes.E_NOTICE_NOT_SHOWN):
        consent(w, sub)
    with deployment.transaction() as s:
        n = sites.create_notice(s, site_id=w.site_id, content=NOTICE, actor=ADMIN, now=NOW)
        # drafted but not published: still no notice
        assert sites.current_notice(s, w.site_id) is None
        sites.publish_notice(s, notice_id=n.id, actor=ADMIN, now=NOW)
    w.notice_hash = n.content_hash
    consent(w, sub)
    assert_granted(authorize(w, sub))


def test_R4_notice_change_needs_fresh_consent(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub)
    old_hash = w.notice_hash
    with deployment.transaction() as s:
        n2 = sites.create_notice(s, site_id=w.site_id, content={**NOTICE, "retention": "180 days"},
                                 actor=ADMIN, now=NOW + DAY)
        sites.publish_notice(s, notice_id=n2.id, actor=ADMIN, now=NOW + DAY)
    assert n2.version == 2 and n2.content_hash != old_hash
    assert_denied(authorize(w, sub, now=NOW + 2 * DAY), codes.E_NOTICE_NOT_SHOWN)
    with raises_code(codes.E_NOTICE_NOT_SHOWN):  # citing the old version is refused
        consent(w, sub, now=NOW + 2 * DAY)
    w.notice_hash = n2.content_hash
    consent(w, sub, now=NOW + 2 * DAY)
    assert_granted(authorize(w, sub, now=NOW + 2 * DAY))


def test_R4_PIPL_17_notice_missing_required_fields_rejected(deployment):
    w = make_world(deployment)
    content = {k: v for k, v in NOTICE.items() if k not in ("retention", "impact")}
    with deployment.transaction() as s, raises_code("E_INVALID_ARGUMENT") as info:
        sites.create_notice(s, site_id=w.site_id, content=content, actor=ADMIN, now=NOW)
    assert "retention" in info.value.message and "PIPL-17" in info.value.requirements


# --- E_PURPOSE_NOT_CONSENTED (R5) -----------------------------------------------------------------

def test_R5_SPC_2_4_purpose_not_consented(deployment):
    w = make_world(deployment)
    with deployment.transaction() as s:
        sites.create_purpose(s, site_id=w.site_id, name="attendance", allowed_modes=["verify"],
                             legal_basis="consent", necessity_justification="time sheets", retention_days=90,
                             actor=ADMIN, now=NOW)
    sub = add_subject(w)
    consent(w, sub, "verify")
    assert_denied(authorize(w, sub, purpose="attendance"), codes.E_PURPOSE_NOT_CONSENTED)
    assert_denied(authorize(w, sub, purpose="marketing"), codes.E_PURPOSE_NOT_CONSENTED)  # undeclared
    consent(w, sub, "verify", purpose="attendance")
    g = assert_granted(authorize(w, sub, purpose="attendance"))
    assert g.purpose == "attendance"


def test_R5_purpose_end_stops_grants(deployment):
    w = make_world(deployment)
    with deployment.transaction() as s:
        sites.create_purpose(s, site_id=w.site_id, name="event", allowed_modes=["verify"], legal_basis="consent",
                             necessity_justification="one-off event", retention_days=30,
                             ends_at=NOW + 2 * DAY, actor=ADMIN, now=NOW)
    sub = add_subject(w)
    consent(w, sub, purpose="event")
    g = assert_granted(authorize(w, sub, purpose="event", now=NOW + DAY))
    assert g.expires_at <= NOW + 2 * DAY
    assert_denied(authorize(w, sub, purpose="event", now=NOW + 3 * DAY), codes.E_PURPOSE_NOT_CONSENTED)


# --- E_MODE_NOT_ALLOWED (R5, R18) ---------------------------------------------------------------

def test_R5_mode_not_in_purpose_denied(deployment):
    w = make_world(deployment, modes=("verify",))
    sub = add_subject(w)
    consent(w, sub, "verify")
    assert_granted(authorize(w, sub, "verify"))
    assert_denied(authorize(w, sub, "identify"), codes.E_MODE_NOT_ALLOWED)
    assert_denied(authorize(w, sub, "bogus"), codes.E_MODE_NOT_ALLOWED)
    with raises_code(codes.E_MODE_NOT_ALLOWED):
        consent(w, sub, "identify")


def test_R18_SPC_2_1_identify_at_business_site_needs_legal_basis(deployment):
    w = make_world(deployment, site_type="business", legal_basis=False)
    assert_denied(authorize(w, None, "identify"), codes.E_MODE_NOT_ALLOWED)
    with deployment.transaction() as s:
        sites.record_legal_basis(s, purpose_id=w.purpose_id, mode="identify", basis="consent",
                                 justification="members opted in for hands-free entry", approver="dpo:lee",
                                 actor=ADMIN, now=NOW)
    g = assert_granted(authorize(w, None, "identify"))
    assert g.subject_id is None and g.is_gallery_grant


def test_R18_residential_identify_needs_no_site_attestation(deployment):
    w = make_world(deployment, site_type="residential", legal_basis=False, signage=False)
    assert_granted(authorize(w, None, "identify"))


# --- E_SIGNAGE_UNCONFIRMED (R18) ------------------------------------------------------------------

def test_R18_SPC_2_1_signage_unconfirmed_denied_then_attested(deployment):
    w = make_world(deployment, site_type="public", signage=False)
    assert_denied(authorize(w, None, "identify"), codes.E_SIGNAGE_UNCONFIRMED)
    sub = add_subject(w)
    consent(w, sub, "verify")
    assert_granted(authorize(w, sub, "verify"))  # verify is not gated by signage
    with deployment.transaction() as s:
        sites.attest_signage(s, site_id=w.site_id, attested_by="manager:wu", evidence="photo.jpg", actor=ADMIN, now=NOW)
    assert_granted(authorize(w, None, "identify"))


# --- E_PRIVATE_SPACE (R18) --------------------------------------------------------------------------

@pytest.mark.parametrize("location_type", ["hotel_room", "toilet", "changing_room"])
def test_R18_private_space_location_refused(deployment, location_type):
    w = make_world(deployment)
    with deployment.transaction() as s, raises_code(codes.E_PRIVATE_SPACE):
        sites.register_device_location(s, site_id=w.site_id, name="cam", location_type=location_type,
                                       actor=ADMIN, now=NOW)


def test_R18_gate_refuses_device_in_private_space(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub)
    with deployment.transaction() as s:
        door = sites.register_device_location(s, site_id=w.site_id, name="main door", location_type="entrance",
                                              actor=ADMIN, now=NOW)
    g = assert_granted(authorize(w, sub, location_id=door.id))
    assert g.location_id == door.id
    # a legacy row (e.g. imported before this check existed) is still refused at the gate
    with deployment.transaction() as s:
        legacy = repo.add(s, DeviceLocation(id=new_id("loc"), site_id=w.site_id, name="room 1204",
                                            location_type="hotel_room", created_at=NOW))
        from trustface import audit
        audit.record(s, "admin", actor=ADMIN, payload={"action": "legacy_import"}, now=NOW)
    assert_denied(authorize(w, sub, location_id=legacy.id), codes.E_PRIVATE_SPACE)
    assert_denied(authorize(w, sub, location_id="loc_unknown"), codes.E_NOT_FOUND)


# --- E_PIA_MISSING (R20) ----------------------------------------------------------------------------

def test_R20_PIPL_55_pia_missing_denied_then_approved(deployment):
    w = make_world(deployment, pia=False)
    sub = add_subject(w)
    consent(w, sub, "verify")
    consent(w, sub, "identify")
    assert_granted(authorize(w, sub, "verify"))  # residential verify: no PIA needed (profile)
    assert_denied(authorize(w, sub, "identify"), codes.E_PIA_MISSING)
    with deployment.transaction() as s:
        sites.approve_pia(s, purpose_id=w.purpose_id, modes=["verify"],
                          sections={"lawfulness_necessity": "a", "rights_impact": "b", "risks": "c", "protections": "d"},
                          approver="dpo:lee", actor=ADMIN, now=NOW)
    assert_denied(authorize(w, sub, "identify"), codes.E_PIA_MISSING)  # PIA does not cover identify
    with deployment.transaction() as s:
        sites.approve_pia(s, purpose_id=w.purpose_id, modes=["identify"],
                          sections={"lawfulness_necessity": "a", "rights_impact": "b", "risks": "c", "protections": "d"},
                          approver="dpo:lee", actor=ADMIN, now=NOW)
    assert_granted(authorize(w, sub, "identify"))


def test_R20_CAC_9_pia_needs_all_sections(deployment):
    w = make_world(deployment, pia=False)
    with deployment.transaction() as s, raises_code("E_INVALID_ARGUMENT"):
        sites.approve_pia(s, purpose_id=w.purpose_id, modes=["identify"], sections={"risks": "x"},
                          approver="dpo:lee", actor=ADMIN, now=NOW)


# --- E_PROHIBITED_INFERENCE (R19) ---------------------------------------------------------------------

@pytest.mark.parametrize("attribute", ["race", "ethnicity", "religion", "health", "sexual_orientation"])
def test_R19_SPC_2_7_prohibited_inference_denied(deployment, attribute):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub, "analyze")
    assert_denied(authorize(w, sub, "analyze", attributes=[attribute]), codes.E_PROHIBITED_INFERENCE)
    assert_denied(authorize(w, sub, "analyze", attributes=["age_estimate", attribute]), codes.E_PROHIBITED_INFERENCE)
    g = assert_granted(authorize(w, sub, "analyze", attributes=["age_estimate"]))
    assert g.attributes == ("age_estimate",)


def test_R19_emotion_blocked_at_eu_workplace_and_education(deployment):
    for site_type, blocked in (("workplace", True), ("education", True), ("residential", False)):
        w = make_world(deployment, jurisdiction="eu", site_type=site_type)
        sub = add_subject(w)
        consent(w, sub, "analyze")
        result = authorize(w, sub, "analyze", attributes=["emotion"])
        if blocked:
            assert_denied(result, codes.E_PROHIBITED_INFERENCE)
        else:
            assert_granted(result)
    cn = make_world(deployment, jurisdiction="cn", site_type="workplace")
    sub = add_subject(cn)
    consent(cn, sub, "analyze")
    assert_granted(authorize(cn, sub, "analyze", attributes=["emotion"]))


def test_R19_attribute_not_on_allow_list_denied(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub, "analyze")
    assert_denied(authorize(w, sub, "analyze", attributes=["shoe_size"]), codes.E_PROHIBITED_INFERENCE)


def test_R19_deny_list_cannot_be_configured_away():
    from trustface.policy import profiles
    from trustface.policy.vocab import DENY_ATTRIBUTES

    data = {"id": "cn", "name": "x", "guardian_age": 14, "guardian_age_min": 14, "guardian_age_max": 14,
            "guardian_title": "g", "minors_notice_required": True, "written_release_required": False,
            "max_retention_days": 10, "inactivity_limit_days": 10, "reprompt_cooldown_hours": 48,
            "pia_required_modes": [], "deny_attributes": [], "emotion_blocked_site_types": []}
    p = profiles._validate(data)
    assert {"race", "ethnicity", "religion", "health", "sexual_orientation"} <= p.deny_attributes
    assert DENY_ATTRIBUTES <= p.deny_attributes
    for pid in ("cn", "eu", "us-il"):
        assert DENY_ATTRIBUTES <= profiles.load(pid).deny_attributes
    with pytest.raises(ValueError):
        profiles._validate({**data, "reprompt_cooldown_hours": 12})  # R7: >= 48 h


# --- E_RETENTION_UNBOUNDED (R13) ----------------------------------------------------------------------

@pytest.mark.parametrize("retention", [None, 0, -5, "indefinite", 1.5, True])
def test_R13_SPC_11_retention_unbounded_refused(deployment, retention):
    w = make_world(deployment)
    with deployment.transaction() as s, raises_code(codes.E_RETENTION_UNBOUNDED):
        sites.create_purpose(s, site_id=w.site_id, name="forever", allowed_modes=["verify"], legal_basis="consent",
                             necessity_justification="n", retention_days=retention, actor=ADMIN, now=NOW)


def test_R13_BIPA_15a_us_il_cap_three_years(deployment):
    w = make_world(deployment, jurisdiction="us-il")
    with deployment.transaction() as s:
        with raises_code(codes.E_RETENTION_UNBOUNDED):
            sites.create_purpose(s, site_id=w.site_id, name="long", allowed_modes=["verify"], legal_basis="consent",
                                 necessity_justification="n", retention_days=1096, actor=ADMIN, now=NOW)
        p = sites.create_purpose(s, site_id=w.site_id, name="three_years", allowed_modes=["verify"],
                                 legal_basis="consent", necessity_justification="n", retention_days=1095,
                                 actor=ADMIN, now=NOW)
    assert p.retention_days == 1095


# --- E_SUSPENDED (R23) --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["suspend", "restrict"])
def test_R23_SPC_9_subject_suspension_takes_effect_on_next_call(deployment, kind):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub)
    assert_granted(authorize(w, sub))
    with deployment.transaction() as s:
        ledger.suspend_subject(s, subject_id=sub, reason="court order 2025-17", kind=kind, actor=ADMIN, now=NOW)
    assert_denied(authorize(w, sub), codes.E_SUSPENDED)
    with deployment.transaction() as s:
        ledger.lift_subject_suspension(s, subject_id=sub, actor=ADMIN, now=NOW)
    assert_granted(authorize(w, sub))


def test_R23_site_suspension_takes_effect_on_next_call(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub)
    with deployment.transaction() as s:
        g = gate.authorize(s, tenant_id=w.tenant_id, site_id=w.site_id, purpose=w.purpose, mode="verify",
                           subject_id=sub, now=NOW)
        assert isinstance(g, Grant)
        sites.suspend_site(s, site_id=w.site_id, reason="legal hold", actor=ADMIN, now=NOW)
        # same transaction, very next call
        assert_denied(gate.authorize(s, tenant_id=w.tenant_id, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                     subject_id=sub, now=NOW), codes.E_SUSPENDED)
        assert gate.consented_subject_ids(s, g, now=NOW) == frozenset()
    with deployment.transaction() as s:
        sites.lift_site_suspension(s, site_id=w.site_id, actor=ADMIN, now=NOW)
    assert_granted(authorize(w, sub))


# --- statutory bases (R22, SPC-5) --------------------------------------------------------------------

def test_R22_SPC_5_emergency_basis_needs_expiry_and_stops_at_expiry(deployment):
    w = make_world(deployment)
    sub = add_subject(w)  # no consent
    with deployment.transaction() as s:
        for kwargs in ({"expires_at": None}, {"expires_at": NOW - DAY}, {"expires_at": NOW + DAY, "approver": ""},
                       {"expires_at": NOW + DAY, "justification": " "}):
            args = {"justification": "missing child alert", "approver": "police liaison", **kwargs}
            with raises_code(codes.E_LEGAL_BASIS_INVALID):
                sites.record_legal_basis(s, purpose_id=w.purpose_id, mode="identify", basis="emergency",
                                         actor=ADMIN, now=NOW, **args)
        with raises_code(codes.E_LEGAL_BASIS_INVALID):
            sites.record_legal_basis(s, purpose_id=w.purpose_id, mode="identify", basis="because", justification="j",
                                     approver="a", expires_at=NOW + DAY, actor=ADMIN, now=NOW)
        rec = sites.record_legal_basis(s, purpose_id=w.purpose_id, mode="identify", basis="emergency",
                                       justification="missing child alert", approver="police liaison",
                                       expires_at=NOW + 2 * DAY, actor=ADMIN, now=NOW)
    g = assert_granted(authorize(w, sub, "identify", now=NOW + DAY))
    assert g.basis == "emergency" and g.legal_basis_id == rec.id and g.consent_id is None
    assert g.expires_at <= NOW + 2 * DAY
    gallery = assert_granted(authorize(w, None, "identify", now=NOW + DAY))
    with deployment.session() as s:
        assert sub in gate.consented_subject_ids(s, gallery, now=NOW + DAY)
    assert_denied(authorize(w, sub, "identify", now=NOW + 2 * DAY + dt.timedelta(seconds=1)), codes.E_CONSENT_MISSING)


def test_R22_revoked_statutory_basis_stops(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    with deployment.transaction() as s:
        rec = sites.record_legal_basis(s, purpose_id=w.purpose_id, mode="verify", basis="public_safety",
                                       justification="j", approver="a", expires_at=NOW + DAY, actor=ADMIN, now=NOW)
    assert_granted(authorize(w, sub, "verify"))
    with deployment.transaction() as s:
        sites.revoke_legal_basis(s, legal_basis_id=rec.id, actor=ADMIN, now=NOW)
    assert_denied(authorize(w, sub, "verify"), codes.E_CONSENT_MISSING)


# --- withdrawal (R14) and cooldown (R7) -----------------------------------------------------------------

def test_R14_PIPL_15_withdrawal_stops_processing_and_purges(deployment):
    from trustface.policy import retention

    calls = []

    def handler(session, *, subject_id, purpose_id, mode, reason, now):
        calls.append((subject_id, purpose_id, mode, reason))
        return 3

    retention.register_purge_handler("test.templates", handler)
    try:
        w = make_world(deployment)
        sub = add_subject(w)
        consent(w, sub, "verify", channel="kiosk")
        consent(w, sub, "identify", channel="kiosk")
        assert ledger.consent_steps()["withdraw"] <= ledger.consent_steps()["give"]
        with deployment.transaction() as s:  # one call, another channel of the same list
            ledger.withdraw_consent(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                    channel="app", actor=f"subject:{sub}", now=NOW)
        assert_denied(authorize(w, sub, "verify"), codes.E_CONSENT_MISSING)
        assert_granted(authorize(w, sub, "identify"))  # per mode: identify untouched
        assert calls == [(sub, w.purpose_id, "verify", "withdrawn")]
        with deployment.session() as s:
            certs = audit_store.events_of_type(s, "deletion", subject_id=sub)
        assert len(certs) == 1 and '"test.templates":3' in certs[0]["payload"]  # beside gallery.templates
        with deployment.transaction() as s, raises_code(codes.E_CONSENT_MISSING):
            ledger.withdraw_consent(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                    channel="app", actor="x", now=NOW)
    finally:
        retention.unregister_purge_handler("test.templates")


def test_R7_NDSR_22_no_reprompt_within_cooldown_unless_subject_starts(deployment):
    w = make_world(deployment, jurisdiction="eu")  # 48 h cooldown
    sub = add_subject(w)
    with deployment.transaction() as s:
        ledger.record_refusal(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify", channel="app",
                              actor=f"subject:{sub}", now=NOW)
        assert not ledger.may_prompt(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                     now=NOW + dt.timedelta(hours=47))
        assert ledger.may_prompt(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                 initiated_by="subject", now=NOW + dt.timedelta(hours=1))
        assert ledger.may_prompt(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify",
                                 now=NOW + dt.timedelta(hours=49))
    with raises_code(codes.E_REPROMPT_COOLDOWN):
        consent(w, sub, initiated_by="processor", now=NOW + dt.timedelta(hours=47))
    consent(w, sub, initiated_by="subject", now=NOW + dt.timedelta(hours=1))
    assert_granted(authorize(w, sub, now=NOW + dt.timedelta(hours=2)))


def test_R7_processor_may_prompt_after_cooldown(deployment):
    w = make_world(deployment, jurisdiction="cn")  # 168 h cooldown
    sub = add_subject(w)
    with deployment.transaction() as s:
        ledger.record_refusal(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="verify", channel="desk",
                              actor="desk:1", now=NOW)
    with raises_code(codes.E_REPROMPT_COOLDOWN):
        consent(w, sub, initiated_by="processor", now=NOW + dt.timedelta(hours=100))
    consent(w, sub, initiated_by="processor", now=NOW + dt.timedelta(hours=169))


# --- the Grant itself ------------------------------------------------------------------------------

def test_grant_cannot_be_forged_or_altered(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    consent(w, sub)
    g = assert_granted(authorize(w, sub))
    with pytest.raises(GrantForgeryError):
        Grant(grant_id="grt_x", tenant_id=w.tenant_id, site_id=w.site_id, subject_id=sub, purpose=w.purpose,
              purpose_id=w.purpose_id, mode="verify", issued_at=NOW, expires_at=NOW + DAY, basis="consent")
    with pytest.raises(GrantForgeryError):
        dataclasses.replace(g, subject_id="sub_other")
    with pytest.raises(GrantForgeryError):
        dataclasses.replace(g, expires_at=NOW + 365 * DAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.mode = "identify"  # type: ignore[misc]
    assert gate.require_grant(g, mode="verify", purpose=w.purpose, subject_id=sub, now=NOW) is g
    for kwargs, code in (({"mode": "identify"}, codes.E_MODE_NOT_ALLOWED),
                         ({"purpose": "payment"}, codes.E_PURPOSE_NOT_CONSENTED),
                         ({"subject_id": "sub_other"}, codes.E_CONSENT_MISSING)):
        with raises_code(code):
            gate.require_grant(g, now=NOW, **kwargs)
    with raises_code(codes.E_CONSENT_MISSING):
        gate.require_grant(g, now=g.expires_at)
    with raises_code(codes.E_CONSENT_MISSING):
        gate.require_grant(object(), now=NOW)


def test_every_grant_and_denial_is_audited(deployment):
    w = make_world(deployment)
    sub = add_subject(w)
    g = authorize(w, sub)
    consent(w, sub)
    ok = authorize(w, sub)
    with deployment.session() as s:
        denials = audit_store.events_of_type(s, "denial", subject_id=sub)
        grants = audit_store.events_of_type(s, "grant", subject_id=sub)
    assert [d["seq"] for d in denials] == [g.audit_seq] and '"code":"E_CONSENT_MISSING"' in denials[0]["payload"]
    assert [e["seq"] for e in grants] == [ok.audit_seq] and ok.grant_id in grants[0]["payload"]


def test_R17_consented_subject_ids_filters_the_site_gallery(deployment):
    w = make_world(deployment)
    a, b, c, d, e = (add_subject(w) for _ in range(5))
    consent(w, a, "identify")                       # current
    consent(w, b, "verify")                         # other mode only
    consent(w, c, "identify")
    with deployment.transaction() as s:             # withdrawn
        ledger.withdraw_consent(s, subject_id=c, site_id=w.site_id, purpose=w.purpose, mode="identify",
                                channel="app", actor="x", now=NOW)
    consent(w, d, "identify")
    with deployment.transaction() as s:             # suspended
        ledger.suspend_subject(s, subject_id=d, reason="dispute", actor=ADMIN, now=NOW)
    consent(w, e, "identify")
    with deployment.transaction() as s:             # turns out to be a minor without guardian consent
        ledger.correct_subject_age(s, subject_id=e, birth_date=dt.date(2015, 1, 1), actor=ADMIN, now=NOW)
    g = assert_granted(authorize(w, None, "identify"))
    with deployment.session() as s:
        assert gate.consented_subject_ids(s, g, now=NOW) == frozenset({a})
        # the gallery asks only about its nearest candidates: the same rules, fewer rows read
        assert gate.consented_subject_ids(s, g, now=NOW, among={a, b, c, d, e}) == frozenset({a})
        assert gate.consented_subject_ids(s, g, now=NOW, among={b, c, d, e}) == frozenset()
        expired_now = NOW + 366 * DAY
        with raises_code(codes.E_CONSENT_MISSING):  # an expired grant cannot be used to list subjects
            gate.consented_subject_ids(s, g, now=expired_now)


def test_R13_record_interaction_moves_the_inactivity_clock(deployment):
    w = make_world(deployment, retention_days=1000)
    sub, idle = add_subject(w), add_subject(w)
    consent(w, sub, "identify")
    consent(w, idle, "identify")
    g = assert_granted(authorize(w, None, "identify", now=NOW + 300 * DAY))
    with deployment.transaction() as s:
        gate.record_interaction(s, g, sub, now=NOW + 300 * DAY)
        from trustface import audit
        audit.record(s, "match", actor="gallery", subject_id=sub, payload={"grant_id": g.grant_id}, now=NOW + 300 * DAY)
    assert_granted(authorize(w, sub, "identify", now=NOW + 400 * DAY))        # seen at day 300
    assert_denied(authorize(w, idle, "identify", now=NOW + 400 * DAY), codes.E_CONSENT_MISSING)  # lapsed
    with deployment.session() as s:
        assert repo.subject(s, sub).last_interaction_at == NOW + 400 * DAY
