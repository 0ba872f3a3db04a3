"""Notices generated from the configuration (zh/en, versioned, cited by consents) and impact
assessments (draft, approval, staleness, E_PIA_MISSING when identify/analyze is switched on)."""

import datetime as dt
import json

from compliance_worlds import LATER
from db_fixtures import ADMIN, NOTICE, NOW, PIA_SECTIONS, add_subject, make_world, raises_code

from trustface.compliance import assess, notices, pia
from trustface.db import compliance_store
from trustface.errors import E_INVALID_ARGUMENT
from trustface.policy import gate, ledger, sites
from trustface.policy.vocab import NOTICE_FIELDS


def test_generated_notice_is_complete_bilingual_versioned_and_cited_by_consent(sqlite_dep):
    w = make_world(sqlite_dep, notice=False, modes=("verify", "identify"))
    with sqlite_dep.transaction() as s:
        n1 = notices.generate(s, w.site_id, publish=True, actor=ADMIN, now=NOW)
        again = notices.generate(s, w.site_id, publish=True, actor=ADMIN, now=NOW)
    assert again.id == n1.id and n1.version == 1  # unchanged configuration: no new version
    content = json.loads(n1.content)
    assert all(content[f] for f in NOTICE_FIELDS) and content["on_expiry_action"]["zh"]
    assert content["purposes"][0]["name"] == "door_access" and content["purposes"][0]["retention_days"] == 365
    subject = add_subject(w)
    with sqlite_dep.transaction() as s:
        c = ledger.give_consent(s, subject_id=subject, site_id=w.site_id, purpose="door_access", mode="verify",
                                notice_hash=n1.content_hash, channel="app", method="click", actor="subject:x", now=NOW)
        assert c.notice_hash == n1.content_hash and c.notice_id == n1.id
        zh = notices.render_current(s, w.site_id, lang="zh")
        en = notices.render_current(s, w.site_id, lang="en")
    assert "人脸信息处理规则" in zh and "撤回同意" in zh and "保存期限" in zh and n1.content_hash in zh
    assert "Face information processing rules" in en and "Withdrawing your consent" in en and "365 days" in en
    with sqlite_dep.transaction() as s:  # a configuration change makes the next version
        sites.create_purpose(s, site_id=w.site_id, name="parcel_pickup", allowed_modes=["verify"], legal_basis="consent",
                             necessity_justification="collect parcels without a card", retention_days=90,
                             actor=ADMIN, now=NOW)
        n2 = notices.generate(s, w.site_id, publish=True, actor=ADMIN, now=NOW)
    assert n2.version == 2 and n2.content_hash != n1.content_hash
    with sqlite_dep.transaction() as s:  # the consent now cites an older version: a warning, with the count
        f = {x["id"]: x for x in assess(s, w.site_id, directory=sqlite_dep.directory, now=LATER)["findings"]}
    assert f["notice_published"]["status"] == "warn"
    assert f["notice_published"]["evidence"]["consents_citing_older_version"] == 1


def test_every_mode_is_announced_in_both_languages_including_photo_keeping(sqlite_dep):
    """A purpose may offer any mode of policy.vocab.MODES; the generated notice and the web pages
    must say each in words (R9: keeping photos is announced as its own, written-consent mode)."""
    from trustface.policy.vocab import MODES
    from trustface.web.i18n import T

    assert set(MODES) <= set(notices.MODE_NAMES) and all(f"mode_{m}" in T for m in MODES)
    w = make_world(sqlite_dep, notice=False, modes=MODES)
    with sqlite_dep.transaction() as s:
        n = notices.generate(s, w.site_id, publish=True, actor=ADMIN, now=NOW)
    content = json.loads(n.content)
    assert "written consent" in json.dumps(content["methods"]["en"])
    assert "书面同意" in json.dumps(content["methods"]["zh"], ensure_ascii=False)


def test_a_hand_written_notice_renders_with_translated_labels(sqlite_dep):
    w = make_world(sqlite_dep)
    with sqlite_dep.transaction() as s:
        html = notices.render_current(s, w.site_id, lang="zh")
    assert "个人信息处理者" in html and NOTICE["controller"] in html


def _completed(doc: dict) -> dict:
    sections = dict(doc["sections"])
    sections["lawfulness_necessity"] = "Opt-in 1:N at the main gate; PIN and card remain at every gate."
    sections["rights_impact"] = "Low: residents choose, withdraw in one step; minors verify only."
    sections["risks"] = "Leakage: low likelihood, high harm; false match: low with the 1e-4 operating point."
    sections["protections"] = sections["protections"].replace("TODO: confirm", "Confirmed:")
    sections["residual_risk"] = "low"
    return {**doc, "sections": sections}


def test_pia_draft_approval_and_switching_identify_on(sqlite_dep):
    w = make_world(sqlite_dep, modes=("verify",), pia=False, legal_basis=False)
    with sqlite_dep.transaction() as s:
        doc = pia.draft(s, w.site_id, "door_access", modes=["verify", "identify"], now=NOW)
        assert doc["modes"] == ["verify", "identify"] and "Tower A" in doc["sections"]["description"]
        with raises_code(E_INVALID_ARGUMENT) as info:
            pia.approve(s, pia.load(pia.dump(doc)), approver="dpo:lee", actor=ADMIN, now=NOW)
        assert "TODO" in info.value.message
        # identify cannot be switched on before an approved PIA covers it (R20)
        with raises_code("E_PIA_MISSING"):
            sites.set_purpose_modes(s, purpose_id=w.purpose_id, modes=["verify", "identify"], actor=ADMIN, now=NOW)
    with sqlite_dep.transaction() as s:
        row = pia.approve(s, pia.load(pia.dump(_completed(doc))), approver="dpo:lee", actor=ADMIN, now=NOW)
        assert json.loads(row.sections)["residual_risk"] == "low"
        p = sites.set_purpose_modes(s, purpose_id=w.purpose_id, modes=["verify", "identify"], actor=ADMIN, now=NOW)
        assert p.allowed_modes == "verify,identify"
        assert sites.pia_status(s, w.purpose_id).state == "fresh"
        # analyze on top: the PIA does not cover it
        with raises_code("E_PIA_MISSING"):
            sites.set_purpose_modes(s, purpose_id=w.purpose_id, modes=["verify", "identify", "analyze"], actor=ADMIN,
                                    now=NOW)
    subject = add_subject(w)
    with sqlite_dep.transaction() as s:
        ledger.give_consent(s, subject_id=subject, site_id=w.site_id, purpose="door_access", mode="identify",
                            notice_hash=w.notice_hash, channel="kiosk", method="click", actor="subject:x", now=NOW)
        g = gate.authorize(s, tenant_id=w.tenant_id, site_id=w.site_id, purpose="door_access", mode="identify",
                           subject_id=subject, now=NOW)
    assert isinstance(g, gate.Grant)


def test_a_pia_goes_stale_when_the_announced_scope_or_modes_change(sqlite_dep):
    w = make_world(sqlite_dep, modes=("verify", "identify"))
    with sqlite_dep.transaction() as s:
        assert sites.pia_status(s, w.purpose_id).state == "fresh"
        n = sites.create_notice(s, site_id=w.site_id, content={**NOTICE, "methods": "1:N identification everywhere"},
                                actor=ADMIN, now=NOW + dt.timedelta(minutes=5))
        sites.publish_notice(s, notice_id=n.id, actor=ADMIN, now=NOW + dt.timedelta(minutes=5))
        st = sites.pia_status(s, w.purpose_id)
        assert st.state == "stale" and st.reasons == ("notice_scope_changed: methods",)
        f = {x["id"]: x for x in assess(s, w.site_id, directory=sqlite_dep.directory, now=LATER)["findings"]}
    assert f["pia"]["status"] == "fail" and "notice_scope_changed" in f["pia"]["evidence"]["summary"]
    assert {"PIPL-55", "CAC-9", "R20"} <= set(f["pia"]["requirements"])
    with sqlite_dep.transaction() as s:  # switching a mode off keeps the covering PIA (not revoked)
        sites.set_purpose_modes(s, purpose_id=w.purpose_id, modes=["verify"], actor=ADMIN, now=NOW)
        assert [p.revoked_at for p in compliance_store.pias_of_purpose(s, w.purpose_id)] == [None]


def test_switching_modes_revokes_pias_that_do_not_cover_the_new_set(sqlite_dep):
    w = make_world(sqlite_dep, modes=("verify",), pia=False, legal_basis=False)
    with sqlite_dep.transaction() as s:
        narrow = sites.approve_pia(s, purpose_id=w.purpose_id, modes=["verify"], sections=PIA_SECTIONS,
                                   approver="dpo", actor=ADMIN, now=NOW)
        wide = sites.approve_pia(s, purpose_id=w.purpose_id, modes=["verify", "identify"], sections=PIA_SECTIONS,
                                 approver="dpo", actor=ADMIN, now=NOW)
        sites.set_purpose_modes(s, purpose_id=w.purpose_id, modes=["verify", "identify"], actor=ADMIN, now=NOW)
        assert narrow.revoked_at == NOW and wide.revoked_at is None
        assert sites.pia_status(s, w.purpose_id).pia.id == wide.id


def test_high_residual_risk_needs_prior_consultation(sqlite_dep):
    w = make_world(sqlite_dep, modes=("verify",), pia=False)
    with sqlite_dep.transaction() as s:
        doc = _completed(pia.draft(s, w.site_id, "door_access", now=NOW))
        doc["sections"]["residual_risk"] = "high"
        with raises_code(E_INVALID_ARGUMENT):
            pia.approve(s, doc, approver="dpo", actor=ADMIN, now=NOW)
        doc["sections"]["prior_consultation"] = "consulted the authority on 2025-02-20, reference 17"
        assert pia.approve(s, doc, approver="dpo", actor=ADMIN, now=NOW).approver == "dpo"
