"""Erasure: the gallery's purge handler (withdrawal, retention) and subject erasure requests.

Deleting a template removes its row (SQLite: overwritten, ``secure_delete``), drops its vector from
the indexes at commit (:mod:`trustface.gallery.index_sync`) and, once the subject has no template
and no kept photo left, destroys the subject's wrapped data key (R13, R14, PIPL-47, GDPR-17). A
backup taken earlier still holds that key, so each purge is also appended to the erasure log before
the commit (:mod:`trustface.gallery.erasure_log`), which ``trustface restore`` replays. Each purge
writes its deletion certificate through :func:`trustface.policy.retention.purge` in the same
transaction (R21).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import audit_store, gallery_store, repo
from trustface.db.gallery_store import GalleryKey
from trustface.db.model_base import new_id
from trustface.errors import TrustfaceError
from trustface.gallery import erasure_log
from trustface.gallery.index_sync import note_change, note_shredded
from trustface.policy import codes, retention
from trustface.policy._common import utc
from trustface.policy.vocab import RETAIN_IMAGE


def purge_templates(session: Session, *, subject_id: str, purpose_id: str, mode: str, reason: str,
                    now: dt.datetime) -> int:
    """Retention / withdrawal purge handler (``gallery.templates``; R13, R14): delete the subject's
    templates for purpose x mode, drop them from the indexes, and destroy the subject's data key
    when no template is left. Runs in the caller's transaction, next to the deletion certificate.
    Returns how many templates were deleted. The purge goes to the erasure log (written before the
    commit), so a restored backup replays it (:mod:`trustface.gallery.erasure_log`)."""
    if mode != RETAIN_IMAGE:  # a kept-photo purge is logged by gallery.images.purge_images
        erasure_log.note(session, "purge", subject_id=subject_id, purpose_id=purpose_id, mode=mode, reason=reason,
                         now=now)
    rows = gallery_store.templates_of_subject(session, subject_id, purpose_id=purpose_id, mode=mode)
    if not rows:
        _destroy_key_if_unused(session, subject_id)
        return 0
    by_gallery: dict[GalleryKey, list[int]] = {}
    for r in rows:
        by_gallery.setdefault((r.site_id, r.purpose_id, r.mode), []).append(r.id)
    deleted = gallery_store.delete_templates(session, [r.id for r in rows])
    note_shredded(session)
    for key, ids in by_gallery.items():
        note_change(session, key, remove=ids)
    _destroy_key_if_unused(session, subject_id)
    return deleted


def _destroy_key_if_unused(session: Session, subject_id: str) -> None:
    if gallery_store.count_templates(session, subject_id) == 0 and gallery_store.count_images(session, subject_id) == 0 \
            and gallery_store.delete_subject_key(session, subject_id):
        note_shredded(session)


def erase_subject(session: Session, subject_id: str, *, actor: str, reason: str = "erasure_request",
                  now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Erase every template of a subject (a deletion request, R14, PIPL-47, GDPR-17): deletes the
    rows, drops the vectors from the indexes, destroys the subject's wrapped data key
    (crypto-shredding any backup copy) and writes one deletion certificate per purpose x mode through
    :func:`trustface.policy.retention.purge`. Needs no Grant: erasure must work after consent is
    gone; the API/CLI layer checks the caller's role. Returns the certificates."""
    now = utc(now)
    subj = repo.subject(session, subject_id)
    if subj is None:
        raise TrustfaceError(codes.E_NOT_FOUND, f"subject {subject_id!r} does not exist")
    audit_store.lock_head(session)
    certificates = []
    pairs = sorted({(p, m) for _, p, m in gallery_store.galleries_of_subject(session, subject_id)}
                   | {(p, RETAIN_IMAGE) for p in gallery_store.image_purposes(session, subject_id)})
    for purpose_id, mode in pairs:
        certificates.append(retention.purge(session, subject_id=subject_id, tenant_id=subj.tenant_id,
                                            purpose_id=purpose_id, mode=mode, reason=reason, actor=actor, now=now))
    skey = gallery_store.subject_key(session, subject_id)
    erasure_log.note(session, "gallery_erased", subject_id=subject_id, tenant_id=subj.tenant_id, reason=reason,
                     key_version=None if skey is None else int(skey.key_version), now=now,
                     certificate_ids=[str(c["certificate_id"]) for c in certificates])
    key_existed = gallery_store.delete_subject_key(session, subject_id)
    if key_existed:
        note_shredded(session)
    if not certificates:
        cert: dict[str, Any] = {
            "action": "deletion_certificate", "certificate_id": new_id("del"), "subject_id": subject_id,
            "reason": reason, "deleted": {"gallery.templates": 0, "gallery.data_key": int(key_existed)},
            "deleted_at": now.isoformat()}
        cert["seq"] = audit.record(session, "deletion", actor=actor, tenant_id=subj.tenant_id,
                                   subject_id=subject_id, payload=cert, now=now)
        certificates.append(cert)
    return certificates
