"""Deployment administration, one place for every door: tenants, sites and their gates (read),
signage, processing-rules notices, subjects and suspensions. Purposes, legal bases and impact
assessments are in :mod:`trustface.services.purposes`; API keys and console accounts in
:mod:`trustface.services.accounts`; the audit trail, assessments and retention in
:mod:`trustface.services.oversight`.

Transaction rule, for every function here: one transaction holds the permission's scope check,
the change made through :mod:`trustface.policy.sites` / :mod:`trustface.policy.ledger` /
:mod:`trustface.compliance`, and its audit event; a refusal raises inside it and nothing is
written. Reads use a read-only session.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from trustface.access import service as access
from trustface.access.keys import Principal
from trustface.db import access_store, repo
from trustface.db.models import Notice, Site
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes, ledger, sites
from trustface.services import scope
from trustface.services.context import Context
from trustface.services.purposes import PurposeView

# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteView:
    """A site with what the console and the API show of it: its current notice version, its
    purposes and its gates (``gates``: :func:`trustface.access.service.gate_to_dict` shapes)."""

    id: str
    tenant_id: str
    name: str
    site_type: str
    jurisdiction: str
    suspended: str | None
    signage_attested: bool
    notice_version: int | None
    purposes: tuple[PurposeView, ...]
    gates: tuple[dict[str, Any], ...]
    created_at: dt.datetime

    @classmethod
    def of(cls, session: Session, site: Site) -> SiteView:
        notice = repo.current_notice(session, site.id)
        return cls(id=site.id, tenant_id=site.tenant_id, name=site.name, site_type=site.site_type,
                   jurisdiction=site.jurisdiction, suspended=site.suspension_kind,
                   signage_attested=site.signage_attested_at is not None,
                   notice_version=notice.version if notice else None,
                   purposes=tuple(PurposeView.of(p) for p in repo.purposes_of_site(session, site.id)),
                   gates=tuple(access.gate_to_dict(g) for g in access_store.gates_of_site(session, site.id)),
                   created_at=site.created_at)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tenant_id": self.tenant_id, "name": self.name, "site_type": self.site_type,
                "jurisdiction": self.jurisdiction, "suspended": self.suspended,
                "signage_attested": self.signage_attested, "notice_version": self.notice_version,
                "purposes": [p.to_dict() for p in self.purposes], "gates": list(self.gates),
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class NoticeView:
    id: str
    site_id: str
    kind: str
    version: int
    content_hash: str
    published_at: dt.datetime | None
    content: dict[str, Any]

    @classmethod
    def of(cls, row: Notice) -> NoticeView:
        return cls(row.id, row.site_id, row.kind, row.version, row.content_hash, row.published_at,
                   json.loads(row.content))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "site_id": self.site_id, "kind": self.kind, "version": self.version,
                "content_hash": self.content_hash,
                "published_at": self.published_at.isoformat() if self.published_at else None, "content": self.content}


@dataclass(frozen=True)
class PublicNotice:
    """A site's published rules as anyone may read them (PIPL-17, R4): no ids beyond the site's."""

    site_id: str
    site_name: str
    site_type: str
    notice: NoticeView


@dataclass(frozen=True)
class TenantView:
    id: str
    name: str


@dataclass(frozen=True)
class SignageAttested:
    site_id: str
    attested_at: dt.datetime


@dataclass(frozen=True)
class SubjectCreated:
    id: str
    tenant_id: str
    site_id: str | None


@dataclass(frozen=True)
class Suspension:
    """A subject or site suspended (``kind`` suspend/restrict) or resumed (``kind`` None)."""

    target_id: str
    kind: str | None


# --- tenants and sites -----------------------------------------------------------------------------

def create_tenant(ctx: Context, who: Principal, *, name: str, contact: str) -> TenantView:
    """Register a processor (PIPL-17: its contact is shown in notices). The deployment
    administrator only; a tenant's own admin is answered as if tenants did not exist."""
    who.require("tenants:write")
    if not who.is_root:
        raise TrustfaceError(codes.E_NOT_FOUND, "tenants are created by the deployment administrator")
    with ctx.tx() as s:
        t = sites.create_tenant(s, name=name, contact=contact, actor=who.actor, now=ctx.now())
        return TenantView(t.id, t.name)


def create_site(ctx: Context, who: Principal, *, name: str, site_type: str, jurisdiction: str,
                guardian_age: int | None = None, tenant_id: str | None = None) -> SiteView:
    """A site of the caller's tenant (the deployment administrator names one). ``guardian_age``:
    EU only, the Member State's age of consent (13-16)."""
    who.require("sites:write")
    with ctx.tx() as s:
        tenant = scope.tenant_for(s, who, tenant_id)
        site = sites.create_site(s, tenant_id=tenant, name=name, site_type=site_type, jurisdiction=jurisdiction,
                                 guardian_age=guardian_age, actor=who.actor, now=ctx.now())
        return SiteView.of(s, site)


def list_sites(ctx: Context, who: Principal) -> tuple[SiteView, ...]:
    """The sites the caller sees: its tenant's (one site for a gate key), or all of them."""
    who.require("sites:read")
    with ctx.read() as s:
        tenants = [t.id for t in access_store.tenants(s)] if who.is_root else [who.tenant_id]
        return tuple(SiteView.of(s, site) for t in tenants if t is not None
                     for site in access_store.sites_of_tenant(s, t) if who.sees_site(site.id, site.tenant_id))


def get_site(ctx: Context, who: Principal, site_id: str) -> SiteView:
    who.require("sites:read")
    with ctx.read() as s:
        return SiteView.of(s, scope.site(s, who, site_id))


def attest_signage(ctx: Context, who: Principal, site_id: str, *, attested_by: str, evidence: str) -> SignageAttested:
    """Record that signs announcing face recognition are posted (SPC-2(1), R18)."""
    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        site = sites.attest_signage(s, site_id=site_id, attested_by=attested_by, evidence=evidence, actor=who.actor,
                                    now=ctx.now())
        assert site.signage_attested_at is not None
        return SignageAttested(site.id, site.signage_attested_at)


# --- notices ---------------------------------------------------------------------------------------

def create_notice(ctx: Context, who: Principal, site_id: str, *, content: dict[str, Any], kind: str = "general",
                  publish: bool = False) -> NoticeView:
    """Draft the site's next processing-rules version (PIPL-17 fields required, R4); ``publish``
    also publishes it in the same transaction."""
    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        n = sites.create_notice(s, site_id=site_id, content=content, kind=kind, actor=who.actor, now=ctx.now())
        if publish:
            n = sites.publish_notice(s, notice_id=n.id, actor=who.actor, now=ctx.now())
        return NoticeView.of(n)


def publish_notice(ctx: Context, who: Principal, notice_id: str) -> NoticeView:
    """Publish a drafted version: consents must then cite it (R1, R4)."""
    who.require("sites:write")
    with ctx.tx() as s:
        n = repo.get(s, Notice, notice_id)
        if n is None:
            raise scope.missing("notice", notice_id)
        scope.site(s, who, n.site_id)
        return NoticeView.of(sites.publish_notice(s, notice_id=notice_id, actor=who.actor, now=ctx.now()))


def generate_notice(ctx: Context, who: Principal, site_id: str, *, kind: str = "general",
                    publish: bool = False) -> NoticeView:
    """Generate the processing rules from the site's configuration (zh + en) as the next version."""
    from trustface.compliance import notices

    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        return NoticeView.of(notices.generate(s, site_id, kind=kind, publish=publish, actor=who.actor, now=ctx.now()))


def public_notice(ctx: Context, site_id: str, *, kind: str = "general") -> PublicNotice:
    """A site's current published notice: public, no caller (the rules must be, PIPL-17, R4)."""
    with ctx.read() as s:
        site = repo.site(s, site_id)
        notice = repo.current_notice(s, site_id, kind) if site is not None else None
        if site is None or notice is None:
            raise TrustfaceError(codes.E_NOT_FOUND, f"site {site_id!r} has no published {kind} notice")
        return PublicNotice(site.id, site.name, site.site_type, NoticeView.of(notice))


def notice_page(ctx: Context, site_id: str, *, lang: str = "zh", kind: str = "general") -> str:
    """The current published notice as an HTML page in Chinese or English (public, SPC-2(2))."""
    from trustface.compliance import notices

    with ctx.read() as s:
        return notices.render_current(s, site_id, lang=lang, kind=kind)


# --- subjects and suspensions ----------------------------------------------------------------------

def create_subject(ctx: Context, who: Principal, *, site_id: str | None = None, tenant_id: str | None = None,
                   birth_date: dt.date | None = None, age_band: str | None = None,
                   identity: Mapping[str, str] | None = None) -> SubjectCreated:
    """A pseudonymous subject registered at a site (or only in a tenant), with a birth date or an
    age band (the R3 age gate); identity fields go to a separate table (R10)."""
    who.require("subjects:write")
    with ctx.tx() as s:
        if site_id is not None:
            tenant = scope.site(s, who, site_id).tenant_id
            if tenant_id not in (None, tenant):
                raise scope.missing("site", site_id)
        else:
            tenant = scope.tenant_for(s, who, tenant_id)
        subject = ledger.create_subject(s, tenant_id=tenant, site_id=site_id, birth_date=birth_date,
                                        age_band=age_band, identity=identity or None, actor=who.actor, now=ctx.now())
        return SubjectCreated(subject.id, subject.tenant_id, subject.site_id)


def suspend(ctx: Context, who: Principal, *, reason: str, subject_id: str | None = None, site_id: str | None = None,
            restrict: bool = False) -> Suspension:
    """Suspend (or restrict: keep the data, stop its use, PIPL-44) one subject or one site,
    effective on the next policy-gate call (R23, SPC-9)."""
    kind = "restrict" if restrict else "suspend"
    with ctx.tx() as s:
        if subject_id is not None and site_id is None:
            who.require("subjects:write")
            scope.subject(s, who, subject_id)
            ledger.suspend_subject(s, subject_id=subject_id, reason=reason, kind=kind, actor=who.actor, now=ctx.now())
            return Suspension(subject_id, kind)
        if site_id is not None and subject_id is None:
            who.require("sites:write")
            scope.site(s, who, site_id)
            sites.suspend_site(s, site_id=site_id, reason=reason, kind=kind, actor=who.actor, now=ctx.now())
            return Suspension(site_id, kind)
    raise TrustfaceError(E_INVALID_ARGUMENT, "give exactly one of a subject or a site")


def resume(ctx: Context, who: Principal, *, subject_id: str | None = None, site_id: str | None = None) -> Suspension:
    """Lift a subject's or a site's suspension or restriction."""
    with ctx.tx() as s:
        if subject_id is not None and site_id is None:
            who.require("subjects:write")
            scope.subject(s, who, subject_id)
            ledger.lift_subject_suspension(s, subject_id=subject_id, actor=who.actor, now=ctx.now())
            return Suspension(subject_id, None)
        if site_id is not None and subject_id is None:
            who.require("sites:write")
            scope.site(s, who, site_id)
            sites.lift_site_suspension(s, site_id=site_id, actor=who.actor, now=ctx.now())
            return Suspension(site_id, None)
    raise TrustfaceError(E_INVALID_ARGUMENT, "give exactly one of a subject or a site")


def create_demo_property(ctx: Context, who: Principal) -> dict[str, Any]:
    """The demo property (:func:`trustface.demo.setup_demo`): tenant, residential site, door_access
    with its PIA, a published notice and two gates. The deployment administrator only."""
    from trustface.demo import setup_demo

    who.require("tenants:write")
    if not who.is_root:
        raise TrustfaceError(codes.E_NOT_FOUND, "tenants are created by the deployment administrator")
    with ctx.tx() as s:
        made: dict[str, Any] = setup_demo(s, actor=who.actor, now=ctx.now())
        return made
