"""Subject rights, one place for every door: the subject record, the access report (PIPL-45,
GDPR-15), restriction (PIPL-44, GDPR-18, R23), erasure with its deletion certificate (PIPL-47,
GDPR-17, R14) and the evidence bundle (SPC-6). The work itself is :mod:`trustface.rights` and
:func:`trustface.audit.export_subject`; this module adds the caller's permission and scope.

Transaction rule, for every function here: one transaction holds the scope check, the reading or
the change, and its audit event (the access report and the evidence bundle are themselves audited
as ``export`` events), so a right exercised is always on the record. Nothing is computed outside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trustface import audit, rights
from trustface.access import service as access
from trustface.access.keys import Principal
from trustface.db import access_store
from trustface.services import scope
from trustface.services.context import Context

#: the channel an erasure request arrives through, recorded on its certificate
ERASURE_CHANNEL = "app"


@dataclass(frozen=True)
class SubjectRecord:
    """The subject as staff and the subject see it: pseudonymous id, age basis, suspension,
    consents and non-face credentials (never a credential value). ``document`` is the JSON shape."""

    subject_id: str
    tenant_id: str
    site_id: str | None
    document: dict[str, Any]


@dataclass(frozen=True)
class AccessReport:
    """Everything held about a subject in words and counts (never template bytes or credential
    values); ``audit_seq`` is the ``export`` event recording that it was read."""

    subject_id: str
    audit_seq: int
    document: dict[str, Any]


@dataclass(frozen=True)
class EvidenceBundle:
    """The subject's audit events with a chain proof to the signed head, checkable offline."""

    subject_id: str
    tenant_id: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Restriction:
    subject_id: str
    kind: str
    since: dt.datetime


@dataclass(frozen=True)
class ErasureCertificate:
    """The deletion certificate (also the payload of the ``deletion`` audit event at ``seq``)."""

    certificate_id: str
    subject_id: str
    seq: int
    document: dict[str, Any]


def subject_record(ctx: Context, who: Principal, subject_id: str) -> SubjectRecord:
    """The subject record with its consents and credentials. Needs ``subjects:read``; read-only."""
    who.require("subjects:read")
    with ctx.read() as s:
        subject = scope.subject(s, who, subject_id)
        document = rights.subject_summary(s, subject.id)
        document["credentials"] = [access.credential_to_dict(c)
                                   for c in access_store.credentials_of_subject(s, subject.id)]
        return SubjectRecord(subject.id, subject.tenant_id, subject.site_id, document)


def access_report(ctx: Context, who: Principal, subject_id: str) -> AccessReport:
    """What is held about the subject (PIPL-45, GDPR-15). Needs ``reports:read``."""
    who.require("reports:read")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        document = rights.subject_report(s, subject.id, actor=who.actor, now=ctx.now())
        return AccessReport(subject.id, document["audit_seq"], document)


def evidence(ctx: Context, who: Principal, subject_id: str) -> EvidenceBundle:
    """The subject's evidence bundle (SPC-6). A subject's own key may fetch theirs; anyone else
    needs ``audit:read``."""
    if who.role != "subject":
        who.require("audit:read")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        document = audit.export_subject(s, subject.id, actor=who.actor, now=ctx.now())
        return EvidenceBundle(subject.id, subject.tenant_id, document)


def restrict(ctx: Context, who: Principal, subject_id: str, *, reason: str) -> Restriction:
    """Restrict processing of the subject's face data at once: the policy gate refuses every face
    operation from the next call (PIPL-44, GDPR-18, R23). Needs ``subjects:write``."""
    who.require("subjects:write")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        done = rights.restrict_subject(s, subject.id, reason=reason, actor=who.actor, now=ctx.now())
        return Restriction(subject.id, done["suspended"], dt.datetime.fromisoformat(done["since"]))


def erase(ctx: Context, who: Principal, subject_id: str, *, channel: str = ERASURE_CHANNEL) -> ErasureCertificate:
    """Erase the subject's face data, credentials and identity, revoke their tokens, and return the
    deletion certificate (PIPL-47, GDPR-17). The pseudonymous id stays as the audit trail's anchor.
    Needs ``subjects:erase``."""
    who.require("subjects:erase")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        document = rights.erase_subject(s, subject.id, actor=who.actor, channel=channel, now=ctx.now())
        return ErasureCertificate(document["certificate_id"], subject.id, document["seq"], document)
