"""Enrolment: photos or descriptors in, protected templates stored, one audit event per gallery.

A template is the keyed-transformed descriptor (:func:`trustface.gallery.protection.protect`)
sealed with AES-256-GCM under the subject's data key; the AAD binds it to tenant, subject,
template id, model version, site, purpose, mode and key version (SPC-2(5), R11). Photos are
discarded after extraction (R9) unless a ``keep_photo`` Grant comes with them
(:mod:`trustface.gallery.images`). Re-enrolling replaces the subject's templates in that gallery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import audit_store, gallery_store
from trustface.db.gallery_models import GalleryTemplate
from trustface.db.model_base import new_id
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.gallery import images as kept_photos
from trustface.gallery import protection
from trustface.gallery.codes import E_IMAGE_RETENTION_REFUSED
from trustface.gallery.index_sync import Added, note_change
from trustface.gallery.keys import KeyRing, template_aad, tenant_key, unwrap_subject_key
from trustface.gallery.results import Enrolment
from trustface.policy import codes
from trustface.policy import gate as policy_gate
from trustface.policy.gate import Grant
from trustface.policy.vocab import IDENTIFY, RETAIN_IMAGE, VERIFY

#: "mean": one template per subject and gallery, the mean of the enrolment descriptors;
#: "multi": one template per enrolment photo (best distance wins). Chosen by measurement on LFW
#: people with >= 3 images (docs/gallery.md).
TEMPLATE_POLICY = "mean"
#: most photos one enrolment accepts
MAX_ENROLMENT_PHOTOS = 10
ENROL_MODES = (VERIFY, IDENTIFY)


def as_grants(grants: Grant | Sequence[Grant]) -> list[Grant]:
    """One Grant or several, as a list."""
    if isinstance(grants, (list, tuple)):
        return list(grants)
    return [cast(Grant, grants)]  # anything else is checked as one grant (require_grant refuses a non-Grant)


def check_enrol_grant(grant: Grant, first: Grant, now: dt.datetime) -> None:
    """Refuse unless ``grant`` is a live verify/identify Grant for the same named subject and site as ``first``."""
    policy_gate.require_grant(grant, now=now)
    if grant.mode not in ENROL_MODES:
        raise TrustfaceError(codes.E_MODE_NOT_ALLOWED, f"templates are enrolled for verify or identify, not {grant.mode}")
    if grant.subject_id is None:
        raise TrustfaceError(codes.E_CONSENT_MISSING, "enrolment needs a grant for one named subject")
    policy_gate.require_grant(grant, subject_id=first.subject_id, site_id=first.site_id, now=now)
    if grant.subject_id != first.subject_id:
        raise TrustfaceError(codes.E_CONSENT_MISSING, "all grants of one enrolment must name the same subject")


def enrol_photos(session: Session, ring: KeyRing, grants: Grant | Sequence[Grant],
                 images: Sequence[kept_photos.PhotoSource], *, retain_images: bool, actor: str | None,
                 now: dt.datetime) -> list[Enrolment]:
    """:meth:`trustface.gallery.Gallery.enrol`: every grant and the image-retention rule are checked
    before a photo is decoded; each photo passes the engine's enrolment gate."""
    from trustface import engine, imaging

    given = as_grants(grants)
    keep = [g for g in given if getattr(g, "mode", None) == RETAIN_IMAGE]
    face_grants = [g for g in given if g not in keep]
    if not face_grants:
        raise TrustfaceError(codes.E_MODE_NOT_ALLOWED, "enrolment needs a verify or identify grant")
    first = face_grants[0]
    for g in face_grants:  # refuse before touching a photo
        check_enrol_grant(g, first, now)
    if retain_images and not keep:
        raise TrustfaceError(E_IMAGE_RETENTION_REFUSED,
                             "photos are not kept without a separate written image-retention consent: give a "
                             "grant for mode keep_photo (R9)")
    for g in keep:
        policy_gate.require_grant(g, mode=RETAIN_IMAGE, subject_id=first.subject_id, site_id=first.site_id, now=now)
        if g.purpose_id != first.purpose_id:
            raise TrustfaceError(E_IMAGE_RETENTION_REFUSED, "the image-retention grant is for another purpose")
    keep = keep[:1] if retain_images else []
    if not images or len(images) > MAX_ENROLMENT_PHOTOS:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"give 1 to {MAX_ENROLMENT_PHOTOS} enrolment photos")
    descriptors = []
    # a kept photo is read once: the bytes sealed are the bytes decoded
    kept = [kept_photos.photo_bytes(item) for item in images] if keep else []
    for n, item in enumerate(images, start=1):
        image = item if isinstance(item, np.ndarray) else imaging.load_image(kept[n - 1][0] if kept else item)
        try:
            face, _quality = engine.enrolment_face(image)
        except TrustfaceError as exc:
            raise TrustfaceError(exc.code, f"photo {n}: {exc.message}", exc.requirements) from None
        descriptors.append(engine.describe(image, [face])[0])
        del image
    enrolled = enrol_descriptors(session, ring, face_grants, np.stack(descriptors), actor=actor, now=now)
    if keep:
        kept_photos.keep(session, ring, keep[0], kept, actor=actor, now=now)
    return enrolled


def enrol_descriptors(session: Session, ring: KeyRing, grants: Grant | Sequence[Grant], descriptors: npt.ArrayLike,
                      *, actor: str | None, now: dt.datetime) -> list[Enrolment]:
    """:meth:`trustface.gallery.Gallery.enrol_descriptors`: descriptors (N, 128) in, one template
    (TEMPLATE_POLICY "mean") per grant's gallery out, each with its ``enrolment`` audit event."""
    from trustface.engine import MODEL_VERSION

    given = as_grants(grants)
    for g in given:
        check_enrol_grant(g, given[0], now)
    vectors_in = np.asarray(descriptors, dtype=np.float32).reshape(-1, protection.DIM)
    if not len(vectors_in) or not np.isfinite(vectors_in).all():
        raise TrustfaceError(E_INVALID_ARGUMENT, "no usable descriptors")
    vectors = vectors_in.mean(axis=0, keepdims=True) if TEMPLATE_POLICY == "mean" else vectors_in
    out = []
    audit_store.lock_head(session)  # lock order: audit head first, then domain rows
    for grant in given:
        subject_id, tenant_id = str(grant.subject_id), grant.tenant_id
        tkey = tenant_key(session, ring, tenant_id, now, create=True)
        version = tkey.version
        data_key = _subject_data_key(session, ring, subject_id, tenant_id, version, now)
        key = (grant.site_id, grant.purpose_id, grant.mode)
        old = gallery_store.templates_of_subject(session, subject_id, site_id=grant.site_id,
                                                 purpose_id=grant.purpose_id, mode=grant.mode)
        replaced = [r.id for r in old]
        gallery_store.delete_templates(session, replaced)
        protected = protection.protect(vectors, ring.matrix(tenant_id, version))
        rows = []
        for vec in protected:
            t = GalleryTemplate(template_id=new_id("tpl"), tenant_id=tenant_id, site_id=grant.site_id,
                                purpose_id=grant.purpose_id, mode=grant.mode, subject_id=subject_id,
                                key_version=version, model_version=MODEL_VERSION, created_at=now, ciphertext=b"")
            t.ciphertext = protection.seal(vec, data_key, template_aad(t))
            rows.append(t)
        gallery_store.add_templates(session, rows)
        note_change(session, key, remove=replaced,
                    add=Added(np.array([t.id for t in rows], dtype=np.int64), protected, [subject_id] * len(rows),
                              version))
        seq = audit.record(session, "enrolment", actor=actor or "system:gallery", tenant_id=tenant_id,
                           subject_id=subject_id, now=now,
                           payload={"action": "enrolled", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                    "purpose": grant.purpose, "purpose_id": grant.purpose_id, "mode": grant.mode,
                                    "template_ids": [t.template_id for t in rows], "photos": len(vectors_in),
                                    "replaced_templates": len(replaced), "template_policy": TEMPLATE_POLICY,
                                    "model_version": MODEL_VERSION, "key_version": version, "photos_stored": 0})
        out.append(Enrolment(subject_id, grant.site_id, grant.purpose, grant.mode,
                             tuple(t.template_id for t in rows), len(vectors_in), version, seq))
    return out


def _subject_data_key(session: Session, ring: KeyRing, subject_id: str, tenant_id: str, version: int,
                      now: dt.datetime) -> bytes:
    """The subject's data key on the tenant's current key version (made on first enrolment)."""
    kek = ring.kek(tenant_id, version)
    skey = gallery_store.subject_key(session, subject_id)
    if skey is None:
        data_key = protection.new_data_key()
        gallery_store.add_subject_key(session, subject_id, tenant_id=tenant_id, key_version=version,
                                      wrapped_key=protection.wrap_key(data_key, kek), now=now)
        return data_key
    if skey.key_version != version:
        raise TrustfaceError(codes.E_DEPLOYMENT, f"subject {subject_id}'s data key is on key version "
                             f"{skey.key_version}, the tenant on {version}: finish the key rotation first")
    return unwrap_subject_key(skey, kek)
