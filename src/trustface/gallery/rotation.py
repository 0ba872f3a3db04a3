"""Key rotation: re-protect every template of a tenant under a new key version (ISO24745 renewability)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import audit_store, gallery_store
from trustface.errors import TrustfaceError
from trustface.gallery import images as kept_photos
from trustface.gallery import protection
from trustface.gallery.index_sync import note_change
from trustface.gallery.keys import KeyRing, open_template, template_aad, tenant_key, unwrap_subject_key
from trustface.policy import codes
from trustface.policy._common import utc


def rotate_keys(session: Session, secret: bytes, *, tenant_id: str | None = None, actor: str,
                now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Re-protect every template of a tenant (or of every tenant) under a new key version: a new
    transform matrix and a new KEK; every subject also gets a new data key. No photo is needed:
    each template is opened, mapped from the old transform to the new one and sealed again; kept
    photos are sealed again under the new data key. Old copies (backups) stay under the old keys and
    no longer match probes protected with the new transform (ISO24745 renewability, R11). One
    ``admin`` audit event per tenant, same transaction (R21). ``secret``: the deployment's tenant
    key-encryption seed. Returns one report per tenant.

    A template that fails authentication stops the rotation (nothing is changed) and is named."""
    ring = KeyRing(secret)
    now = utc(now)
    audit_store.lock_head(session)
    tenants = [tenant_id] if tenant_id else gallery_store.tenants(session)
    reports = []
    for tid in tenants:
        tkey = tenant_key(session, ring, tid, now, create=True)
        old_v, new_v = tkey.version, tkey.version + 1
        old_kek, new_kek = ring.kek(tid, old_v), ring.kek(tid, new_v)
        # t_new = M_new d = M_new M_old^T t_old
        remap = ring.matrix(tid, new_v) @ ring.matrix(tid, old_v).T
        templates = subjects = 0
        for skey in gallery_store.subject_keys_of_tenant(session, tid):
            rows = gallery_store.templates_of_subject(session, skey.subject_id)
            if skey.key_version != old_v:
                raise TrustfaceError(codes.E_DEPLOYMENT, f"subject {skey.subject_id}'s key is on version "
                                     f"{skey.key_version}, expected {old_v}")
            old_dk = unwrap_subject_key(skey, old_kek)
            new_dk = protection.new_data_key()
            for img in gallery_store.images_of_subject(session, skey.subject_id):
                plain = kept_photos.open_image(img, old_dk)
                gallery_store.set_image_ciphertext(img, key_version=new_v, ciphertext=protection.seal_bytes(
                    plain, new_dk, kept_photos.image_aad(img.tenant_id, img.subject_id, img.image_id,
                                                         img.purpose_id, new_v)))
            for row in rows:
                vec = open_template(row, old_dk)
                fresh = (np.asarray(vec, dtype=np.float64) @ remap.T).astype(np.float32)
                gallery_store.update_template(session, row.id, key_version=new_v,
                                              ciphertext=protection.seal(fresh, new_dk,
                                                                         template_aad(row, key_version=new_v)))
                templates += 1
            gallery_store.set_subject_key(skey, wrapped_key=protection.wrap_key(new_dk, new_kek),
                                          key_version=new_v)
            subjects += 1
        gallery_store.set_tenant_key_version(session, tkey, version=new_v, kek_check=protection.kek_check(new_kek),
                                             now=now)
        for key in gallery_store.galleries_of_tenant(session, tid):
            note_change(session, key)
        report: dict[str, Any] = {"action": "template_key_rotated", "tenant_id": tid, "from_version": old_v,
                                  "to_version": new_v, "templates": templates, "subjects": subjects}
        report["seq"] = audit.record(session, "admin", actor=actor, tenant_id=tid, payload=report, now=now)
        reports.append(report)
    if not tenants:
        audit.record(session, "admin", actor=actor, now=now,
                     payload={"action": "template_key_rotated", "tenants": 0})
    return reports
