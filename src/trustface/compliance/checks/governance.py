"""Accountability and security: impact assessments (R20), the 100,000-person filing threshold (R24),
an intact audit chain (R21), template keys and the key file (R11, R12), and no disclosure without
a permitted basis (R16)."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

from trustface import audit
from trustface.compliance.checks.context import FAIL, PASS, SAMPLE, WARN, Context, Result, sample
from trustface.db import access_store, compliance_store, gallery_store
from trustface.policy import sites


def pia_check(ctx: Context) -> Result:
    statuses = [sites.pia_status(ctx.session, p.id) for p in ctx.purposes]
    approved = {e["payload"].get("pia_id"): e["seq"] for e in ctx.site_events(["admin"], ["pia_approved"])}
    rows, fails, warns = [], [], []
    for st, p in zip(statuses, ctx.purposes, strict=False):
        row = {"purpose": p.name, **st.to_dict(), "audit_seq": approved.get(st.pia.id) if st.pia else None}
        rows.append(row)
        if st.state in ("missing", "stale"):
            fails.append(f"{p.name}: {st.state}" + (f" ({'; '.join(st.reasons)})" if st.state == "stale" else ""))
        elif st.state == "not_required" and ctx.site.jurisdiction == "cn":
            warns.append(f"{p.name}: no PIA (face data is sensitive personal information, PIPL-55)")
        if st.pia is not None:
            sections = json.loads(st.pia.sections)
            if ctx.site.jurisdiction == "eu" and not sections.get("description"):
                warns.append(f"{p.name}: the DPIA lacks the systematic description (GDPR-35(7)(a))")
            if str(sections.get("residual_risk", "")).strip().lower() == "high" and not sections.get("prior_consultation"):
                warns.append(f"{p.name}: high residual risk without a recorded prior consultation (GDPR-36)")
    evidence: dict[str, Any] = {"purposes": rows, "sample_pia_ids": sample(r["pia_id"] for r in rows),
                                "audit_seqs": sorted(s for s in (r["audit_seq"] for r in rows) if s)[:SAMPLE]}
    if fails:
        evidence["summary"] = "; ".join(fails)
        return Result(FAIL, evidence)
    if warns:
        evidence["summary"] = "; ".join(warns)
        return Result(WARN, evidence)
    evidence["summary"] = (f"{len(rows)} purposes, each covered by an approved, fresh impact assessment" if rows
                           else "the site declares no purpose yet")
    return Result(PASS, evidence)


def filing_threshold(ctx: Context) -> Result:
    threshold = int(ctx.param("filing_threshold", "threshold", 100000))
    ratio = float(ctx.param("filing_threshold", "warn_ratio", 0.8))
    counts = compliance_store.tenant_face_subject_counts(ctx.session, ctx.site.tenant_id)
    people = counts["either"]
    evidence: dict[str, Any] = {"tenant_id": ctx.site.tenant_id, "unique_subjects": people, "with_templates": counts["templates"],
                                "with_active_consent": counts["active_consents"], "threshold": threshold,
                                "share_of_threshold": round(people / threshold, 4) if threshold else None,
                                "sites_of_tenant": len(access_store.sites_of_tenant(ctx.session, ctx.site.tenant_id))}
    if ctx.site.jurisdiction != "cn":
        evidence["summary"] = (f"not applicable under the {ctx.site.jurisdiction} profile (CAC-15 binds processors in "
                               f"the PRC); {people} people counted")
        return Result(PASS, evidence)
    if people >= threshold:
        evidence["summary"] = f"{people} people's face information is held by this processor: at or over {threshold}"
        return Result(FAIL, evidence)
    if people >= ratio * threshold:
        evidence["summary"] = f"{people} people: {people / threshold:.0%} of the {threshold} filing threshold"
        return Result(WARN, evidence, "Prepare the CAC filing pack and a PI protection officer now.")
    evidence["summary"] = f"{people} people across the processor's sites, {people / threshold:.2%} of {threshold}"
    return Result(PASS, evidence)


def audit_chain(ctx: Context) -> Result:
    result = audit.verify(ctx.session)
    evidence: dict[str, Any] = {"ok": result.ok, "events": result.events, "first_bad_seq": result.first_bad,
                                "reason": result.reason or None,
                                "tenant_events": compliance_store.count_events(ctx.session, tenant_id=ctx.site.tenant_id)}
    if not result.ok:
        evidence["summary"] = f"the chain breaks at event {result.first_bad}: {result.reason}"
        evidence["audit_seqs"] = [result.first_bad]
        return Result(FAIL, evidence)
    evidence["summary"] = f"all {result.events} events link and the signed head matches"
    return Result(PASS, evidence)


def _key_file(directory: Path) -> dict:
    from trustface.deployment import KEY_FILE

    path = directory / KEY_FILE
    try:
        info = path.stat()
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {"present": False}
    created = data.get("created_at")
    return {"present": True, "mode": oct(stat.S_IMODE(info.st_mode)), "created_at": created,
            "owner_only": not stat.S_IMODE(info.st_mode) & 0o077}


def key_management(ctx: Context) -> Result:
    max_key_age = int(ctx.param("key_management", "tenant_key_max_age_days", 365))
    max_file_age = int(ctx.param("key_management", "key_file_max_age_days", 730))
    tkey = gallery_store.tenant_key(ctx.session, ctx.site.tenant_id)
    rotations = [e["seq"] for e in compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, types=["admin"],
                                                            actions=["template_key_rotated"])]
    evidence: dict[str, Any] = {"audit_seqs": rotations[-SAMPLE:]}
    fails, warns = [], []
    if tkey is None:
        evidence["template_key"] = None
    else:
        age = (ctx.now - tkey.rotated_at).days
        behind_subjects = [k.subject_id for k in gallery_store.subject_keys_of_tenant(ctx.session, ctx.site.tenant_id)
                           if k.key_version != tkey.version]
        behind_templates = [t for t in ctx.templates if t[4] != tkey.version]
        evidence["template_key"] = {"version": tkey.version, "rotated_at": tkey.rotated_at.isoformat(),
                                    "age_days": age, "max_age_days": max_key_age,
                                    "subject_keys_on_older_version": len(behind_subjects),
                                    "template_groups_on_older_version": len(behind_templates)}
        evidence["sample_subject_ids"] = sample(behind_subjects + [t[0] for t in behind_templates])
        if behind_subjects or behind_templates:
            fails.append(f"{len(behind_subjects) + len(behind_templates)} keys or templates are not on the current key "
                         f"version {tkey.version} (an interrupted rotation)")
        if age > max_key_age:
            warns.append(f"the template key was last rotated {age} days ago (policy: {max_key_age})")
    if ctx.directory is not None:
        kf = _key_file(ctx.directory)
        evidence["key_file"] = kf
        if not kf.get("present"):
            fails.append("the deployment key file is missing or unreadable")
        else:
            if not kf["owner_only"]:
                fails.append(f"the key file is readable by others (mode {kf['mode']})")
            if kf.get("created_at"):
                file_age = (ctx.now - dt.datetime.fromisoformat(kf["created_at"])).days
                kf["age_days"], kf["max_age_days"] = file_age, max_file_age
                if file_age > max_file_age:
                    warns.append(f"the key file (audit and key-encryption secrets) is {file_age} days old "
                                 f"(policy: {max_file_age})")
    else:
        evidence["key_file"] = "not inspected (no deployment folder given)"
    if fails:
        evidence["summary"] = "; ".join(fails + warns)
        return Result(FAIL, evidence)
    if warns:
        evidence["summary"] = "; ".join(warns)
        return Result(WARN, evidence)
    if tkey is None:
        evidence["summary"] = "no template is stored yet (the tenant key is made at the first enrolment); key file 0600"
    else:
        evidence["summary"] = (f"template key version {tkey.version}, rotated {evidence['template_key']['age_days']} days "
                               "ago; every key and template on it; key file owner-only")
    return Result(PASS, evidence)


DISCLOSURE_ACTIONS = ("disclosed", "provided", "transferred", "shared", "sold")
PERMITTED_DISCLOSURE_BASES = frozenset({"separate_consent", "consent", "financial_transaction", "law", "warrant"})



def disclosures(ctx: Context) -> Result:
    exports = compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, types=["export"])
    # evidence bundles carry the subject's own events to the subject (access right, PIPL-45)
    bundles = [e for e in exports if e["payload"].get("action") == "evidence_bundle"]
    other_exports = [e for e in exports if e["payload"].get("action") != "evidence_bundle"]
    provisions = compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, actions=DISCLOSURE_ACTIONS)
    unbased = [e for e in other_exports + provisions if e["payload"].get("basis") not in PERMITTED_DISCLOSURE_BASES]
    evidence: dict[str, Any] = {"disclosure_path": "none: no trustface API route or command provides face data to a third party; "
                                                   "templates never leave the gallery (R11)",
                                "evidence_bundles_to_subjects": len(bundles), "other_exports": len(other_exports),
                                "provision_events": len(provisions), "without_permitted_basis": len(unbased),
                                "audit_seqs": [e["seq"] for e in unbased][:SAMPLE] or [e["seq"] for e in bundles][:SAMPLE]}
    if unbased:
        evidence["summary"] = f"{len(unbased)} exports or provisions of data without a permitted basis"
        return Result(FAIL, evidence)
    evidence["summary"] = (f"no disclosure path exists and none is recorded; {len(bundles)} evidence bundles went to "
                           "the subjects themselves")
    return Result(PASS, evidence)
