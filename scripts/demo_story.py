"""The residential story, end to end on a fresh SQLite deployment (part of `make demo`).

A property company sets up a door_access purpose; resident A consents and enrols; a visitor
with no consent is refused; A withdraws and vanishes from 1:N search; the audit trail verifies.
Photos come from $TRUSTFACE_DATA (public figures used only as test subjects).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from trustface import audit
from trustface.config import data_root
from trustface.deployment import Deployment, init_deployment
from trustface.gallery import Gallery
from trustface.policy import gate, ledger, sites

ADMIN = "admin:demo"
NOTICE = {
    "controller": "Acme Property Ltd", "contact": "dpo@acme.example", "purposes": ["door_access"],
    "methods": "face verification and identification at the lobby gate", "categories": ["face template"],
    "retention": "365 days or when you withdraw", "rights_procedure": "ask at the desk or in the app",
    "necessity": "hands-free entry for residents who choose it; a card or PIN is always available",
    "impact": "templates are encrypted and never leave the site", "withdrawal": "in the app, at the kiosk or desk",
}
PIA = {"lawfulness_necessity": "opt-in, alternatives offered", "rights_impact": "low",
       "risks": "leakage, misuse", "protections": "encryption, audit chain, RBAC"}


def say(line: str) -> None:
    print(f"  {line}")


def main(workdir: Path) -> int:
    photos = data_root() / "photos" / "examples"
    init_deployment(workdir / "deployment")
    dep = Deployment(workdir / "deployment")
    gallery = Gallery(dep)
    with dep.transaction() as s:
        tenant = sites.create_tenant(s, name="Acme Property", contact="dpo@acme.example", actor=ADMIN)
        site = sites.create_site(s, tenant_id=tenant.id, name="Tower A", site_type="residential",
                                 jurisdiction="cn", actor=ADMIN)
        purpose = sites.create_purpose(s, site_id=site.id, name="door_access", allowed_modes=["verify", "identify"],
                                       legal_basis="consent", necessity_justification="residents choose hands-free entry",
                                       retention_days=365, actor=ADMIN)
        notice = sites.create_notice(s, site_id=site.id, content=NOTICE, actor=ADMIN)
        sites.publish_notice(s, notice_id=notice.id, actor=ADMIN)
        sites.approve_pia(s, purpose_id=purpose.id, modes=["verify", "identify"], sections=PIA, approver="dpo:lee",
                          actor=ADMIN)
        resident = ledger.create_subject(s, tenant_id=tenant.id, age_band="18+", actor=ADMIN).id
        visitor = ledger.create_subject(s, tenant_id=tenant.id, age_band="18+", actor=ADMIN).id
    print("Site Tower A (residential, cn) with a published notice and door_access (verify, identify).")

    def authorize(subject, mode):
        with dep.transaction() as s:
            return gate.authorize(s, tenant_id=tenant.id, site_id=site.id, purpose="door_access", mode=mode,
                                  subject_id=subject)

    print("Visitor B, who gave no consent, is refused before any face is touched:")
    refused = authorize(visitor, "identify")
    say(f"{refused.code}: {refused.message}")

    print("Resident A gives separate consent for identify at the kiosk and enrols one photo:")
    with dep.transaction() as s:
        ledger.give_consent(s, subject_id=resident, site_id=site.id, purpose="door_access", mode="identify",
                            notice_hash=notice.content_hash, channel="kiosk", method="click", actor=f"subject:{resident}")
    with dep.transaction() as s:
        gallery.enrol(s, authorize(resident, "identify"), [photos / "obama.jpg"])
    say("enrolled: one encrypted, tenant-transformed template; the photo was discarded")

    def identify(photo: str) -> str:
        with dep.transaction() as s:
            result = gallery.identify(s, authorize(None, "identify"), photos / photo)
        if result.unknown:
            return "unknown"
        best = result.candidates[0]
        return f"{'resident A' if best.subject_id == resident else best.subject_id} (distance {best.distance:.3f})"

    print("At the gate:")
    say(f"A at another sitting -> {identify('obama2.jpg')}")
    say(f"someone never enrolled -> {identify('biden.jpg')}")

    print("A withdraws in the app (one step, like giving it); the template is purged:")
    with dep.transaction() as s:
        ledger.withdraw_consent(s, subject_id=resident, site_id=site.id, purpose="door_access", mode="identify",
                                channel="app", actor=f"subject:{resident}")
    say(f"A at the gate -> {identify('obama2.jpg')}")

    with dep.session() as s:
        check = audit.verify(s)
    print(f"Audit trail: {'intact' if check.ok else 'TAMPERED'}, {check.events} hash-chained events.")
    dep.close()
    return 0 if check.ok else 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="trustface-demo-") as tmp:
        sys.exit(main(Path(tmp)))
