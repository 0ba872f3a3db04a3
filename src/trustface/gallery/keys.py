"""Template keys: the tenant key ring, the tenant's key-version row, and opening one template.

Key hierarchy (SPC-2(5), PIPL-51, ISO24745, R11): the deployment key file holds one tenant secret;
from it and the tenant's key version come the tenant KEK and the keyed transform matrix (never
stored). Each subject has an AES-256 data key, stored only wrapped by the KEK
(:func:`trustface.db.gallery_store.subject_key`); it seals the subject's templates and kept photos.
Every failure to unwrap or open raises :class:`TemplateIntegrityError` naming the template or subject.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, Protocol, overload

from sqlalchemy.orm import Session

from trustface.db import gallery_store
from trustface.db.gallery_models import GallerySubjectKey, GalleryTenantKey
from trustface.db.gallery_store import TemplateRow
from trustface.errors import TrustfaceError
from trustface.gallery import protection
from trustface.gallery.codes import TemplateIntegrityError
from trustface.policy import codes


class KeyRing:
    """KEKs and transform matrices derived from the deployment's tenant secret (never stored).

    ``secret``: the deployment's tenant key-encryption seed, at least 32 bytes."""

    def __init__(self, secret: bytes) -> None:
        if not secret or len(secret) < 32:
            raise TrustfaceError(codes.E_DEPLOYMENT, "the tenant key-encryption seed is missing or short")
        self._secret = bytes(secret)
        self._keks: dict[tuple[str, int], bytes] = {}

    def kek(self, tenant_id: str, version: int) -> bytes:
        """The tenant's 256-bit KEK for a key version (cached)."""
        key = (tenant_id, version)
        kek = self._keks.get(key)
        if kek is None:
            kek = self._keks[key] = protection.tenant_kek(self._secret, tenant_id, version)
        return kek

    def matrix(self, tenant_id: str, version: int) -> protection.Matrix:
        """The tenant's keyed orthogonal transform, (128, 128) float64."""
        return protection.transform_matrix(self._secret, tenant_id, version)

    def check(self, row: GalleryTenantKey) -> None:
        """E_DEPLOYMENT unless this key ring holds the tenant's keys (another key file?)."""
        if protection.kek_check(self.kek(row.tenant_id, row.version)) != row.kek_check:
            raise TrustfaceError(codes.E_DEPLOYMENT,
                                 f"the deployment key file does not hold the template keys of tenant {row.tenant_id} "
                                 "(another key file?); no template can be opened")


@overload
def tenant_key(session: Session, ring: KeyRing, tenant_id: str, now: dt.datetime, *,
               create: Literal[True]) -> GalleryTenantKey: ...
@overload
def tenant_key(session: Session, ring: KeyRing, tenant_id: str, now: dt.datetime, *,
               create: bool) -> GalleryTenantKey | None: ...
def tenant_key(session: Session, ring: KeyRing, tenant_id: str, now: dt.datetime, *,
               create: bool) -> GalleryTenantKey | None:
    """The tenant's key-version row, checked against ``ring``; created at version 1 when
    ``create`` (first enrolment), else None when the tenant has no template yet."""
    row = gallery_store.tenant_key(session, tenant_id)
    if row is None:
        if not create:
            return None
        row = gallery_store.add_tenant_key(session, tenant_id, version=1, now=now,
                                           kek_check=protection.kek_check(ring.kek(tenant_id, 1)))
    ring.check(row)
    return row


class TemplateFields(Protocol):
    """What the associated data of a template binds (a stored row or one being written)."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def subject_id(self) -> str: ...
    @property
    def template_id(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def site_id(self) -> str: ...
    @property
    def purpose_id(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def key_version(self) -> int: ...


def template_aad(row: TemplateFields, *, key_version: int | None = None) -> bytes:
    """The AAD of a template's ciphertext (under ``key_version`` instead of the row's, when given)."""
    return protection.aad(row.tenant_id, row.subject_id, row.template_id, row.model_version, site_id=row.site_id,
                          purpose_id=row.purpose_id, mode=row.mode,
                          key_version=row.key_version if key_version is None else key_version)


def unwrap_template_key(row: TemplateRow, kek: bytes) -> bytes:
    """The data key that came with a template row, or TemplateIntegrityError naming the template."""
    if row.wrapped_key is None:
        raise TemplateIntegrityError(f"template {row.template_id} of subject {row.subject_id} has no data key "
                                     "(erased or removed)", template_id=row.template_id, subject_id=row.subject_id)
    try:
        return protection.unwrap_key(row.wrapped_key, kek)
    except TemplateIntegrityError:
        raise TemplateIntegrityError(f"the data key of subject {row.subject_id} (template {row.template_id}) does "
                                     "not unwrap: edited or swapped key row", template_id=row.template_id,
                                     subject_id=row.subject_id) from None


def unwrap_subject_key(skey: GallerySubjectKey, kek: bytes) -> bytes:
    """The subject's data key, or TemplateIntegrityError naming the subject (edited or swapped key row)."""
    try:
        return protection.unwrap_key(skey.wrapped_key, kek)
    except TemplateIntegrityError:
        raise TemplateIntegrityError(f"the data key of subject {skey.subject_id} does not unwrap: edited or "
                                     "swapped key row", subject_id=skey.subject_id) from None


def open_template(row: TemplateRow, data_key: bytes) -> protection.Vectors:
    """The protected vector (128,) float32 of a template row, or TemplateIntegrityError naming it."""
    try:
        vec = protection.open_sealed(row.ciphertext, data_key, template_aad(row))
    except TemplateIntegrityError:
        raise TemplateIntegrityError(f"template {row.template_id} of subject {row.subject_id} failed authentication: "
                                     "the row was edited or swapped; it is not used",
                                     template_id=row.template_id, subject_id=row.subject_id) from None
    if vec.shape != (protection.DIM,):
        raise TemplateIntegrityError(f"template {row.template_id} has the wrong size", template_id=row.template_id,
                                     subject_id=row.subject_id)
    return vec
