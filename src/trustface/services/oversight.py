"""Oversight, one place for every door: the audit trail (pages of events, chain verification,
R21), a site's compliance self-assessment (issue 7, PIPL-54) and the retention run (R13).

Transaction rule: reading the trail and verifying the chain use a read-only session (nothing is
written, no lock is held). An assessment reads the live state and records its ``assessment``
event in one transaction. The retention run ends every consent that is due, purges its data and
writes each deletion certificate in one transaction: all of it stands, or none.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trustface import audit
from trustface.access.codes import E_FORBIDDEN
from trustface.access.keys import Principal
from trustface.audit.chain import ChainVerification
from trustface.db import audit_store
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import retention
from trustface.services import scope
from trustface.services.context import Context

MAX_PAGE = 1000
#: who the audit trail names for a retention run (the job acts, whoever started it)
RETENTION_ACTOR = "system:retention"


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    occurred_at: str
    type: str
    actor: str
    tenant_id: str | None
    subject_id: str | None
    payload: dict[str, Any]
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "occurred_at": self.occurred_at, "type": self.type, "actor": self.actor,
                "tenant_id": self.tenant_id, "subject_id": self.subject_id, "payload": self.payload,
                "hash": self.hash}


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    #: pass it back as ``cursor`` for the next page; None on the last page
    next_cursor: str | None


def audit_events(ctx: Context, who: Principal, *, limit: int = 100, cursor: str | None = None) -> AuditPage:
    """Events in chain order, ``limit`` (1-1000) per page: the caller's tenant's, or all of them
    for the deployment administrator. Needs ``audit:read``."""
    who.require("audit:read")
    if not 1 <= limit <= MAX_PAGE:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"limit is between 1 and {MAX_PAGE}")
    after = 0
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:  # "²" is a digit to isdigit()
            raise TrustfaceError(E_INVALID_ARGUMENT, "cursor is the next_cursor of a previous page")
        after = int(cursor)
    with ctx.read() as s:
        rows = audit_store.events_page(s, tenant_id=None if who.is_root else who.tenant_id, after_seq=after,
                                       limit=limit)
    events = tuple(AuditEvent(r["seq"], r["occurred_at"], r["type"], r["actor"], r["tenant_id"], r["subject_id"],
                              json.loads(r["payload"]), r["hash"]) for r in rows)
    return AuditPage(events, str(rows[-1]["seq"]) if len(rows) == limit else None)


def verify_audit_chain(ctx: Context, who: Principal) -> ChainVerification:
    """Walk the whole hash chain and check the signed head (R21). Needs ``audit:read``."""
    who.require("audit:read")
    with ctx.read() as s:
        return audit.verify(s)


def assess_site(ctx: Context, who: Principal, site_id: str, *, regimes: Sequence[str] | None = None,
                record: bool = True) -> dict[str, Any]:
    """Assess the site against the rule packs from its live state: one finding per check with
    status, requirement ids, evidence and fix. ``record`` writes the ``assessment`` audit event
    (its seq in ``audit_seq``, PIPL-54). Needs ``reports:read``, but not from a subject's token:
    the evidence names other people."""
    from trustface.compliance import assessment, packs

    who.require("reports:read")
    if who.role == "subject":
        raise TrustfaceError(E_FORBIDDEN, "a subject token may not read a site assessment (reports:read)")
    if regimes:
        unknown = [r for r in regimes if r not in packs.REGIMES]
        if unknown:
            raise TrustfaceError(E_INVALID_ARGUMENT, f"unknown regime(s) {', '.join(unknown)}: use "
                                                     f"{', '.join(packs.REGIMES)}")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        result: dict[str, Any] = assessment.assess(s, site_id, directory=ctx.deployment.directory,
                                                   regimes=list(regimes) if regimes else None)
        if record:
            result["audit_seq"] = assessment.record(s, result, actor=who.actor)
        return result


#: consents ended per transaction by a retention run
RETENTION_BATCH = 200


def run_retention(ctx: Context, who: Principal, *, now: dt.datetime | None = None) -> retention.RetentionReport:
    """End every consent past min(purpose end, retention, last interaction + the profile's limit)
    and purge its data with a deletion certificate (R13, PIPL-47). Every tenant's: the deployment
    administrator only. ``now``: pretend it is this time (tests, a catch-up run)."""
    who.require("subjects:erase")
    if not who.is_root:
        raise TrustfaceError(E_FORBIDDEN, "the retention run covers every tenant: the deployment administrator's")
    now = now or ctx.now()
    ended: list[dict[str, Any]] = []
    checked: int | None = None
    while True:  # one transaction per batch: a long run never holds the write lock for long
        with ctx.tx() as s:
            batch = retention.run(s, now=now, actor=RETENTION_ACTOR, limit=RETENTION_BATCH)
        checked = batch.checked if checked is None else checked  # the active consents at the start
        ended += batch.ended
        if len(batch.ended) < RETENTION_BATCH:
            break
    if not ended:
        with ctx.tx() as s:
            retention.record_idle_run(s, checked=checked, actor=RETENTION_ACTOR, now=now)
    return retention.RetentionReport(now, checked, ended)
