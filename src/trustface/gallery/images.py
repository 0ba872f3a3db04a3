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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustface.db import repo
from trustface.db.models import GalleryImage, new_id
from trustface.db.session import mark_domain_changed
from trustface.gallery import protection
from trustface.policy.vocab import RETAIN_IMAGE

_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"BM", "image/bmp"),
          (b"P5", "image/x-portable-graymap"), (b"P6", "image/x-portable-pixmap"))


def photo_bytes(item) -> tuple[bytes, str]:
    """The bytes of one enrolment photo as given (bytes or a path), or a PNG of an RGB array, and
    its media type."""
    if isinstance(item, np.ndarray):
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(item, dtype=np.uint8)).save(buf, format="PNG")
        return buf.getvalue(), "image/png"
    data = bytes(item) if isinstance(item, (bytes, bytearray, memoryview)) else Path(item).read_bytes()
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    return data, next((kind for magic, kind in _MAGIC if data.startswith(magic)), "application/octet-stream")


def image_aad(tenant_id: str, subject_id: str, image_id: str, purpose_id: str, key_version: int) -> bytes:
    return "|".join(("trustface-image-v1", tenant_id, subject_id, image_id, purpose_id, str(key_version))).encode()


def store(session: Session, grant, photos: Sequence[tuple[bytes, str]], data_key: bytes, key_version: int,
          now: dt.datetime) -> list[str]:
    """Seal and insert the photos under a ``keep_photo`` Grant; returns the image ids."""
    ids = []
    for data, kind in photos:
        image_id = new_id("img")
        blob = protection.seal_bytes(data, data_key, image_aad(grant.tenant_id, grant.subject_id, image_id,
                                                               grant.purpose_id, key_version))
        session.add(GalleryImage(image_id=image_id, tenant_id=grant.tenant_id, subject_id=grant.subject_id,
                                 purpose_id=grant.purpose_id, consent_id=grant.consent_id, key_version=key_version,
                                 content_type=kind, ciphertext=blob, created_at=now))
        ids.append(image_id)
    session.flush()
    return ids


def of_subject(session: Session, subject_id: str, purpose_id: str | None = None) -> list[GalleryImage]:
    stmt = select(GalleryImage).where(GalleryImage.subject_id == subject_id)
    if purpose_id is not None:
        stmt = stmt.where(GalleryImage.purpose_id == purpose_id)
    return list(session.scalars(stmt.order_by(GalleryImage.created_at, GalleryImage.image_id)))


def purposes_of(session: Session, subject_id: str) -> list[str]:
    """The purposes under which photos of the subject are kept (no ciphertext is read)."""
    return list(session.scalars(select(GalleryImage.purpose_id).where(GalleryImage.subject_id == subject_id)
                                .distinct()))


def count(session: Session, subject_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(GalleryImage)
                              .where(GalleryImage.subject_id == subject_id)) or 0)


def open_image(row: GalleryImage, data_key: bytes) -> bytes:
    return protection.open_sealed_blob(row.ciphertext, data_key, image_aad(
        row.tenant_id, row.subject_id, row.image_id, row.purpose_id, row.key_version))


def delete_images(session: Session, subject_id: str, purpose_id: str | None = None) -> int:
    """Delete (SQLite: overwrite) a subject's kept photos, for one purpose or all."""
    rows = of_subject(session, subject_id, purpose_id)
    if rows:
        repo.secure_delete(session)
        for row in rows:
            session.delete(row)
        session.flush()
        mark_domain_changed(session)
    return len(rows)


def purge_images(session: Session, *, subject_id: str, purpose_id: str, mode: str, reason: str,
                 now: dt.datetime) -> int:
    """Purge handler (``gallery.images``): the image consent ended, so its photos go."""
    if mode != RETAIN_IMAGE:
        return 0
    return delete_images(session, subject_id, purpose_id)
