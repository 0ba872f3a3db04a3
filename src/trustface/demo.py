"""A ready-to-try deployment for `trustface init --demo` and `make run`.

:func:`setup_demo` builds, through the same policy and access service functions an operator
would call, one residential property with everything the policy gate asks for before a face may
be processed: a tenant, a site (jurisdiction profile ``cn``), a ``door_access`` purpose allowing
verify and identify on consent with a finite retention, an approved impact assessment, a published
processing-rules notice, a signage attestation, and two gates: one that takes a face, PIN or card,
and one that takes only PIN or card (face is never the only way in). The face gate is unattended,
so it requires the liveness challenge (the default for a face gate, issue 17): the kiosk asks for
a few head moves and a single uploaded photo never opens it.

It creates no subjects and no templates: people are added, consent and enrol through the CLI or
the API like anywhere else. Every step writes its audit event in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

TENANT_NAME = "Demo Property Co."
TENANT_CONTACT = "dpo@demo-property.example"
SITE_NAME = "Harbour View Residences"
PURPOSE = "door_access"
MODES = ("verify", "identify")
RETENTION_DAYS = 365
NECESSITY = ("hands-free entry for residents who choose it; a PIN or card works at every gate for "
             "everyone who does not")
NOTICE = {
    "controller": TENANT_NAME,
    "contact": TENANT_CONTACT,
    "purposes": [PURPOSE],
    "methods": "1:1 face verification and 1:N identification at the main gate kiosk",
    "categories": ["face template (encrypted, derived from a photo that is not kept)"],
    "retention": f"{RETENTION_DAYS} days, or until you withdraw, whichever is first",
    "rights_procedure": "ask at the management desk or in the resident app; we answer within 15 days",
    "necessity": NECESSITY,
    "impact": "templates are encrypted, searchable only for consented residents, and never leave the site",
    "withdrawal": "withdraw at any time at the desk, in the app or at the kiosk; your template is deleted",
}
PIA_SECTIONS = {
    "lawfulness_necessity": "consent-based and opt-in; PIN and card offered at every gate",
    "rights_impact": "low: residents choose face entry and can withdraw in one step",
    "risks": "template leakage, spoofing, function creep",
    "protections": "envelope encryption, keyed template transform, role-based keys, hash-chained audit trail",
}
GATES = (("Main gate", ("face", "pin", "card")), ("Side gate", ("pin", "card")))


def setup_demo(session: Session, *, actor: str, now: dt.datetime | None = None) -> dict:
    """Create the demo property in the caller's transaction (the caller commits).

    Returns ``{"tenant_id", "site_id", "purpose_id", "gate_ids" (face gate first),
    "notice_version", "notice_hash"}``.
    """
    from trustface.access import service
    from trustface.policy import sites

    tenant = sites.create_tenant(session, name=TENANT_NAME, contact=TENANT_CONTACT, actor=actor, now=now)
    site = sites.create_site(session, tenant_id=tenant.id, name=SITE_NAME, site_type="residential",
                             jurisdiction="cn", actor=actor, now=now)
    purpose = sites.create_purpose(session, site_id=site.id, name=PURPOSE, allowed_modes=list(MODES),
                                   legal_basis="consent", necessity_justification=NECESSITY,
                                   retention_days=RETENTION_DAYS, actor=actor, now=now)
    sites.approve_pia(session, purpose_id=purpose.id, modes=list(MODES), sections=PIA_SECTIONS,
                      approver="dpo:demo", actor=actor, now=now)
    notice = sites.create_notice(session, site_id=site.id, content=NOTICE, actor=actor, now=now)
    sites.publish_notice(session, notice_id=notice.id, actor=actor, now=now)
    # the minors' rules (PIPL-31, CAC-7): without them, children cannot be enrolled even with a guardian
    minors = sites.create_notice(session, site_id=site.id, kind="minors", actor=actor, now=now,
                                 content={**NOTICE, "purposes": [f"{PURPOSE} (children under 14, with a guardian's "
                                                                 "consent)"]})
    sites.publish_notice(session, notice_id=minors.id, actor=actor, now=now)
    sites.attest_signage(session, site_id=site.id, attested_by="manager:demo",
                         evidence="signs at both gates announce face recognition and the PIN/card alternative",
                         actor=actor, now=now)
    gate_ids = [service.create_gate(session, site_id=site.id, name=name, methods=list(methods), purpose=PURPOSE,
                                    liveness="required" if "face" in methods else "off", actor=actor, now=now).id
                for name, methods in GATES]
    return {"tenant_id": tenant.id, "site_id": site.id, "purpose_id": purpose.id, "gate_ids": gate_ids,
            "notice_version": notice.version, "notice_hash": notice.content_hash}
