"""Face as the second factor (issue 16, item 3): at a gate whose ``face_mode`` is
``verify_after_credential`` a PIN, card or QR code names the resident, then the face is matched 1:1
against that resident's verify template under their verify consent. A stranger then needs a valid
credential *and* a face within the 1:1 operating point: the per-attempt false accept is the 1:1
FMR, not the 1:N FPIR that grows with every resident enrolled.

Two steps, each in the caller's transaction, with the face work between them (the services
transaction rule):

1. :func:`claim_resident`: the gate's refusals, the credential check (a wrong one is a denied
   decision and the face is never processed), then the policy gate's VERIFY grant for the named
   resident (its ``grant`` / ``denial`` event). A resident without verify consent is decided by
   policy: the credential alone opens only where the gate lists it in ``credential_alone`` (R6:
   declining face never blocks entry); otherwise denied with the policy's code and the ways in
   that need no face (PIPL-24, R25). A visitor pass names nobody: it is decided alone.
2. :func:`decide_verified`: the replay screen of the frame (unless a liveness burst was screened
   already), the 1:1 match (its ``match`` event) and the decision (method ``credential+face``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from trustface.access import decisions
from trustface.access.codes import E_CREDENTIAL_INVALID, E_NO_MATCH
from trustface.access.gates import get_gate, opens_alone, two_factor
from trustface.access.issuance import VISITOR_PASS
from trustface.access.methods import CREDENTIAL_AND_FACE, FIRST_FACTORS
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.liveness import service as liveness
from trustface.policy import gate as policy_gate
from trustface.policy._common import utc
from trustface.policy.vocab import VERIFY

if TYPE_CHECKING:
    from trustface.db.models import LivenessChallenge
    from trustface.gallery import Gallery


@dataclass(frozen=True)
class Claim:
    """A resident named by a valid credential at a two-factor gate, with the verify grant for their
    face (minted by the policy gate in :func:`claim_resident`)."""

    gate_id: str
    method: str
    subject_id: str
    credential_id: str
    grant: policy_gate.Grant

    def audit_extra(self) -> dict[str, object]:
        return {"credential_method": self.method, "grant_id": self.grant.grant_id}


@dataclass(frozen=True)
class ClaimStep:
    """Either the attempt is decided already (``decision``), or the face goes on to be matched
    against ``claim``."""

    decision: decisions.Decision | None = None
    claim: Claim | None = None


def claim_resident(session: Session, secret: bytes, *, gate_id: str, method: str, value: str, actor: str,
                   grant_ttl: dt.timedelta | None = None, now: dt.datetime | None = None,
                   liveness_passed: bool = False) -> ClaimStep:
    """Step 1 of a credential-then-face attempt (see the module docstring). ``liveness_passed``: the
    face comes as a challenge burst (judged after this step), so a gate that requires liveness does
    not refuse it."""
    now = utc(now)
    gate = get_gate(session, gate_id)
    if not two_factor(gate):
        raise TrustfaceError(E_INVALID_ARGUMENT, "this gate identifies a face on its own: send the face alone, or "
                                                 "the PIN, card or QR code alone")
    if method not in FIRST_FACTORS + (VISITOR_PASS,):
        raise TrustfaceError(E_INVALID_ARGUMENT, f"method must be one of {', '.join(FIRST_FACTORS)} before the face")
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise TrustfaceError(E_INVALID_ARGUMENT, "send the PIN, card number or QR code in `value`")
    refusal = decisions.face_refusal(gate, now, liveness_passed=liveness_passed, after_credential=True)
    if refusal is not None:
        return ClaimStep(decisions._decide(session, gate, CREDENTIAL_AND_FACE, granted=False, actor=actor, now=now,
                                           reason=refusal[0], message=refusal[1], extra={"credential_method": method}))
    check = decisions.check_credential(session, secret, gate, method=method, value=value, now=now, alone=False)
    if check.row is None or check.method == VISITOR_PASS:  # wrong credential: the face is not looked at
        method_name = check.method if check.method == VISITOR_PASS else CREDENTIAL_AND_FACE
        extra: dict[str, object] = {"credential_method": check.method, "face": "not_processed"}
        if check.row is None:
            code, message = check.failure or (E_CREDENTIAL_INVALID, "the credential is not valid at this gate")
            return ClaimStep(decisions._decide(session, gate, method_name, granted=False, actor=actor, now=now,
                                               reason=code, message=message, extra=extra))
        return ClaimStep(decisions.grant_credential(session, gate, check, actor=actor, now=now, extra=extra))
    row = check.row
    assert row.subject_id is not None
    grant = policy_gate.authorize(session, tenant_id=gate.tenant_id, site_id=gate.site_id, purpose=gate.purpose,
                                  mode=VERIFY, subject_id=row.subject_id, location_id=gate.location_id, actor=actor,
                                  now=now, ttl=grant_ttl or policy_gate.DEFAULT_GRANT_TTL)
    if isinstance(grant, policy_gate.Denial):
        extra = {"credential_method": check.method, "face": "not_processed", "face_refused": grant.code}
        if check.method in opens_alone(gate):  # R6: declining face never blocks entry where the gate allows it
            return ClaimStep(decisions.grant_credential(session, gate, check, actor=actor, now=now, extra=extra))
        return ClaimStep(decisions._decide(
            session, gate, CREDENTIAL_AND_FACE, granted=False, actor=actor, now=now, subject_id=row.subject_id,
            reason=grant.code, credential_id=row.id, extra=extra,
            message=f"{grant.message}; at this gate the {check.method} opens only with a face (ways in without a "
                    f"face: {', '.join(opens_alone(gate))})"))
    return ClaimStep(claim=Claim(gate.id, check.method, row.subject_id, row.id, grant))


def decide_verified(session: Session, gallery: Gallery, claim: Claim, probe: decisions.FaceProbe | None, *,
                    actor: str, now: dt.datetime | None = None, liveness_passed: bool = False) -> decisions.Decision:
    """Step 2: the face after the credential. A frame already used at this gate (or blocklisted) is
    refused (E_REPLAY_DETECTED) exactly as on the single-frame path, unless it came in a burst that
    was screened frame by frame; then the face is matched 1:1 against the claimed resident only.
    Granted with method ``credential+face``; otherwise denied (E_NO_MATCH, E_NO_FACE, ...) with the
    ways in that need no face (PIPL-24, R25)."""
    now = utc(now)
    gate = get_gate(session, claim.gate_id)
    refusal = decisions.face_refusal(gate, now, liveness_passed=liveness_passed, after_credential=True)
    if probe is None or refusal is not None or not two_factor(gate):
        raise TrustfaceError(E_INVALID_ARGUMENT, "the gate's settings changed during the attempt; try again")
    extra = claim.audit_extra()

    def deny(code: str | None, message: str | None) -> decisions.Decision:
        return decisions._decide(session, gate, CREDENTIAL_AND_FACE, granted=False, actor=actor, now=now,
                                 subject_id=claim.subject_id, credential_id=claim.credential_id, reason=code,
                                 message=message, extra=extra)

    screen = None
    if not liveness_passed:
        screen = liveness.screen_frame(session, gate.id, probe.data, probe.pixels, now=now)
        if screen.refused:
            return deny(screen.code, screen.message)
    try:
        if probe.failure is not None:
            raise probe.failure
        assert probe.descriptor is not None
        result = gallery.verify_descriptor(session, claim.grant, claim.subject_id, probe.descriptor, actor=actor,
                                           now=now)
    except TrustfaceError as exc:
        if exc.code == E_INVALID_ARGUMENT:
            raise
        return deny(exc.code, exc.message)
    if not result.match:
        return deny(E_NO_MATCH, f"the face does not match the resident this {claim.method} belongs to; use another "
                                "way in")
    if screen is not None:
        screen.remember()  # this frame opened the gate: the same frame cannot open it again
    return decisions._decide(session, gate, CREDENTIAL_AND_FACE, granted=True, actor=actor, now=now,
                             subject_id=claim.subject_id, credential_id=claim.credential_id,
                             distance=result.distance, extra=extra)


def claim_for_burst(session: Session, secret: bytes, row: LivenessChallenge, *, method: str, value: str,
                    actor: str, grant_ttl: dt.timedelta | None = None,
                    now: dt.datetime | None = None) -> decisions.BurstOutcome | Claim:
    """Step 1 for a two-factor gate that requires liveness: the credential comes with the challenge
    burst. ``row`` is the challenge, locked by the caller. A challenge already spent answers as
    usual; an attempt decided on the credential (wrong, or the policy's answer) spends the
    challenge unjudged, so neither the burst nor the nonce can be tried again, and the burst is
    never analysed. Otherwise the claim goes on to the liveness judgement and the 1:1 match."""
    now = utc(now)
    answered = decisions.decide_spent_challenge(session, row, actor=actor, now=now)
    if answered is not None:
        return answered
    step = claim_resident(session, secret, gate_id=row.gate_id, method=method, value=value, actor=actor,
                          grant_ttl=grant_ttl, now=now, liveness_passed=True)
    if step.claim is not None:
        return step.claim
    assert step.decision is not None
    liveness.expire_challenge(row, now)  # spent: the credential decided before any face work
    d = step.decision
    reasons = [] if d.granted else [{"code": d.reason, "message": d.message, "signal": "credential"}]
    verdict = liveness.BurstVerdict(False, row.nonce, row.steps.split(","), reasons=reasons)
    return decisions.BurstOutcome(verdict, d)
