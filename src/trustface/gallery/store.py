"""The protected gallery: enrol, verify (1:1), identify (1:N), erase, rotate keys.

Every read or write of face data takes a :class:`~trustface.policy.gate.Grant` and calls
:func:`~trustface.policy.gate.require_grant` first (ARCHITECTURE "doors"); every enrolment, match,
erasure and key rotation writes its audit event in the caller's transaction (R21). Results carry
subject ids, distances and decisions, never template bytes or descriptors (R11).

Storage (SPC-2(5), PIPL-51, ISO24745, R10, R11):

* a descriptor is transformed with the tenant's keyed orthogonal matrix (cancelable template,
  :mod:`trustface.gallery.protection`), then sealed with AES-256-GCM under the subject's data key;
  the data key is stored only wrapped by the tenant KEK; KEK and matrix come from the deployment
  key file (``Deployment.keys.tenant_kek_seed``) and the tenant's key version, never from the DB;
* the AAD binds every ciphertext to tenant, subject, template id, model version, site, purpose,
  mode and key version: a swapped or edited row fails, is named, and is never used;
* photos are never stored (R9): enrolment keeps only templates (see ``retain_images``).

Search: one in-memory :class:`~trustface.gallery.index.VectorIndex` per identify gallery (site x
purpose x identify), rebuilt from the decrypted templates by :meth:`Gallery.open`, kept in step on
enrol/erase after each commit, and resynchronised when another process changed the gallery (a
change counter in ``gallery_state``). Results are filtered by
:func:`~trustface.policy.gate.consented_subject_ids` on every call, so a withdrawn, suspended,
expired or verify-only subject never comes back (R5, R14, R17, R23).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import event
from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import audit_store, repo
from trustface.db.models import GallerySubjectKey, GalleryTemplate, GalleryTenantKey, new_id
from trustface.errors import E_INVALID_ARGUMENT, E_NO_FACE, TrustfaceError
from trustface.gallery import images as image_store
from trustface.gallery import protection
from trustface.gallery.codes import E_IMAGE_RETENTION_REFUSED, E_NOT_ENROLLED, E_TEMPLATE_INTEGRITY
from trustface.gallery.index import EXACT_LIMIT, RERANK, VectorIndex
from trustface.policy import codes, gate
from trustface.policy._common import utc
from trustface.policy.vocab import IDENTIFY, RETAIN_IMAGE, VERIFY

#: "mean": one template per subject and gallery, the mean of the enrolment descriptors;
#: "multi": one template per enrolment photo (best distance wins). Chosen by measurement on LFW
#: people with >= 3 images (docs/gallery.md).
TEMPLATE_POLICY = "mean"
#: most photos one enrolment accepts
MAX_ENROLMENT_PHOTOS = 10

#: 1:N search makes one comparison per enrolled subject, so false matches add up with the
#: gallery's size: on LFW with 840 people the verify point (FMR 1e-3) let 46.9% of strangers
#: match someone (docs/gallery.md). Identify therefore defaults to the strictest calibrated point.
IDENTIFY_OPERATING_POINT = "1e-4"
ENROL_MODES = (VERIFY, IDENTIFY)

_TX = "_tf_gallery_tx"          # pending index changes of the session's transaction
_LISTENING = "_tf_gallery_listening"
_SHRED = "_tf_gallery_shred"      # the transaction erased templates or keys


class TemplateIntegrityError(TrustfaceError):
    """A template (or the subject's wrapped key) failed authentication; names the template."""

    def __init__(self, message: str, *, template_id: str | None = None, subject_id: str | None = None):
        super().__init__(E_TEMPLATE_INTEGRITY, message)
        self.template_id, self.subject_id = template_id, subject_id


# --- results (no vectors, no template bytes) ------------------------------------------------------

@dataclass(frozen=True)
class Enrolment:
    subject_id: str
    site_id: str
    purpose: str
    mode: str
    template_ids: tuple[str, ...]
    photos: int
    key_version: int
    audit_seq: int

    def to_dict(self) -> dict:
        return {**asdict(self), "template_ids": list(self.template_ids)}


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    distance: float
    similarity: float


@dataclass(frozen=True)
class VerifyResult:
    subject_id: str
    match: bool
    distance: float
    similarity: float
    operating_point: str
    threshold: float
    audit_seq: int

    def to_dict(self) -> dict:
        return {**asdict(self), "distance": round(self.distance, 4), "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class IdentifyResult:
    """``candidates``: consented subjects within the threshold, nearest first (at most k);
    ``unknown``: no consented subject is within the threshold (open set)."""

    candidates: tuple[Candidate, ...]
    operating_point: str
    threshold: float
    gallery_size: int
    approximate: bool
    audit_seq: int
    unknown: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "unknown", not self.candidates)

    def to_dict(self) -> dict:
        return {"unknown": self.unknown,
                "candidates": [{"subject_id": c.subject_id, "distance": round(c.distance, 4),
                                "similarity": round(c.similarity, 4)} for c in self.candidates],
                "operating_point": self.operating_point, "threshold": self.threshold,
                "gallery_size": self.gallery_size, "approximate": self.approximate, "audit_seq": self.audit_seq}


# --- keys ---------------------------------------------------------------------------------------

class _KeyRing:
    """KEKs and transform matrices derived from the deployment's tenant secret (never stored)."""

    def __init__(self, secret: bytes):
        if not secret or len(secret) < 32:
            raise TrustfaceError(codes.E_DEPLOYMENT, "the tenant key-encryption seed is missing or short")
        self._secret = bytes(secret)
        self._keks: dict[tuple[str, int], bytes] = {}

    def kek(self, tenant_id: str, version: int) -> bytes:
        key = (tenant_id, version)
        kek = self._keks.get(key)
        if kek is None:
            kek = self._keks[key] = protection.tenant_kek(self._secret, tenant_id, version)
        return kek

    def matrix(self, tenant_id: str, version: int) -> np.ndarray:
        return protection.transform_matrix(self._secret, tenant_id, version)

    def check(self, row: GalleryTenantKey) -> None:
        if protection.kek_check(self.kek(row.tenant_id, row.version)) != row.kek_check:
            raise TrustfaceError(codes.E_DEPLOYMENT,
                                 f"the deployment key file does not hold the template keys of tenant {row.tenant_id} "
                                 "(another key file?); no template can be opened")


def _tenant_key(session: Session, ring: _KeyRing, tenant_id: str, now: dt.datetime, *,
                create: bool) -> GalleryTenantKey | None:
    row = repo.gallery_tenant_key(session, tenant_id)
    if row is None:
        if not create:
            return None
        row = repo.add(session, GalleryTenantKey(tenant_id=tenant_id, version=1, rotated_at=now,
                                                 kek_check=protection.kek_check(ring.kek(tenant_id, 1))))
    ring.check(row)
    return row


def _template_aad(row_like, model_version: str | None = None, key_version: int | None = None) -> bytes:
    return protection.aad(row_like.tenant_id, row_like.subject_id, row_like.template_id,
                          model_version or row_like.model_version, site_id=row_like.site_id,
                          purpose_id=row_like.purpose_id, mode=row_like.mode,
                          key_version=row_like.key_version if key_version is None else key_version)


def _unwrap(row: repo.TemplateRow, kek: bytes) -> bytes:
    if row.wrapped_key is None:
        raise TemplateIntegrityError(f"template {row.template_id} of subject {row.subject_id} has no data key "
                                     "(erased or removed)", template_id=row.template_id, subject_id=row.subject_id)
    try:
        return protection.unwrap_key(row.wrapped_key, kek)
    except protection.TemplateIntegrityError:
        raise TemplateIntegrityError(f"the data key of subject {row.subject_id} (template {row.template_id}) does "
                                     "not unwrap: edited or swapped key row", template_id=row.template_id,
                                     subject_id=row.subject_id) from None


def _unwrap_subject_key(skey: GallerySubjectKey, kek: bytes) -> bytes:
    """The subject's data key, or E_TEMPLATE_INTEGRITY naming the subject (edited or swapped key row)."""
    try:
        return protection.unwrap_key(skey.wrapped_key, kek)
    except protection.TemplateIntegrityError:
        raise TemplateIntegrityError(f"the data key of subject {skey.subject_id} does not unwrap: edited or "
                                     "swapped key row", subject_id=skey.subject_id) from None


def _open_row(row: repo.TemplateRow, data_key: bytes) -> np.ndarray:
    try:
        vec = protection.open_sealed(row.ciphertext, data_key, _template_aad(row))
    except protection.TemplateIntegrityError:
        raise TemplateIntegrityError(f"template {row.template_id} of subject {row.subject_id} failed authentication: "
                                     "the row was edited or swapped; it is not used",
                                     template_id=row.template_id, subject_id=row.subject_id) from None
    if vec.shape != (protection.DIM,):
        raise TemplateIntegrityError(f"template {row.template_id} has the wrong size", template_id=row.template_id,
                                     subject_id=row.subject_id)
    return vec


# --- pending index changes, applied after commit ---------------------------------------------------

_OPEN_GALLERIES: "weakref.WeakSet[Gallery]" = weakref.WeakSet()


def _tx(session: Session) -> dict:
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _apply_after_commit)
        event.listen(session, "after_rollback", _forget)
    return session.info.setdefault(_TX, {})


def _note_change(session: Session, key: tuple[str, str, str], *, add=None, remove=None) -> int:
    """Bump the gallery's change counter in this transaction and remember what changed, so the
    open indexes of this process follow after the commit (other processes resynchronise)."""
    pending = _tx(session)
    base_before = None
    if key not in pending:
        base_before = repo.gallery_generation(session, *key)[0]
    new = repo.bump_gallery_generation(session, *key)
    entry = pending.setdefault(key, {"base": base_before, "ops": []})
    entry["new"] = new
    if remove is not None and len(remove):
        entry["ops"].append(("remove", np.asarray(remove, dtype=np.int64)))
    if add is not None:
        entry["ops"].append(("add", add))
    return new


def _forget(session: Session) -> None:
    session.info.pop(_TX, None)
    session.info.pop(_SHRED, None)


def _checkpoint_sqlite(session: Session) -> None:
    """After an erasure on SQLite, move the WAL into the database file and truncate it, so the
    old page images (ciphertext, wrapped key) do not linger in ``-wal``; ``secure_delete`` has
    already zeroed them in the new pages. Best effort: a long reader elsewhere can delay it."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    raw = bind.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def _apply_after_commit(session: Session) -> None:
    pending = session.info.pop(_TX, None)
    if session.info.pop(_SHRED, None):
        _checkpoint_sqlite(session)
    if not pending:
        return
    for gallery in list(_OPEN_GALLERIES):
        for key, entry in pending.items():
            gallery._apply(key, entry)


# --- the gallery ----------------------------------------------------------------------------------

@dataclass
class _Slot:
    index: VectorIndex
    generation: int
    key_version: int | None


class Gallery:
    """Protected templates of a deployment and the search indexes of its identify galleries.

    >>> gallery = Gallery.open(dep)                      # start-up: rebuild every identify index
    >>> with dep.transaction() as s:
    ...     grant = gate.authorize(s, tenant_id=..., site_id=..., purpose="door_access", mode="identify")
    ...     result = gallery.identify(s, grant, image_bytes)
    """

    def __init__(self, deployment=None, *, secret: bytes | None = None, exact_limit: int = EXACT_LIMIT,
                 rerank: int = RERANK):
        if secret is None:
            if deployment is None:
                raise TypeError("give a Deployment or the tenant secret")
            secret = deployment.keys.tenant_kek_seed
        self._ring = _KeyRing(secret)
        self.deployment = deployment
        self.exact_limit, self.rerank = exact_limit, rerank
        self._slots: dict[tuple[str, str, str], _Slot] = {}
        self._lock = threading.RLock()
        #: templates that failed authentication while building indexes: dicts naming them
        self.integrity_failures: list[dict] = []
        _OPEN_GALLERIES.add(self)

    @classmethod
    def open(cls, deployment, *, preload: bool = True, **kw) -> "Gallery":
        """Open the gallery of a deployment; ``preload`` rebuilds every identify index now."""
        gallery = cls(deployment, **kw)
        if preload:
            with deployment.session() as session:
                try:
                    gallery.rebuild(session)
                finally:
                    session.rollback()
        return gallery

    # --- index maintenance --------------------------------------------------------------------
    def rebuild(self, session: Session, galleries: Sequence[tuple[str, str, str]] | None = None) -> dict:
        """(Re)build the search index of every identify gallery (or the given ones) from the store."""
        if galleries is None:
            galleries = [g for g in repo.all_galleries(session) if g[2] == IDENTIFY]
        sizes = {}
        for key in galleries:
            slot = self._build(session, key)
            sizes["/".join(key)] = len(slot.index)
        return sizes

    def _decrypt_rows(self, rows: list[repo.TemplateRow], keys: dict, failures: list) -> tuple[list, np.ndarray, list]:
        """(row ids, their vectors as one (n, 128) float32 array, subject ids); failures are named."""
        ids, plains, subjects = [], [], []
        for row in rows:
            try:
                dk = keys.get(row.subject_id)
                if dk is None:
                    if row.subject_key_version != row.key_version:
                        raise TemplateIntegrityError(
                            f"template {row.template_id}: key version {row.key_version} does not match the subject "
                            f"key's version {row.subject_key_version}", template_id=row.template_id,
                            subject_id=row.subject_id)
                    dk = keys[row.subject_id] = _unwrap(row, self._ring.kek(row.tenant_id, row.key_version))
                plain = protection.open_sealed_bytes(row.ciphertext, dk, _template_aad(row))
            except (TemplateIntegrityError, protection.TemplateIntegrityError) as exc:
                msg = exc.message if isinstance(exc, TrustfaceError) else (
                    f"template {row.template_id} of subject {row.subject_id} failed authentication")
                failures.append({"template_id": row.template_id, "subject_id": row.subject_id, "error": msg})
                continue
            ids.append(row.id)
            plains.append(plain)
            subjects.append(row.subject_id)
        return ids, np.frombuffer(b"".join(plains), dtype=np.float32).reshape(-1, protection.DIM), subjects

    def _build(self, session: Session, key: tuple[str, str, str]) -> _Slot:
        generation, key_version = repo.gallery_generation(session, *key)
        site = repo.gate_site(session, key[0])
        if key_version is not None and site is not None:
            _tenant_key(session, self._ring, site.tenant_id, utc(None), create=False)
        ids: list[int] = []
        vecs: list[np.ndarray] = []
        subjects: list[str] = []
        failures: list[dict] = []
        keys: dict[str, bytes] = {}
        for rows in repo.iter_gallery_templates(session, *key):
            i, v, s = self._decrypt_rows(rows, keys, failures)
            ids += i
            vecs.append(v)
            subjects += s
        keys.clear()
        matrix = np.concatenate(vecs) if vecs else np.zeros((0, protection.DIM), dtype=np.float32)
        index = VectorIndex.build(np.array(ids, dtype=np.int64), matrix, subjects,
                                  exact_limit=self.exact_limit, rerank=self.rerank)
        del matrix, vecs
        slot = _Slot(index, generation, key_version)
        with self._lock:
            self._slots[key] = slot
            self.integrity_failures = [f for f in self.integrity_failures
                                       if f.get("gallery") != "/".join(key)]
            self.integrity_failures += [{**f, "gallery": "/".join(key)} for f in failures]
        return slot

    def _sync(self, session: Session, key: tuple[str, str, str], slot: _Slot, generation: int) -> None:
        """Bring an index in step with the store after changes made by another process."""
        with slot.index.lock:
            stored = np.array(repo.gallery_template_ids(session, *key), dtype=np.int64)
            current = slot.index.ids
            gone = current[~np.isin(current, stored)]
            new = stored[~np.isin(stored, current)]
            slot.index.remove(gone)
            if len(new):
                failures: list[dict] = []
                i, v, s = self._decrypt_rows(repo.gallery_templates_by_ids(session, [int(x) for x in new]), {}, failures)
                if i:
                    slot.index.add(np.array(i, dtype=np.int64), v, s)
                self.integrity_failures += [{**f, "gallery": "/".join(key)} for f in failures]
            slot.generation = generation

    def _index_for(self, session: Session, key: tuple[str, str, str]) -> _Slot:
        generation, key_version = repo.gallery_generation(session, *key)
        with self._lock:
            slot = self._slots.get(key)
        if slot is None or slot.key_version != key_version:
            return self._build(session, key)
        if slot.generation != generation:
            self._sync(session, key, slot, generation)
        return slot

    def _apply(self, key: tuple[str, str, str], entry: dict) -> None:
        with self._lock:
            slot = self._slots.get(key)
        if slot is None:
            return
        with slot.index.lock:
            if entry.get("base") is None or slot.generation != entry["base"]:
                return  # someone else changed it too: the next call resynchronises
            for op, value in entry["ops"]:
                if op == "remove":
                    slot.index.remove(value)
                elif value[3] != slot.key_version:
                    return  # added under another key version: leave it stale
                else:
                    slot.index.add(value[0], value[1], value[2])
            slot.generation = entry["new"]

    def _index_for_test(self, site_id: str, purpose_id: str, mode: str = IDENTIFY) -> VectorIndex:
        """The current index of a gallery (tests only: it holds protected vectors)."""
        with self.deployment.session() as session:
            try:
                return self._index_for(session, (site_id, purpose_id, mode)).index
            finally:
                session.rollback()

    def size(self, site_id: str, purpose_id: str, mode: str = IDENTIFY) -> int:
        slot = self._slots.get((site_id, purpose_id, mode))
        return 0 if slot is None else len(slot.index)

    # --- enrolment ----------------------------------------------------------------------------
    def enrol(self, session: Session, grants, images: Sequence, *, retain_images: bool = False,
              actor: str | None = None, now: dt.datetime | None = None) -> list[Enrolment]:
        """Enrol a subject from photos (bytes, paths or RGB arrays) under one Grant or several
        (e.g. verify and identify) for the same subject. Each photo passes the enrolment quality
        gate (E_NO_FACE, E_MULTIPLE_FACES, E_FACE_QUALITY); photos are discarded after extraction
        (R9) unless ``retain_images=True`` and ``grants`` also hold a ``keep_photo`` Grant (a
        separate written consent) for the same subject and purpose: then they are sealed under the
        subject's data key (:mod:`trustface.gallery.images`), else E_IMAGE_RETENTION_REFUSED.
        Replaces the subject's earlier templates in each gallery."""
        from trustface import engine, imaging

        grants = list(grants) if isinstance(grants, (list, tuple)) else [grants]
        now = utc(now)
        keep = [g for g in grants if getattr(g, "mode", None) == RETAIN_IMAGE]
        grants = [g for g in grants if g not in keep]
        if not grants:
            raise TrustfaceError(codes.E_MODE_NOT_ALLOWED, "enrolment needs a verify or identify grant")
        for g in grants:  # refuse before touching a photo
            self._check_enrol_grant(g, grants[0], now)
        if retain_images and not keep:
            raise TrustfaceError(E_IMAGE_RETENTION_REFUSED,
                                 "photos are not kept without a separate written image-retention consent: give a "
                                 "grant for mode keep_photo (R9)")
        for g in keep:
            gate.require_grant(g, mode=RETAIN_IMAGE, subject_id=grants[0].subject_id, site_id=grants[0].site_id,
                               now=now)
            if g.purpose_id != grants[0].purpose_id:
                raise TrustfaceError(E_IMAGE_RETENTION_REFUSED, "the image-retention grant is for another purpose")
        keep = keep[:1] if retain_images else []
        if not images or len(images) > MAX_ENROLMENT_PHOTOS:
            raise TrustfaceError(E_INVALID_ARGUMENT, f"give 1 to {MAX_ENROLMENT_PHOTOS} enrolment photos")
        descriptors = []
        # a kept photo is read once: the bytes sealed are the bytes decoded
        kept = [image_store.photo_bytes(item) for item in images] if keep else [None] * len(images)
        for n, (item, raw) in enumerate(zip(images, kept, strict=False), start=1):
            image = item if isinstance(item, np.ndarray) else imaging.load_image(raw[0] if raw else item)
            try:
                face, _quality = engine.enrolment_face(image)
            except TrustfaceError as exc:
                raise TrustfaceError(exc.code, f"photo {n}: {exc.message}", exc.requirements) from None
            descriptors.append(engine.describe(image, [face])[0])
            del image
        enrolled = self.enrol_descriptors(session, grants, np.stack(descriptors), actor=actor, now=now)
        if keep:
            self._keep_photos(session, keep[0], kept, actor, now)
        return enrolled

    def _keep_photos(self, session: Session, grant, photos, actor, now) -> list[str]:
        skey = repo.gallery_subject_key(session, grant.subject_id)
        data_key = _unwrap_subject_key(skey, self._ring.kek(grant.tenant_id, skey.key_version))
        ids = image_store.store(session, grant, photos, data_key, skey.key_version, now)
        audit.record(session, "enrolment", actor=actor or "system:gallery", tenant_id=grant.tenant_id,
                     subject_id=grant.subject_id, now=now,
                     payload={"action": "photos_retained", "grant_id": grant.grant_id, "site_id": grant.site_id,
                              "purpose_id": grant.purpose_id, "consent_id": grant.consent_id, "image_ids": ids,
                              "photos_stored": len(ids), "key_version": skey.key_version})
        return ids

    def kept_photos(self, session: Session, subject_id: str, *, actor: str,
                    now: dt.datetime | None = None) -> list[tuple[str, str, bytes]]:
        """(image id, media type, bytes) of the photos kept for a subject under an image-retention
        consent: for the subject's own access request (PIPL-45), never for search. The read is
        audited (an ``export`` event naming the image ids)."""
        rows = image_store.of_subject(session, subject_id)
        if not rows:
            return []
        skey = repo.gallery_subject_key(session, subject_id)
        data_key = _unwrap_subject_key(skey, self._ring.kek(rows[0].tenant_id, skey.key_version))
        out = []
        for row in rows:
            try:
                out.append((row.image_id, row.content_type, image_store.open_image(row, data_key)))
            except protection.TemplateIntegrityError:
                raise TemplateIntegrityError(f"kept photo {row.image_id} of subject {subject_id} failed "
                                             "authentication", subject_id=subject_id) from None
        audit.record(session, "export", actor=actor, tenant_id=rows[0].tenant_id, subject_id=subject_id,
                     now=utc(now), payload={"action": "kept_photos_exported", "image_ids": [r[0] for r in out],
                                            "photos": len(out)})
        return out

    def _check_enrol_grant(self, grant, first, now) -> None:
        gate.require_grant(grant, now=now)
        if grant.mode not in ENROL_MODES:
            raise TrustfaceError(codes.E_MODE_NOT_ALLOWED, f"templates are enrolled for verify or identify, not {grant.mode}")
        if grant.subject_id is None:
            raise TrustfaceError(codes.E_CONSENT_MISSING, "enrolment needs a grant for one named subject")
        gate.require_grant(grant, subject_id=first.subject_id, site_id=first.site_id, now=now)
        if grant.subject_id != first.subject_id:
            raise TrustfaceError(codes.E_CONSENT_MISSING, "all grants of one enrolment must name the same subject")

    def enrol_descriptors(self, session: Session, grants, descriptors: np.ndarray, *, actor: str | None = None,
                          now: dt.datetime | None = None) -> list[Enrolment]:
        """Enrol descriptors (N, 128) that came from the engine's enrolment gate (the lower half of
        :meth:`enrol`, for callers that extracted them on a trusted device)."""
        grants = list(grants) if isinstance(grants, (list, tuple)) else [grants]
        now = utc(now)
        for g in grants:
            self._check_enrol_grant(g, grants[0], now)
        from trustface.engine import MODEL_VERSION

        descriptors = np.asarray(descriptors, dtype=np.float32).reshape(-1, protection.DIM)
        if not len(descriptors) or not np.isfinite(descriptors).all():
            raise TrustfaceError(E_INVALID_ARGUMENT, "no usable descriptors")
        vectors = descriptors.mean(axis=0, keepdims=True) if TEMPLATE_POLICY == "mean" else descriptors
        out = []
        audit_store.lock_head(session)  # lock order: audit head first, then domain rows
        for grant in grants:
            subject_id, tenant_id = grant.subject_id, grant.tenant_id
            tkey = _tenant_key(session, self._ring, tenant_id, now, create=True)
            version = tkey.version
            kek = self._ring.kek(tenant_id, version)
            skey = repo.gallery_subject_key(session, subject_id)
            if skey is not None and skey.key_version != version:
                raise TrustfaceError(codes.E_DEPLOYMENT, f"subject {subject_id}'s data key is on key version "
                                     f"{skey.key_version}, the tenant on {version}: finish the key rotation first")
            if skey is None:
                data_key = protection.new_data_key()
                repo.add(session, GallerySubjectKey(subject_id=subject_id, tenant_id=tenant_id, key_version=version,
                                                    wrapped_key=protection.wrap_key(data_key, kek), created_at=now))
            else:
                data_key = protection.unwrap_key(skey.wrapped_key, kek)
            key = (grant.site_id, grant.purpose_id, grant.mode)
            old = repo.gallery_templates_of_subject(session, subject_id, site_id=grant.site_id,
                                                    purpose_id=grant.purpose_id, mode=grant.mode)
            replaced = [r.id for r in old]
            repo.delete_gallery_templates(session, replaced)
            protected = protection.protect(vectors, self._ring.matrix(tenant_id, version))
            rows = []
            for vec in protected:
                t = GalleryTemplate(template_id=new_id("tpl"), tenant_id=tenant_id, site_id=grant.site_id,
                                    purpose_id=grant.purpose_id, mode=grant.mode, subject_id=subject_id,
                                    key_version=version, model_version=MODEL_VERSION, created_at=now,
                                    ciphertext=b"")
                t.ciphertext = protection.seal(vec, data_key, _template_aad(t))
                session.add(t)
                rows.append(t)
            session.flush()
            _note_change(session, key, remove=replaced,
                         add=(np.array([t.id for t in rows], dtype=np.int64), protected,
                              [subject_id] * len(rows), version))
            seq = audit.record(session, "enrolment", actor=actor or "system:gallery", tenant_id=tenant_id,
                               subject_id=subject_id, now=now,
                               payload={"action": "enrolled", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                        "purpose": grant.purpose, "purpose_id": grant.purpose_id, "mode": grant.mode,
                                        "template_ids": [t.template_id for t in rows], "photos": len(descriptors),
                                        "replaced_templates": len(replaced), "template_policy": TEMPLATE_POLICY,
                                        "model_version": MODEL_VERSION, "key_version": version,
                                        "photos_stored": 0})
            out.append(Enrolment(subject_id, grant.site_id, grant.purpose, grant.mode,
                                 tuple(t.template_id for t in rows), len(descriptors), version, seq))
        return out

    # --- probes ---------------------------------------------------------------------------------
    @staticmethod
    def probe_descriptor(image) -> np.ndarray:
        """The descriptor of the main face of a probe photo (the photo is not kept)."""
        from trustface import engine, imaging

        image = image if isinstance(image, np.ndarray) else imaging.load_image(image)
        # HOG only: a gate frame without a face must come back in milliseconds, not wait ~2 s
        # for the CNN fallback that enrolment and benchmarks can afford.
        face, descriptor = engine.portrait_descriptor(image, method="hog")
        if face is None:
            raise TrustfaceError(E_NO_FACE, "no face was found in the probe photo")
        return descriptor

    # --- verify (1:1) -----------------------------------------------------------------------------
    def verify(self, session: Session, grant, subject_id: str, image, *, fmr: str | None = None,
               actor: str | None = None, now: dt.datetime | None = None) -> VerifyResult:
        """Is the face in ``image`` the claimed subject? Under a verify Grant naming that subject."""
        self._check_verify_grant(grant, subject_id, utc(now))
        return self.verify_descriptor(session, grant, subject_id, self.probe_descriptor(image), fmr=fmr,
                                      actor=actor, now=now)

    @staticmethod
    def _check_verify_grant(grant, subject_id, now) -> None:
        gate.require_grant(grant, mode=VERIFY, subject_id=subject_id, now=now)
        if grant.subject_id is None:
            raise TrustfaceError(codes.E_CONSENT_MISSING, "verification needs a grant naming the claimed subject")

    def verify_descriptor(self, session: Session, grant, subject_id: str, descriptor: np.ndarray, *,
                          fmr: str | None = None, actor: str | None = None,
                          now: dt.datetime | None = None) -> VerifyResult:
        from trustface import engine

        now = utc(now)
        self._check_verify_grant(grant, subject_id, now)
        name, limit = engine.threshold(fmr)
        rows = repo.gallery_templates_of_subject(session, subject_id, site_id=grant.site_id,
                                                 purpose_id=grant.purpose_id, mode=VERIFY)
        if not rows:
            raise TrustfaceError(E_NOT_ENROLLED, f"subject {subject_id} has no verify template for {grant.purpose} here")
        tkey = _tenant_key(session, self._ring, grant.tenant_id, now, create=False)
        if tkey is None:
            raise TrustfaceError(E_NOT_ENROLLED, f"subject {subject_id} has no template")
        probe = protection.protect(np.asarray(descriptor, dtype=np.float32), self._ring.matrix(grant.tenant_id,
                                                                                                tkey.version))
        data_key = None
        best = np.inf
        for row in rows:
            if row.key_version != tkey.version:
                raise TemplateIntegrityError(f"template {row.template_id} is on key version {row.key_version}, the "
                                             f"tenant on {tkey.version}", template_id=row.template_id,
                                             subject_id=row.subject_id)
            if data_key is None:
                data_key = _unwrap(row, self._ring.kek(row.tenant_id, row.key_version))
            best = min(best, float(np.linalg.norm(_open_row(row, data_key) - probe)))
        del data_key
        sim = float(engine.similarity(best, limit))
        match = best <= limit
        audit_store.lock_head(session)
        if match:
            gate.record_interaction(session, grant, subject_id, now=now)
        seq = audit.record(session, "match", actor=actor or "system:gallery", tenant_id=grant.tenant_id,
                           subject_id=subject_id, now=now,
                           payload={"action": "verify", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                    "purpose": grant.purpose, "result": "match" if match else "no_match",
                                    "distance": round(best, 4), "operating_point": name, "threshold": limit})
        return VerifyResult(subject_id, match, best, sim, name, limit, seq)

    # --- identify (1:N) -----------------------------------------------------------------------------
    def identify(self, session: Session, grant, image, *, k: int = 1, fmr: str | None = None,
                 actor: str | None = None, now: dt.datetime | None = None) -> IdentifyResult:
        """Who, among the consented subjects of the grant's identify gallery, is in ``image``?"""
        gate.require_grant(grant, mode=IDENTIFY, now=utc(now))
        return self.identify_descriptor(session, grant, self.probe_descriptor(image), k=k, fmr=fmr, actor=actor,
                                        now=now)

    def identify_descriptor(self, session: Session, grant, descriptor: np.ndarray, *, k: int = 1,
                            fmr: str | None = None, actor: str | None = None,
                            now: dt.datetime | None = None) -> IdentifyResult:
        from trustface import engine

        now = utc(now)
        gate.require_grant(grant, mode=IDENTIFY, now=now)
        if not 1 <= k <= 100:
            raise TrustfaceError(E_INVALID_ARGUMENT, "k must be between 1 and 100")
        name, limit = engine.threshold(fmr or IDENTIFY_OPERATING_POINT)
        key = (grant.site_id, grant.purpose_id, IDENTIFY)
        slot = self._index_for(session, key)
        candidates: list[Candidate] = []
        if len(slot.index) and slot.key_version is not None:
            def allowed(subject_ids):  # consent is checked for the nearest candidates only, not the gallery
                return gate.consented_subject_ids(session, grant, now=now, among=subject_ids)

            probe = protection.protect(np.asarray(descriptor, dtype=np.float32),
                                       self._ring.matrix(grant.tenant_id, slot.key_version))
            candidates = self._search(slot.index, probe, k, limit, allowed, engine)
        audit_store.lock_head(session)
        for c in candidates:
            gate.record_interaction(session, grant, c.subject_id, now=now)
        seq = audit.record(session, "match", actor=actor or "system:gallery", tenant_id=grant.tenant_id,
                           subject_id=grant.subject_id, now=now,
                           payload={"action": "identify", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                    "purpose": grant.purpose, "result": "match" if candidates else "unknown",
                                    "candidates": [{"subject_id": c.subject_id, "distance": round(c.distance, 4)}
                                                   for c in candidates],
                                    "operating_point": name, "threshold": limit, "gallery_size": len(slot.index)})
        return IdentifyResult(tuple(candidates), name, limit, len(slot.index), slot.index.approximate, seq)

    @staticmethod
    def _search(index: VectorIndex, probe: np.ndarray, k: int, limit: float,
                allowed: Callable[[set[str]], Collection[str]], engine) -> list[Candidate]:
        """The ``k`` nearest subjects within ``limit`` that ``allowed`` (asked once per new
        candidate) says may be matched; searches deeper while too few pass."""
        want = max(4 * k, 16)
        verdicts: dict[str, bool] = {}
        while True:
            distances, ids = index.search(probe, want)
            # nearest first: everything past the threshold is out
            near = [(d, s) for d, s in zip(distances.tolist(), index.subject_of(ids), strict=False)
                    if d <= limit and s is not None]
            unseen = {s for _, s in near if s not in verdicts}
            if unseen:
                ok = allowed(unseen)
                verdicts.update((s, s in ok) for s in unseen)
            best: dict[str, float] = {}
            for d, s in near:
                if verdicts[s] and s not in best:
                    best[s] = d
            exhausted = len(ids) < want or (len(distances) and distances[-1] > limit)
            if len(best) >= k or exhausted or want >= len(index):
                break
            want *= 4
        ranked = sorted(best.items(), key=lambda kv: kv[1])[:k]
        return [Candidate(s, d, float(engine.similarity(d, limit))) for s, d in ranked]


# --- erasure (purge handler and erasure requests) -----------------------------------------------------

def purge_templates(session: Session, *, subject_id: str, purpose_id: str, mode: str, reason: str,
                    now: dt.datetime) -> int:
    """Retention / withdrawal purge handler (``gallery.templates``): delete the subject's templates
    for purpose x mode, drop them from the indexes, and destroy the subject's data key when no
    template is left. Runs in the caller's transaction, next to the deletion certificate."""
    rows = repo.gallery_templates_of_subject(session, subject_id, purpose_id=purpose_id, mode=mode)
    if not rows:
        _destroy_key_if_unused(session, subject_id)
        return 0
    by_gallery: dict[tuple[str, str, str], list[int]] = {}
    for r in rows:
        by_gallery.setdefault((r.site_id, r.purpose_id, r.mode), []).append(r.id)
    deleted = repo.delete_gallery_templates(session, [r.id for r in rows])
    _tx(session)
    session.info[_SHRED] = True
    for key, ids in by_gallery.items():
        _note_change(session, key, remove=ids)
    _destroy_key_if_unused(session, subject_id)
    return deleted


def _destroy_key_if_unused(session: Session, subject_id: str) -> None:
    if repo.count_gallery_templates(session, subject_id) == 0 and image_store.count(session, subject_id) == 0 \
            and repo.delete_gallery_subject_key(session, subject_id):
        _tx(session)
        session.info[_SHRED] = True


def erase_subject(session: Session, subject_id: str, *, actor: str, reason: str = "erasure_request",
                  now: dt.datetime | None = None) -> list[dict]:
    """Erase every template of a subject (a deletion request, PIPL-47, GDPR-17): deletes the rows,
    drops the vectors from the indexes, destroys the subject's wrapped data key (crypto-shredding
    any backup copy) and writes one deletion certificate per purpose x mode through
    :func:`trustface.policy.retention.purge`. Needs no Grant: erasure must work after consent is
    gone; the API/CLI layer checks the caller's role. Returns the certificates."""
    from trustface.policy import retention

    now = utc(now)
    subj = repo.subject(session, subject_id)
    if subj is None:
        raise TrustfaceError(codes.E_NOT_FOUND, f"subject {subject_id!r} does not exist")
    audit_store.lock_head(session)
    certificates = []
    pairs = sorted({(p, m) for _, p, m in repo.galleries_of_subject(session, subject_id)}
                   | {(p, RETAIN_IMAGE) for p in image_store.purposes_of(session, subject_id)})
    for purpose_id, mode in pairs:
        certificates.append(retention.purge(session, subject_id=subject_id, tenant_id=subj.tenant_id,
                                            purpose_id=purpose_id, mode=mode, reason=reason, actor=actor, now=now))
    key_existed = repo.delete_gallery_subject_key(session, subject_id)
    if key_existed:
        _tx(session)
        session.info[_SHRED] = True
    if not certificates:
        cert = {"action": "deletion_certificate", "certificate_id": new_id("del"), "subject_id": subject_id,
                "reason": reason, "deleted": {"gallery.templates": 0, "gallery.data_key": int(key_existed)},
                "deleted_at": now.isoformat()}
        cert["seq"] = audit.record(session, "deletion", actor=actor, tenant_id=subj.tenant_id,
                                   subject_id=subject_id, payload=cert, now=now)
        certificates.append(cert)
    return certificates


# --- key rotation ------------------------------------------------------------------------------------

def rotate_keys(session: Session, secret: bytes, *, tenant_id: str | None = None, actor: str,
                now: dt.datetime | None = None) -> list[dict]:
    """Re-protect every template of a tenant (or of every tenant) under a new key version: a new
    transform matrix and a new KEK; every subject also gets a new data key. No photo is needed:
    each template is opened, mapped from the old transform to the new one and sealed again. Old
    copies (backups) stay under the old keys and no longer match probes protected with the new
    transform (ISO24745 renewability). One ``admin`` audit event per tenant, same transaction.

    A template that fails authentication stops the rotation (nothing is changed) and is named."""
    ring = _KeyRing(secret)
    now = utc(now)
    audit_store.lock_head(session)
    tenants = [tenant_id] if tenant_id else repo.gallery_tenants(session)
    reports = []
    for tid in tenants:
        tkey = _tenant_key(session, ring, tid, now, create=True)
        old_v, new_v = tkey.version, tkey.version + 1
        old_kek, new_kek = ring.kek(tid, old_v), ring.kek(tid, new_v)
        # t_new = M_new d = M_new M_old^T t_old
        remap = ring.matrix(tid, new_v) @ ring.matrix(tid, old_v).T
        templates = subjects = 0
        for skey in repo.gallery_subject_keys_of_tenant(session, tid):
            rows = repo.gallery_templates_of_subject(session, skey.subject_id)
            if skey.key_version != old_v:
                raise TrustfaceError(codes.E_DEPLOYMENT, f"subject {skey.subject_id}'s key is on version "
                                     f"{skey.key_version}, expected {old_v}")
            old_dk = _unwrap_subject_key(skey, old_kek)
            new_dk = protection.new_data_key()
            for img in image_store.of_subject(session, skey.subject_id):
                try:
                    plain = image_store.open_image(img, old_dk)
                except protection.TemplateIntegrityError:
                    raise TemplateIntegrityError(f"kept photo {img.image_id} of subject {skey.subject_id} failed "
                                                 "authentication", subject_id=skey.subject_id) from None
                img.key_version = new_v
                img.ciphertext = protection.seal_bytes(plain, new_dk, image_store.image_aad(
                    img.tenant_id, img.subject_id, img.image_id, img.purpose_id, new_v))
            for row in rows:
                vec = _open_row(row, old_dk)
                fresh = (np.asarray(vec, dtype=np.float64) @ remap.T).astype(np.float32)
                repo.update_gallery_template(session, row.id, key_version=new_v,
                                             ciphertext=protection.seal(fresh, new_dk,
                                                                        _template_aad(row, key_version=new_v)))
                templates += 1
            skey.wrapped_key = protection.wrap_key(new_dk, new_kek)
            skey.key_version = new_v
            subjects += 1
        tkey.version, tkey.rotated_at = new_v, now
        tkey.kek_check = protection.kek_check(new_kek)
        session.flush()
        for key in repo.galleries_of_tenant(session, tid):
            _note_change(session, key)
        report = {"action": "template_key_rotated", "tenant_id": tid, "from_version": old_v, "to_version": new_v,
                  "templates": templates, "subjects": subjects}
        report["seq"] = audit.record(session, "admin", actor=actor, tenant_id=tid, payload=report, now=now)
        reports.append(report)
    if not tenants:
        audit.record(session, "admin", actor=actor, now=now,
                     payload={"action": "template_key_rotated", "tenants": 0})
    return reports
