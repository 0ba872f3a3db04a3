"""Passive checks: replay and injection signals on the frames of one presentation.

A *presentation* is one frame (``POST /v1/gates/{id}/access``) or a short burst of frames (the
liveness route). :func:`check` answers a :class:`Verdict`: the frames' fingerprints and the
signals raised, each with the error code the gate answers and the attack species it belongs to.

What counts as a replay (docs/liveness.md, "What is a replay"):

* **exact**: a frame byte-identical, or pixel-identical after decoding, to a frame that already
  *passed* at the same gate within :data:`REPLAY_WINDOW` (a granted face, a passed liveness burst).
  A camera never delivers the same bytes or pixels twice (sensor noise), so this is a replayed
  capture. A frame that was refused is not remembered: sending the same unusable frame twice is
  not an attack on anything.
* **blocklist**: a frame whose SHA-256 is blocklisted, or whose perceptual hash is within
  :data:`PHASH_BLOCK_DISTANCE` bits of a blocklisted one (a re-encoded copy of a known attack
  frame), from this deployment's own detections or from shared threat intelligence.
* **session** (bursts only): most frames of the burst are perceptual near-copies of frames that
  passed at the gate recently, i.e. a recorded session played again. Single frames are *not*
  compared by perceptual hash with recent probes: two honest frames of a fixed kiosk camera with
  the same person standing still can be that close.

Injection signals (bursts only; a burst claims to be a live capture of the kiosk camera):
identical consecutive frames (a virtual camera playing a still), impossible timing (client
timestamps that do not increase, faster than :data:`MAX_FPS`, spanning more than the challenge has
existed or longer than its window), frame sizes that change within the burst, editing-tool
metadata (EXIF Software, XMP CreatorTool/softwareAgent, PNG text: Photoshop, GIMP, Snapseed, ...),
and blocklisted client or device identifiers. Single frames at ``POST /access`` skip these: the
sample photos that the tests and demos send there were edited in Photoshop, and one frame has no
timing; send a burst to the liveness route for the full set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from trustface.liveness import phash as ph
from trustface.liveness.codes import E_INJECTION_SUSPECTED, E_LIVENESS_FAILED, E_REPLAY_DETECTED

#: How long frames that passed at a gate are remembered for exact replay detection.
REPLAY_WINDOW = dt.timedelta(hours=24)
#: A frame this close (Hamming bits of the 256-bit pHash) to a blocklisted pHash is the same picture.
PHASH_BLOCK_DISTANCE = 8
#: Session replay: a burst frame this close to a recent frame of the gate counts as a copy ...
PHASH_SESSION_DISTANCE = 6
#: ... and a burst is a recorded session when at least this share of its frames (and 2) are copies.
SESSION_SHARE = 0.6
#: No kiosk camera streams faster than this; frames closer in time than 1/MAX_FPS are impossible.
MAX_FPS = 120
#: Client and server clocks may disagree by this much.
CLOCK_SLACK = dt.timedelta(seconds=2)

#: The attack species (STIX attack-patterns, PAD evaluation species).
SPECIES = {
    "still_replay": "Replay of a still photo (printed, on a screen, or fed to the camera stream)",
    "session_replay": "Replay of a recorded capture session",
    "print_recapture": "A printed photo held to the camera (re-captured print)",
    "digital_injection": "Frames injected into the capture path (virtual camera, edited or synthetic frames)",
    "near_copy_replay": "A used frame replayed after edits (brightness, contrast, crop, scale, mirror, rotation, "
                        "re-encoding, noise)",
    "photo_set": "Different still photos of one person presented as a burst (not one capture)",
}

_CODE_ORDER = (E_REPLAY_DETECTED, E_INJECTION_SUSPECTED, E_LIVENESS_FAILED)

EDITING_TOOLS = re.compile(
    r"photoshop|gimp|snapseed|lightroom|facetune|faceapp|pixelmator|affinity photo|paint\.net|picsart|meitu|"
    r"airbrush|perfect365|youcam|remini|photopea|krita|darktable|rawtherapee|deepfacelab|faceswap|reface|"
    r"photoscape|fotor|befunky|canva|luminar|capture one|photodirector|afterlight|vsco",
    re.IGNORECASE,
)
_XMP_TOOL = re.compile(
    rb"(?:CreatorTool|softwareAgent|Software)\s*(?:=\s*[\"']([^\"']{1,200})[\"']|>([^<]{1,200})<)", re.IGNORECASE)


# --- data ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One frame: decoded RGB pixels, the uploaded bytes when known, the client's capture time (ms)."""

    pixels: np.ndarray
    data: bytes | None = None
    t_ms: float | None = None


@dataclass(frozen=True)
class Fingerprint:
    """What is remembered or shared about a frame: never the frame."""

    sha256: str | None
    pixels: str
    phash: str


@dataclass(frozen=True)
class Signal:
    code: str
    kind: str
    species: str
    message: str
    frame: int | None = None

    def to_dict(self) -> dict:
        out: dict[str, object] = {"code": self.code, "signal": self.kind, "species": self.species,
                                  "message": self.message}
        if self.frame is not None:
            out["frame_index"] = self.frame
        return out


@dataclass
class Verdict:
    fingerprints: list[Fingerprint]
    signals: list[Signal] = field(default_factory=list)
    #: near-copy marks (chip, descriptor) remembered at the gate, read by the screen for the judge
    known_marks: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.signals

    @property
    def first(self) -> Signal | None:
        if not self.signals:
            return None
        return min(self.signals, key=lambda s: _CODE_ORDER.index(s.code) if s.code in _CODE_ORDER else 99)

    @property
    def code(self) -> str | None:
        return None if self.first is None else self.first.code

    @property
    def species(self) -> str | None:
        return None if self.first is None else self.first.species


def fingerprint(frame: Frame) -> Fingerprint:
    return Fingerprint(ph.byte_digest(frame.data) if frame.data is not None else None,
                       ph.pixel_digest(frame.pixels), ph.phash(frame.pixels))


def id_digest(value: str) -> str:
    """Client and device identifiers are kept and shared as SHA-256 of ``trustface-id|<value>``."""
    return hashlib.sha256(f"trustface-id|{value}".encode()).hexdigest()


# --- where fingerprints and indicators live --------------------------------------------------------

class ProbeStore(Protocol):
    """Recent fingerprints per gate and the blocklist. :class:`trustface.liveness.service.DbStore`
    keeps them in the deployment's database; :class:`MemoryStore` in memory (tests, benchmarks)."""

    def seen(self, gate_id: str, digests: Iterable[str], since: dt.datetime) -> set[str]: ...

    def recent_phashes(self, gate_id: str, since: dt.datetime) -> list[str]: ...

    def blocked(self, kind: str, values: Iterable[str], now: dt.datetime) -> dict[str, str]:
        """value -> species, for the values of ``kind`` (sha256, client, device) on the blocklist."""

    def blocked_phashes(self, now: dt.datetime) -> dict[str, str]:
        """Every blocklisted pHash -> species."""

    def remember(self, gate_id: str, fingerprints: Sequence[Fingerprint], now: dt.datetime,
                 marks: Sequence[tuple[str, str] | None] | None = None) -> None:
        """Remember the frames that passed, with the near-copy mark (chip, descriptor) of each when known."""

    def recent_marks(self, gate_id: str, since: dt.datetime) -> list[tuple[str, str]]:
        """(chip pHash, descriptor hex) of frames that passed at the gate since ``since``."""

    def report(self, kind: str, value: str, species: str, now: dt.datetime) -> None:
        """Add to the local blocklist, or count one more sighting of an entry already there."""


@dataclass
class _Entry:
    species: str
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    valid_until: dt.datetime | None = None


class MemoryStore:
    """A :class:`ProbeStore` in memory."""

    def __init__(self) -> None:
        self.probes: list[tuple[str, Fingerprint, dt.datetime]] = []
        self.marks: list[tuple[str, tuple[str, str], dt.datetime]] = []
        self.indicators: dict[tuple[str, str], _Entry] = {}

    def seen(self, gate_id, digests, since):
        wanted = set(digests)
        out: set[str] = set()
        for g, fp, t in self.probes:
            if g == gate_id and t >= since:
                out.update(d for d in (fp.sha256, fp.pixels) if d is not None and d in wanted)
        return out

    def recent_phashes(self, gate_id, since):
        return [fp.phash for g, fp, t in self.probes if g == gate_id and t >= since]

    def _active(self, entry: _Entry, now) -> bool:
        return entry.valid_until is None or entry.valid_until > now

    def blocked(self, kind, values, now):
        out = {}
        for v in values:
            e = self.indicators.get((kind, v))
            if e is not None and self._active(e, now):
                out[v] = e.species
        return out

    def blocked_phashes(self, now):
        return {v: e.species for (k, v), e in self.indicators.items() if k == "phash" and self._active(e, now)}

    def remember(self, gate_id, fingerprints, now, marks=None):
        self.probes.extend((gate_id, fp, now) for fp in fingerprints)
        self.marks.extend((gate_id, m, now) for m in (marks or ()) if m is not None)

    def recent_marks(self, gate_id, since):
        return [m for g, m, t in self.marks if g == gate_id and t >= since]

    def report(self, kind, value, species, now):
        e = self.indicators.get((kind, value))
        if e is None:
            self.indicators[(kind, value)] = _Entry(species, 1, now, now)
        else:
            e.count += 1
            e.last_seen = max(e.last_seen, now)


# --- metadata ---------------------------------------------------------------------------------------

def editing_tool(data: bytes | None) -> str | None:
    """The editing tool named in the file's metadata (EXIF Software / ProcessingSoftware, XMP
    CreatorTool / softwareAgent, PNG text, JPEG comment), or None. Camera firmware and phone OS
    names are not editing tools and do not count."""
    if not data:
        return None
    from PIL import Image

    texts: list[str] = []
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as im:
            exif = im.getexif()
            for tag in (0x0131, 0x000B):  # Software, ProcessingSoftware
                value = exif.get(tag)
                if isinstance(value, (str, bytes)):
                    texts.append(value.decode("latin-1") if isinstance(value, bytes) else value)
            for key, value in im.info.items():
                if isinstance(key, str) and key.lower() in ("software", "comment", "description", "creator", "author") and \
                        isinstance(value, (str, bytes)):
                    texts.append(value.decode("latin-1") if isinstance(value, bytes) else value)
                if key in ("xmp", "XML:com.adobe.xmp") and isinstance(value, (str, bytes)):
                    raw = value.encode() if isinstance(value, str) else value
                    for a, b in _XMP_TOOL.findall(raw):
                        texts.append((a or b).decode("utf-8", "replace"))
    except Exception:  # unreadable metadata is not evidence either way; decoding already passed
        return None
    for text in texts:
        found = EDITING_TOOLS.search(text)
        if found:
            return text.strip()[:80]
    return None


# --- the checks -------------------------------------------------------------------------------------

def check(frames: Sequence[Frame], *, store: ProbeStore, gate_id: str, now: dt.datetime, burst: bool,
          client_id: str | None = None, device_id: str | None = None,
          issued_at: dt.datetime | None = None, window: dt.timedelta | None = None,
          prints: Sequence[Fingerprint] | None = None) -> Verdict:
    """Replay and (for bursts) injection signals of one presentation; reads the store, writes nothing.

    ``issued_at`` / ``window``: the challenge's issue time and time window, for the timing checks.
    ``prints``: fingerprints already computed for ``frames`` (else computed here).
    """
    prints = list(prints) if prints is not None else [fingerprint(f) for f in frames]
    verdict = Verdict(prints)
    verdict.signals += _blocklisted(store, prints, now, client_id=client_id, device_id=device_id)
    replayed = _replayed(store, gate_id, prints, now)
    verdict.signals += replayed
    if burst:
        verdict.signals += _burst_signals(store, gate_id, frames, prints, now, replayed=bool(replayed),
                                          issued_at=issued_at, window=window)
    return verdict


def _blocklisted(store: ProbeStore, prints: Sequence[Fingerprint], now: dt.datetime, *,
                 client_id: str | None, device_id: str | None) -> list[Signal]:
    """A blocklisted client or device (shared or local intelligence), then blocklisted frames: exact,
    then perceptual."""
    signals = []
    for kind, value in (("client", client_id), ("device", device_id)):
        if value:
            hit = store.blocked(kind, [id_digest(value)], now)
            if hit:
                signals.append(Signal(E_INJECTION_SUSPECTED, f"blocked_{kind}", next(iter(hit.values())),
                                      f"this {kind} identifier is on the attack blocklist"))
    exact = store.blocked("sha256", [p.sha256 for p in prints if p.sha256], now)
    near = store.blocked_phashes(now)
    for i, p in enumerate(prints):
        if p.sha256 in exact:
            signals.append(Signal(E_REPLAY_DETECTED, "blocklist_exact", exact[p.sha256],
                                  "the frame is a known attack frame (blocklisted probe hash)", i))
            break
        match = _nearest(p.phash, near, PHASH_BLOCK_DISTANCE)
        if match is not None:
            signals.append(Signal(E_REPLAY_DETECTED, "blocklist_phash", near[match],
                                  "the frame is a copy of a known attack frame (blocklisted perceptual hash)", i))
            break
    return signals


def _replayed(store: ProbeStore, gate_id: str, prints: Sequence[Fingerprint], now: dt.datetime) -> list[Signal]:
    """An exact replay of a frame that already passed at this gate within the replay window."""
    digests = [d for p in prints for d in (p.sha256, p.pixels) if d]
    seen = store.seen(gate_id, digests, now - REPLAY_WINDOW) if digests else set()
    replayed = [i for i, p in enumerate(prints) if p.sha256 in seen or p.pixels in seen]
    if not replayed:
        return []
    species = "session_replay" if len(replayed) >= 2 and len({prints[i].pixels for i in replayed}) >= 2 \
        else "still_replay"
    return [Signal(E_REPLAY_DETECTED, "replay_exact", species,
                   "the frame was already used at this gate; a camera never sends the same frame twice", replayed[0])]


def _burst_signals(store: ProbeStore, gate_id: str, frames: Sequence[Frame], prints: Sequence[Fingerprint],
                   now: dt.datetime, *, replayed: bool, issued_at: dt.datetime | None,
                   window: dt.timedelta | None) -> list[Signal]:
    """What only a burst shows: a recorded session played again, identical consecutive frames, a
    frame size that changes, impossible timing, editing-tool metadata."""
    signals = []
    n = len(frames)
    if n >= 2 and not replayed:
        recent = store.recent_phashes(gate_id, now - REPLAY_WINDOW)
        if recent:
            recent_map = {h: "" for h in recent}
            copies = sum(1 for p in prints if _nearest(p.phash, recent_map, PHASH_SESSION_DISTANCE) is not None)
            if copies >= max(2, math.ceil(SESSION_SHARE * n)):
                signals.append(Signal(E_REPLAY_DETECTED, "session_replay", "session_replay",
                                      f"{copies} of {n} frames copy frames that passed at this gate recently"))
    for i in range(1, n):
        if prints[i].pixels == prints[i - 1].pixels:
            signals.append(Signal(E_INJECTION_SUSPECTED, "identical_frames", "still_replay",
                                  "consecutive frames are pixel-identical: a camera never delivers the same frame "
                                  "twice", i))
            break
    if len({f.pixels.shape for f in frames}) > 1:
        signals.append(Signal(E_INJECTION_SUSPECTED, "frame_size", "digital_injection",
                              "the frame size changes within the burst"))
    problem = _timing_problem(frames, now=now, issued_at=issued_at, window=window)
    if problem is not None:
        signals.append(Signal(E_INJECTION_SUSPECTED, "timing", "digital_injection", problem))
    for i, f in enumerate(frames):
        tool = editing_tool(f.data)
        if tool:
            signals.append(Signal(E_INJECTION_SUSPECTED, "editing_metadata", "digital_injection",
                                  f"the frame's metadata names an editing tool ({tool})", i))
            break
    return signals


def _nearest(h: str, known: dict[str, str], limit: int) -> str | None:
    if not known:
        return None
    if h in known:
        return h
    value = int(h, 16)
    best, best_d = None, limit + 1
    for k in known:
        d = bin(value ^ int(k, 16)).count("1")
        if d < best_d:
            best, best_d = k, d
    return best if best_d <= limit else None


def _timing_problem(frames: Sequence[Frame], *, now: dt.datetime, issued_at: dt.datetime | None,
                    window: dt.timedelta | None) -> str | None:
    times = [f.t_ms for f in frames if f.t_ms is not None]
    if len(times) == len(frames) and len(times) >= 2:
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        if any(s <= 0 for s in steps):
            return "frame times do not increase"
        if min(steps) < 1000.0 / MAX_FPS:
            return f"frames closer than 1/{MAX_FPS} s apart"
        span = dt.timedelta(milliseconds=times[-1] - times[0])
        if window is not None and span > window:
            return "the frames span more than the challenge's time window"
        if issued_at is not None and span > (now - issued_at) + CLOCK_SLACK:
            return "the frames claim to span more time than has passed since the challenge was issued"
    return None
