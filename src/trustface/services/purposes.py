"""Purposes and what makes them lawful, one place for every door: a site's purposes and their
modes, legal-basis records (R22, SPC-5, PIPL-13) and impact assessments (PIPL-55, CAC-9, R20).

Transaction rule, for every function here: one transaction holds the scope check on the site,
the change made through :mod:`trustface.policy.sites` / :mod:`trustface.compliance.pia` and its
``admin`` audit event; a refusal raises inside it and nothing is written. Reads (a PIA draft, the
PIA states) use a read-only session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from trustface.access.keys import Principal
from trustface.db import repo
from trustface.db.models import LegalBasisRecord, Purpose
from trustface.policy import sites
from trustface.services import scope
from trustface.services.context import Context


@dataclass(frozen=True)
class PurposeView:
    id: str
    name: str
    modes: tuple[str, ...]
    retention_days: int

    @classmethod
    def of(cls, row: Purpose) -> PurposeView:
        return cls(row.id, row.name, tuple(row.allowed_modes.split(",")), row.retention_days)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "modes": list(self.modes), "retention_days": self.retention_days}


@dataclass(frozen=True)
class PiaApproved:
    id: str
    purpose: str
    modes: tuple[str, ...]
    #: the purpose's PIA state after approval (:meth:`trustface.policy.sites.PiaStatus.to_dict`)
    status: dict[str, Any]

@dataclass(frozen=True)
class LegalBasisView:
    """The legal basis recorded for one purpose x mode; statutory bases carry an expiry."""

    id: str
    purpose_id: str
    mode: str
    basis: str
    approver: str
    recorded_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: LegalBasisRecord) -> LegalBasisView:
        return cls(row.id, row.purpose_id, row.mode, row.basis, row.approver, row.recorded_at, row.expires_at,
                   row.revoked_at)


def create_purpose(ctx: Context, who: Principal, site_id: str, *, name: str, allowed_modes: str | Sequence[str],
                   legal_basis: str, necessity_justification: str, retention_days: int) -> PurposeView:
    """Declare a purpose with its modes ("verify,identify" or a list) and a finite retention
    (SPC-11, R13); identify and analyze need an approved impact assessment at use (R20)."""
    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        p = sites.create_purpose(s, site_id=site_id, name=name, allowed_modes=allowed_modes, legal_basis=legal_basis,
                                 necessity_justification=necessity_justification, retention_days=retention_days,
                                 actor=who.actor, now=ctx.now())
        return PurposeView.of(p)


def set_purpose_modes(ctx: Context, who: Principal, site_id: str, *, purpose: str,
                      modes: str | Sequence[str]) -> PurposeView:
    """Switch a purpose's modes; identify/analyze need an approved, fresh PIA first (E_PIA_MISSING)."""
    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        p = sites.set_purpose_modes(s, purpose_id=sites.get_purpose(s, site_id, purpose).id, modes=modes,
                                    actor=who.actor, now=ctx.now())
        return PurposeView.of(p)


def _pia_approved(session: Session, pia_id: str, purpose: Purpose, modes: Sequence[str]) -> PiaApproved:
    return PiaApproved(pia_id, purpose.name, tuple(modes), sites.pia_status(session, purpose.id).to_dict())


def approve_pia(ctx: Context, who: Principal, site_id: str, *, purpose: str, modes: Sequence[str],
                sections: Mapping[str, str], approver: str) -> PiaApproved:
    """Record an approved impact assessment for a purpose and modes (PIPL-55, CAC-9, R20)."""
    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        p = sites.get_purpose(s, site_id, purpose)
        pia = sites.approve_pia(s, purpose_id=p.id, modes=list(modes), sections=dict(sections), approver=approver,
                                actor=who.actor, now=ctx.now())
        return _pia_approved(s, pia.id, p, modes)


def approve_pia_document(ctx: Context, who: Principal, document: dict[str, Any], *, approver: str) -> PiaApproved:
    """Approve a completed PIA document (:mod:`trustface.compliance.pia`; refused while a section
    says TODO). The document names its site, which must be the caller's."""
    from trustface.compliance import pia

    who.require("sites:write")
    with ctx.tx() as s:
        site_id = document.get("site_id")
        if isinstance(site_id, str):
            scope.site(s, who, site_id)
        row = pia.approve(s, document, approver=approver, actor=who.actor, now=ctx.now())
        p = repo.purpose_of_site(s, row.purpose_id)
        assert p is not None
        return _pia_approved(s, row.id, p, row.modes.split(","))


def draft_pia(ctx: Context, who: Principal, site_id: str, *, purpose: str,
              modes: Sequence[str] | None = None) -> dict[str, Any]:
    """A PIA draft: facts filled in from the live site, judgements marked TODO (read-only)."""
    from trustface.compliance import pia

    who.require("sites:write")
    with ctx.read() as s:
        scope.site(s, who, site_id)
        return pia.draft(s, site_id, purpose, modes=list(modes) if modes else None, now=ctx.now())


def pia_states(ctx: Context, who: Principal, site_id: str) -> list[dict[str, Any]]:
    """Each purpose's PIA state: fresh, stale (and why), missing or not required."""
    from trustface.compliance import pia

    who.require("sites:read")
    with ctx.read() as s:
        scope.site(s, who, site_id)
        return pia.status(s, site_id)


def record_legal_basis(ctx: Context, who: Principal, site_id: str, *, purpose: str, mode: str, basis: str,
                       justification: str, approver: str, expires_at: dt.datetime | None = None) -> LegalBasisView:
    """Record the legal basis for one purpose x mode (R22, SPC-5, PIPL-13): identify/analyze at
    business or public sites need one; the statutory bases (emergency, public safety, legal duty)
    need a justification, a named approver and a future expiry (E_LEGAL_BASIS_INVALID)."""
    who.require("sites:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        p = sites.get_purpose(s, site_id, purpose)
        row = sites.record_legal_basis(s, purpose_id=p.id, mode=mode, basis=basis, justification=justification,
                                       approver=approver, expires_at=expires_at, actor=who.actor, now=ctx.now())
        return LegalBasisView.of(row)


def revoke_legal_basis(ctx: Context, who: Principal, legal_basis_id: str) -> LegalBasisView:
    """End a legal basis at once: the policy gate stops relying on it from the next call."""
    who.require("sites:write")
    with ctx.tx() as s:
        row = repo.get(s, LegalBasisRecord, legal_basis_id)
        purpose = repo.get(s, Purpose, row.purpose_id) if row is not None else None
        if purpose is None:
            raise scope.missing("legal basis", legal_basis_id)
        scope.site(s, who, purpose.site_id)
        return LegalBasisView.of(sites.revoke_legal_basis(s, legal_basis_id=legal_basis_id, actor=who.actor,
                                                          now=ctx.now()))
