"""Access checks: no gate takes a face as the only way in and everyone who does not use face holds a
working credential (R6); identification and analysis at business premises and public places have
a legal basis and signage (R18); a face gate runs the liveness challenge unless it is attended and
says so (ISO30107-3: a PAD module is mandatory for unattended doors; issue 17)."""

from __future__ import annotations

from typing import Any

from trustface.compliance.checks.context import FAIL, PASS, SAMPLE, WARN, Context, Result, sample
from trustface.db import compliance_store
from trustface.policy.vocab import ANALYZE, IDENTIFY, PREMISES_SITE_TYPES


def face_only_gates(ctx: Context) -> Result:
    face_only, visitor_only = [], []
    for g in ctx.gates:
        methods = g.methods.split(",")
        if methods == ["face"]:
            face_only.append(g)
        elif "face" in methods and set(methods) <= {"face", "visitor_pass"}:
            visitor_only.append(g)
    created = {g.id: ctx.seqs(["admin"], ["gate_created"], gate_id=g.id) for g in face_only + visitor_only}
    evidence: dict[str, Any] = {"gates": len(ctx.gates), "face_only_gates": [g.id for g in face_only],
                                "face_or_visitor_pass_only_gates": [g.id for g in visitor_only],
                                "gate_methods": {g.id: g.methods.split(",") for g in ctx.gates[:SAMPLE]},
                                "audit_seqs": sorted(s for v in created.values() for s in v)}
    if face_only:
        outside = [g.id for g in face_only if not created[g.id]]
        evidence["summary"] = (f"{len(face_only)} of {len(ctx.gates)} gates take only a face: "
                               f"{', '.join(g.name for g in face_only)}")
        if outside:
            evidence["configured_outside_trustface"] = outside
            evidence["summary"] += (f"; {len(outside)} of them have no gate_created audit event (written to the "
                                    "database directly: trustface refuses such a gate with E_FACE_ONLY_POLICY)")
        return Result(FAIL, evidence, f"Add a PIN, card or QR method to {', '.join(g.name for g in face_only)}.")
    if visitor_only:
        evidence["summary"] = (f"{len(visitor_only)} gates offer face and visitor passes only: residents who decline "
                               "face have no credential of their own there")
        return Result(WARN, evidence, "Add PIN, card or QR to gates that offer only face and visitor passes.")
    evidence["summary"] = (f"all {len(ctx.gates)} gates offer a non-face method" if ctx.gates
                           else "the site has no gates")
    return Result(PASS, evidence)


def declined_alternative(ctx: Context) -> Result:
    face_gates = [g for g in ctx.gates if "face" in g.methods.split(",")]
    accepted = {m for g in ctx.gates for m in g.methods.split(",") if m not in ("face", "visitor_pass")}
    with_templates = {(t[0], t[1]) for t in ctx.templates if t[2] == IDENTIFY}
    face_ok = set()
    for c, s, p in ctx.active_consents:
        if c.mode == IDENTIFY and any(g.purpose == p.name for g in face_gates) and (s.id, p.id) in with_templates \
                and ctx.consent_problem(c, s, p) is None:
            face_ok.add(s.id)
    refused = {r.subject_id for r in ctx.refusals}
    withdrew = {c.subject_id for c, _, _ in ctx.consents if c.status == "withdrawn"}
    people = {s.id for s in ctx.subjects if s.site_id == ctx.site_id} | refused | withdrew
    working: dict[str, list[str]] = {}
    for cred in ctx.credentials:
        if cred.subject_id and cred.type in accepted and (cred.expires_at is None or cred.expires_at > ctx.now) \
                and cred.used_at is None:
            working.setdefault(cred.subject_id, []).append(cred.type)
    need = people - face_ok
    stranded = sorted(need - set(working))
    declined = (refused | withdrew) - face_ok
    evidence: dict[str, Any] = {"people_at_site": len(people), "enter_by_face": len(face_ok), "need_non_face_way_in": len(need),
                                "declined_or_withdrew": len(declined), "with_working_credential": len(need & set(working)),
                                "without_working_credential": len(stranded), "sample_subject_ids": stranded[:SAMPLE],
                                "credential_types_gates_accept": sorted(accepted),
                                "audit_seqs": sorted(e["seq"] for e in ctx.site_events(["consent"])
                                                     if e["payload"].get("action") in ("refused", "withdrawn")
                                                     and e.get("subject_id") in set(stranded))[:SAMPLE]}
    if not ctx.gates:
        evidence["summary"] = "the site has no gates: nobody needs a credential here"
        return Result(PASS, evidence)
    if stranded:
        declined_stranded = [s for s in stranded if s in declined]
        evidence["summary"] = (f"{len(stranded)} people who do not enter by face hold no credential a gate accepts "
                               f"({len(declined_stranded)} of them declined or withdrew face consent)")
        return Result(FAIL, evidence)
    evidence["summary"] = (f"{len(need)} people who do not enter by face ({len(declined)} declined or withdrew) each "
                           f"hold a working {'/'.join(sorted(accepted))} credential" if need
                           else "everyone registered at the site enters by face with consent" if people
                           else "nobody is registered at the site yet")
    return Result(PASS, evidence)


def premises_modes(ctx: Context) -> Result:
    wanted = [(p, m) for p in ctx.purposes for m in p.allowed_modes.split(",") if m in (IDENTIFY, ANALYZE)]
    signage_seqs = ctx.seqs(["admin"], ["signage_attested"], site_id=ctx.site_id)
    attested_at = ctx.site.signage_attested_at
    evidence: dict[str, Any] = {"site_type": ctx.site.site_type, "identify_or_analyze": [f"{p.name}/{m}" for p, m in wanted],
                                "signage_attested_at": attested_at.isoformat() if attested_at else None,
                                "signage_attested_by": ctx.site.signage_attested_by, "audit_seqs": signage_seqs[-SAMPLE:],
                                "device_locations": len(compliance_store.device_locations_of_site(ctx.session, ctx.site_id))}
    if ctx.site.site_type not in PREMISES_SITE_TYPES:
        evidence["summary"] = (f"not applicable: a {ctx.site.site_type} site is neither business premises nor a public "
                               "place (SPC-2(1)); the gate still applies the rule if the type changes")
        return Result(PASS, evidence)
    missing_basis = []
    for p, m in wanted:
        current = [b for b in ctx.legal_bases if b.purpose_id == p.id and b.mode == m and b.revoked_at is None
                   and (b.expires_at is None or b.expires_at > ctx.now)]
        if not current:
            missing_basis.append(f"{p.name}/{m}")
    evidence["without_legal_basis"] = missing_basis
    no_signage = bool(wanted) and ctx.site.signage_attested_at is None
    evidence["sample_purpose_ids"] = sample(p.id for p, m in wanted if f"{p.name}/{m}" in missing_basis or no_signage)
    if missing_basis or no_signage:
        parts = []
        if missing_basis:
            parts.append(f"no current legal basis for {', '.join(missing_basis)}")
        if no_signage:
            parts.append(f"identify/analyze is switched on at this {ctx.site.site_type} site without a signage attestation")
        evidence["summary"] = "; ".join(parts)
        return Result(FAIL, evidence)
    evidence["summary"] = (f"{len(wanted)} identify/analyze purpose-modes, each with a current legal basis; signage "
                           "attested" if wanted else f"no identify/analyze at this {ctx.site.site_type} site")
    return Result(PASS, evidence)


def stranger_budget(ctx: Context) -> Result:
    """Each face gate's stranger-admission budget (most FPIR per attempt) at its gallery's current
    size: the identify threshold that keeps it, the per-comparison FMR, how it was found (empirical
    or extrapolated) and the FNIR expected there. A gate whose expected FNIR is above
    :data:`~trustface.engine.open_set.USEFUL_FNIR` warns: the model cannot keep the budget and
    still recognise residents, so face should be the second factor there (ISO19795-1, R26, PIPL-8)."""
    from trustface.engine import open_set

    face_gates = [g for g in ctx.gates if "face" in g.methods.split(",")]
    purpose_ids = {p.name: p.id for p in ctx.purposes}
    useful = float(ctx.param("stranger_budget", "useful_fnir", open_set.USEFUL_FNIR))
    rows = []
    for g in face_gates:
        pid = purpose_ids.get(g.purpose)
        size = sum(t[3] for t in ctx.templates if t[1] == pid and t[2] == IDENTIFY)
        chosen = open_set.identify_threshold(size, g.fpir_budget)
        rows.append({"gate_id": g.id, "gate": g.name, **chosen.to_dict(),
                     "useful": chosen.expected_fnir <= useful,
                     "largest_useful_gallery": open_set.largest_gallery(g.fpir_budget, useful)})
    evidence: dict[str, Any] = {"face_gates": len(face_gates), "useful_fnir": useful, "gates": rows[:SAMPLE],
                                "audit_seqs": sorted(s for g in face_gates
                                                     for s in ctx.seqs(["admin"], ["gate_created"], gate_id=g.id))}
    if not face_gates:
        evidence["summary"] = "no gate takes a face: no stranger can be let in by a face match"
        return Result(PASS, evidence)
    weak = [r for r in rows if not r["useful"]]
    if weak:
        worst = max(weak, key=lambda r: r["expected_fnir"])
        evidence["summary"] = (
            f"{len(weak)} of {len(face_gates)} face gates cannot keep their stranger-admission budget and still "
            f"recognise residents: at {worst['gate']} (budget FPIR {worst['fpir_budget']:g}, "
            f"{worst['gallery_size']} templates) the threshold {worst['threshold']} misses about "
            f"{worst['expected_fnir']:.0%} of residents (useful: at most {useful:.0%}; up to "
            f"{worst['largest_useful_gallery']} templates would be)")
        return Result(WARN, evidence,
                      f"Make face the second factor at {', '.join(r['gate'] for r in weak)}: "
                      f"{open_set.NEXT_MODE}, whose false accept per attempt stays near the 1:1 FMR; "
                      "or raise the gate's budget knowingly.")
    evidence["summary"] = (f"each of the {len(face_gates)} face gates keeps its stranger-admission budget with "
                           f"an expected FNIR of at most {max(r['expected_fnir'] for r in rows):.0%}")
    return Result(PASS, evidence)


def face_gate_liveness(ctx: Context) -> Result:
    """A warning for each face gate that does without the liveness challenge: a photo of a resident
    can open it. trustface creates face gates with liveness required; turning it off needs a reason
    (an attended gate), which is shown here with the audit event that recorded it."""
    face_gates = [g for g in ctx.gates if "face" in g.methods.split(",")]
    off = [g for g in face_gates if g.liveness != "required"]
    created = {g.id: ctx.seqs(["admin"], ["gate_created"], gate_id=g.id) for g in off}
    evidence: dict[str, Any] = {"face_gates": len(face_gates), "liveness_off": [g.id for g in off][:SAMPLE],
                                "reasons": {g.id: g.liveness_off_reason for g in off[:SAMPLE]},
                                "audit_seqs": sorted(s for v in created.values() for s in v)[:SAMPLE]}
    if off:
        evidence["summary"] = (f"{len(off)} of {len(face_gates)} face gates take a single frame without the liveness "
                               f"challenge: {', '.join(g.name for g in off[:SAMPLE])}; a photo of a resident can "
                               "open them unless someone watches the gate")
        return Result(WARN, evidence, "Require liveness at every unattended face gate; keep it off only where a "
                                      "person attends the gate, and say so in the gate's reason.")
    evidence["summary"] = (f"all {len(face_gates)} face gates require the liveness challenge" if face_gates
                           else "the site has no face gates")
    return Result(PASS, evidence)
