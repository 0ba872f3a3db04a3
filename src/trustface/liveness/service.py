"""The liveness service: challenges, frame bursts, the gate's passive screen, and the blocklist.

Every function takes the caller's session and writes its audit event in the same transaction; the
caller commits (as in :mod:`trustface.access.service`). Audit payloads carry codes, signal names,
step names and counts: never a frame, a hash list of numbers or a descriptor.

Liveness returns verdicts only: it never decides a gate, never writes an ``access`` event and
never imports the access room (``access`` owns the gate decision, ARCHITECTURE.md).

* :func:`issue_challenge`: a random sequence of steps with a nonce and a time window.
* A burst is judged in three steps so that no transaction is open while frames are analysed:
  :func:`prepare_frames` (decode, no database), :func:`screen_burst` (replay and injection, database
  reads), :func:`judge_burst` (the PAD model and the active steps on 68-point landmarks: pure
  computation), then :func:`settle_burst` records the outcome (challenge spent, attack reported,
  frames remembered) in the caller's transaction.
* :func:`screen_frame`: the passive check of a single frame at ``POST /access``.
* :func:`report`: a detection joins the local blocklist; :func:`import_indicator` an indicator
  from shared threat intelligence.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from trustface.db import liveness_store
from trustface.db.models import LivenessChallenge, LivenessIndicator, new_id
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.liveness import active, passive
from trustface.liveness import pad as pad_models
from trustface.liveness.codes import (
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


def report_attack(session: Session, verdict: passive.Verdict, frames_prints, *, client_id: str | None,
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


def screen_frame(session: Session, gate_id: str, data: bytes | None, pixels: np.ndarray, *,
                 now: dt.datetime) -> Screen:
    """Replay screen of one gate frame before identification: a frame already used at this gate,
    or a blocklisted one, is refused (E_REPLAY_DETECTED) and joins the local blocklist. ``data`` is
    the frame as received (None when only pixels exist), ``pixels`` the decoded frame."""
    now = utc(now)
    frame = passive.Frame(pixels, data)
    verdict = passive.check([frame], store=DbStore(session), gate_id=gate_id, now=now, burst=False)
    if not verdict.ok:
        report_attack(session, verdict, verdict.fingerprints, client_id=None, device_id=None,
                      species=verdict.species or "still_replay", now=now)
    return Screen(session, gate_id, verdict, now)


# --- challenges ---------------------------------------------------------------------------------

def issue_challenge(session: Session, *, gate_id: str, tenant_id: str, now: dt.datetime | None = None,
                    steps: Sequence[str] | None = None, window: dt.timedelta | None = None) -> LivenessChallenge:
    """A challenge for a face gate: random steps (or ``steps``, for tests and fixed kiosks), a
    32-byte nonce and a time window (default :data:`CHALLENGE_WINDOW`). The caller (the access
    room) checks that the gate takes a face and records the audit event."""
    now = utc(now)
    chosen = list(steps) if steps is not None else active.new_steps()
    if not chosen or len(set(chosen)) != len(chosen) or any(s not in active.STEPS for s in chosen):
        raise TrustfaceError(E_INVALID_ARGUMENT, f"steps are distinct names among {', '.join(active.STEPS)}")
    window = window or CHALLENGE_WINDOW
    return liveness_store.add_challenge(session, LivenessChallenge(
        nonce=secrets.token_urlsafe(32), tenant_id=tenant_id, gate_id=gate_id, steps=",".join(chosen),
        issued_at=now, expires_at=now + window))


def challenge_to_dict(row: LivenessChallenge) -> dict[str, object]:
    steps = row.steps.split(",")
    return {"nonce": row.nonce, "gate_id": row.gate_id, "steps": steps,
            "prompts": [active.PROMPTS[s] for s in steps], "issued_at": row.issued_at.isoformat(),
            "expires_at": row.expires_at.isoformat()}


def challenge_for(session: Session, *, gate_id: str, nonce: str, for_update: bool = False) -> LivenessChallenge:
    """The challenge issued at ``gate_id`` under ``nonce``, or E_CHALLENGE_UNKNOWN."""
    row = liveness_store.challenge(session, nonce, for_update=for_update) \
        if isinstance(nonce, str) and len(nonce) <= 64 else None
    if row is None or row.gate_id != gate_id:
        raise TrustfaceError(E_CHALLENGE_UNKNOWN, "no liveness challenge with this nonce was issued for this gate")
    return row


def challenge_spent(row: LivenessChallenge, now: dt.datetime) -> tuple[str, str] | None:
    """(why, nonce state) when the challenge can no longer be answered: used once, or too late."""
    if row.used_at is not None:
        return "the challenge was already answered", "used"
    if utc(now) > row.expires_at:
        return "the challenge's time window has passed", "expired"
    return None


# --- bursts ---------------------------------------------------------------------------------------

@dataclass
class BurstVerdict:
    """What liveness says of a burst: ``passed``, and why not (``reasons``, first the most serious),
    the steps seen done, the PAD score. A verdict, never a gate decision."""

    passed: bool
    nonce: str
    steps: list[str]
    reasons: list[dict] = field(default_factory=list)
    steps_done: list[dict] = field(default_factory=list)
    pad: dict | None = None
    frames: int = 0
    screen: passive.Verdict | None = None

    @property
    def first_reason(self) -> dict | None:
        """The reason a refusal names: a replay, then an injection, then the rest."""
        if not self.reasons:
            return None
        order = (E_REPLAY_DETECTED, E_INJECTION_SUSPECTED)
        return min(self.reasons, key=lambda r: order.index(r["code"]) if r["code"] in order else len(order))

    def audit_extra(self) -> dict[str, object]:
        """Codes, signal names and counts for the access event: never a frame or a hash."""
        extra: dict[str, object] = {"nonce_state": "used", "signals": sorted({r.get("signal", "") for r in self.reasons}),
                                    "steps_done": len(self.steps_done), "frames": self.frames}
        if self.pad:
            extra["pad_model"] = f"{self.pad['model']}/{self.pad['version']}"
        return extra

    def to_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "nonce": self.nonce, "steps": list(self.steps),
                "steps_done": list(self.steps_done), "reasons": list(self.reasons), "pad": self.pad}


def _parse_times(timestamps: Sequence[float] | None, n: int) -> list[float | None]:
    if timestamps is None:
        return [None] * n
    if len(timestamps) != n:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"send one timestamp per frame ({n} frames, {len(timestamps)} times)")
    out: list[float | None] = []
    for t in timestamps:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t):
            raise TrustfaceError(E_INVALID_ARGUMENT, "timestamps are capture times in milliseconds")
        out.append(float(t))
    return out


def prepare_frames(row: LivenessChallenge, frames: Sequence[bytes],
                   timestamps: Sequence[float] | None) -> list[passive.Frame]:
    """Decode a burst (no database): E_INVALID_ARGUMENT for too few or too many frames or bad
    timestamps, E_IMAGE_INVALID / E_IMAGE_TOO_LARGE for a frame that does not decode."""
    from trustface import imaging

    steps = row.steps.split(",")
    if not frames or len(frames) > MAX_FRAMES:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"send between {len(steps) + 1} and {MAX_FRAMES} frames")
    times = _parse_times(timestamps, len(frames))
    return [passive.Frame(imaging.load_image(data, max_pixels=imaging.GATE_FRAME_MAX_PIXELS), bytes(data), t)
            for data, t in zip(frames, times, strict=True)]


def screen_burst(session: Session, row: LivenessChallenge, frames: Sequence[passive.Frame], *, now: dt.datetime,
                 client_id: str | None = None, device_id: str | None = None) -> passive.Verdict:
    """Replay and injection screen of a burst (database reads only): frames seen before or
    blocklisted, the client or device blocklisted, capture times outside the challenge window, a
    burst sent sooner than its steps can be performed."""
    now = utc(now)
    verdict = passive.check(frames, store=DbStore(session), gate_id=row.gate_id, now=now, burst=True,
                            client_id=client_id, device_id=device_id, issued_at=row.issued_at,
                            window=row.expires_at - row.issued_at)
    if now - row.issued_at < MIN_STEP_TIME * len(row.steps.split(",")):
        verdict.signals.append(passive.Signal(E_INJECTION_SUSPECTED, "timing", "digital_injection",
                                              "the burst arrived sooner after the challenge than the steps can be "
                                              "performed"))
    return verdict


def judge_burst(row: LivenessChallenge, frames: Sequence[passive.Frame], screen: passive.Verdict, *,
                pad_model: pad_models.PadModel | None | str = "default") -> BurstVerdict:
    """The verdict on a screened burst (pure computation, no database): a replay or an injection is
    refused without any face work on its frames; otherwise the PAD model, then the prompted steps
    in order on 68-point landmarks with one face throughout."""
    model = pad_models.default_model() if pad_model == "default" else pad_model
    steps = row.steps.split(",")
    outcome = BurstVerdict(False, row.nonce, steps, frames=len(frames), screen=screen)
    reasons = [s.to_dict() for s in screen.signals]
    result = active.ActiveResult(False, steps)
    if not reasons and model is not None and not isinstance(model, str):
        score = float(model.score([f.pixels for f in frames]))
        outcome.pad = {"model": model.name, "version": model.version, "score": round(score, 3),
                       "threshold": model.threshold}
        if score >= model.threshold:
            reasons.append({"code": E_LIVENESS_FAILED, "signal": "pad_model", "species": "print_recapture",
                            "message": f"the PAD model {model.name} flagged the frames"})
    if not reasons:
        result = active.evaluate(steps, active.read_frames([f.pixels for f in frames]))
    outcome.steps_done = result.done
    for text in result.reasons:
        reasons.append({"code": E_LIVENESS_FAILED, "signal": "challenge", "message": text})
    outcome.reasons = reasons
    outcome.passed = not reasons
    return outcome


def settle_burst(session: Session, row: LivenessChallenge, verdict: BurstVerdict, *, now: dt.datetime,
                 client_id: str | None = None, device_id: str | None = None) -> None:
    """Record a judged burst in the caller's transaction: the challenge is spent; an attack's frames
    (and an injecting client or device) join the blocklist; a passed burst's frames are remembered,
    so none of them can be used again at this gate."""
    now = utc(now)
    row.used_at, row.result = now, "passed" if verdict.passed else "failed"
    screen = verdict.screen
    if screen is None:
        return
    if verdict.passed:
        DbStore(session).remember(row.gate_id, screen.fingerprints, now)
        return
    attack = [r for r in verdict.reasons if r.get("signal") not in ("challenge",)]
    if attack:
        report_attack(session, screen, screen.fingerprints, client_id=client_id, device_id=device_id,
                      species=attack[0].get("species") or "still_replay", now=now)


def expire_challenge(row: LivenessChallenge, now: dt.datetime) -> None:
    """Mark an unanswered challenge whose window has passed as spent."""
    if row.used_at is None:
        row.used_at, row.result = utc(now), "expired"


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


__all__ = ["CHALLENGE_WINDOW", "MAX_FRAMES", "BurstVerdict", "DbStore", "Screen", "blocklist", "challenge_for",
           "challenge_spent", "challenge_to_dict", "expire_challenge", "import_indicator", "issue_challenge",
           "judge_burst", "parse_timestamps", "prepare_frames", "report", "report_attack", "screen_burst",
           "screen_frame", "settle_burst"]
