"""Scope checks every use case applies to the caller: anything outside the caller's tenant, site
or subject answers exactly like something that does not exist (E_NOT_FOUND), so a key cannot probe
another tenant's ids (R12). The caller's permissions are checked with ``who.require(...)``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.access.keys import Principal
from trustface.db import access_store, repo
from trustface.db.models import Gate, Site, Subject
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes
from trustface.policy.gate import Denial, Grant


def missing(what: str, key: str) -> TrustfaceError:
    return TrustfaceError(codes.E_NOT_FOUND, f"{what} {key!r} does not exist")


def site(session: Session, who: Principal, site_id: str) -> Site:
    row = repo.site(session, site_id)
    if row is None or not who.sees_site(row.id, row.tenant_id):
        raise missing("site", site_id)  # another tenant's site looks exactly like no site
    return row


def subject(session: Session, who: Principal, subject_id: str) -> Subject:
    row = repo.subject(session, subject_id)
    if row is None or not who.sees_subject(row.id, row.tenant_id):
        raise missing("subject", subject_id)
    if who.site_id is not None and row.site_id not in (None, who.site_id):
        raise missing("subject", subject_id)
    return row


def gate(session: Session, who: Principal, gate_id: str) -> Gate:
    row = access_store.gate(session, gate_id)
    if row is None or not who.sees_site(row.site_id, row.tenant_id):
        raise missing("gate", gate_id)
    return row


def subject_site(session: Session, who: Principal, subject: Subject, site_id: str | None) -> Site:
    """The site a request about ``subject`` is for: the one named, or the site the subject was
    registered at; in the caller's scope and the subject's tenant."""
    site_id = site_id or subject.site_id
    if site_id is None:
        raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
    row = site(session, who, site_id)
    if row.tenant_id != subject.tenant_id:
        raise missing("site", site_id)
    return row


def tenant_for(session: Session, who: Principal, tenant_id: str | None) -> str:
    """The tenant a new object belongs to: the key's own; the deployment administrator names one
    (or the only one there is)."""
    if not who.is_root:
        if tenant_id not in (None, who.tenant_id):
            raise missing("tenant", str(tenant_id))
        assert who.tenant_id is not None
        return who.tenant_id
    if tenant_id is not None:
        if repo.tenant(session, tenant_id) is None:
            raise missing("tenant", tenant_id)
        return tenant_id
    tenants = access_store.tenants(session)
    if len(tenants) != 1:
        raise TrustfaceError(E_INVALID_ARGUMENT, "the deployment administrator must name tenant_id "
                                                 "(the deployment has several tenants, or none yet)")
    return tenants[0].id


def granted(decision: Grant | Denial) -> Grant:
    """A Grant, or the Denial as an error (its audit event is already committed by the caller)."""
    if isinstance(decision, Denial):
        raise decision.to_error()
    return decision
