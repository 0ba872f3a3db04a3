"""Subject rights across the rooms: access (what is held), restriction and erasure
(PIPL-44, PIPL-45, PIPL-47, GDPR-15, GDPR-17, GDPR-18; R14, R23).

These compose the policy ledger, the gallery and the access room, so they live above all three.
Each function runs in the caller's session and writes its audit events there; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access import service as access
from trustface.db import access_store, audit_store, gallery_store, repo
from trustface.db.models import new_id
from trustface.gallery import erase_subject as erase_templates
from trustface.gallery import erasure_log
from trustface.gallery import images as image_store
from trustface.policy import ledger
from trustface.policy._common import invalid, utc
from trustface.policy.vocab import CHANNELS

RECENT_ACCESS_EVENTS = 50


def _consent_to_dict(session: Session, consent) -> dict:
    purpose = repo.purpose_of_site(session, consent.purpose_id)
    return {"id": consent.id, "site_id": purpose.site_id if purpose else None,
            "purpose": purpose.name if purpose else None, "mode": consent.mode, "status": consent.status,
            "given_at": consent.given_at.isoformat(), "channel": consent.channel, "method": consent.method,
            "notice_hash": consent.notice_hash, "guardian": consent.guardian is not None,
            "expires_at": consent.expires_at.isoformat(),
            "ended_at": consent.ended_at.isoformat() if consent.ended_at else None,
            "ended_reason": consent.ended_reason}


def subject_summary(session: Session, subject_id: str) -> dict:
    """The subject record as the API shows it: pseudonymous id, age basis, status, consents."""
    s = ledger.get_subject(session, subject_id)
    return {"id": s.id, "tenant_id": s.tenant_id, "site_id": s.site_id,
            "birth_date": s.birth_date.isoformat() if s.birth_date else None, "age_band": s.age_band,
            "suspended": s.suspension_kind, "created_at": s.created_at.isoformat(),
            "consents": [_consent_to_dict(session, c) for c in repo.consents_of_subject(session, s.id)]}


def subject_report(session: Session, subject_id: str, *, actor: str, now: dt.datetime | None = None) -> dict:
    """Everything held about a subject, in words and counts (PIPL-45, GDPR-15): consents, the
    number of protected templates per purpose and mode (never their bytes), credentials (never
    their values), recent gate events. Records an ``export`` event: the access is itself audited."""
    now = utc(now)
    summary = subject_summary(session, subject_id)
    identity = repo.subject_identity(session, subject_id)
    templates: dict[str, int] = {}
    for row in gallery_store.templates_of_subject(session, subject_id):
        purpose = repo.purpose_of_site(session, row.purpose_id)
        key = f"{purpose.name if purpose else row.purpose_id}/{row.mode}"
        templates[key] = templates.get(key, 0) + 1
    events = audit_store.events_page(session, tenant_id=None, after_seq=0, limit=10_000, subject_id=subject_id)
    access_events = [e for e in events if e["type"] == "access"][-RECENT_ACCESS_EVENTS:]
    seq = audit.record(session, "export", actor=actor, tenant_id=summary["tenant_id"], subject_id=subject_id,
                       now=now, payload={"action": "subject_access_report", "subject_id": subject_id})
    return {
        **summary,
        "identity": ({k: getattr(identity, k) for k in ("display_name", "external_ref", "contact")}
                     if identity else None),
        "templates": templates,
        "photos_kept": image_store.count(session, subject_id),
        "credentials": [access.credential_to_dict(c) for c in access_store.credentials_of_subject(session, subject_id)],
        "recent_access": [{"seq": e["seq"], "at": e["occurred_at"], **{k: v for k, v in json.loads(e["payload"]).items()
                                                                         if k in ("gate_id", "method", "result", "reason")}}
                          for e in access_events],
        "audit_events": len(events),
        "generated_at": now.isoformat(),
        "audit_seq": seq,
    }


def restrict_subject(session: Session, subject_id: str, *, reason: str, actor: str,
                     now: dt.datetime | None = None) -> dict:
    """Restrict processing (PIPL-44, GDPR-18): the gate refuses every face operation at once."""
    s = ledger.suspend_subject(session, subject_id=subject_id, reason=reason, kind="restrict", actor=actor, now=now)
    assert s.suspended_at is not None
    return {"id": s.id, "suspended": s.suspension_kind, "since": s.suspended_at.isoformat()}


def erase_subject(session: Session, subject_id: str, *, actor: str, channel: str = "app",
                  now: dt.datetime | None = None) -> dict:
    """Erase a subject (PIPL-47, GDPR-17): withdraw every active consent (which purges templates
    through the purge handlers), crypto-shred the gallery data key, delete non-face credentials
    and identity data, revoke the subject's self-service tokens, and write one deletion
    certificate summarising it. The pseudonymous subject id stays as the anchor of the audit
    trail, which the processor must keep as evidence (SPC-6)."""
    now = utc(now)
    if channel not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}")
    subject = ledger.get_subject(session, subject_id)
    audit_store.lock_head(session)
    withdrawn = []
    for consent in repo.active_consents(session, subject_id):
        purpose = repo.purpose_of_site(session, consent.purpose_id)
        assert purpose is not None  # a consent's purpose row is never deleted
        ledger.withdraw_consent(session, subject_id=subject_id, site_id=purpose.site_id, purpose=purpose.name,
                                mode=consent.mode, channel=channel, actor=actor, now=now)
        withdrawn.append(consent.id)
    gallery_certificates = erase_templates(session, subject_id, actor=actor, now=now)
    credentials = access.erase_credentials(session, subject_id)
    identity_deleted = repo.delete_subject_identity(session, subject_id)
    tokens = access_store.revoke_api_keys_of_subject(session, subject_id, now)
    certificate = {"action": "subject_erased", "certificate_id": new_id("del"), "subject_id": subject_id,
                   "channel": channel, "consents_withdrawn": len(withdrawn),
                   "deleted": {"credentials": credentials, "identity": int(identity_deleted),
                               "gallery_certificates": [c.get("certificate_id") for c in gallery_certificates]},
                   "tokens_revoked": tokens, "erased_at": now.isoformat()}
    certificate["seq"] = audit.record(session, "deletion", actor=actor, tenant_id=subject.tenant_id,
                                      subject_id=subject_id, payload=certificate, now=now)
    erasure_log.note(session, "subject_erased", subject_id=subject_id, tenant_id=subject.tenant_id, reason=channel,
                     now=now, certificate_ids=[str(certificate["certificate_id"])])
    return certificate
