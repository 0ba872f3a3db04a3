"""Two sites for the compliance tests (issue 7).

* :func:`build_demo`: the demo residential property of :func:`trustface.demo.setup_demo`, lived in
  through the ordinary service functions: minors' rules generated from the configuration, a
  resident who consents and is enrolled, one who declines face and gets a PIN, a child enrolled
  for verification with a parent's consent who also holds a card, one who withdrew (template
  purged) and holds a card, and a few gate decisions. It must pass every check.
* :func:`build_mall`: a deliberately misconfigured shopping mall (business site). What the
  services refuse is done the way it happens in real life, each step saying how:

  - face-only gate: trustface refuses it (E_FACE_ONLY_POLICY), so it is INSERTed into the
    database directly, as an installer's script would;
  - analysis without consent: a ``public_safety`` legal-basis record on a consent-based
    marketing purpose, which the gate honours (statutory bases grant without consent), and two
    analysis grants made through the real gate;
  - no signage: attested (the gate needs it for those grants), then cleared in the database, as if
    the signs were taken down and the record edited;
  - unbounded retention: ``retention_days`` raised to 100 years in the database (the service caps
    it at the profile's 1,095 days, E_RETENTION_UNBOUNDED);
  - a minor without guardian consent: an adult consents, then ``correct_subject_age`` (a real
    service function) reveals a 12-year-old;
  - photos kept: trustface keeps a photo only under a written ``keep_photo`` consent, sealed in
    ``gallery_images``; a camera integration is simulated by JPEG files written into the deployment
    folder, which the check scans, and a photo row for a shopper without that consent is inserted
    in the database (its ciphertext is random bytes: the check reads consents, not photos).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
from sqlalchemy import insert, update

from trustface.access import service as access
from trustface.compliance import notices
from trustface.db.models import GalleryImage, Gate, Purpose, Site
from trustface.demo import setup_demo
from trustface.policy import gate, ledger, sites

ADMIN = "admin:compliance-test"
#: assessments of the fixed-clock worlds run an hour after they were built (db_fixtures.NOW)
LATER = dt.datetime(2025, 3, 1, 13, 0, tzinfo=dt.timezone.utc)
PIN = "583920"


def _descriptor(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v) * 0.6


def _enrol(s, gallery, w: dict, subject_id: str, mode: str, now, seed: int) -> None:
    g = gate.authorize(s, tenant_id=w["tenant_id"], site_id=w["site_id"], purpose="door_access", mode=mode,
                       subject_id=subject_id, actor=ADMIN, now=now)
    assert isinstance(g, gate.Grant), g
    gallery.enrol_descriptors(s, [g], _descriptor(seed)[None, :], actor=ADMIN, now=now)


def build_demo(dep, *, now: dt.datetime | None = None) -> dict:
    from trustface.gallery import Gallery

    secret = access.credential_key(dep.keys.tenant_kek_seed)
    gallery = Gallery(dep)
    with dep.transaction() as s:
        w = setup_demo(s, actor=ADMIN, now=now)
    site, tenant, notice_hash = w["site_id"], w["tenant_id"], w["notice_hash"]
    main_gate, side_gate = w["gate_ids"]

    def give(s, subject_id, mode, **kw):
        return ledger.give_consent(s, subject_id=subject_id, site_id=site, purpose="door_access", mode=mode,
                                   notice_hash=notice_hash, channel="kiosk", method="click",
                                   actor=f"subject:{subject_id}", now=now, **kw)

    with dep.transaction() as s:
        minors = notices.generate(s, site, kind="minors", publish=True, actor=ADMIN, now=now)
        people = {}
        for name, birth in (("alice", dt.date(1985, 4, 2)), ("bob", dt.date(1979, 11, 23)),
                            ("chen", dt.date(2015, 6, 1)), ("dana", dt.date(1990, 1, 9))):
            people[name] = ledger.create_subject(s, tenant_id=tenant, birth_date=birth, site_id=site,
                                                 identity={"display_name": name}, actor=ADMIN, now=now).id
        # alice: face entry, consented and enrolled for 1:N identification at the main gate
        give(s, people["alice"], "identify")
        _enrol(s, gallery, w, people["alice"], "identify", now, 1)
        # bob: declines face, gets a PIN (declining costs nothing, SPC-4(1))
        ledger.record_refusal(s, subject_id=people["bob"], site_id=site, purpose="door_access", mode="identify",
                              channel="kiosk", actor=f"subject:{people['bob']}", now=now)
        access.issue_credential(s, secret, subject_id=people["bob"], site_id=site, type="pin", value=PIN,
                                actor=ADMIN, now=now)
        # chen (a child): 1:1 verification with a verified parent's consent citing the minors' rules; a card
        give(s, people["chen"], "verify", guardian={"name": "Chen Parent", "relationship": "parent",
                                                    "verification": "id_document",
                                                    "minors_notice_hash": minors.content_hash})
        _enrol(s, gallery, w, people["chen"], "verify", now, 3)
        access.issue_credential(s, secret, subject_id=people["chen"], site_id=site, type="card", value="CARD-0003",
                                actor=ADMIN, now=now)
        # dana: consented, enrolled, withdrew (template purged with a certificate), holds a card
        give(s, people["dana"], "identify")
        _enrol(s, gallery, w, people["dana"], "identify", now, 4)
    with dep.transaction() as s:
        ledger.withdraw_consent(s, subject_id=people["dana"], site_id=site, purpose="door_access", mode="identify",
                                channel="app", actor=f"subject:{people['dana']}", now=now)
        access.issue_credential(s, secret, subject_id=people["dana"], site_id=site, type="card", value="CARD-0004",
                                actor=ADMIN, now=now)
        for gate_id, method, value in ((side_gate, "pin", PIN), (side_gate, "pin", "111111"),
                                       (main_gate, "card", "CARD-0003"), (main_gate, "card", "CARD-0004"),
                                       (main_gate, "pin", PIN)):
            access.decide_credential(s, secret, gate_id=gate_id, method=method, value=value, actor=ADMIN, now=now)
    return {**w, "people": people, "minors_notice_hash": minors.content_hash}


def build_mall(dep, *, now: dt.datetime) -> dict:
    with dep.transaction() as s:
        t = sites.create_tenant(s, name="Grand Mall Co.", contact="privacy@grandmall.example", actor=ADMIN, now=now)
        site = sites.create_site(s, tenant_id=t.id, name="Grand Mall", site_type="business", jurisdiction="cn",
                                 actor=ADMIN, now=now)
        entry = sites.create_purpose(s, site_id=site.id, name="entry", allowed_modes=["verify", "identify"],
                                     legal_basis="consent", necessity_justification="members' fast entry",
                                     retention_days=30, actor=ADMIN, now=now)
        analytics = sites.create_purpose(s, site_id=site.id, name="shopper_analytics", allowed_modes=["analyze"],
                                         legal_basis="consent", necessity_justification="footfall statistics",
                                         retention_days=30, actor=ADMIN, now=now)
        for p in (entry, analytics):
            sites.approve_pia(s, purpose_id=p.id, modes=p.allowed_modes.split(","),
                              sections={"lawfulness_necessity": "x", "rights_impact": "x", "risks": "x",
                                        "protections": "x"}, approver="marketing", actor=ADMIN, now=now)
        sites.record_legal_basis(s, purpose_id=entry.id, mode="identify", basis="consent",
                                 justification="members consent at the desk", approver="legal", actor=ADMIN, now=now)
        basis = sites.record_legal_basis(s, purpose_id=analytics.id, mode="analyze", basis="public_safety",
                                         justification="crowd safety", approver="marketing", actor=ADMIN, now=now,
                                         expires_at=now + dt.timedelta(days=30))
        sites.attest_signage(s, site_id=site.id, attested_by="mall manager", evidence="sign at the door",
                             actor=ADMIN, now=now)
        entrance = access.create_gate(s, site_id=site.id, name="Main entrance", methods=["face", "card"],
                                      purpose="entry", actor=ADMIN, now=now)
        notice = notices.generate(s, site.id, publish=True, actor=ADMIN, now=now)
        shoppers = [ledger.create_subject(s, tenant_id=t.id, birth_date=dt.date(1980 + n, 3, 3), site_id=site.id,
                                          actor=ADMIN, now=now).id for n in range(2)]
        kid = ledger.create_subject(s, tenant_id=t.id, birth_date=dt.date(1990, 1, 1), site_id=site.id,
                                    actor=ADMIN, now=now).id
        ledger.give_consent(s, subject_id=kid, site_id=site.id, purpose="entry", mode="verify",
                            notice_hash=notice.content_hash, channel="desk", method="click", actor=f"subject:{kid}",
                            now=now)
    with dep.transaction() as s:
        ledger.correct_subject_age(s, subject_id=kid, birth_date=dt.date(now.year - 12, 5, 1), actor=ADMIN, now=now)
        grants = []
        for sid in shoppers:  # analysis of shoppers who never consented, through the real gate
            g = gate.authorize(s, tenant_id=t.id, site_id=site.id, purpose="shopper_analytics", mode="analyze",
                               subject_id=sid, attributes=["age_estimate"], actor=ADMIN, now=now)
            assert isinstance(g, gate.Grant) and g.basis == "public_safety", g
            grants.append(g.audit_seq)
    staff_door = "gate_staffdoor0001"
    with dep.engine.begin() as conn:  # the three changes the services refuse, made in the database
        conn.execute(update(Site.__table__).where(Site.__table__.c.id == site.id)
                     .values(signage_attested_at=None, signage_attested_by=None, signage_evidence=None))
        conn.execute(update(Purpose.__table__).where(Purpose.__table__.c.id == analytics.id)
                     .values(retention_days=36500))
        conn.execute(insert(Gate.__table__).values(id=staff_door, tenant_id=t.id, site_id=site.id, name="Staff door",
                                                   methods="face", purpose="entry", location_id=None, schedule=None,
                                                   created_at=now))
        conn.execute(insert(GalleryImage.__table__).values(
            image_id="img_unconsented01", tenant_id=t.id, subject_id=shoppers[0], purpose_id=entry.id,
            consent_id=None, key_version=1, content_type="image/jpeg", ciphertext=os.urandom(2048), created_at=now))
    from PIL import Image

    captures = Path(dep.directory) / "captures" / "cam1"
    captures.mkdir(parents=True)
    for n in range(3):
        Image.new("RGB", (48, 48), (40 * n, 90, 160)).save(captures / f"frame_{n:04d}.jpg", "JPEG")
    return {"tenant_id": t.id, "site_id": site.id, "entry_id": entry.id, "analytics_id": analytics.id,
            "legal_basis_id": basis.id, "gates": [entrance.id, staff_door], "staff_door": staff_door,
            "shoppers": shoppers, "kid": kid, "analysis_grant_seqs": grants}
