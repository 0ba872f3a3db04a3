"""Models of the gallery aggregate (issue 4): tenant key versions, wrapped subject keys, protected
templates, kept photos and per-gallery change counters. Nothing secret is stored in clear: keys
come from the deployment key file (:mod:`trustface.gallery.keys`); queries live in
:mod:`trustface.db.gallery_store`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from trustface.db.model_base import Base, UTCDateTime


class GalleryTenantKey(Base):
    """The tenant's current template-key version (the KEK and the transform are derived from the
    deployment key file and this version; nothing secret is stored here). ``kek_check`` is an HMAC
    of a constant under the KEK, so a wrong key file is named instead of failing every template."""

    __tablename__ = "gallery_tenant_keys"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kek_check: Mapped[str] = mapped_column(String(64))
    rotated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GallerySubjectKey(Base):
    """A subject's AES-256 data key, stored only wrapped by the tenant KEK (AES key wrap, 40 bytes).
    Deleting this row crypto-shreds every copy of the subject's templates (R14, ISO24745)."""

    __tablename__ = "gallery_subject_keys"
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    key_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GalleryTemplate(Base):
    """One protected template: the keyed-transformed descriptor sealed with AES-256-GCM under the
    subject's data key; the AAD binds it to tenant, subject, template id, model version, site,
    purpose, mode and key version (SPC-2(5), R11). ``id`` is the vector id in the search index."""

    __tablename__ = "gallery_templates"
    __table_args__ = (
        Index("ix_gallery_templates_gallery", "site_id", "purpose_id", "mode"),
        Index("ix_gallery_templates_subject", "subject_id", "purpose_id", "mode"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    template_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"))
    mode: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    key_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(80))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GalleryImage(Base):
    """An enrolment photo kept under a separate written image-retention consent (R9), sealed with
    AES-256-GCM under the subject's data key (so erasure crypto-shreds it with the templates); the
    AAD binds tenant, subject, image id, purpose and key version. Without that consent no row exists."""

    __tablename__ = "gallery_images"
    __table_args__ = (Index("ix_gallery_images_subject", "subject_id", "purpose_id"),)
    image_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"))
    consent_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    key_version: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(40))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GalleryState(Base):
    """A change counter per gallery (site x purpose x mode), bumped in every transaction that adds
    or removes its templates, so a search index in any process knows when to resynchronise."""

    __tablename__ = "gallery_state"
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


GALLERY_TABLES = frozenset({"gallery_tenant_keys", "gallery_subject_keys", "gallery_templates", "gallery_state"})
