"""Access decisions: the access room owns every gate decision (ARCHITECTURE.md), whatever the
method: a PIN, card or QR code, a single face frame, or a face after a liveness challenge.

A way in that never depends on a face is always there (SPC-10, PIPL-16, CAC-10, R6), and a failed
face attempt always offers the other ways (PIPL-24, R25). Every function writes its ``access``
audit event in the caller's transaction; the caller commits. A face decision also leaves the
policy gate's ``grant`` / ``denial`` event and the gallery's ``match`` event beside it.

Face work is done *before* the transaction (:class:`FaceProbe`, computed by the caller); these
functions only read and write storage, so no gate decision holds a lock while a network runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from trustface import audit
from trustface.access import credentials as creds
from trustface.access.codes import (
    E_CREDENTIAL_EXPIRED,
    E_CREDENTIAL_INVALID,
    E_GATE_CLOSED,
    E_LIVENESS_REQUIRED,
    E_METHOD_NOT_OFFERED,
    E_NO_MATCH,
)
from trustface.access.gates import gate_alternatives, gate_is_open, gate_methods, get_gate, opens_alone, two_factor
from trustface.access.issuance import VISITOR_PASS, pin_tag
from trustface.access.methods import CREDENTIAL_AND_FACE, FACE, METHODS
from trustface.db import access_store
from trustface.db.models import Credential, Gate, LivenessChallenge
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.liveness import service as liveness
from trustface.policy import gate as policy_gate
from trustface.policy._common import invalid, utc
from trustface.policy.vocab import IDENTIFY

if TYPE_CHECKING:
    from trustface.access import second_factor
    from trustface.gallery import Gallery


@dataclass(frozen=True)
class Decision:
    """The answer to one attempt at a gate. ``alternatives`` lists the gate's non-face methods and
    is never empty when a face attempt fails (PIPL-24)."""

    granted: bool
    gate_id: str
    method: str
    subject_id: str | None = None
    reason: str | None = None
    message: str | None = None
    alternatives: list[str] = field(default_factory=list)
    audit_seq: int = 0
    distance: float | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "granted": self.granted, "gate_id": self.gate_id, "method": self.method, "subject_id": self.subject_id,
            "alternatives": list(self.alternatives),
            "reason": None if self.reason is None else {"code": self.reason, "message": self.message},
            "audit_seq": self.audit_seq}
        if self.distance is not None:
            out["distance"] = round(self.distance, 4)
        return out


@dataclass(frozen=True)
class FaceProbe:
    """A gate frame after the face work, done before any transaction: the decoded pixels (for the
    replay screen), the bytes as received, and the probe descriptor (128,) float32, or the refusal
    the engine gave (E_NO_FACE, E_FACE_QUALITY, ...) to be decided as a denial."""

    pixels: np.ndarray
    data: bytes | None
    descriptor: np.ndarray | None
    failure: TrustfaceError | None = None


@dataclass
class BurstOutcome:
    """A burst's answer: the liveness verdict (``passed`` and why not) and the gate decision (a face
    decision after a pass, a denied one after a failure)."""

    verdict: liveness.BurstVerdict
    decision: Decision

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def reasons(self) -> list[dict]:
        return self.verdict.reasons

    @property
    def pad(self) -> dict | None:
        return self.verdict.pad

    @property
    def steps_done(self) -> list[dict]:
        return self.verdict.steps_done

    def to_dict(self) -> dict[str, object]:
        return {**self.verdict.to_dict(), "decision": self.decision.to_dict()}


def _decide(session: Session, gate: Gate, method: str, *, granted: bool, actor: str, now: dt.datetime,
            subject_id: str | None = None, reason: str | None = None, message: str | None = None,
            credential_id: str | None = None, distance: float | None = None,
            liveness_extra: dict[str, object] | None = None, extra: dict[str, object] | None = None) -> Decision:
    offered = gate_alternatives(gate)
    payload: dict[str, object] = {"action": "gate_access", "gate_id": gate.id, "site_id": gate.site_id,
                                  "method": method, "result": "granted" if granted else "denied", "reason": reason}
    if credential_id:
        payload["credential_id"] = credential_id
    if liveness_extra is not None:
        payload["liveness"] = liveness_extra
    if extra:
        payload.update(extra)
    seq = audit.record(session, "access", actor=actor, tenant_id=gate.tenant_id, subject_id=subject_id,
                       payload=payload, now=now)
    # a denied attempt names nobody to the kiosk (the audit event keeps the credential's holder)
    return Decision(granted, gate.id, method, subject_id if granted else None, reason, message,
                    [] if granted else offered, seq, distance)


def why_not(gate: Gate, method: str, now: dt.datetime, *, alone: bool = False) -> tuple[str, str] | None:
    """Why the gate refuses ``method`` now, before any credential or face is looked at. ``alone``:
    a credential without a face, which a two-factor gate takes only for its ``credential_alone``."""
    if method not in gate_methods(gate):
        return E_METHOD_NOT_OFFERED, f"this gate does not take {method.replace('_', ' ')}; it offers " \
                                     f"{', '.join(gate_methods(gate))}"
    if alone and two_factor(gate) and method != FACE and method not in opens_alone(gate):
        others = ", ".join(opens_alone(gate)) or "none"
        return E_METHOD_NOT_OFFERED, f"at this gate the {method.replace('_', ' ')} is followed by your face: send " \
                                     f"both (ways in without a face here: {others})"
    if not gate_is_open(gate, now):
        return E_GATE_CLOSED, "the gate is closed at this time by its schedule"
    return None


def face_refusal(gate: Gate, now: dt.datetime, *, liveness_passed: bool,
                 after_credential: bool = False) -> tuple[str, str] | None:
    """Why a face attempt is refused before any face work: not offered, closed, a face alone at a
    two-factor gate (it follows a credential there), or (at a gate that requires liveness, R24) a
    single frame where only a passed challenge burst may open it."""
    refusal = why_not(gate, FACE, now)
    if refusal is None and two_factor(gate) and not after_credential:
        refusal = (E_METHOD_NOT_OFFERED, "at this gate the face follows a PIN, card or QR code: send method and "
                                         "value with the image (ways in without a face: "
                                         f"{', '.join(opens_alone(gate))})")
    if refusal is None and gate.liveness == "required" and not liveness_passed:
        refusal = (E_LIVENESS_REQUIRED, "this gate needs the liveness challenge: ask "
                                        f"POST /v1/gates/{gate.id}/liveness/challenge, then send the frame burst")
    return refusal


# --- PIN, card, QR -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CredentialCheck:
    """A PIN, card or QR code looked at, nothing decided: the method it turned out to be (a QR code
    may be a visitor pass), the credential row when valid, else ``failure`` (code, message)."""

    method: str
    row: Credential | None
    failure: tuple[str, str] | None = None


def check_credential(session: Session, secret: bytes, gate: Gate, *, method: str, value: str, now: dt.datetime,
                     alone: bool = True) -> CredentialCheck:
    """Check a credential at ``gate`` without deciding: not offered (or, ``alone`` at a two-factor
    gate, not one that opens without a face), closed, wrong, expired or spent all come back as a
    ``failure``; a malformed request raises E_INVALID_ARGUMENT. Nothing is written."""
    if method not in METHODS or method == FACE:
        raise invalid(f"method must be one of {', '.join(m for m in METHODS if m != FACE)}")
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise invalid("send the PIN, card number or QR code in `value`")
    # a QR code may be a resident's or a visitor pass: which method it is shows once it is read
    qr_like = method in ("qr", VISITOR_PASS)
    refusal = why_not(gate, method, now, alone=alone)
    if qr_like and refusal is not None and refusal[0] == E_METHOD_NOT_OFFERED:
        refusal = why_not(gate, next(m for m in gate_methods(gate)), now)  # only the schedule counts yet
    if refusal is not None:
        return CredentialCheck(method, None, refusal)
    row, failure = None, (E_CREDENTIAL_INVALID, f"the {method.replace('_', ' ')} is not valid at this gate")
    if method == "pin":
        row = access_store.credential_by_lookup(session, gate.site_id, "pin", pin_tag(secret, gate.site_id, value))
        if row is not None and not creds.verify_pin(row.secret_hash or "", value):
            row = None
    elif method == "card":
        try:
            row = access_store.credential_by_lookup(session, gate.site_id, "card", creds.card_digest(secret, value))
        except TrustfaceError:
            row = None
    else:  # a resident's QR code or a visitor pass: the signed claims say which
        try:
            claims = creds.read_qr(secret, value, site_id=gate.site_id, now=now)
        except TrustfaceError as exc:
            claims, failure = None, (exc.code, exc.message)
        if claims is not None:
            method = VISITOR_PASS if claims.single_use else "qr"
            refusal = why_not(gate, method, now, alone=alone)
            if refusal is not None:
                return CredentialCheck(method, None, refusal)
            row = access_store.credential_by_lookup(session, gate.site_id, method, claims.nonce)
            if row is not None and row.id != claims.holder:
                row = None
            if row is not None and row.used_at is not None:
                row, failure = None, (E_CREDENTIAL_INVALID, "this visitor pass was already used")
    if row is not None and row.expires_at is not None and now >= row.expires_at:
        row, failure = None, (E_CREDENTIAL_EXPIRED, "the credential has expired")
    return CredentialCheck(method, row, None if row is not None else failure)


def decide_credential(session: Session, secret: bytes, *, gate_id: str, method: str, value: str, actor: str,
                      now: dt.datetime | None = None) -> Decision:
    """A PIN, card or QR attempt at a gate. Wrong, expired or spent credentials are denied decisions
    (not errors) so the kiosk can show them; a malformed request raises E_INVALID_ARGUMENT. At a
    two-factor gate a credential alone opens only if the gate lists it in ``credential_alone``."""
    now = utc(now)
    gate = get_gate(session, gate_id)
    check = check_credential(session, secret, gate, method=method, value=value, now=now)
    return grant_credential(session, gate, check, actor=actor, now=now)


def grant_credential(session: Session, gate: Gate, check: CredentialCheck, *, actor: str, now: dt.datetime,
                     extra: dict[str, object] | None = None) -> Decision:
    """Decide on a checked credential: denied with its failure, else granted (a visitor pass is spent)."""
    row = check.row
    if row is None:
        code, message = check.failure or (E_CREDENTIAL_INVALID, "the credential is not valid at this gate")
        return _decide(session, gate, check.method, granted=False, actor=actor, now=now, reason=code,
                       message=message, extra=extra)
    if row.type == VISITOR_PASS:
        row.used_at = now
    return _decide(session, gate, check.method, granted=True, actor=actor, now=now, subject_id=row.subject_id,
                   credential_id=row.id, extra=extra)


# --- faces -------------------------------------------------------------------------------------

def decide_face(session: Session, gallery: Gallery, *, gate_id: str, probe: FaceProbe | None, actor: str,
                grant_ttl: dt.timedelta | None = None, now: dt.datetime | None = None,
                liveness_passed: bool = False) -> Decision:
    """A face at a gate: refused first if the gate does not take it now (or needs a liveness burst);
    a frame already used here or blocklisted is refused (replay screen); then the policy gate grants
    1:N identify for the gate's purpose (its ``grant``/``denial`` event), the gallery searches the
    consented subjects only, and a refusal or a miss offers the other methods. A frame without a
    usable face is a denied decision (E_NO_FACE) so a kiosk can keep trying."""
    now = utc(now)
    gate = get_gate(session, gate_id)
    refusal = face_refusal(gate, now, liveness_passed=liveness_passed)
    if refusal is not None:
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=refusal[0], message=refusal[1])
    if probe is None:  # the gate's rules changed between the caller's look and this transaction
        raise TrustfaceError(E_INVALID_ARGUMENT, "the gate's settings changed during the attempt; try again")
    screen = None
    if not liveness_passed:  # a burst was screened frame by frame already
        screen = liveness.screen_frame(session, gate.id, probe.data, probe.pixels, now=now)
        if screen.refused:
            return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=screen.code,
                           message=screen.message)
    grant = policy_gate.authorize(session, tenant_id=gate.tenant_id, site_id=gate.site_id, purpose=gate.purpose,
                                  mode=IDENTIFY, location_id=gate.location_id, actor=actor, now=now,
                                  ttl=grant_ttl or policy_gate.DEFAULT_GRANT_TTL)
    if isinstance(grant, policy_gate.Denial):
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=grant.code,
                       message=grant.message)
    try:
        if probe.failure is not None:
            raise probe.failure
        assert probe.descriptor is not None
        result = gallery.identify_descriptor(session, grant, probe.descriptor, actor=actor, now=now,
                                             fpir=gate.fpir_budget)
    except TrustfaceError as exc:
        if exc.code in (E_INVALID_ARGUMENT,):
            raise
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=exc.code, message=exc.message)
    if result.unknown:
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=E_NO_MATCH,
                       message="no enrolled resident matched; use another way in")
    best = result.candidates[0]
    if screen is not None:
        screen.remember()  # this frame opened the gate: the same frame cannot open it again
    return _decide(session, gate, FACE, granted=True, actor=actor, now=now, subject_id=best.subject_id,
                   distance=best.distance)


# --- liveness challenges and bursts --------------------------------------------------------------

def issue_challenge(session: Session, *, gate_id: str, actor: str, now: dt.datetime | None = None,
                    steps: Sequence[str] | None = None, window: dt.timedelta | None = None) -> LivenessChallenge:
    """A liveness challenge for one face attempt at a gate that takes a face (R24), as an ``access``
    event; E_METHOD_NOT_OFFERED at a gate without face."""
    now = utc(now)
    gate = get_gate(session, gate_id)
    if FACE not in gate_methods(gate):
        raise TrustfaceError(E_METHOD_NOT_OFFERED, "this gate does not take a face; no liveness challenge is needed")
    row = liveness.issue_challenge(session, gate_id=gate.id, tenant_id=gate.tenant_id, now=now, steps=steps,
                                   window=window)
    audit.record(session, "access", actor=actor, tenant_id=gate.tenant_id, now=now,
                 payload={"action": "liveness_challenge", "gate_id": gate.id, "site_id": gate.site_id,
                          "steps": row.steps.split(","), "expires_at": row.expires_at.isoformat()})
    return row


def decide_spent_challenge(session: Session, row: LivenessChallenge, *, actor: str, now: dt.datetime) -> BurstOutcome | None:
    """A burst answering a challenge already used or past its window: a denied decision with
    E_CHALLENGE_EXPIRED (the challenge is marked spent); None while it can still be answered."""
    from trustface.liveness.codes import E_CHALLENGE_EXPIRED

    spent = liveness.challenge_spent(row, now)
    if spent is None:
        return None
    why, state = spent
    liveness.expire_challenge(row, now)
    verdict = liveness.BurstVerdict(False, row.nonce, row.steps.split(","),
                                    reasons=[{"code": E_CHALLENGE_EXPIRED, "message": why}])
    gate = get_gate(session, row.gate_id)
    decision = _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=E_CHALLENGE_EXPIRED,
                       message=why, liveness_extra={"nonce_state": state})
    return BurstOutcome(verdict, decision)


def decide_burst(session: Session, gallery: Gallery, row: LivenessChallenge, verdict: liveness.BurstVerdict,
                 probe: FaceProbe | None, *, actor: str, grant_ttl: dt.timedelta | None = None,
                 client_id: str | None = None, device_id: str | None = None,
                 now: dt.datetime | None = None, claim: second_factor.Claim | None = None) -> BurstOutcome:
    """Decide the gate on a judged burst, in the caller's transaction: the challenge is settled
    (spent, attack reported, frames remembered); a failed burst is a denied decision naming its
    most serious reason; a passed one goes on to the face decision with its first frame (``probe``):
    1:N at an identify gate, 1:1 against ``claim`` (the resident a credential named) at a two-factor
    gate (:mod:`trustface.access.second_factor`)."""
    from trustface.access import second_factor

    now = utc(now)
    liveness.settle_burst(session, row, verdict, now=now, client_id=client_id, device_id=device_id)
    gate = get_gate(session, row.gate_id)
    first = verdict.first_reason
    if first is not None or probe is None:
        reason = first or {"code": E_INVALID_ARGUMENT, "message": "the burst has no frame to decide on"}
        method = FACE if claim is None else CREDENTIAL_AND_FACE
        decision = _decide(session, gate, method, granted=False, actor=actor, now=now, reason=reason["code"],
                           message=reason["message"], liveness_extra=verdict.audit_extra(),
                           extra=None if claim is None else claim.audit_extra())
        return BurstOutcome(verdict, decision)
    if claim is not None:
        return BurstOutcome(verdict, second_factor.decide_verified(session, gallery, claim, probe, actor=actor,
                                                                   now=now, liveness_passed=True))
    decision = decide_face(session, gallery, gate_id=gate.id, probe=probe, actor=actor, grant_ttl=grant_ttl, now=now,
                           liveness_passed=True)
    return BurstOutcome(verdict, decision)
