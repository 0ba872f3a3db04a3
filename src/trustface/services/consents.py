"""Consents, one place for every door (API, CLI, console, self-service): give with its evidence and
guardian rules, withdraw, refuse, and the consent state pages show (R1-R3, R6, R7, R14).

Who started a consent request is decided here, from the caller, so that the R7 cooldown (no
re-prompt after a refusal) applies the same way everywhere: a subject acting through their own key
or self-service link starts it themselves (``"subject"``); staff (an operator or admin key, a console
user, a CLI command) are the processor asking (``"processor"``), unless they state that the person
asked (:attr:`ConsentRequest.initiated_by`).

Transaction rule, for every function here: the request is parsed before the transaction; one
transaction then holds the scope checks, the ledger change and its audit event, and commits them
together. A ledger refusal (bundled, cooldown, no notice, no guardian...) writes nothing: it raises
inside the transaction, which rolls back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from trustface.access import service as access
from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.access.keys import Principal
from trustface.db import access_store, repo
from trustface.db.models import Consent, Site, Subject
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes, ledger, profiles
from trustface.policy._common import invalid, is_minor
from trustface.policy.vocab import GUARDIAN_RELATIONSHIPS, GUARDIAN_VERIFICATIONS
from trustface.services import scope
from trustface.services.context import Context

#: fields of a client's consent request that the ledger's payload does not have
REQUEST_ONLY_FIELDS = ("notice_version", "site_id")
#: the fields a consent request must give as text (the ledger's evidence, R1)
REQUIRED_TEXT = ("purpose", "mode", "channel", "method")


# --- requests and results ----------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentRequest:
    """One separate consent as a client states it: one purpose, one mode, the notice the person
    was shown (its version, or its content hash), how it was given, and a guardian or a written
    release where the profile needs them (raw mappings: the ledger checks them, R2, R3)."""

    purpose: str
    mode: str
    channel: str
    method: str
    notice_version: int | None = None
    notice_hash: str | None = None
    site_id: str | None = None
    guardian: object = None
    written_release: object = None
    #: staff may state that the person asked ("subject"); ignored for a subject's own key (R7)
    initiated_by: str | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ConsentRequest:
        """Parse a client's payload (API body, CLI options, console form). Anything beyond one
        purpose x mode is refused first, as bundling (E_CONSENT_BUNDLED, SPC-4(2)); then the notice
        reference (E_MALFORMED_REQUEST) and the evidence fields (E_INVALID_ARGUMENT)."""
        ledger.check_not_bundled({k: v for k, v in payload.items() if k not in REQUEST_ONLY_FIELDS})
        notice_hash = payload.get("notice_hash")
        version = payload.get("notice_version")
        if not isinstance(notice_hash, str):
            notice_hash = None
            if not isinstance(version, int) or isinstance(version, bool):
                raise TrustfaceError(E_MALFORMED_REQUEST,
                                     "give notice_version (the published notice the person was shown)")
        else:
            version = None
        for key in REQUIRED_TEXT:
            if not isinstance(payload.get(key), str):
                raise invalid(f"consent payload field {key!r} is required", ("R1",))
        site_id = payload.get("site_id") or None  # none given: the subject's own site
        if site_id is not None and not isinstance(site_id, str):
            raise TrustfaceError(E_MALFORMED_REQUEST, "site_id is the id of a site")
        # checked by the ledger when it counts: a subject's own key never states it (R7)
        stated = payload.get("initiated_by")
        initiated_by = None if stated is None else str(stated)
        return cls(purpose=payload["purpose"], mode=payload["mode"], channel=payload["channel"],
                   method=payload["method"], notice_version=version, notice_hash=notice_hash, site_id=site_id,
                   guardian=payload.get("guardian"), written_release=payload.get("written_release"),
                   initiated_by=initiated_by)


@dataclass(frozen=True)
class ConsentGiven:
    id: str
    purpose: str
    mode: str
    status: str
    expires_at: dt.datetime
    #: who started the request, as the ledger recorded it (R7)
    initiated_by: str


@dataclass(frozen=True)
class ConsentWithdrawn:
    id: str
    status: str
    ended_at: dt.datetime


@dataclass(frozen=True)
class RefusalRecorded:
    """The refusal stands (no re-prompt within the cooldown, R7); these non-face ways in can be
    issued instead (R6): credential types the site's gates accept, face excluded."""

    issue_instead: tuple[str, ...]


@dataclass(frozen=True)
class ConsentRow:
    """The state of one purpose x mode a site offers, for one subject: ``kind`` is ``active``,
    ``declined`` (a refusal newer than any consent), ``withdrawn``, ``expired`` or ``none``;
    ``when`` is a YYYY-MM-DD date; ``may_prompt`` is False within the cooldown after a refusal."""

    purpose: str
    mode: str
    kind: str = "none"
    when: str | None = None
    consent_id: str | None = None
    may_prompt: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "mode": self.mode, "kind": self.kind, "when": self.when,
                "consent_id": self.consent_id, "may_prompt": self.may_prompt}


@dataclass(frozen=True)
class ConsentState:
    """One row per purpose x mode the subject's site offers, in the site's order."""

    subject_id: str
    site_id: str
    rows: tuple[ConsentRow, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ConsentScreen:
    """What the consent screen shows: the published notice (version, words, date), why the purpose
    is necessary, and for a minor the guardian block with the minors' notice (R1, R3, PIPL-17)."""

    subject_id: str
    site_id: str
    purpose: str
    mode: str
    necessity: str
    notice: dict[str, Any]
    notice_version: int
    notice_published: str
    minor: bool
    guardian_age: int
    minors_notice_version: int | None
    who_for: str
    relationships: tuple[str, ...] = tuple(GUARDIAN_RELATIONSHIPS)
    verifications: tuple[str, ...] = tuple(GUARDIAN_VERIFICATIONS)

    def to_dict(self) -> dict[str, Any]:
        """The template context the pages used before this service existed."""
        return {"purpose": self.purpose, "mode": self.mode, "site_id": self.site_id, "necessity": self.necessity,
                "notice": self.notice, "notice_version": self.notice_version,
                "notice_published": self.notice_published, "minor": self.minor, "guardian_age": self.guardian_age,
                "minors_notice_version": self.minors_notice_version, "relationships": self.relationships,
                "verifications": self.verifications, "who_for": self.who_for}


# --- who started it (R7) -------------------------------------------------------------------------

def initiator(who: Principal, stated: str | None = None) -> str:
    """``"subject"`` for a subject's own key; otherwise what staff stated, by default
    ``"processor"``: staff prompting a person count as the processor asking (R7, NDSR-22(5))."""
    if who.role == "subject":
        return "subject"
    return stated or "processor"


# --- give, withdraw, refuse ----------------------------------------------------------------------

def _notice_hash(session: Session, site_id: str, request: ConsentRequest) -> str:
    if request.notice_hash is not None:
        return request.notice_hash
    current = repo.current_notice(session, site_id)
    if current is None or current.version != request.notice_version:
        raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN,
                             f"notice version {request.notice_version} is not the site's current published notice "
                             f"({current.version if current else 'none'}); show the current rules first")
    return current.content_hash


def _guardian_with_minors_notice(session: Session, site_id: str, guardian: object) -> object:
    """The guardian block cites the minors' rules the guardian was shown (PIPL-31, CAC-7): by
    ``minors_notice_version``, or by default the site's current published minors' notice."""
    if not isinstance(guardian, Mapping):
        return guardian  # the ledger refuses it with E_GUARDIAN_REQUIRED (or as given for an adult)
    block = dict(guardian)
    version = block.pop("minors_notice_version", None)
    if "minors_notice_hash" in block:
        return block
    current = repo.current_notice(session, site_id, "minors")
    if current is not None and (version is None or version == current.version):
        block["minors_notice_hash"] = current.content_hash
    return block


def give(ctx: Context, who: Principal, subject_id: str, request: ConsentRequest) -> ConsentGiven:
    """Record one separate consent for one purpose and one mode with its evidence (SPC-2(3),
    PIPL-29, R1); a minor's needs a verified guardian citing the minors' rules (R3); us-il needs a
    signed written release (R2). Staff asking again within the cooldown after a refusal is refused
    with E_REPROMPT_COOLDOWN (R7). Needs ``consents:write``; one transaction."""
    who.require("consents:write")
    started_by = initiator(who, request.initiated_by)
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        site = scope.subject_site(s, who, subject, request.site_id)
        notice_hash = _notice_hash(s, site.id, request)
        consent = ledger.give_consent(
            s, subject_id=subject.id, site_id=site.id, purpose=request.purpose, mode=request.mode,
            notice_hash=notice_hash, channel=request.channel, method=request.method, actor=who.actor,
            guardian=_guardian_with_minors_notice(s, site.id, request.guardian),
            written_release=request.written_release, initiated_by=started_by, now=ctx.now())
        return ConsentGiven(id=consent.id, purpose=request.purpose, mode=consent.mode, status=consent.status,
                            expires_at=consent.expires_at, initiated_by=consent.initiated_by)


def _withdrawn(consent: Consent) -> ConsentWithdrawn:
    assert consent.ended_at is not None
    return ConsentWithdrawn(id=consent.id, status=consent.status, ended_at=consent.ended_at)


def withdraw(ctx: Context, who: Principal, subject_id: str, consent_id: str, *, channel: str) -> ConsentWithdrawn:
    """Withdraw one consent in one call, as easy as giving it (PIPL-15, GDPR-7(3), R14):
    processing stops at once and the templates of that purpose and mode are purged in the same
    transaction (deletion certificate, PIPL-47). Needs ``consents:write``."""
    who.require("consents:write")
    with ctx.tx() as s:
        scope.subject(s, who, subject_id)
        consent = repo.get(s, Consent, consent_id)
        if consent is None or consent.subject_id != subject_id:
            raise scope.missing("consent", consent_id)
        purpose = repo.purpose_of_site(s, consent.purpose_id)
        assert purpose is not None  # a consent's purpose row is never deleted
        done = ledger.withdraw_consent(s, subject_id=subject_id, site_id=purpose.site_id, purpose=purpose.name,
                                       mode=consent.mode, channel=channel, actor=who.actor, now=ctx.now())
        return _withdrawn(done)


def withdraw_purpose(ctx: Context, who: Principal, subject_id: str, *, site_id: str, purpose: str, mode: str,
                     channel: str) -> ConsentWithdrawn:
    """:func:`withdraw`, naming the consent by site, purpose and mode (the CLI's way, R14)."""
    who.require("consents:write")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        site = scope.subject_site(s, who, subject, site_id)
        done = ledger.withdraw_consent(s, subject_id=subject.id, site_id=site.id, purpose=purpose, mode=mode,
                                       channel=channel, actor=who.actor, now=ctx.now())
        return _withdrawn(done)


def refuse(ctx: Context, who: Principal, subject_id: str, *, purpose: str, mode: str, channel: str,
           site_id: str | None = None) -> RefusalRecorded:
    """The person declines face processing: recorded (starts the R7 cooldown, NDSR-22(5)) and
    answered with the non-face ways in to issue instead (R6, SPC-4(1)). Needs ``consents:write``;
    one transaction."""
    who.require("consents:write")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        site_id = site_id or subject.site_id
        if site_id is None:
            raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
        ledger.record_refusal(s, subject_id=subject.id, site_id=site_id, purpose=purpose, mode=mode,
                              channel=channel, actor=who.actor, now=ctx.now())
        methods = {m for g in access_store.gates_of_site(s, site_id) for m in access.gate_methods(g)} - {"face"}
        return RefusalRecorded(issue_instead=tuple(m for m in sorted(methods) if m in access.CREDENTIAL_TYPES))


# --- what pages show -----------------------------------------------------------------------------

def _ended_or_given(consent: Consent) -> dt.datetime:
    return consent.ended_at or consent.given_at


def consent_rows(session: Session, subject: Subject, site_id: str, now: dt.datetime) -> tuple[ConsentRow, ...]:
    """One row per purpose x mode the site offers: the subject's active consent, else a refusal
    newer than the latest consent, else that consent's end (withdrawn or expired), else nothing."""
    consents = repo.consents_of_subject(session, subject.id)
    site = repo.site(session, site_id)
    profile = profiles.load(site.jurisdiction) if site is not None else None
    rows = []
    for p in repo.purposes_of_site(session, site_id):
        for mode in p.allowed_modes.split(","):
            mine = [c for c in consents if c.purpose_id == p.id and c.mode == mode]
            active = next((c for c in mine if c.status == "active"), None)
            latest = max(mine, key=_ended_or_given, default=None)
            refusal = repo.last_refusal(session, subject.id, p.id, mode)
            row = ConsentRow(purpose=p.name, mode=mode)
            if active is not None:
                row = ConsentRow(p.name, mode, "active", active.given_at.date().isoformat(), active.id)
            elif refusal is not None and (latest is None or refusal.refused_at >= _ended_or_given(latest)):
                row = ConsentRow(p.name, mode, "declined", refusal.refused_at.date().isoformat())
            elif latest is not None:
                kind = latest.status if latest.status in ("withdrawn", "expired") else "withdrawn"
                row = ConsentRow(p.name, mode, kind, _ended_or_given(latest).date().isoformat())
            if active is None and refusal is not None and profile is not None:
                cooldown = dt.timedelta(hours=profile.reprompt_cooldown_hours)
                row = ConsentRow(row.purpose, row.mode, row.kind, row.when, row.consent_id,
                                 may_prompt=now >= refusal.refused_at + cooldown)
            rows.append(row)
    return tuple(rows)


def consent_state(ctx: Context, who: Principal, subject_id: str) -> ConsentState:
    """The subject's consent per purpose x mode of their site (console resident page, self-service
    home). Needs ``subjects:read``; read-only."""
    who.require("subjects:read")
    with ctx.read() as s:
        subject = scope.subject(s, who, subject_id)
        if subject.site_id is None:
            raise TrustfaceError(E_INVALID_ARGUMENT, "the subject was not registered at a site")
        return ConsentState(subject.id, subject.site_id, consent_rows(s, subject, subject.site_id, ctx.now()))


def consent_states(ctx: Context, who: Principal, site_id: str, subject_ids: Iterable[str]) -> dict[str, ConsentState]:
    """:func:`consent_state` for several subjects of one site (the residents list), in one read."""
    who.require("subjects:read")
    with ctx.read() as s:
        scope.site(s, who, site_id)
        out = {}
        for subject_id in subject_ids:
            subject = scope.subject(s, who, subject_id)
            out[subject.id] = ConsentState(subject.id, site_id, consent_rows(s, subject, site_id, ctx.now()))
        return out


def is_minor_at(session: Session, subject: Subject, site: Site, now: dt.datetime) -> bool:
    """Is the subject under the site's guardian age (R3)? Unknown age counts as a minor."""
    profile = profiles.load(site.jurisdiction)
    return is_minor(subject.birth_date, subject.age_band, profile.guardian_age_for(site.guardian_age), now)


def consent_screen(ctx: Context, who: Principal, subject_id: str, purpose: str, mode: str) -> ConsentScreen:
    """What the consent screen shows before anyone ticks (R1, R3): refused with E_INVALID_ARGUMENT
    when the site does not offer ``purpose``/``mode`` and E_NOTICE_NOT_SHOWN with no published
    notice. Needs ``consents:write``; read-only."""
    who.require("consents:write")
    with ctx.read() as s:
        subject = scope.subject(s, who, subject_id)
        if subject.site_id is None:
            raise TrustfaceError(E_INVALID_ARGUMENT, "the subject was not registered at a site")
        site = scope.site(s, who, subject.site_id)
        p = repo.purpose_by_name(s, site.id, purpose)
        if p is None or mode not in p.allowed_modes.split(","):
            raise TrustfaceError(E_INVALID_ARGUMENT, f"the site does not offer {purpose}/{mode}")
        notice = repo.current_notice(s, site.id)
        if notice is None:
            raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN, "the site has no published processing-rules notice: "
                                                           "face consent cannot be asked yet")
        minors = repo.current_notice(s, site.id, "minors")
        identity = repo.subject_identity(s, subject_id)
        guardian_age = profiles.load(site.jurisdiction).guardian_age_for(site.guardian_age)
        return ConsentScreen(
            subject_id=subject.id, site_id=site.id, purpose=purpose, mode=mode, necessity=p.necessity_justification,
            notice=json.loads(notice.content), notice_version=notice.version,
            notice_published=notice.published_at.date().isoformat() if notice.published_at else "",
            minor=is_minor_at(s, subject, site, ctx.now()), guardian_age=guardian_age,
            minors_notice_version=minors.version if minors else None,
            who_for=identity.display_name if identity and identity.display_name else subject_id)
