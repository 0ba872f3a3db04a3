"""SQLAlchemy 2 models of a trustface deployment (the only schema definition; Alembic mirrors it).

Domain: tenant (the processor) -> sites -> purposes -> notices; subjects (pseudonymous, identity
data in a separate table, R10) -> consents (one row per subject x purpose x mode, R1).
Audit: ``audit_events`` (hash-chained, append-only, R21) and ``audit_head`` (the signed head that
makes truncation visible).

Gallery models live in :mod:`trustface.db.gallery_models` and the base in
:mod:`trustface.db.model_base`; both are re-exported here, so ``from trustface.db.models import X``
names every model.

Timestamps are stored as naive UTC and returned as timezone-aware UTC (:class:`UTCDateTime`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# re-exported: ``from trustface.db.models import X`` names every model
from trustface.db.gallery_models import GALLERY_TABLES as GALLERY_TABLES
from trustface.db.gallery_models import GalleryImage as GalleryImage
from trustface.db.gallery_models import GalleryState as GalleryState
from trustface.db.gallery_models import GallerySubjectKey as GallerySubjectKey
from trustface.db.gallery_models import GalleryTemplate as GalleryTemplate
from trustface.db.gallery_models import GalleryTenantKey as GalleryTenantKey
from trustface.db.model_base import Base as Base
from trustface.db.model_base import UTCDateTime as UTCDateTime
from trustface.db.model_base import new_id as new_id


class Tenant(Base):
    """The personal-information processor (a property company, a hotel group)."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Site(Base):
    """One place with a site type and a jurisdiction profile (SPC-2(1), R18)."""

    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    site_type: Mapped[str] = mapped_column(String(20))
    jurisdiction: Mapped[str] = mapped_column(String(10))
    guardian_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspension_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    suspension_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    signage_attested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signage_attested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    signage_evidence: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DeviceLocation(Base):
    """Where a camera/terminal is mounted; private-space types are refused (E_PRIVATE_SPACE)."""

    __tablename__ = "device_locations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    location_type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Purpose(Base):
    """Why face data is processed at a site, in which modes, on which legal basis, for how long."""

    __tablename__ = "purposes"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_purposes_site_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    allowed_modes: Mapped[str] = mapped_column(String(40))  # comma-separated subset of MODES
    legal_basis: Mapped[str] = mapped_column(String(40))
    necessity_justification: Mapped[str] = mapped_column(Text)
    retention_days: Mapped[int] = mapped_column(Integer)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LegalBasisRecord(Base):
    """A recorded legal basis for one purpose x mode (R22): who approved it, why, until when."""

    __tablename__ = "legal_bases"
    __table_args__ = (Index("ix_legal_bases_purpose_mode", "purpose_id", "mode"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"))
    mode: Mapped[str] = mapped_column(String(10))
    basis: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Pia(Base):
    """An approved personal-information impact assessment covering a purpose and modes (R20)."""

    __tablename__ = "pias"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"), index=True)
    modes: Mapped[str] = mapped_column(String(40))
    sections: Mapped[str] = mapped_column(Text)  # canonical JSON of the four CAC-9 sections
    approver: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notice(Base):
    """A versioned processing-rules document (PIPL-17/30, SPC-2(2)); ``kind`` general or minors."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("site_id", "kind", "version", name="uq_notices_site_kind_version"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)  # canonical JSON
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Subject(Base):
    """A natural person, known only by a pseudonymous id here (identity data: SubjectIdentity)."""

    __tablename__ = "subjects"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    #: the site the subject was registered at (default site of their consents); empty for older rows
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    birth_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    age_band: Mapped[str | None] = mapped_column(String(10), nullable=True)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspension_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    suspension_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_interaction_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SubjectIdentity(Base):
    """Identity data kept apart from the pseudonymous subject (R10, GBT41819-7b)."""

    __tablename__ = "subject_identities"
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Consent(Base):
    """One separate consent: one subject, one purpose, one mode, with its evidence (R1)."""

    __tablename__ = "consents"
    __table_args__ = (
        Index("ix_consents_lookup", "subject_id", "purpose_id", "mode", "status"),
        Index("ix_consents_purpose_mode", "purpose_id", "mode", "status"),
        Index(
            "uq_consents_one_active",
            "subject_id",
            "purpose_id",
            "mode",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"))
    mode: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))  # active | withdrawn | expired
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"))
    notice_hash: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(30))
    initiated_by: Mapped[str] = mapped_column(String(12))
    guardian: Mapped[str | None] = mapped_column(Text, nullable=True)  # canonical JSON
    written_release: Mapped[str | None] = mapped_column(Text, nullable=True)  # canonical JSON
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ended_channel: Mapped[str | None] = mapped_column(String(12), nullable=True)
    ended_actor: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Refusal(Base):
    """A recorded refusal; starts the re-prompt cooldown (R7, NDSR-22(5))."""

    __tablename__ = "refusals"
    __table_args__ = (Index("ix_refusals_lookup", "subject_id", "purpose_id", "mode"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    purpose_id: Mapped[str] = mapped_column(ForeignKey("purposes.id"))
    mode: Mapped[str] = mapped_column(String(10))
    refused_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(200))


class AuditEvent(Base):
    """One append-only, hash-chained event (R21). ``occurred_at``/``payload`` are stored exactly as
    hashed (ISO text and canonical JSON) so verification never depends on a driver's rendering."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    tenant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain head (last seq + hash), HMAC-signed with the deployment's audit key."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(64))


AUDIT_TABLES = frozenset({"audit_events", "audit_head"})


# --- access control (issue 5): gates, credentials, API keys ------------------------------------------

class Gate(Base):
    """A gate (door, turnstile, barrier) of a site, with the ways in it offers (never face alone:
    SPC-10, PIPL-16, R6). ``methods`` is a comma-separated list in canonical order; ``schedule``
    is optional canonical JSON ``{"days": [0-6], "from": "HH:MM", "to": "HH:MM"}`` (site time is UTC)."""

    __tablename__ = "gates"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    methods: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(80))  # the purpose a face at this gate is processed for
    location_id: Mapped[str | None] = mapped_column(ForeignKey("device_locations.id"), nullable=True)
    schedule: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: "required": a face opens this gate only through a passed liveness challenge (a frame burst)
    liveness: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    #: "identify" (1:N) or "verify_after_credential" (a PIN, card or QR code names the resident, then 1:1)
    face_mode: Mapped[str] = mapped_column(String(30), default="identify", server_default="identify")
    #: at a two-factor gate, the credentials that also open without a face (comma-separated)
    credential_alone: Mapped[str] = mapped_column(String(100), default="", server_default="")
    #: the stranger-admission budget: most share of strangers' face attempts that may match someone
    #: (FPIR per attempt); the identify threshold follows it at the gallery's size (engine.open_set)
    fpir_budget: Mapped[float] = mapped_column(Float, default=1e-3, server_default="0.001")
    #: why a face gate does without liveness (an attended gate): required to turn it off (issue 17)
    liveness_off_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Credential(Base):
    """A non-face credential: PIN (argon2id ``secret_hash`` plus a keyed lookup tag), card (keyed
    digest as the tag), QR code or visitor pass (the signed code's nonce as the tag). No credential
    is stored in clear. ``subject_id`` is empty for a visitor pass; ``used_at`` marks a single-use
    pass as spent."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("site_id", "type", "lookup", name="uq_credentials_lookup"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id"), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(16))
    lookup: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """An API key: only the SHA-256 of its 256-bit secret is stored (shown once at creation).
    ``tenant_id`` empty = the deployment administrator made by ``trustface init``; ``site_id``
    confines a gate key, ``subject_id`` a subject's self-service token."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(12))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


ACCESS_TABLES = frozenset({"gates", "credentials", "api_keys"})


# --- liveness and attack intelligence (issue 8) -------------------------------------------------------

class LivenessChallenge(Base):
    """An active-liveness challenge issued to a gate: a random sequence of ``steps`` (comma-separated:
    blink, turn_left, turn_right, look_up, open_mouth) to perform between ``issued_at`` and
    ``expires_at``. The nonce is single-use: ``used_at`` and ``result`` (passed / failed) are set when a
    frame burst is checked against it."""

    __tablename__ = "liveness_challenges"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.id"), index=True)
    steps: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)


class LivenessProbe(Base):
    """Fingerprints of a frame that passed at a gate (a granted face, a passed liveness burst), kept for
    the replay window only: SHA-256 of the uploaded bytes, SHA-256 of the decoded pixels and the 256-bit
    DCT perceptual hash. Never the frame itself."""

    __tablename__ = "liveness_probes"
    __table_args__ = (Index("ix_liveness_probes_gate_seen", "gate_id", "seen_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.id"))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pixels: Mapped[str] = mapped_column(String(64))
    phash: Mapped[str] = mapped_column(String(64))
    #: near-copy mark of the frame's face (liveness.nearcopy): aligned-chip pHash, int8 descriptor (hex)
    chip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    descriptor: Mapped[str | None] = mapped_column(String(256), nullable=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LivenessIndicator(Base):
    """One blocklist entry: a probe hash (``sha256``), a perceptual hash (``phash``), a client or a device
    identifier (``client`` / ``device``, stored as SHA-256 of the identifier) seen in a presentation or
    injection attack, here (``source`` = local) or by another deployment (``source`` = intel, with its
    STIX indicator id and the reporter's pseudonymous identity). ``count`` and ``first_seen`` /
    ``last_seen`` are the sighting; ``valid_until`` ends it."""

    __tablename__ = "liveness_indicators"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_liveness_indicators_kind_value"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(128))
    species: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    stix_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    origin: Mapped[str | None] = mapped_column(String(80), nullable=True)
    count: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


LIVENESS_TABLES = frozenset({"liveness_challenges", "liveness_probes", "liveness_indicators"})


# --- web pages (issue 6): console user accounts -------------------------------------------------------

class ConsoleUser(Base):
    """A person who signs in to the property console. ``password_hash`` is argon2id (never the
    password); ``role`` is one of the API roles a person may hold (admin, operator, auditor) and
    the account sees one tenant only. ``disabled_at`` ends every session of the account at once."""

    __tablename__ = "web_users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(12))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


WEB_TABLES = frozenset({"web_users"})
