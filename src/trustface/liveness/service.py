"""The liveness service: challenges, frame bursts, the gate's passive screen, and the blocklist.

Every function takes the caller's session and writes its audit event in the same transaction; the
caller commits (as in :mod:`trustface.access.service`). Audit payloads carry codes, signal names,
step names and counts: never a frame, a hash list of numbers or a descriptor.

* :func:`issue_challenge`: a random sequence of steps with a nonce and a time window.
* :func:`check_burst`: a frame burst against its challenge: passive checks (replay, injection),
  the PAD model, the active steps on 68-point landmarks, the same face throughout; a pass goes on
  to the gate's face decision (:func:`trustface.access.service.decide_face`) with the burst's first
  frame, a failure is a denied decision that offers the gate's other ways in.
* :func:`screen_frame`: the passive check of a single frame at ``POST /access``
  (called by ``decide_face`` before identification).
* :func:`report`: a detection joins the local blocklist; :func:`import_indicator` an indicator
  from shared threat intelligence.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import liveness_store
from trustface.db.models import LivenessChallenge, LivenessIndicator, new_id
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.liveness import active, passive
from trustface.liveness import pad as pad_models
from trustface.liveness.codes import (
    E_CHALLENGE_EXPIRED,
    E_CHALLENGE_UNKNOWN,
    E_INJECTION_SUSPECTED,
    E_LIVENESS_FAILED,
    E_REPLAY_DETECTED,
)
from trustface.policy._common import utc

#: how long a challenge may be answered
CHALLENGE_WINDOW = dt.timedelta(seconds=60)
#: a burst holds this many frames at most (and at least one more than the challenge has steps)
MAX_FRAMES = 16
#: nobody performs a step faster than this: a burst that arrives sooner after its challenge is injected
MIN_STEP_TIME = dt.timedelta(milliseconds=300)
#: indicator kinds and how they are shared (docs/liveness.md)
KINDS = ("sha256", "phash", "client", "device")


# --- the store over the database ----------------------------------------------------------------

class DbStore:
    """:class:`~trustface.liveness.passive.ProbeStore` over the deployment's database."""

    def __init__(self, session: Session):
        self.session = session

    def seen(self, gate_id, digests, since):
        return liveness_store.seen_digests(self.session, gate_id, digests, since)

    def recent_phashes(self, gate_id, since):
        return liveness_store.recent_phashes(self.session, gate_id, since)

    def blocked(self, kind, values, now):
        return {row.value: row.species for row in liveness_store.active_indicators(self.session, kind, list(values), now)}

    def blocked_phashes(self, now):
        return {row.value: row.species for row in liveness_store.active_indicators(self.session, "phash", None, now)}

    def remember(self, gate_id, fingerprints, now):
        liveness_store.add_probes(self.session, gate_id, [(f.sha256, f.pixels, f.phash) for f in fingerprints], now)
        if secrets.randbelow(50) == 0:  # now and then, forget what is older than the window
            liveness_store.purge_probes(self.session, now - passive.REPLAY_WINDOW)

    def report(self, kind, value, species, now):
        report(self.session, kind=kind, value=value, species=species, now=now)


def report(session: Session, *, kind: str, value: str, species: str, now: dt.datetime) -> LivenessIndicator:
    """Put a value on the local blocklist, or count one more sighting of it. The caller records the
    audit event of the detection in the same transaction."""
    if kind not in KINDS:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"indicator kind must be one of {', '.join(KINDS)}")
    row = liveness_store.indicator(session, kind, value)
    if row is None:
        return liveness_store.add_indicator(session, LivenessIndicator(
            id=new_id("ind"), kind=kind, value=value, species=species, source="local", count=1, first_seen=now,
            last_seen=now, created_at=now))
    row.count += 1
    row.first_seen = min(row.first_seen, now)
    row.last_seen = max(row.last_seen, now)
    session.flush()
    return row


def import_indicator(session: Session, *, kind: str, value: str, species: str, stix_id: str, origin: str | None,
                     count: int, first_seen: dt.datetime, last_seen: dt.datetime,
                     valid_until: dt.datetime | None, now: dt.datetime) -> bool:
    """Add a shared indicator to the blocklist at once (True), or refresh one already known (False).
    A value this deployment detected itself keeps its local record; its sightings are not merged."""
    row = liveness_store.indicator(session, kind, value)
    if row is None:
        liveness_store.add_indicator(session, LivenessIndicator(
            id=new_id("ind"), kind=kind, value=value, species=species, source="intel", stix_id=stix_id,
            origin=origin, count=max(1, count), first_seen=first_seen, last_seen=last_seen, valid_until=valid_until,
            created_at=now))
        return True
    if row.source == "intel":
        row.count = max(row.count, count)
        row.first_seen, row.last_seen = min(row.first_seen, first_seen), max(row.last_seen, last_seen)
        row.valid_until = None if (row.valid_until is None or valid_until is None) else max(row.valid_until, valid_until)
        session.flush()
    return False


def _report_attack(session: Session, verdict: passive.Verdict, frames_prints, *, client_id: str | None,
                   device_id: str | None, species: str, now: dt.datetime) -> int:
    """The frames (and, for injection, the client and device) of a detected attack join the blocklist."""
    n = 0
    for fp in frames_prints:
        if fp.sha256:
            report(session, kind="sha256", value=fp.sha256, species=species, now=now)
            n += 1
        report(session, kind="phash", value=fp.phash, species=species, now=now)
        n += 1
    injected = any(s.code == passive.E_INJECTION_SUSPECTED and not s.kind.startswith("blocked_") for s in verdict.signals)
    if injected:
        for kind, value in (("client", client_id), ("device", device_id)):
            if value:
                report(session, kind=kind, value=passive.id_digest(value), species=species, now=now)
                n += 1
    return n


# --- single frames at the gate ------------------------------------------------------------------

@dataclass
class Screen:
    """The passive screen of one frame at a gate (see :func:`screen_frame`)."""

    session: Session
    gate_id: str
    verdict: passive.Verdict
    now: dt.datetime

    @property
    def refused(self) -> bool:
        return not self.verdict.ok

    @property
    def code(self) -> str | None:
        return self.verdict.code

    @property
    def message(self) -> str | None:
        first = self.verdict.first
        return None if first is None else first.message

    def remember(self) -> None:
        """The frame opened the gate: the same frame cannot open it again within the replay window."""
        DbStore(self.session).remember(self.gate_id, self.verdict.fingerprints, self.now)


def _frame_bytes(image) -> bytes | None:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        try:
            with open(image, "rb") as fh:
                return fh.read()
        except OSError:
            return None
    return None


def screen_frame(session: Session, gate, image, pixels: np.ndarray, *, now: dt.datetime) -> Screen:
    """Replay screen of one gate frame before identification: a frame already used at this gate,
    or a blocklisted one, is refused (E_REPLAY_DETECTED) and joins the local blocklist. ``image`` is
    what the caller was given (bytes, a path, or the pixels); ``pixels`` the decoded frame."""
    now = utc(now)
    frame = passive.Frame(pixels, _frame_bytes(image))
    verdict = passive.check([frame], store=DbStore(session), gate_id=gate.id, now=now, burst=False)
    if not verdict.ok:
        _report_attack(session, verdict, verdict.fingerprints, client_id=None, device_id=None,
                       species=verdict.species or "still_replay", now=now)
    return Screen(session, gate.id, verdict, now)


# --- challenges ---------------------------------------------------------------------------------

def issue_challenge(session: Session, *, gate_id: str, actor: str, now: dt.datetime | None = None,
                    steps: Sequence[str] | None = None, window: dt.timedelta | None = None) -> LivenessChallenge:
    """A challenge for a face gate: random steps (or ``steps``, for tests and fixed kiosks), a
    32-byte nonce and a time window (default :data:`CHALLENGE_WINDOW`)."""
    from trustface.access import service as access
    from trustface.access.codes import E_METHOD_NOT_OFFERED
    from trustface.access.methods import FACE

    now = utc(now)
    gate = access.get_gate(session, gate_id)
    if FACE not in access.gate_methods(gate):
        raise TrustfaceError(E_METHOD_NOT_OFFERED, "this gate does not take a face; no liveness challenge is needed")
    chosen = list(steps) if steps is not None else active.new_steps()
    if not chosen or len(set(chosen)) != len(chosen) or any(s not in active.STEPS for s in chosen):
        raise TrustfaceError(E_INVALID_ARGUMENT, f"steps are distinct names among {', '.join(active.STEPS)}")
    window = window or CHALLENGE_WINDOW
    row = liveness_store.add_challenge(session, LivenessChallenge(
        nonce=secrets.token_urlsafe(32), tenant_id=gate.tenant_id, gate_id=gate.id, steps=",".join(chosen),
        issued_at=now, expires_at=now + window))
    audit.record(session, "access", actor=actor, tenant_id=gate.tenant_id, now=now,
                 payload={"action": "liveness_challenge", "gate_id": gate.id, "site_id": gate.site_id,
                          "steps": chosen, "expires_at": row.expires_at.isoformat()})
    return row


def challenge_to_dict(row: LivenessChallenge) -> dict:
    steps = row.steps.split(",")
    return {"nonce": row.nonce, "gate_id": row.gate_id, "steps": steps,
            "prompts": [active.PROMPTS[s] for s in steps], "issued_at": row.issued_at.isoformat(),
            "expires_at": row.expires_at.isoformat()}


# --- bursts ---------------------------------------------------------------------------------------

@dataclass
class BurstOutcome:
    """A burst's answer: ``passed`` and why not, and the gate decision (a face decision after a pass,
    a denied one after a failure)."""

    passed: bool
    nonce: str
    steps: list[str]
    reasons: list[dict] = field(default_factory=list)
    steps_done: list[dict] = field(default_factory=list)
    pad: dict | None = None
    decision: object | None = None

    def to_dict(self) -> dict:
        return {"passed": self.passed, "nonce": self.nonce, "steps": list(self.steps),
                "steps_done": list(self.steps_done), "reasons": list(self.reasons), "pad": self.pad,
                "decision": None if self.decision is None else self.decision.to_dict()}


def _parse_times(timestamps: Sequence[float] | None, n: int) -> list[float | None]:
    if timestamps is None:
        return [None] * n
    if len(timestamps) != n:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"send one timestamp per frame ({n} frames, {len(timestamps)} times)")
    out = []
    for t in timestamps:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t):
            raise TrustfaceError(E_INVALID_ARGUMENT, "timestamps are capture times in milliseconds")
        out.append(float(t))
    return out


def _deny(session: Session, gate, *, actor: str, now: dt.datetime, code: str, message: str, extra: dict):
    """A denied face decision at the gate (the gate's other ways in offered), as an access event."""
    from trustface.access.methods import FACE, alternatives
    from trustface.access.service import Decision, gate_methods

    payload = {"action": "gate_access", "gate_id": gate.id, "site_id": gate.site_id, "method": FACE,
               "result": "denied", "reason": code, "liveness": extra}
    seq = audit.record(session, "access", actor=actor, tenant_id=gate.tenant_id, payload=payload, now=now)
    return Decision(False, gate.id, FACE, None, code, message, alternatives(gate_methods(gate)), seq)


def check_burst(session: Session, gallery, *, gate_id: str, nonce: str, frames: Sequence[bytes],
                actor: str, timestamps: Sequence[float] | None = None, client_id: str | None = None,
                device_id: str | None = None, now: dt.datetime | None = None,
                pad_model: pad_models.PadModel | None | str = "default") -> BurstOutcome:
    """Check a frame burst against its challenge, then decide the gate.

    Raises E_CHALLENGE_UNKNOWN (no such nonce for this gate), E_IMAGE_INVALID / E_IMAGE_TOO_LARGE (a
    frame that does not decode) and E_INVALID_ARGUMENT (too few or too many frames, bad timestamps).
    Every other outcome is an answer: a failed burst is a denied decision with E_CHALLENGE_EXPIRED,
    E_REPLAY_DETECTED, E_INJECTION_SUSPECTED or E_LIVENESS_FAILED and the gate's other ways in.
    """
    from trustface import imaging
    from trustface.access import service as access

    now = utc(now)
    model = pad_models.default_model() if pad_model == "default" else pad_model
    row = liveness_store.challenge(session, nonce, for_update=True) if isinstance(nonce, str) and len(nonce) <= 64 \
        else None
    if row is None or row.gate_id != gate_id:
        raise TrustfaceError(E_CHALLENGE_UNKNOWN, "no liveness challenge with this nonce was issued for this gate")
    gate = access.get_gate(session, gate_id)
    steps = row.steps.split(",")
    outcome = BurstOutcome(False, nonce, steps)
    if row.used_at is not None or now > row.expires_at:
        why = "the challenge was already answered" if row.used_at is not None else "the challenge's time window has passed"
        if row.used_at is None:
            row.used_at, row.result = now, "expired"
        outcome.reasons.append({"code": E_CHALLENGE_EXPIRED, "message": why})
        outcome.decision = _deny(session, gate, actor=actor, now=now, code=E_CHALLENGE_EXPIRED, message=why,
                                 extra={"nonce_state": "used" if why.startswith("the challenge was") else "expired"})
        return outcome
    if not frames or len(frames) > MAX_FRAMES:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"send between {len(steps) + 1} and {MAX_FRAMES} frames")
    times = _parse_times(timestamps, len(frames))
    decoded = [passive.Frame(imaging.load_image(data), bytes(data), t) for data, t in zip(frames, times, strict=False)]
    row.used_at = now

    verdict = passive.check(decoded, store=DbStore(session), gate_id=gate.id, now=now, burst=True,
                            client_id=client_id, device_id=device_id, issued_at=row.issued_at,
                            window=row.expires_at - row.issued_at)
    if now - row.issued_at < MIN_STEP_TIME * len(steps):
        verdict.signals.append(passive.Signal(E_INJECTION_SUSPECTED, "timing", "digital_injection",
                                              "the burst arrived sooner after the challenge than the steps can be "
                                              "performed"))
    reasons = [s.to_dict() for s in verdict.signals]
    result = active.ActiveResult(False, steps)
    # a replay or an injection is refused without any face work on its frames
    if not reasons and model is not None:
        score = float(model.score([f.pixels for f in decoded]))
        outcome.pad = {"model": model.name, "version": model.version, "score": round(score, 3),
                       "threshold": model.threshold}
        if score >= model.threshold:
            reasons.append({"code": E_LIVENESS_FAILED, "signal": "pad_model", "species": "print_recapture",
                            "message": f"the PAD model {model.name} flagged the frames"})
    if not reasons:
        result = active.evaluate(steps, active.read_frames([f.pixels for f in decoded]))
    outcome.steps_done = result.done
    for text in result.reasons:
        reasons.append({"code": E_LIVENESS_FAILED, "signal": "challenge", "message": text})
    outcome.reasons = reasons
    outcome.passed = not reasons
    row.result = "passed" if outcome.passed else "failed"

    if not outcome.passed:
        order = (E_REPLAY_DETECTED, E_INJECTION_SUSPECTED)
        first = min(reasons, key=lambda r: order.index(r["code"]) if r["code"] in order else len(order))
        attack = [r for r in reasons if r.get("signal") not in ("challenge",)]
        if attack:
            _report_attack(session, verdict, verdict.fingerprints, client_id=client_id, device_id=device_id,
                           species=attack[0].get("species") or "still_replay", now=now)
        extra = {"nonce_state": "used", "signals": sorted({r.get("signal", "") for r in reasons}),
                 "steps_done": len(result.done), "frames": len(frames)}
        if outcome.pad:
            extra["pad_model"] = f"{outcome.pad['model']}/{outcome.pad['version']}"
        outcome.decision = _deny(session, gate, actor=actor, now=now, code=first["code"], message=first["message"],
                                 extra=extra)
        return outcome

    # passed: remember every frame of the burst (none can be used again), then decide the gate with
    # the first frame (facing the camera); decide_face remembers that one when the gate opens
    store = DbStore(session)
    store.remember(gate.id, verdict.fingerprints[1:], now)
    decision = access.decide_face(session, gallery, gate_id=gate.id, image=decoded[0].data, actor=actor, now=now,
                                  liveness_passed=True)
    if not decision.granted:
        store.remember(gate.id, verdict.fingerprints[:1], now)
    outcome.decision = decision
    return outcome


def blocklist(session: Session, *, source: str | None = None) -> list[LivenessIndicator]:
    return liveness_store.indicators(session, source=source)


def parse_timestamps(text: str | None) -> list[float] | None:
    """``"0,120,250"`` -> [0.0, 120.0, 250.0] (capture times in ms, as the liveness route takes them)."""
    if text is None or not text.strip():
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise TrustfaceError(E_INVALID_ARGUMENT, "timestamps are comma-separated capture times in milliseconds") from None


__all__ = ["CHALLENGE_WINDOW", "BurstOutcome", "DbStore", "Screen", "blocklist", "challenge_to_dict", "check_burst",
           "import_indicator", "issue_challenge", "parse_timestamps", "report", "screen_frame"]

