"""Read-only queries the web pages show and no other door needs: the residents list, a resident's
details, subject counts per site and the live access log.

Transaction rule, for every function here: one read-only session (:meth:`Context.read`), rolled
back at the end; nothing here writes, records an audit event or decides anything. Consent state is
:mod:`trustface.services.consents`; what a subject may see about themselves is
:mod:`trustface.services.rights`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trustface.access import service as access
from trustface.access.keys import Principal
from trustface.db import access_store, gallery_store, repo, web_store
from trustface.services import scope
from trustface.services.consents import is_minor_at
from trustface.services.context import Context

# --- console lists -------------------------------------------------------------------------------

def subject_counts(ctx: Context, who: Principal, site_ids: Iterable[str]) -> dict[str, int]:
    """How many subjects are registered at each site (sites outside the caller's scope: E_NOT_FOUND).
    Needs ``sites:read``."""
    who.require("sites:read")
    with ctx.read() as s:
        return {site_id: web_store.count_subjects_of_site(s, scope.site(s, who, site_id).id) for site_id in site_ids}


@dataclass(frozen=True)
class Resident:
    """One line of the residents list: pseudonymous id, the identity kept apart (R10), and the types
    of non-face credential held (never their values)."""

    id: str
    name: str | None
    ref: str | None
    credentials: tuple[str, ...]


@dataclass(frozen=True)
class ResidentsPage:
    """``residents`` is page ``page`` (0-based) of ``size`` at one site, newest first; ``more`` says
    whether a next page exists; ``total`` counts them all."""

    site_id: str
    residents: tuple[Resident, ...]
    total: int
    page: int
    more: bool


def residents(ctx: Context, who: Principal, site_id: str, *, page: int, size: int) -> ResidentsPage:
    """A page of the subjects registered at a site. Needs ``subjects:read``."""
    who.require("subjects:read")
    with ctx.read() as s:
        site = scope.site(s, who, site_id)
        total = web_store.count_subjects_of_site(s, site.id)
        found = web_store.subjects_of_site(s, site.id, limit=size + 1, offset=page * size)
        rows = []
        for subject in found[:size]:
            identity = repo.subject_identity(s, subject.id)
            types = sorted({c.type for c in access_store.credentials_of_subject(s, subject.id)})
            rows.append(Resident(subject.id, identity.display_name if identity else None,
                                 identity.external_ref if identity else None, tuple(types)))
        return ResidentsPage(site.id, tuple(rows), total, page, len(found) > size)


@dataclass(frozen=True)
class ResidentDetails:
    """What the resident page adds to the subject record: the identity kept apart (R10), the count
    of protected templates per ``purpose/mode`` (never their bytes) and whether the subject is a
    minor at their site (R3: the consent screen then asks for a guardian)."""

    subject_id: str
    name: str | None
    ref: str | None
    templates: dict[str, int]
    minor: bool


def resident_details(ctx: Context, who: Principal, subject_id: str) -> ResidentDetails:
    """Needs ``subjects:read``."""
    who.require("subjects:read")
    with ctx.read() as s:
        subject = scope.subject(s, who, subject_id)
        identity = repo.subject_identity(s, subject.id)
        templates: dict[str, int] = {}
        for row in gallery_store.templates_of_subject(s, subject.id):
            purpose = repo.purpose_of_site(s, row.purpose_id)
            label = f"{purpose.name if purpose else row.purpose_id}/{row.mode}"
            templates[label] = templates.get(label, 0) + 1
        site = repo.site(s, subject.site_id) if subject.site_id else None
        minor = is_minor_at(s, subject, site, ctx.now()) if site is not None else False
        return ResidentDetails(subject.id, identity.display_name if identity else None,
                               identity.external_ref if identity else None, templates, minor)


def gate(ctx: Context, who: Principal, gate_id: str) -> dict[str, Any]:
    """One gate as the API shows it (:func:`trustface.access.service.gate_to_dict`); another
    tenant's gate answers E_NOT_FOUND. Needs ``sites:read``."""
    who.require("sites:read")
    with ctx.read() as s:
        return access.gate_to_dict(scope.gate(s, who, gate_id))


@dataclass(frozen=True)
class GateEntry:
    """One gate decision of the live log: ``at`` is the event time (ISO 8601, UTC); ``reason`` is
    the error code of a refusal, or None."""

    seq: int
    at: str
    gate: str | None
    method: str | None
    granted: bool
    reason: str | None
    subject_id: str | None


def gate_log(ctx: Context, who: Principal, *, limit: int) -> list[GateEntry]:
    """The newest ``limit`` gate decisions of the caller's tenant, newest first (a liveness
    challenge being issued is not a decision and is left out). Needs ``audit:read``."""
    who.require("audit:read")
    out: list[GateEntry] = []
    with ctx.read() as s:
        names: dict[str | None, str | None] = {}

        def gate_name(gate_id: str | None) -> str | None:
            if gate_id not in names:
                gate = access_store.gate(s, gate_id) if gate_id else None
                names[gate_id] = gate.name if gate is not None else gate_id
            return names[gate_id]

        for r in web_store.latest_events(s, tenant_id=who.tenant_id or "", type_="access", limit=limit * 2):
            payload: dict[str, Any] = json.loads(r["payload"])
            if payload.get("action") != "gate_access" or len(out) >= limit:
                continue
            out.append(GateEntry(seq=r["seq"], at=str(r["occurred_at"]), gate=gate_name(payload.get("gate_id")),
                                 method=payload.get("method"), granted=payload.get("result") == "granted",
                                 reason=payload.get("reason") or None, subject_id=r["subject_id"]))
    return out


__all__ = ["GateEntry", "Resident", "ResidentDetails", "ResidentsPage", "gate", "gate_log", "resident_details", "residents",
           "subject_counts"]
