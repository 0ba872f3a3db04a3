"""Subjects and the consent ledger (R1-R3, R7, R14, R23).

* One consent row per subject x purpose x mode, never a clause of something else (R1, SPC-2(3)).
* Evidence: the hash of the notice version shown, time, channel, actor, method (R1, SPC-6).
* Guardian consent under the profile's age (R3); us-il written release (R2).
* Withdrawal per purpose and mode, one call like giving (R14, PIPL-15, GDPR-7(3)); it stops
  processing at once and runs the purge handlers (deletion certificate, PIPL-47).
* After a refusal the processor may not prompt again within the cooldown unless the subject starts
  it (R7, NDSR-22(5)).
* Bundled or pre-ticked payloads are refused with E_CONSENT_BUNDLED (SPC-4(2)).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from trustface import audit
from trustface.audit.chain import canonical
from trustface.db import repo
from trustface.db.models import Consent, Notice, Purpose, Refusal, Site, Subject, SubjectIdentity, new_id
from trustface.errors import TrustfaceError
from trustface.policy import codes, profiles
from trustface.policy._common import invalid, is_minor, not_found, parse_age_band, sha256_hex, utc
from trustface.policy.vocab import (
    CHANNELS,
    GUARDIAN_RELATIONSHIPS,
    GUARDIAN_VERIFICATIONS,
    METHODS,
    MODES,
    RELEASE_SIGNATURES,
    RETAIN_IMAGE,
    SUSPENSION_KINDS,
    WRITTEN_METHODS,
)

INITIATORS = ("subject", "processor")
FACE_SCOPE = "face"

#: keys a consent payload may carry; anything that authorizes something else is "bundled"
PAYLOAD_KEYS = frozenset(
    {"subject_id", "site_id", "purpose", "mode", "scope", "scopes", "notice_hash", "channel", "method",
     "guardian", "written_release", "initiated_by", "pre_ticked", "accept_all"}
)
BUNDLING_KEYS = frozenset(
    {"terms", "terms_accepted", "tos", "terms_of_service", "privacy_policy", "marketing", "newsletter",
     "other_authorizations", "additional_scopes", "purposes", "modes", "select_all", "default_checked",
     "share_with_partners", "third_party"}
)


# --- subjects -----------------------------------------------------------------------------------

def create_subject(session: Session, *, tenant_id: str, birth_date: dt.date | None = None,
                   age_band: str | None = None, identity: Mapping[str, Any] | None = None, site_id: str | None = None,
                   actor: str, now: dt.datetime | None = None) -> Subject:
    """A pseudonymous subject with a birth date or an age band (R3 age gate). Identity data, if
    any, goes to a separate table (R10) and never into audit payloads."""
    now = utc(now)
    if repo.tenant(session, tenant_id) is None:
        raise not_found("tenant", tenant_id)
    if site_id is not None:
        site = repo.site(session, site_id)
        if site is None or site.tenant_id != tenant_id:
            raise not_found("site", site_id)
    if birth_date is None and not age_band:
        raise invalid("a subject needs a birth date or an age band (age gate)", ("R3", "PIPL-31"))
    if birth_date is not None and (not isinstance(birth_date, dt.date) or birth_date > now.date()):
        raise invalid("birth date must be a date in the past", ("R3",))
    if age_band:
        parse_age_band(age_band)
    s = repo.add(session, Subject(id=new_id("sub"), tenant_id=tenant_id, site_id=site_id, birth_date=birth_date,
                                  age_band=age_band or None, created_at=now))
    if identity:
        unknown = set(identity) - {"display_name", "external_ref", "contact"}
        if unknown:
            raise invalid(f"unknown identity fields: {', '.join(sorted(unknown))}")
        repo.add(session, SubjectIdentity(subject_id=s.id, **{k: str(v)[:200] for k, v in identity.items()}))
    audit.record(session, "admin", actor=actor, tenant_id=tenant_id, subject_id=s.id, now=now,
                 payload={"action": "subject_created", "age_basis": "birth_date" if birth_date else "age_band",
                          "identity_recorded": bool(identity)})
    return s


def correct_subject_age(session: Session, *, subject_id: str, birth_date: dt.date | None = None,
                        age_band: str | None = None, actor: str, now: dt.datetime | None = None) -> Subject:
    """Correct a subject's age data (e.g. it turns out they are a minor: the gate then asks for
    guardian consent, R3)."""
    now = utc(now)
    s = get_subject(session, subject_id)
    if birth_date is None and not age_band:
        raise invalid("give a birth date or an age band", ("R3",))
    if age_band:
        parse_age_band(age_band)
    s.birth_date, s.age_band = birth_date, age_band or None
    audit.record(session, "admin", actor=actor, tenant_id=s.tenant_id, subject_id=s.id, now=now,
                 payload={"action": "subject_age_corrected"})
    return s


def get_subject(session: Session, subject_id: str) -> Subject:
    s = repo.subject(session, subject_id)
    if s is None:
        raise not_found("subject", subject_id)
    return s


def suspend_subject(session: Session, *, subject_id: str, reason: str, actor: str, kind: str = "suspend",
                    now: dt.datetime | None = None) -> Subject:
    """Suspend or restrict processing for one subject; effective on the very next gate call
    (R23, SPC-9, PIPL-44)."""
    now = utc(now)
    if kind not in SUSPENSION_KINDS:
        raise invalid(f"kind must be one of {', '.join(SUSPENSION_KINDS)}")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid("a suspension needs a reason", ("R23",))
    s = get_subject(session, subject_id)
    s.suspended_at, s.suspension_kind, s.suspension_reason = now, kind, reason.strip()
    audit.record(session, "admin", actor=actor, tenant_id=s.tenant_id, subject_id=s.id, now=now,
                 payload={"action": "subject_suspended", "kind": kind, "reason": reason.strip()})
    return s


def lift_subject_suspension(session: Session, *, subject_id: str, actor: str,
                            now: dt.datetime | None = None) -> Subject:
    now = utc(now)
    s = get_subject(session, subject_id)
    s.suspended_at = s.suspension_kind = s.suspension_reason = None
    audit.record(session, "admin", actor=actor, tenant_id=s.tenant_id, subject_id=s.id, now=now,
                 payload={"action": "subject_suspension_lifted"})
    return s


# --- payload checks -----------------------------------------------------------------------------

def check_not_bundled(payload: Mapping[str, Any]) -> None:
    """Refuse a consent payload that bundles face processing with anything else, or is pre-ticked
    (E_CONSENT_BUNDLED; SPC-4(2), R1)."""
    if not isinstance(payload, Mapping):
        raise invalid("a consent payload must be a mapping")
    if payload.get("pre_ticked") or payload.get("accept_all") or payload.get("default_checked") \
            or payload.get("select_all"):
        raise TrustfaceError(codes.E_CONSENT_BUNDLED,
                             "face consent must be an unticked, separate choice (pre-ticked / accept-all refused)")
    bundling = sorted(k for k in payload if k in BUNDLING_KEYS)
    if bundling:
        raise TrustfaceError(codes.E_CONSENT_BUNDLED,
                             f"face consent may not be combined with other authorizations ({', '.join(bundling)})")
    scopes = payload.get("scopes")
    if scopes is not None:
        if isinstance(scopes, str):
            scopes = [scopes]
        if list(scopes) != [FACE_SCOPE]:
            raise TrustfaceError(codes.E_CONSENT_BUNDLED,
                                 f"a face consent covers the face scope alone (got scopes {list(scopes)!r})")
    scope = payload.get("scope", FACE_SCOPE)
    if scope != FACE_SCOPE:
        raise TrustfaceError(codes.E_CONSENT_BUNDLED, f"a face consent covers the face scope alone (got {scope!r})")
    for key in ("purpose", "mode"):
        if isinstance(payload.get(key), (list, tuple, set)):
            raise TrustfaceError(codes.E_CONSENT_BUNDLED,
                                 f"one consent covers one {key}; give a separate consent for each")
    unknown = sorted(set(payload) - PAYLOAD_KEYS - BUNDLING_KEYS)
    if unknown:
        raise TrustfaceError(codes.E_CONSENT_BUNDLED,
                             f"unexpected fields in a face consent payload: {', '.join(unknown)}")


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check_guardian(guardian: object, profile: profiles.Profile, minors_notice_hash: str | None) -> dict[str, Any]:
    if not isinstance(guardian, Mapping):
        raise TrustfaceError(codes.E_GUARDIAN_REQUIRED,
                             f"the subject is under {profile.id}'s guardian age: consent of a "
                             f"{profile.guardian_title} is required")
    name = guardian.get("name")
    rel = guardian.get("relationship")
    ver = guardian.get("verification")
    if not isinstance(name, str) or not name.strip() or rel not in GUARDIAN_RELATIONSHIPS \
            or ver not in GUARDIAN_VERIFICATIONS:
        raise TrustfaceError(codes.E_GUARDIAN_REQUIRED,
                             "guardian consent needs the guardian's name, relationship "
                             f"({', '.join(GUARDIAN_RELATIONSHIPS)}) and how they were verified "
                             f"({', '.join(GUARDIAN_VERIFICATIONS)})")
    out = {"name": name.strip(), "relationship": rel, "verification": ver}
    if profile.minors_notice_required:
        if minors_notice_hash is None:
            raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN,
                                 "no dedicated minors' processing rules are published: minor enrolment is "
                                 "disabled (PIPL-31)", ("R3", "R4", "PIPL-31", "CAC-7"))
        if guardian.get("minors_notice_hash") != minors_notice_hash:
            raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN,
                                 "the guardian consent does not cite the current minors' processing rules",
                                 ("R3", "R4", "PIPL-31", "CAC-7"))
        out["minors_notice_hash"] = minors_notice_hash
    return out


def _check_release(release: object, purpose_name: str) -> dict[str, str]:
    if not isinstance(release, Mapping):
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED,
                             "a signed written release stating purpose and term is required (BIPA-15b)")
    missing = [k for k in ("purpose", "term", "signed_at", "signature", "document_hash")
               if not isinstance(release.get(k), str) or not release[k].strip()]
    if missing:
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED,
                             f"the written release is missing: {', '.join(missing)}")
    if release["purpose"] != purpose_name:
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED,
                             f"the written release states purpose {release['purpose']!r}, not {purpose_name!r}")
    if release["signature"] not in RELEASE_SIGNATURES:
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED,
                             f"the release signature must be one of {', '.join(RELEASE_SIGNATURES)}")
    if not _HEX64.match(release["document_hash"]):
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED, "document_hash must be a SHA-256 hex digest")
    try:
        dt.datetime.fromisoformat(release["signed_at"])
    except ValueError:
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED, "signed_at must be an ISO date-time") from None
    return {k: release[k].strip() for k in ("purpose", "term", "signed_at", "signature", "document_hash")}


# --- consents -----------------------------------------------------------------------------------

def _resolve(session: Session, subject_id: str, site_id: str, purpose_name: str,
             mode: str) -> tuple[Subject, Site, Purpose]:
    from trustface.policy.sites import get_site

    subject = get_subject(session, subject_id)
    site = get_site(session, site_id)
    if subject.tenant_id != site.tenant_id:
        raise not_found("subject", subject_id)
    purpose = repo.purpose_by_name(session, site_id, purpose_name)
    if purpose is None:
        raise not_found("purpose", purpose_name)
    if mode not in MODES:
        raise invalid(f"mode must be one of {', '.join(MODES)}")
    return subject, site, purpose


def _in_cooldown(session: Session, subject: Subject, purpose: Purpose, mode: str, profile: profiles.Profile,
                 now: dt.datetime) -> bool:
    refusal = repo.last_refusal(session, subject.id, purpose.id, mode)
    return refusal is not None and now < refusal.refused_at + dt.timedelta(hours=profile.reprompt_cooldown_hours)


def give_consent(session: Session, *, subject_id: str, site_id: str, purpose: str, mode: str, notice_hash: str,
                 channel: str, method: str, actor: str, guardian: object = None,
                 written_release: object = None, initiated_by: str = "processor",
                 scopes: Iterable[str] = (FACE_SCOPE,), pre_ticked: bool = False, accept_all: bool = False,
                 now: dt.datetime | None = None) -> Consent:
    """Record one separate consent for subject x purpose x mode with its evidence (R1).

    Refusals: E_CONSENT_BUNDLED (pre-ticked, accept-all, other scopes), E_MODE_NOT_ALLOWED (mode not
    offered by the purpose), E_REPROMPT_COOLDOWN (processor asks again too soon after a refusal),
    E_NOTICE_NOT_SHOWN (not the current published notice hash), E_GUARDIAN_REQUIRED (minor without
    guardian), E_WRITTEN_RELEASE_REQUIRED (us-il without a written release).

    ``initiated_by`` defaults to ``"processor"``: unless the caller states that the subject started
    the request, the R7 cooldown after a refusal applies (the protective default). The use cases
    decide it from the caller (:func:`trustface.services.consents.initiator`). ``guardian`` and
    ``written_release`` are the raw blocks a client sent: checked here.
    """
    now = utc(now)
    check_not_bundled({"scopes": list(scopes) if not isinstance(scopes, str) else scopes,
                       "pre_ticked": pre_ticked, "accept_all": accept_all, "purpose": purpose, "mode": mode})
    subject, site, p = _resolve(session, subject_id, site_id, purpose, mode)
    profile = profiles.load(site.jurisdiction)
    _check_request(p, mode=mode, channel=channel, method=method, initiated_by=initiated_by, now=now)
    if initiated_by == "processor" and _in_cooldown(session, subject, p, mode, profile, now):
        raise TrustfaceError(codes.E_REPROMPT_COOLDOWN,
                             f"the subject refused within the last {profile.reprompt_cooldown_hours} h; "
                             "only the subject may start a new request")
    notice = _cited_notice(session, site.id, notice_hash)
    guardian_block, release_block = _protections(session, subject, site, p, profile, guardian=guardian,
                                                 written_release=written_release, method=method, now=now)
    superseded = repo.active_consent(session, subject.id, p.id, mode)
    if superseded is not None:
        superseded.status, superseded.ended_at, superseded.ended_reason = "superseded", now, "re-consented"
        session.flush()
    expires_at = now + dt.timedelta(days=p.retention_days)
    if p.ends_at is not None:
        expires_at = min(expires_at, p.ends_at)
    consent = repo.add(session, Consent(
        id=new_id("con"), subject_id=subject.id, purpose_id=p.id, mode=mode, status="active",
        notice_id=notice.id, notice_hash=notice.content_hash, given_at=now, channel=channel, actor=actor,
        method=method, initiated_by=initiated_by,
        guardian=canonical(guardian_block) if guardian_block else None,
        written_release=canonical(release_block) if release_block else None, expires_at=expires_at,
    ))
    evidence: dict[str, Any] = {
        "action": "given", "consent_id": consent.id, "site_id": site.id, "purpose_id": p.id, "purpose": p.name,
        "mode": mode, "notice_hash": notice.content_hash, "notice_version": notice.version, "channel": channel,
        "method": method, "initiated_by": initiated_by, "expires_at": expires_at.isoformat(),
        "superseded": superseded.id if superseded else None,
    }
    if guardian_block:
        evidence["guardian"] = {"relationship": guardian_block["relationship"],
                                "verification": guardian_block["verification"],
                                "identity_hash": sha256_hex(guardian_block)}
    if release_block:
        evidence["written_release"] = {"term": release_block["term"], "signed_at": release_block["signed_at"],
                                       "signature": release_block["signature"],
                                       "document_hash": release_block["document_hash"]}
    audit.record(session, "consent", actor=actor, tenant_id=site.tenant_id, subject_id=subject.id,
                 payload=evidence, now=now)
    return consent


def _check_request(p: Purpose, *, mode: str, channel: str, method: str, initiated_by: str, now: dt.datetime) -> None:
    """The purpose offers ``mode`` and is still running; channel, method and initiator are known; a
    kept photo needs a written consent, not a click (R9)."""
    if mode not in p.allowed_modes.split(","):
        raise TrustfaceError(codes.E_MODE_NOT_ALLOWED, f"purpose {p.name!r} does not offer mode {mode}")
    if channel not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}", ("R1",))
    if method not in METHODS:
        raise invalid(f"method must be one of {', '.join(METHODS)}", ("R1",))
    if mode == RETAIN_IMAGE and method not in WRITTEN_METHODS:
        raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED,
                             "keeping face photos needs a separate written consent (signature or signed release), "
                             "not a click (R9)")
    if initiated_by not in INITIATORS:
        raise invalid(f"initiated_by must be one of {', '.join(INITIATORS)}", ("R7",))
    if p.ends_at is not None and p.ends_at <= now:
        raise TrustfaceError(codes.E_PURPOSE_NOT_CONSENTED, f"purpose {p.name!r} has ended")


def _cited_notice(session: Session, site_id: str, notice_hash: str) -> Notice:
    """The site's published notice, which the consent must cite by hash (SPC-2(3), PIPL-17)."""
    notice = repo.current_notice(session, site_id, "general")
    if notice is None:
        raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN, "the site has no published processing-rules notice")
    if notice_hash != notice.content_hash:
        raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN,
                             "the consent does not cite the currently published notice version")
    return notice


def _protections(session: Session, subject: Subject, site: Site, p: Purpose, profile: profiles.Profile, *,
                 guardian: object, written_release: object, method: str,
                 now: dt.datetime) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """The guardian's consent for a minor (R3, PIPL-31) and the written release where the profile
    needs one (BIPA-15b), checked; (guardian block, release block), each None where not needed."""
    guardian_block = None
    if is_minor(subject.birth_date, subject.age_band, profile.guardian_age_for(site.guardian_age), now):
        minors = repo.current_notice(session, site.id, "minors") if profile.minors_notice_required else None
        guardian_block = _check_guardian(guardian, profile, minors.content_hash if minors else None)
    elif guardian is not None:
        raise invalid("guardian consent given for a subject who is not a minor under this profile", ("R3",))
    release_block = None
    if profile.written_release_required:
        release_block = _check_release(written_release, p.name)
        if method not in ("signature", "written_release"):
            raise TrustfaceError(codes.E_WRITTEN_RELEASE_REQUIRED,
                                 "a us-il release must be signed or uploaded, not clicked")
    return guardian_block, release_block


def give_consent_from_payload(session: Session, payload: Mapping[str, Any], *, actor: str,
                              now: dt.datetime | None = None) -> Consent:
    """Validate a raw payload (bundling first), then :func:`give_consent` (library callers; the API,
    CLI and pages parse with :class:`trustface.services.consents.ConsentRequest`)."""
    check_not_bundled(payload)
    for key in ("subject_id", "site_id", "purpose", "mode", "notice_hash", "channel", "method"):
        if not isinstance(payload.get(key), str):
            raise invalid(f"consent payload field {key!r} is required", ("R1",))
    return give_consent(session, subject_id=payload["subject_id"], site_id=payload["site_id"],
                        purpose=payload["purpose"], mode=payload["mode"], notice_hash=payload["notice_hash"],
                        channel=payload["channel"], method=payload["method"], actor=actor,
                        guardian=payload.get("guardian"), written_release=payload.get("written_release"),
                        initiated_by=payload.get("initiated_by", "processor"), now=now)


def withdraw_consent(session: Session, *, subject_id: str, site_id: str, purpose: str, mode: str, channel: str,
                     actor: str, now: dt.datetime | None = None) -> Consent:
    """Withdraw one purpose x mode in one call through any consent channel (R14, PIPL-15,
    GDPR-7(3)): processing stops at once and the purge handlers delete the data (PIPL-47)."""
    from trustface.policy import retention

    now = utc(now)
    subject, site, p = _resolve(session, subject_id, site_id, purpose, mode)
    if channel not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}", ("R14",))
    consent = repo.active_consent(session, subject.id, p.id, mode)
    if consent is None:
        raise TrustfaceError(codes.E_CONSENT_MISSING, f"no active consent for {p.name}/{mode} to withdraw")
    consent.status, consent.ended_at, consent.ended_reason = "withdrawn", now, "withdrawn"
    consent.ended_channel, consent.ended_actor = channel, actor
    audit.record(session, "consent", actor=actor, tenant_id=site.tenant_id, subject_id=subject.id, now=now,
                 payload={"action": "withdrawn", "consent_id": consent.id, "site_id": site.id, "purpose_id": p.id,
                          "purpose": p.name, "mode": mode, "channel": channel})
    retention.purge(session, subject_id=subject.id, tenant_id=site.tenant_id, purpose_id=p.id, mode=mode,
                    reason="withdrawn", actor=actor, now=now, consent_ids=[consent.id])
    return consent


def record_refusal(session: Session, *, subject_id: str, site_id: str, purpose: str, mode: str, channel: str,
                   actor: str, now: dt.datetime | None = None) -> Refusal:
    """Record that the subject declined; starts the re-prompt cooldown (R7). Declining never
    blocks the non-face alternative (R6)."""
    now = utc(now)
    subject, site, p = _resolve(session, subject_id, site_id, purpose, mode)
    if channel not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}")
    r = repo.add(session, Refusal(id=new_id("ref"), subject_id=subject.id, purpose_id=p.id, mode=mode,
                                  refused_at=now, channel=channel, actor=actor))
    audit.record(session, "consent", actor=actor, tenant_id=site.tenant_id, subject_id=subject.id, now=now,
                 payload={"action": "refused", "site_id": site.id, "purpose_id": p.id, "purpose": p.name,
                          "mode": mode, "channel": channel})
    return r


def may_prompt(session: Session, *, subject_id: str, site_id: str, purpose: str, mode: str,
               initiated_by: str = "processor", now: dt.datetime | None = None) -> bool:
    """May a consent prompt be shown now? Never within the cooldown after a refusal unless the
    subject starts it (R7, NDSR-22(5))."""
    now = utc(now)
    subject, site, p = _resolve(session, subject_id, site_id, purpose, mode)
    if initiated_by == "subject":
        return True
    return not _in_cooldown(session, subject, p, mode, profiles.load(site.jurisdiction), now)


def consent_steps() -> dict[str, int]:
    """Calls needed to give and to withdraw one consent: withdrawal is never harder (R14)."""
    return {"give": 1, "withdraw": 1}
