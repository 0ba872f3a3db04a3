"""Personal-information impact assessments (PIA / DPIA) as structured documents (R20).

``trustface pia create`` writes a draft (YAML) for one purpose of a site: the facts trustface knows
are filled in from the live configuration (what is processed, where, for whom, with which
protections), and the judgements only a person can make are marked ``TODO``. ``trustface pia
approve`` refuses a draft that still has a ``TODO``, then records the sections through
:func:`trustface.policy.sites.approve_pia` (hash of the sections, approver, audit event).

Sections (one object with the CN and EU contents, requirements.md §9):

============================  =======================================================
``description``               GDPR-35(7)(a) systematic description of the processing
``lawfulness_necessity``      CAC-9(1), PIPL-56(1), GDPR-35(7)(b) lawful, legitimate, necessary
``rights_impact``             CAC-9(2), PIPL-56(2) impact on rights, do the mitigations work
``risks``                     CAC-9(3), GDPR-35(7)(c) leakage, tampering, loss, misuse; harm
``protections``               CAC-9(4), PIPL-56(3), GDPR-35(7)(d) are the measures lawful, effective, proportionate
``residual_risk``             GDPR-36: low | medium | high (high needs ``prior_consultation``)
============================  =======================================================

Staleness is decided by :func:`trustface.policy.sites.pia_status` (modes not all covered, notice
scope changed, major incident after approval); the report is kept (never purged, PIPL-56).
"""

from __future__ import annotations

import datetime as dt

import yaml
from sqlalchemy.orm import Session

from trustface.db import access_store, compliance_store, repo
from trustface.db.models import Pia
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import profiles, sites
from trustface.policy._common import utc

FORMAT = "trustface-pia/1"
TODO = "TODO"
SECTIONS = ("description", "lawfulness_necessity", "rights_impact", "risks", "protections", "residual_risk")
RESIDUAL = ("low", "medium", "high")
REQUIREMENTS = ["R20", "PIPL-55", "PIPL-56", "CAC-9", "GDPR-35", "GDPR-36"]


def _invalid(message: str) -> TrustfaceError:
    return TrustfaceError(E_INVALID_ARGUMENT, message, ("R20", "CAC-9", "PIPL-56", "GDPR-35"))


def draft(session: Session, site_id: str, purpose: str, *, modes=None, now: dt.datetime | None = None) -> dict:
    """A PIA draft for ``purpose`` at ``site_id`` covering ``modes`` (default: the purpose's modes)."""
    now = utc(now)
    site = sites.get_site(session, site_id)
    p = sites.get_purpose(session, site_id, purpose)
    profile = profiles.load(site.jurisdiction)
    modes = list(modes) if modes else p.allowed_modes.split(",")
    gates = access_store.gates_of_site(session, site_id)
    consents = [c for c, _s, q in compliance_store.consents_of_site(session, site_id)
                if q.id == p.id and c.status == "active"]
    templates = [t for t in compliance_store.template_summary(session, site_id) if t[1] == p.id]
    notice = repo.current_notice(session, site_id)
    face_gates = [g.name for g in gates if "face" in g.methods.split(",")]
    alternatives = sorted({m for g in gates for m in g.methods.split(",") if m != "face"})
    context = {
        "site": {"id": site.id, "name": site.name, "site_type": site.site_type, "jurisdiction": site.jurisdiction},
        "purpose": {"id": p.id, "name": p.name, "modes": p.allowed_modes.split(","), "legal_basis": p.legal_basis,
                    "retention_days": p.retention_days, "necessity": p.necessity_justification},
        "gates": [{"name": g.name, "methods": g.methods.split(",")} for g in gates],
        "active_consents": len(consents), "enrolled_subjects": len({t[0] for t in templates}),
        "notice_version": notice.version if notice else None,
        "guardian_age": profile.guardian_age_for(site.guardian_age),
        "drafted_at": now.isoformat(),
    }
    description = (
        f"{site.name} ({site.site_type}, profile {site.jurisdiction}) processes face templates for the purpose "
        f"{p.name!r} in mode(s) {', '.join(modes)}, on the legal basis {p.legal_basis!r}, at "
        f"{', '.join(face_gates) or 'no gate yet'}; {len(consents)} active consents and "
        f"{context['enrolled_subjects']} enrolled people today. Templates are kept at most {p.retention_days} days "
        f"and deleted on withdrawal; photos are discarded after feature extraction.")
    protections = (
        "In place (trustface): templates only, no photos (R9); keyed orthogonal transform and AES-256-GCM envelope "
        "encryption with per-subject keys and crypto-shredding (R11); 1:N search limited to consented subjects; "
        "separate, purpose- and mode-specific consent with the notice hash (R1); guardian consent for minors (R3); "
        f"non-face alternatives at every gate ({', '.join(alternatives) or 'none configured!'}) (R6); finite "
        "retention with deletion certificates (R13); hash-chained audit trail (R21); role-scoped API keys (R12). "
        f"{TODO}: confirm the organisational measures (staff training, incident response, access reviews).")
    return {
        "format": FORMAT,
        "site_id": site.id,
        "purpose": p.name,
        "modes": modes,
        "requirements": REQUIREMENTS,
        "context": context,
        "sections": {
            "description": description,
            "lawfulness_necessity": (f"Declared necessity: {p.necessity_justification}. Legal basis: {p.legal_basis}. "
                                     f"{TODO}: explain why a non-face method alone would not meet the purpose and why "
                                     "this mode is the least intrusive one that does."),
            "rights_impact": (f"{TODO}: assess the effect on the people concerned (residents, visitors, minors under "
                              f"{context['guardian_age']}) and whether the mitigations reduce it: opt-in, alternatives, "
                              "one-step withdrawal."),
            "risks": ("Risks to assess (CAC-9(3)): leakage, tampering, loss or damage of templates; illegal acquisition, "
                      "sale or use; false matches and false non-matches; function creep beyond the purpose. "
                      f"{TODO}: rate likelihood and harm for each."),
            "protections": protections,
            "residual_risk": f"{TODO}: low | medium | high",
        },
        "approval": {"approver": TODO, "note": "approve with `trustface pia approve --file THIS_FILE --approver NAME`"},
    }


def dump(doc: dict) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def load(text: str) -> dict:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(f"the PIA document is not valid YAML/JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _invalid(f"not a PIA document (format must be {FORMAT})")
    return doc


def approve(session: Session, doc: dict, *, approver: str, actor: str, now: dt.datetime | None = None) -> Pia:
    """Record a completed PIA document as approved (E_INVALID_ARGUMENT while a section is missing,
    still says TODO, or the residual risk is high without a recorded prior consultation)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _invalid(f"not a PIA document (format must be {FORMAT})")
    site_id, purpose = doc.get("site_id"), doc.get("purpose")
    if not isinstance(site_id, str) or not isinstance(purpose, str):
        raise _invalid("the PIA document names no site_id and purpose")
    sections = doc.get("sections")
    if not isinstance(sections, dict):
        raise _invalid("the PIA document has no sections")
    missing = [s for s in SECTIONS if not isinstance(sections.get(s), str) or not sections[s].strip()]
    if missing:
        raise _invalid(f"the PIA is missing sections: {', '.join(missing)}")
    todo = [k for k, v in sections.items() if isinstance(v, str) and TODO in v]
    if todo:
        raise _invalid(f"the PIA still has {TODO} in: {', '.join(todo)} (a person completes these before approval)")
    residual = sections["residual_risk"].strip().lower()
    if residual not in RESIDUAL:
        raise _invalid(f"residual_risk must be one of {', '.join(RESIDUAL)}")
    if residual == "high" and not str(sections.get("prior_consultation") or "").strip():
        raise _invalid("a high residual risk needs prior consultation with the authority first (GDPR-36): record it "
                       "in a prior_consultation section")
    clean = {str(k): (v.strip() if isinstance(v, str) else str(v)) for k, v in sections.items()}
    clean["residual_risk"] = residual
    p = sites.get_purpose(session, site_id, purpose)
    return sites.approve_pia(session, purpose_id=p.id, modes=doc.get("modes") or p.allowed_modes.split(","),
                             sections=clean, approver=approver, actor=actor, now=now)


def status(session: Session, site_id: str) -> list[dict]:
    """The PIA state of every purpose of a site (see :func:`trustface.policy.sites.pia_status`)."""
    sites.get_site(session, site_id)
    return [{"purpose": p.name, **sites.pia_status(session, p.id).to_dict()}
            for p in repo.purposes_of_site(session, site_id)]
