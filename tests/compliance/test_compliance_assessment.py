"""The self-assessment from the live system (issue 7, item 2): the demo residential site passes
every check; the misconfigured mall fails each misconfiguration with the right requirement IDs
and evidence. Both on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from compliance_worlds import LATER
from db_fixtures import NOW, make_world
from sqlalchemy import update

from trustface.compliance import assess
from trustface.db.models import AuditEvent
from trustface.policy import retention

JSON_KEYS = {"id", "title", "requirements", "status", "evidence", "fix"}


def _run(dep, site_id, **kw):
    with dep.transaction() as s:
        return assess(s, site_id, directory=dep.directory, now=kw.pop("now", LATER), **kw)


def _by_id(result) -> dict:
    return {f["id"]: f for f in result["findings"]}


def test_the_demo_residential_site_passes_every_check(deployment, demo):
    result = _run(deployment, demo["site_id"])
    assert result["site"]["id"] == demo["site_id"] and result["generated_at"] == LATER.isoformat()
    assert [r["id"] for r in result["regimes"]] == ["cn-spc-2021", "cn-pipl", "cn-cac-2025", "cn-gbt41819"]
    failing = {f["id"]: (f["status"], f["evidence"].get("summary")) for f in result["findings"] if f["status"] != "pass"}
    assert not failing, failing
    assert result["summary"] == {"pass": 16, "warn": 0, "fail": 0, "verdict": "pass"}
    for f in result["findings"]:
        assert JSON_KEYS <= set(f) and f["requirements"] and f["fix"] and f["evidence"]["summary"]
        assert any(r.startswith("R") and r[1:].isdigit() for r in f["requirements"]), f["id"]
    found = _by_id(result)
    assert found["face_only_gates"]["requirements"][:2] == ["SPC-10(1)", "SPC-4(1)"]
    people = demo["people"]
    # the evidence counts what is there: two templates left (alice identify, chen verify), dana's purged
    assert found["enrolled_without_consent"]["evidence"]["templates"] == 2
    assert found["minors_guardian"]["evidence"]["minors_with_active_consent"] == 1
    alt = found["declined_alternative"]["evidence"]
    assert (alt["enter_by_face"], alt["need_non_face_way_in"], alt["without_working_credential"]) == (1, 3, 0)
    assert found["retention"]["evidence"]["deletion_certificates"] >= 1  # dana's withdrawal
    assert found["audit_chain"]["evidence"]["ok"] is True
    coverage = {(r["purpose"], r["mode"]): r for r in result["metrics"]["consent_coverage"]}
    assert coverage[("door_access", "identify")]["current"] == 1 and coverage[("door_access", "identify")]["ended"] == 1
    assert result["metrics"]["access_by_method"] == {"card": {"granted": 2, "denied": 0},
                                                     "pin": {"granted": 2, "denied": 1}}
    assert people["alice"] not in found["declined_alternative"]["evidence"]["sample_subject_ids"]


def test_the_misconfigured_mall_fails_each_check_with_ids_and_evidence(deployment, mall):
    result = _run(deployment, mall["site_id"])
    found = _by_id(result)
    expected = {
        "face_only_gates": {"CAC-10", "PIPL-16", "GBT41819-5a", "SPC-4(1)", "R6"},
        "processing_without_consent": {"SPC-2(3)", "SPC-2(4)", "PIPL-26", "PIPL-29", "CAC-6", "R1", "R22"},
        "premises_modes": {"SPC-2(1)", "PIPL-26", "CAC-13", "R18"},
        "retention": {"SPC-11", "PIPL-19", "CAC-8", "R13"},
        "minors_guardian": {"SPC-2(3)", "PIPL-31", "CAC-7", "R3"},
        "photos_kept": {"GBT41819-7", "CAC23-raw", "PIPL-6", "R9"},
    }
    for check, ids in expected.items():
        f = found[check]
        assert f["status"] == "fail", (check, f["evidence"])
        assert ids <= set(f["requirements"]), (check, f["requirements"])
    assert result["summary"]["verdict"] == "fail"
    # SPC-10(1) binds property managers of residential sites; a mall is bound by CAC-10 instead
    assert "SPC-10(1)" not in found["face_only_gates"]["requirements"]

    ev = found["face_only_gates"]["evidence"]
    assert ev["face_only_gates"] == [mall["staff_door"]] and ev["configured_outside_trustface"] == [mall["staff_door"]]
    assert "Staff door" in found["face_only_gates"]["fix"]

    ev = found["processing_without_consent"]["evidence"]
    assert ev["grants_without_consent"] == 2 and ev["grants_without_consent_by_mode"] == {"analyze": 2}
    assert ev["audit_seqs"] == mall["analysis_grant_seqs"]
    assert sorted(ev["sample_subject_ids"]) == sorted(mall["shoppers"])
    assert ev["statutory_bases_in_force"] == [mall["legal_basis_id"]]
    assert mall["legal_basis_id"] in found["processing_without_consent"]["fix"]

    ev = found["premises_modes"]["evidence"]
    assert ev["signage_attested_at"] is None and ev["without_legal_basis"] == []
    assert "signage" in ev["summary"] and ev["audit_seqs"], "the earlier attestation event is still evidence"

    ev = found["retention"]["evidence"]
    assert ev["unbounded_purposes"] == ["shopper_analytics"] and ev["retention_days"]["shopper_analytics"] == 36500
    assert ev["sample_purpose_ids"] == [mall["analytics_id"]]

    ev = found["minors_guardian"]["evidence"]
    assert ev["sample_subject_ids"] == [mall["kid"]] and ev["without_guardian_consent"] == 1
    assert len(ev["audit_seqs"]) == 2  # the consent given as an adult, then the age correction
    assert "minors' processing rules" in ev["summary"]

    ev = found["photos_kept"]["evidence"]
    assert ev["image_files"] == 3 and all(p.startswith("captures/") for p in ev["sample_image_files"])
    assert ev["unexpected_binary_columns"] == [] and ev["oversized_binary_values"] == {}
    assert ev["photos_kept_encrypted"] == 1 and ev["sample_subject_ids"] == [mall["shoppers"][0]]
    assert "without a current written image consent" in ev["summary"]

    # what the mall did not break still passes: nothing was hidden by the direct edits
    for check in ("audit_chain", "disclosures", "enrolled_without_consent", "key_management"):
        assert found[check]["status"] == "pass", (check, found[check]["evidence"])


def test_overdue_purges_fail_until_the_retention_job_runs(sqlite_dep, sqlite_demo):
    later = NOW + dt.timedelta(days=400)  # past the 365-day retention of the demo consents
    found = _by_id(_run(sqlite_dep, sqlite_demo["site_id"], now=later))
    assert found["retention"]["status"] == "fail"
    assert found["retention"]["evidence"]["overdue_consents"] == 2 and "retention run" in found["retention"]["fix"]
    assert found["enrolled_without_consent"]["status"] == "fail"
    assert found["key_management"]["status"] == "warn"  # template key not rotated for 400 days
    with sqlite_dep.transaction() as s:
        retention.run(s, now=later)
    found = _by_id(_run(sqlite_dep, sqlite_demo["site_id"], now=later))
    assert found["retention"]["status"] == "pass" and found["enrolled_without_consent"]["status"] == "pass"


def test_filing_threshold_warns_at_80_percent_and_fails_at_the_threshold(sqlite_dep, sqlite_demo):
    found = _by_id(_run(sqlite_dep, sqlite_demo["site_id"], params={"filing_threshold": {"threshold": 2}}))
    assert found["filing_threshold"]["status"] == "fail"
    assert found["filing_threshold"]["evidence"]["unique_subjects"] == 2
    found = _by_id(_run(sqlite_dep, sqlite_demo["site_id"], params={"filing_threshold": {"threshold": 3, "warn_ratio": 0.6}}))
    assert found["filing_threshold"]["status"] == "warn"
    assert found["filing_threshold"]["requirements"][:2] == ["PIPL-52", "CAC-15"]


def test_a_tampered_audit_event_fails_the_chain_check(sqlite_dep, sqlite_demo):
    with sqlite_dep.engine.begin() as conn:
        conn.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.seq == 5)
                     .values(payload='{"action":"rewritten"}'))
    f = _by_id(_run(sqlite_dep, sqlite_demo["site_id"]))["audit_chain"]
    assert f["status"] == "fail" and f["evidence"]["first_bad_seq"] == 5 and f["evidence"]["audit_seqs"] == [5]


@pytest.mark.parametrize("jurisdiction,regime,expected_id", [("eu", "eu-gdpr", "GDPR-7(4)"),
                                                              ("us-il", "us-il-bipa", "BIPA-15a")])
def test_other_profiles_apply_their_own_pack(sqlite_dep, jurisdiction, regime, expected_id):
    w = make_world(sqlite_dep, jurisdiction=jurisdiction, modes=("verify",))
    result = _run(sqlite_dep, w.site_id)
    assert [r["id"] for r in result["regimes"]] == [regime]
    ids = {i for f in result["findings"] for i in f["requirements"]}
    assert expected_id in ids and not any(i.startswith(("SPC-", "PIPL-", "CAC-")) for i in ids)
    filing = _by_id(result)["filing_threshold"]
    assert filing["status"] == "pass" and "not applicable" in filing["evidence"]["summary"]
