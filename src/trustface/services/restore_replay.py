"""Replaying one erasure-log line on a restored database (:mod:`trustface.services.backup`): the
purge, erasure or withdrawal happens again, with its deletion certificate (R13, R14, R21,
PIPL-47, GDPR-17). Idempotent: whatever the backup still holds of it goes, whatever is already
gone stays gone; a subject the backup does not know (enrolled after it) has nothing to replay.

Runs in the restore's transaction on the restored copy, whose sessions carry no erasure-log path,
so a replay appends nothing to the log (the line it replays is already there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from trustface import audit, rights
from trustface.db import repo
from trustface.gallery import erase_subject as erase_gallery
from trustface.policy import retention

#: the channel a replayed whole-subject erasure is recorded with
REPLAY_CHANNEL = "app"


def replay(session: Session, entry: dict[str, Any], *, actor: str, now: dt.datetime) -> list[str]:
    """Replay one log line; returns the ids of the deletion certificates it wrote."""
    subject = repo.subject(session, str(entry.get("subject_id")))
    if subject is None:
        return []
    kind = entry.get("event")
    reason = str(entry.get("reason") or "erasure_request")
    if kind == "subject_erased":
        cert = rights.erase_subject(session, subject.id, actor=actor, channel=REPLAY_CHANNEL, now=now)
        return [str(cert["certificate_id"])]
    if kind == "gallery_erased":
        return [str(c["certificate_id"]) for c in erase_gallery(session, subject.id, actor=actor, reason=reason,
                                                                 now=now)]
    purpose_id, mode = str(entry.get("purpose_id")), str(entry.get("mode"))
    consent = repo.active_consent(session, subject.id, purpose_id, mode)
    consent_ids = []
    if consent is not None:  # the consent ended after the backup: end it again
        withdrawn = reason == "withdrawn"
        consent.status = "withdrawn" if withdrawn else "expired"
        consent.ended_at, consent.ended_reason = now, reason
        if withdrawn:
            consent.ended_channel, consent.ended_actor = REPLAY_CHANNEL, actor
        audit.record(session, "consent", actor=actor, tenant_id=subject.tenant_id, subject_id=subject.id, now=now,
                     payload={"action": "withdrawn" if withdrawn else "expired", "consent_id": consent.id,
                              "purpose_id": purpose_id, "mode": mode, "reason": reason,
                              "replayed_from_erasure_log": entry.get("n")})
        consent_ids.append(consent.id)
    cert = retention.purge(session, subject_id=subject.id, tenant_id=subject.tenant_id, purpose_id=purpose_id,
                           mode=mode, reason=reason, actor=actor, now=now, consent_ids=consent_ids)
    return [str(cert["certificate_id"])]
