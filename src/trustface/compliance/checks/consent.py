"""Consent checks: stored templates and face processing rest on a current separate consent or on a
statutory basis that fits the purpose (R1, R5, R14, R22), minors have verified guardian consent
(R3), and the processing rules each consent cites were published first (R4)."""

from __future__ import annotations

import json
from typing import Any

from trustface.compliance.checks.context import FAIL, PASS, SAMPLE, WARN, Context, Result, sample
from trustface.db import compliance_store
from trustface.policy.vocab import IDENTIFY, NOTICE_FIELDS, STATUTORY_BASES


def enrolled_without_consent(ctx: Context) -> Result:
    active = {(c.subject_id, c.purpose_id, c.mode): (c, s, p) for c, s, p in ctx.active_consents}
    latest = {}
    for c, s, p in ctx.consents:  # the most recent consent of each subject x purpose x mode
        latest[(c.subject_id, c.purpose_id, c.mode)] = (c, s, p)
    problems: dict[str, list] = {}
    templates = 0
    for subject_id, purpose_id, mode, n, _kv in ctx.templates:
        templates += n
        row = active.get((subject_id, purpose_id, mode)) or latest.get((subject_id, purpose_id, mode))
        if row is None:
            problems.setdefault("no_consent", []).append((subject_id, purpose_id, mode))
            continue
        why = ctx.consent_problem(*row)
        if why:
            problems.setdefault(why, []).append((subject_id, purpose_id, mode, row[0].id))
    enrolled = {t[0] for t in ctx.templates}
    bad_subjects = {item[0] for items in problems.values() for item in items}
    evidence: dict[str, Any] = {"templates": templates, "enrolled_subjects": len(enrolled),
                                "template_groups": len(ctx.templates),
                                "without_current_consent": {k: len(v) for k, v in sorted(problems.items())},
                                "sample_subject_ids": sample(bad_subjects),
                                "sample_consent_ids": sample(i[3] for v in problems.values() for i in v if len(i) > 3),
                                "audit_seqs": sorted(e["seq"] for e in ctx.site_events(["enrolment"])
                                                     if e.get("subject_id") in set(sample(bad_subjects)))[:SAMPLE]}
    if not problems:
        evidence["summary"] = (f"{len(enrolled)} enrolled subjects, {templates} templates: each has a current "
                               "separate consent for its purpose and mode" if enrolled else "no templates are stored")
        return Result(PASS, evidence)
    blocking = {k for k in problems if k not in ("notice_changed",)}
    evidence["summary"] = (f"{len(bad_subjects)} of {len(enrolled)} enrolled subjects hold templates without a current "
                           f"consent for that purpose and mode "
                           f"({', '.join(f'{k}: {len(v)}' for k, v in sorted(problems.items()))})")
    if blocking:
        return Result(FAIL, evidence, "Purge these templates (`trustface retention run`, `trustface gallery erase`) "
                                      "or obtain a fresh separate consent; guardian consent for minors.")
    return Result(WARN, evidence, "The processing rules changed after these consents: ask the subjects to consent "
                                  "again to the current version (the gate refuses them until then).")


def processing_without_consent(ctx: Context) -> Result:
    fails: list[dict[str, Any]] = []
    warns: list[dict[str, Any]] = []
    current_bases = []
    for b in ctx.legal_bases:
        if b.revoked_at is not None or (b.expires_at is not None and b.expires_at <= ctx.now):
            continue
        purpose = ctx.purposes_by_id.get(b.purpose_id)
        if b.basis not in STATUTORY_BASES or purpose is None:
            continue
        current_bases.append(b.id)
        item = {"legal_basis_id": b.id, "purpose": purpose.name, "mode": b.mode, "basis": b.basis,
                "declared_basis": purpose.legal_basis, "expires_at": b.expires_at.isoformat() if b.expires_at else None}
        if b.basis == "public_safety" and (purpose.legal_basis != "public_safety" or ctx.site.site_type != "public"):
            fails.append({**item, "why": "a public-safety basis lets the gate process faces without consent for a "
                                         f"purpose that declares {purpose.legal_basis!r} at a {ctx.site.site_type} site"})
        else:
            warns.append({**item, "why": "statutory exception in force: processing without consent until it expires"})
    grants = ctx.site_events(["grant"])
    no_consent_grants = []
    for e in grants:
        pl = e["payload"]
        if pl.get("basis") in (None, "consent"):
            continue
        purpose = ctx.purposes_by_id.get(pl.get("purpose_id"))
        misfit = ((purpose is not None and purpose.legal_basis == "consent")
                  or (pl.get("basis") == "public_safety" and ctx.site.site_type != "public"))
        no_consent_grants.append((e["seq"], e.get("subject_id"), pl.get("mode"), pl.get("basis"), misfit))
    grant_ids = {e["payload"].get("grant_id") for e in grants}
    orphans = [e["seq"] for e in ctx.site_events(["analysis", "match", "enrolment"])
               if e["payload"].get("grant_id") and e["payload"]["grant_id"] not in grant_ids]
    misfits = [g for g in no_consent_grants if g[4]]
    by_mode: dict[str, int] = {}
    for g in no_consent_grants:
        by_mode[g[2]] = by_mode.get(g[2], 0) + 1
    evidence: dict[str, Any] = {"grants": len(grants), "grants_without_consent": len(no_consent_grants),
                                "grants_without_consent_by_mode": by_mode,
                                "grants_on_a_basis_the_purpose_does_not_declare": len(misfits),
                                "sample_subject_ids": sample(g[1] for g in misfits or no_consent_grants),
                                "audit_seqs": [g[0] for g in (misfits or no_consent_grants)][:SAMPLE],
                                "statutory_bases_in_force": current_bases, "findings": (fails + warns)[:SAMPLE],
                                "operations_without_a_grant": orphans[:SAMPLE]}
    if fails or misfits or orphans:
        parts = []
        if misfits:
            parts.append(f"{len(misfits)} grants processed faces ({', '.join(sorted({g[2] for g in misfits}))}) without "
                         f"consent on a {'/'.join(sorted({g[3] for g in misfits}))} basis")
        if fails:
            parts.append(f"{len(fails)} legal-basis records let the gate skip consent for "
                         f"{', '.join(sorted({f['purpose'] + '/' + f['mode'] for f in fails}))}")
        if orphans:
            parts.append(f"{len(orphans)} face operations name no grant in the audit trail")
        evidence["summary"] = "; ".join(parts)
        return Result(FAIL, evidence, "Revoke the statutory legal-basis records of consent-based purposes "
                                      f"({', '.join(f['legal_basis_id'] for f in fails) or 'none current'}), "
                                      "stop the processing and collect separate consent.")
    if warns or no_consent_grants:
        evidence["summary"] = (f"{len(warns)} statutory exceptions in force, {len(no_consent_grants)} grants without "
                               "consent under them: confirm each justification and the notify-later task (PIPL-18)")
        return Result(WARN, evidence, "Review each statutory basis before it expires; notify the people concerned.")
    evidence["summary"] = f"all {len(grants)} grants at this site rest on consent; no statutory exception is in force"
    return Result(PASS, evidence)


def minors_guardian(ctx: Context) -> Result:
    minors = [(c, s, p) for c, s, p in ctx.active_consents if ctx.minor(s)]
    without = [(c, s, p) for c, s, p in minors if c.guardian is None]
    identify = [(c, s, p) for c, s, p in minors if c.mode == IDENTIFY]
    no_rules = bool(minors) and ctx.profile.minors_notice_required and ctx.minors_notice is None
    minor_subjects = {s.id for _, s, _ in minors}
    bad = {s.id for _, s, _ in without}
    age_events = [e["seq"] for e in compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, types=["admin"],
                                                            actions=["subject_age_corrected"])
                  if e.get("subject_id") in bad] if bad else []
    consent_seqs = [e["seq"] for e in ctx.site_events(["consent"]) if e["payload"].get("action") == "given"
                    and e["payload"].get("consent_id") in {c.id for c, _, _ in without}]
    evidence: dict[str, Any] = {"guardian_age": ctx.guardian_age, "minors_with_active_consent": len(minor_subjects),
                                "consents_of_minors": len(minors), "without_guardian_consent": len(without),
                                "sample_subject_ids": sample(bad), "sample_consent_ids": sample(c.id for c, _, _ in without),
                                "audit_seqs": sorted(consent_seqs + age_events)[:SAMPLE],
                                "minors_notice_version": ctx.minors_notice.version if ctx.minors_notice else None,
                                "minors_identify_consents": len(identify)}
    if without or no_rules:
        parts = []
        if without:
            parts.append(f"{len(bad)} minors (under {ctx.guardian_age}) hold {len(without)} active consents without "
                         "guardian consent")
        if no_rules:
            parts.append("no dedicated minors' processing rules are published")
        evidence["summary"] = "; ".join(parts)
        return Result(FAIL, evidence, "Withdraw these consents (the templates are deleted) and ask a verified parent "
                                      "or guardian, citing the published minors' rules.")
    if identify and ctx.site.jurisdiction == "cn":
        evidence["summary"] = (f"{len(identify)} consents let minors be identified 1:N; GB/T 41819 discourages face "
                               "identification of under-14s")
        return Result(WARN, evidence, "Keep minors to 1:1 verification or non-face credentials.")
    evidence["summary"] = (f"{len(minor_subjects)} minors hold consents, each with verified guardian consent"
                           if minors else "no minor holds an active consent at this site")
    return Result(PASS, evidence)


def _missing_fields(content: dict) -> list[str]:
    return [f for f in NOTICE_FIELDS if not content.get(f)]


def notice_published(ctx: Context) -> Result:
    n = ctx.notice
    if n is None:
        return Result(FAIL, {"summary": "no processing-rules notice is published for this site",
                             "notice_versions": len([x for x in ctx.notices if x.kind == "general"]),
                             "active_consents": len(ctx.active_consents)},
                      "Publish the processing rules (`trustface notice generate --site S --publish`).")
    content = json.loads(n.content)
    missing = _missing_fields(content)
    text = n.content
    unnamed = [p.name for p in ctx.purposes if p.name not in text]
    by_id = {x.id: x for x in ctx.notices}
    stale, unshown, mismatch = [], [], []
    for c, _s, _p in ctx.active_consents:
        shown = by_id.get(c.notice_id)
        if shown is None or shown.content_hash != c.notice_hash:
            mismatch.append(c.id)
        elif shown.published_at is None or shown.published_at > c.given_at:
            unshown.append(c.id)
        elif c.notice_hash != n.content_hash:
            stale.append(c.id)
    minors_needed = ctx.profile.minors_notice_required and any(ctx.minor(s) for _, s, _ in ctx.active_consents)
    minors_missing = []
    if ctx.minors_notice is not None:
        minors_missing = _missing_fields(json.loads(ctx.minors_notice.content))
    publish_seqs = [e["seq"] for e in ctx.site_events(["notice"], ["published"])
                    if e["payload"].get("notice_id") in (n.id, getattr(ctx.minors_notice, "id", None))]
    evidence: dict[str, Any] = {"notice_version": n.version, "content_hash": n.content_hash,
                                "published_at": n.published_at.isoformat() if n.published_at else None,
                                "missing_fields": missing, "purposes_not_named": unnamed,
                                "active_consents": len(ctx.active_consents),
                                "consents_citing_current_version": (len(ctx.active_consents) - len(stale) - len(unshown)
                                                                    - len(mismatch)),
                                "consents_citing_older_version": len(stale), "consents_before_publication": len(unshown),
                                "consents_citing_unknown_notice": len(mismatch),
                                "sample_consent_ids": sample(stale + unshown + mismatch),
                                "minors_notice_version": ctx.minors_notice.version if ctx.minors_notice else None,
                                "minors_notice_missing_fields": minors_missing, "audit_seqs": publish_seqs[-SAMPLE:]}
    fails = []
    if missing:
        fails.append(f"the published notice lacks {', '.join(missing)}")
    if unshown or mismatch:
        fails.append(f"{len(unshown) + len(mismatch)} consents do not cite a notice published before they were given")
    if minors_needed and ctx.minors_notice is None:
        fails.append("minors hold consents but no minors' rules are published")
    if minors_missing:
        fails.append(f"the minors' rules lack {', '.join(minors_missing)}")
    if fails:
        evidence["summary"] = "; ".join(fails)
        return Result(FAIL, evidence)
    if stale or unnamed:
        parts = []
        if stale:
            parts.append(f"{len(stale)} active consents cite an older notice version (the gate refuses them until "
                         "the subjects consent again)")
        if unnamed:
            parts.append(f"the notice does not name purpose(s) {', '.join(unnamed)}")
        evidence["summary"] = "; ".join(parts)
        return Result(WARN, evidence, "Name every purpose in the notice and ask for fresh consent on the current version.")
    evidence["summary"] = (f"version {n.version} is published with all {len(NOTICE_FIELDS)} required fields; every one of "
                           f"{len(ctx.active_consents)} active consents cites it")
    return Result(PASS, evidence)
