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
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from trustface.db import liveness_store
from trustface.db.models import LivenessChallenge, LivenessIndicator, new_id
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.liveness import active, nearcopy, passive
from trustface.liveness import pad as pad_models
from trustface.liveness.codes import (
    E_CHALLENGE_UNKNOWN,
    E_INJECTION_SUSPECTED,
    E_REPLAY_DETECTED,
)
from trustface.liveness.judge import BurstVerdict, judge
from trustface.policy._common import utc

#: how long a challenge may be answered
CHALLENGE_WINDOW = dt.timedelta(seconds=60)
#: a burst holds this many frames at most (and at least one more than the challenge has steps)
MAX_FRAMES = 16
#: nobody performs a step faster than this: a burst that arrives sooner after its challenge is injected
MIN_STEP_TIME = dt.timedelta(milliseconds=300)
#: indicator kinds and how they are shared (docs/liveness.md)
KINDS = ("sha256", "phash", "client", "device")
#: challenges a gate hands out per minute at most (E_RATE_LIMITED beyond): a kiosk needs one per person
CHALLENGES_PER_MINUTE = 6
#: a challenge that was not passed keeps its steps for the next one at the gate within this window,
#: so an attacker cannot re-roll until an easy set of steps comes up
REROLL_WINDOW = dt.timedelta(minutes=2)
#: HTTP-level code of the rate limit (registered by the access room, which liveness does not import)
E_RATE_LIMITED = "E_RATE_LIMITED"


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

    def recent_marks(self, gate_id, since):
        return liveness_store.recent_marks(self.session, gate_id, since)

    def remember(self, gate_id, fingerprints, now, marks=None):
        marks = list(marks or [])
        rows = [(f.sha256, f.pixels, f.phash, *(marks[i] if i < len(marks) and marks[i] else (None, None)))
                for i, f in enumerate(fingerprints)]
        liveness_store.add_probes(self.session, gate_id, rows, now)
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
    mark: nearcopy.Probe | None = None

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
        marks = [(self.mark.mark.chip, self.mark.mark.descriptor)] if self.mark is not None else None
        DbStore(self.session).remember(self.gate_id, self.verdict.fingerprints, self.now, marks)


def screen_frame(session: Session, gate_id: str, data: bytes | None, pixels: np.ndarray, *,
                 now: dt.datetime) -> Screen:
    """Replay screen of one gate frame before identification: a frame already used at this gate, an
    edited copy of one (its face's near-copy mark: :mod:`.nearcopy`), or a blocklisted frame is
    refused (E_REPLAY_DETECTED) and joins the local blocklist. ``data`` is the frame as received
    (None when only pixels exist), ``pixels`` the decoded frame. The face work of the mark is cached:
    :func:`prepare_frame` does it before the transaction."""
    now = utc(now)
    frame = passive.Frame(pixels, data)
    store = DbStore(session)
    verdict = passive.check([frame], store=store, gate_id=gate_id, now=now, burst=False)
    mark = nearcopy.probe(pixels)
    if verdict.ok and mark is not None:
        known = [nearcopy.Mark(c, d) for c, d in store.recent_marks(gate_id, now - passive.REPLAY_WINDOW)]
        if nearcopy.copied(mark, known):
            verdict.signals.append(passive.Signal(E_REPLAY_DETECTED, "near_copy", "near_copy_replay",
                                                  "the frame is an edited copy of a frame already used at this gate",
                                                  0))
    if not verdict.ok:
        report_attack(session, verdict, verdict.fingerprints, client_id=None, device_id=None,
                      species=verdict.species or "still_replay", now=now)
    return Screen(session, gate_id, verdict, now, mark)


def prepare_frame(pixels: np.ndarray) -> np.ndarray | None:
    """The face work of the near-copy screen of a single frame, done before the transaction (cached),
    and the frame's portrait descriptor (128,) from the same detection (None without a face)."""
    return nearcopy.probe_and_portrait(pixels)[1]


# --- challenges ---------------------------------------------------------------------------------

def issue_challenge(session: Session, *, gate_id: str, tenant_id: str, now: dt.datetime | None = None,
                    steps: Sequence[str] | None = None, window: dt.timedelta | None = None) -> LivenessChallenge:
    """A challenge for a face gate: random steps (or ``steps``, for tests and fixed kiosks), a
    32-byte nonce and a time window (default :data:`CHALLENGE_WINDOW`). The caller (the access
    room) checks that the gate takes a face and records the audit event."""
    now = utc(now)
    recent = liveness_store.recent_challenges(session, gate_id, now - max(REROLL_WINDOW, dt.timedelta(minutes=1)))
    last_minute = [c for c in recent if c.issued_at > now - dt.timedelta(minutes=1)]
    if len(last_minute) >= CHALLENGES_PER_MINUTE:
        exc = TrustfaceError(E_RATE_LIMITED, f"this gate hands out at most {CHALLENGES_PER_MINUTE} liveness challenges "
                                             "a minute; try again shortly")
        oldest = min(c.issued_at for c in last_minute)
        exc.retry_after = max(1, math.ceil((oldest + dt.timedelta(minutes=1) - now).total_seconds()))
        raise exc
    if steps is not None:
        chosen = list(steps)
    elif recent and recent[0].result != "passed" and recent[0].issued_at > now - REROLL_WINDOW:
        chosen = recent[0].steps.split(",")  # not passed: the same steps again, no free re-roll
    else:
        chosen = active.new_steps()
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
    store = DbStore(session)
    verdict = passive.check(frames, store=store, gate_id=row.gate_id, now=now, burst=True,
                            client_id=client_id, device_id=device_id, issued_at=row.issued_at,
                            window=row.expires_at - row.issued_at)
    verdict.known_marks = store.recent_marks(row.gate_id, now - passive.REPLAY_WINDOW)
    if now - row.issued_at < MIN_STEP_TIME * len(row.steps.split(",")):
        verdict.signals.append(passive.Signal(E_INJECTION_SUSPECTED, "timing", "digital_injection",
                                              "the burst arrived sooner after the challenge than the steps can be "
                                              "performed"))
    return verdict


def judge_burst(row: LivenessChallenge, frames: Sequence[passive.Frame], screen: passive.Verdict, *,
                pad_model: pad_models.PadModel | None | str = "default") -> BurstVerdict:
    """The verdict on a screened burst (pure computation, no database; :mod:`.judge`): a replay or an
    injection is refused without any face work on its frames; then near copies of frames used at the
    gate, the PAD model, the prompted steps in order on 68-point landmarks with one face throughout,
    and continuity (one capture, not a set of photos: :mod:`.continuity`)."""
    model = pad_models.default_model() if pad_model == "default" else pad_model
    return judge(row.steps.split(","), row.nonce, frames, screen, screen.known_marks,
                 model=None if isinstance(model, str) else model)


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
        DbStore(session).remember(row.gate_id, screen.fingerprints, now, verdict.marks)
        return
    # a challenge not performed, or frames that are not one capture, may be an honest person's
    # clumsy burst: refused, not blocklisted
    attack = [r for r in verdict.reasons if r.get("signal") not in ("challenge", "continuity")]
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
           "judge_burst", "parse_timestamps", "prepare_frame", "prepare_frames", "report", "report_attack", "screen_burst",
           "screen_frame", "settle_burst"]
