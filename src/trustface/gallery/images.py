"""Enrolment photos kept under a separate written image-retention consent (R9; GBT41819-7, CAC23-raw).

By default no photo outlives its enrolment. A photo is kept only when the enrolment also carries a
Grant for mode ``keep_photo`` of the same subject and purpose; that consent must be written
(signature or signed release, enforced by the ledger). Kept photos are sealed with AES-256-GCM
under the subject's data key, the key that also seals the templates, so destroying that key on
erasure crypto-shreds photos and templates together. The associated data binds tenant, subject,
image id, purpose and key version: a swapped or edited row fails to open.

They leave the database when the image consent is withdrawn or expires (purge handler
``gallery.images``), when the subject is erased, and never through the search paths.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import gallery_store
from trustface.db.gallery_models import GalleryImage
from trustface.db.model_base import new_id
from trustface.errors import TrustfaceError
from trustface.gallery import erasure_log, protection
from trustface.gallery.codes import TemplateIntegrityError
from trustface.gallery.keys import KeyRing, unwrap_subject_key
from trustface.policy import codes
from trustface.policy.gate import Grant
from trustface.policy.vocab import RETAIN_IMAGE

#: one enrolment photo as a caller gives it: encoded bytes, a path, or an RGB uint8 array (H, W, 3)
PhotoSource = bytes | bytearray | memoryview | str | Path | np.ndarray
#: a photo to keep: its bytes and media type
Photo = tuple[bytes, str]

_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"BM", "image/bmp"),
          (b"P5", "image/x-portable-graymap"), (b"P6", "image/x-portable-pixmap"))


def photo_bytes(item: PhotoSource) -> Photo:
    """The bytes of one enrolment photo as given (bytes or a path), or a PNG of an RGB array, and
    its media type."""
    if isinstance(item, np.ndarray):
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(item, dtype=np.uint8)).save(buf, format="PNG")
        return buf.getvalue(), "image/png"
    data = bytes(item) if isinstance(item, (bytes, bytearray, memoryview)) else Path(item).read_bytes()
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    return data, next((kind for magic, kind in _MAGIC if data.startswith(magic)), "application/octet-stream")


def image_aad(tenant_id: str, subject_id: str, image_id: str, purpose_id: str, key_version: int) -> bytes:
    """The associated data of a kept photo's ciphertext."""
    return "|".join(("trustface-image-v1", tenant_id, subject_id, image_id, purpose_id, str(key_version))).encode()


def store(session: Session, grant: Grant, photos: Sequence[Photo], data_key: bytes, key_version: int,
          now: dt.datetime) -> list[str]:
    """Seal and insert the photos under a ``keep_photo`` Grant naming a subject; returns the image ids."""
    subject_id = _named_subject(grant)
    rows = []
    for data, kind in photos:
        image_id = new_id("img")
        blob = protection.seal_bytes(data, data_key, image_aad(grant.tenant_id, subject_id, image_id,
                                                               grant.purpose_id, key_version))
        rows.append(GalleryImage(image_id=image_id, tenant_id=grant.tenant_id, subject_id=subject_id,
                                 purpose_id=grant.purpose_id, consent_id=grant.consent_id, key_version=key_version,
                                 content_type=kind, ciphertext=blob, created_at=now))
    gallery_store.add_images(session, rows)
    return [r.image_id for r in rows]


def keep(session: Session, ring: KeyRing, grant: Grant, photos: Sequence[Photo], *, actor: str | None,
         now: dt.datetime) -> list[str]:
    """Keep the photos of an enrolment under a ``keep_photo`` Grant, sealed under the subject's data
    key, with an ``enrolment`` audit event naming them (R9, R21); returns the image ids."""
    data_key, key_version = _subject_data_key(session, ring, grant.tenant_id, _named_subject(grant))
    ids = store(session, grant, photos, data_key, key_version, now)
    audit.record(session, "enrolment", actor=actor or "system:gallery", tenant_id=grant.tenant_id,
                 subject_id=grant.subject_id, now=now,
                 payload={"action": "photos_retained", "grant_id": grant.grant_id, "site_id": grant.site_id,
                          "purpose_id": grant.purpose_id, "consent_id": grant.consent_id, "image_ids": ids,
                          "photos_stored": len(ids), "key_version": key_version})
    return ids


def _named_subject(grant: Grant) -> str:
    if grant.subject_id is None:
        raise TrustfaceError(codes.E_CONSENT_MISSING, "keeping photos needs a grant for one named subject")
    return grant.subject_id


def _subject_data_key(session: Session, ring: KeyRing, tenant_id: str, subject_id: str) -> tuple[bytes, int]:
    """(the subject's unwrapped data key, its key version)."""
    skey = gallery_store.subject_key(session, subject_id)
    if skey is None:
        raise TemplateIntegrityError(f"subject {subject_id} has no data key (erased or removed)", subject_id=subject_id)
    return unwrap_subject_key(skey, ring.kek(tenant_id, skey.key_version)), skey.key_version


def open_image(row: GalleryImage, data_key: bytes) -> bytes:
    """The photo bytes of a kept-photo row; TemplateIntegrityError naming it when it fails to open."""
    try:
        return protection.open_sealed_blob(row.ciphertext, data_key, image_aad(
            row.tenant_id, row.subject_id, row.image_id, row.purpose_id, row.key_version))
    except TemplateIntegrityError:
        raise TemplateIntegrityError(f"kept photo {row.image_id} of subject {row.subject_id} failed authentication",
                                     subject_id=row.subject_id) from None


def kept_photos(session: Session, ring: KeyRing, subject_id: str, *, actor: str,
                now: dt.datetime) -> list[tuple[str, str, bytes]]:
    """(image id, media type, bytes) of the photos kept for a subject, for the subject's own access
    request (PIPL-45), never for search. The read is audited (an ``export`` event naming the ids)."""
    rows = gallery_store.images_of_subject(session, subject_id)
    if not rows:
        return []
    data_key, _ = _subject_data_key(session, ring, rows[0].tenant_id, subject_id)
    out = [(row.image_id, row.content_type, open_image(row, data_key)) for row in rows]
    audit.record(session, "export", actor=actor, tenant_id=rows[0].tenant_id, subject_id=subject_id, now=now,
                 payload={"action": "kept_photos_exported", "image_ids": [r[0] for r in out], "photos": len(out)})
    return out


def count(session: Session, subject_id: str) -> int:
    """How many photos are kept for the subject (no ciphertext is read)."""
    return gallery_store.count_images(session, subject_id)


def purge_images(session: Session, *, subject_id: str, purpose_id: str, mode: str, reason: str,
                 now: dt.datetime) -> int:
    """Purge handler (``gallery.images``; R9, R13, R14): the image consent ended, so its photos go.
    Returns how many were deleted."""
    if mode != RETAIN_IMAGE:
        return 0
    erasure_log.note(session, "purge", subject_id=subject_id, purpose_id=purpose_id, mode=mode, reason=reason, now=now)
    return gallery_store.delete_images(session, subject_id, purpose_id)
