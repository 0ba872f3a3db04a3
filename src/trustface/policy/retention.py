"""Retention: end consents and delete face data at
``min(purpose end, consent expiry (given + purpose retention), last interaction + profile limit)``
(R13; PIPL-19, PIPL-47, BIPA-15a: us-il at most 3 years after the last interaction), each with a
deletion certificate event (R13, SPC-6).

Templates live in the gallery room, which registers a *purge handler* here::

    from trustface.policy.retention import register_purge_handler

    def purge_templates(session, *, subject_id, purpose_id, mode, reason, now) -> int:
        ...  # delete the subject's templates for that purpose/mode in `session`; return how many
    register_purge_handler("gallery.templates", purge_templates)

Handlers run inside the caller's transaction, so the deletion and its certificate commit together.
Before every purge the modules of :data:`HANDLER_MODULES` are imported so that their handlers are
registered; a module that fails to load stops the purge with ``E_PURGE_UNAVAILABLE`` before any
handler runs or any certificate is written (a certificate for data still stored would be false;
R13, R14, R21), and the caller's transaction rolls back.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import repo
from trustface.db.models import Consent, Purpose, Site, Subject, new_id
from trustface.errors import TrustfaceError
from trustface.policy import codes, profiles
from trustface.policy._common import utc


class PurgeHandler(Protocol):
    def __call__(self, session: Session, *, subject_id: str, purpose_id: str, mode: str, reason: str,
                 now: dt.datetime) -> int: ...


_HANDLERS: dict[str, PurgeHandler] = {}
#: modules imported before every purge so that their handlers are registered; each must load
HANDLER_MODULES: tuple[str, ...] = ("trustface.gallery",)


def register_purge_handler(name: str, handler: PurgeHandler) -> None:
    """Register (or replace) a named handler that deletes face data for subject x purpose x mode."""
    _HANDLERS[name] = handler


def unregister_purge_handler(name: str) -> None:
    _HANDLERS.pop(name, None)


def purge_handlers() -> dict[str, PurgeHandler]:
    return dict(_HANDLERS)


def load_handler_modules() -> None:
    """Import every module of :data:`HANDLER_MODULES` (each registers its purge handlers on import).

    Raises E_PURGE_UNAVAILABLE naming the module when one fails to load: without its handlers a
    purge would certify a deletion that did not happen (R13, R14, PIPL-47)."""
    for name in HANDLER_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an ImportError, or any error raised while the module loads
            raise TrustfaceError(codes.E_PURGE_UNAVAILABLE,
                                 f"the purge handlers of {name} could not be loaded ({type(exc).__name__}: {exc}); "
                                 "nothing was deleted and no deletion certificate was written") from exc


def purge(session: Session, *, subject_id: str, tenant_id: str | None, purpose_id: str, mode: str, reason: str,
          actor: str, now: dt.datetime | None = None, consent_ids: list[str] | None = None) -> dict[str, Any]:
    """Run every purge handler for subject x purpose x mode and write the deletion certificate
    (R13, R14, R21), both in the caller's transaction. Returns the certificate (with its audit
    ``seq``). E_PURGE_UNAVAILABLE, before anything is deleted or written, when a handler module
    fails to load: the caller's transaction must roll back."""
    now = utc(now)
    load_handler_modules()
    deleted: dict[str, int] = {}
    for name, handler in sorted(_HANDLERS.items()):
        deleted[name] = int(handler(session, subject_id=subject_id, purpose_id=purpose_id, mode=mode,
                                    reason=reason, now=now) or 0)
    certificate: dict[str, Any] = {
        "action": "deletion_certificate", "certificate_id": new_id("del"), "subject_id": subject_id,
        "purpose_id": purpose_id, "mode": mode, "reason": reason, "consent_ids": consent_ids or [],
        "deleted": deleted, "deleted_at": now.isoformat(),
    }
    certificate["seq"] = audit.record(session, "deletion", actor=actor, tenant_id=tenant_id, subject_id=subject_id,
                                      payload=certificate, now=now)
    return certificate


@dataclass
class RetentionReport:
    now: dt.datetime
    checked: int
    ended: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "checked": self.checked, "ended": self.ended}


def end_of(consent: Consent, subject: Subject, purpose: Purpose, site: Site) -> tuple[dt.datetime, str]:
    """When a consent's data must go, and why (R13)."""
    profile = profiles.load(site.jurisdiction)
    last = max(subject.last_interaction_at or consent.given_at, consent.given_at)
    candidates = [(purpose.ends_at, "purpose_ended")] if purpose.ends_at is not None else []
    candidates += [(consent.expires_at, "retention_period"),
                   (last + dt.timedelta(days=profile.inactivity_limit_days), "inactivity")]
    return min(candidates, key=lambda c: c[0])  # first listed wins a tie


def run(session: Session, *, now: dt.datetime | None = None, actor: str = "system:retention",
        limit: int | None = None) -> RetentionReport:
    """End every consent past its end and purge its data, one certificate per subject x purpose x mode.
    ``limit``: end at most this many (one batch; the caller commits and runs the next batch), and
    leave the "nothing was due" event to the caller (:func:`record_idle_run`)."""
    now = utc(now)
    ended: list[dict[str, Any]] = []
    rows = repo.active_consents_for_retention(session)
    for consent, subject, purpose, site in rows:
        if limit is not None and len(ended) >= limit:
            break
        end, why = end_of(consent, subject, purpose, site)
        if now < end:
            continue
        consent.status, consent.ended_at, consent.ended_reason = "expired", now, why
        audit.record(session, "consent", actor=actor, tenant_id=site.tenant_id, subject_id=subject.id, now=now,
                     payload={"action": "expired", "consent_id": consent.id, "purpose_id": purpose.id,
                              "mode": consent.mode, "reason": why, "end": end.isoformat()})
        cert = purge(session, subject_id=subject.id, tenant_id=site.tenant_id, purpose_id=purpose.id,
                     mode=consent.mode, reason=why, actor=actor, now=now, consent_ids=[consent.id])
        ended.append({"subject_id": subject.id, "purpose_id": purpose.id, "mode": consent.mode, "reason": why,
                      "certificate_id": cert["certificate_id"]})
    if not ended and limit is None:
        record_idle_run(session, checked=len(rows), actor=actor, now=now)
    return RetentionReport(now, len(rows), ended)


def record_idle_run(session: Session, *, checked: int, actor: str, now: dt.datetime) -> None:
    """The audit event of a retention run that found nothing due (so the trail shows it ran)."""
    audit.record(session, "admin", actor=actor, now=now, payload={"action": "retention_run", "checked": checked,
                                                                  "ended": 0})


Handler = Callable[..., int]
