"""Active liveness: a random challenge (blink, turn left, turn right, look up, open mouth) performed in
order, checked on the 68-point landmarks of a short frame burst, with the same face throughout.

:func:`read_frames` finds the main face of each frame and measures it (:mod:`.geometry`) and takes
its descriptor; :func:`evaluate` decides whether the burst performs the challenge's steps in order.

Rules (thresholds below; docs/liveness.md explains them):

* frame 0 is the reference: the person faces the camera (|yaw| <= :data:`MAX_START_YAW`);
* every frame holds a face, and every face is the reference face: descriptor distance to frame 0
  at most the engine's 1e-2 operating point (0.607), which a different person passes 1 time in 100;
* each step is found in a frame *after* the frame of the step before it, so the steps must be
  performed in the order asked; a blink is eyes closed and then open again;
* turns are seen on frames that are not mirrored: "turn left" is the person's own left, which moves
  the nose towards the image's right (positive yaw).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trustface.liveness.geometry import Pose, measure

STEPS = ("blink", "turn_left", "turn_right", "look_up", "open_mouth")
PROMPTS = {
    "blink": "Blink",
    "turn_left": "Turn your head to your left",
    "turn_right": "Turn your head to your right",
    "look_up": "Look up",
    "open_mouth": "Open your mouth",
}
#: steps per challenge
CHALLENGE_LENGTH = 3

MAX_START_YAW = 0.35
#: eyes closed: EAR at most this, and at most BLINK_RATIO x the reference EAR ...
BLINK_EAR = 0.21
BLINK_RATIO = 0.75
#: ... then open again: at least REOPEN_RATIO x the reference EAR
REOPEN_RATIO = 0.8
#: a turn: yaw moves this far from the reference, to at least TURN_MIN on the asked side
TURN_DELTA = 0.35
TURN_MIN = 0.25
#: looking up: the nose rises by this share of the eye-chin distance, head not turned away
LOOK_UP_DELTA = 0.07
LOOK_UP_MAX_YAW = 0.45
#: mouth open: MAR at least this, and REFERENCE + MOUTH_DELTA
MOUTH_MAR = 0.3
MOUTH_DELTA = 0.2
#: smallest face side (px) looked for in a frame: a person at a kiosk fills a good part of it
MIN_FACE = 80


def new_steps(length: int = CHALLENGE_LENGTH) -> list[str]:
    """A random sequence of distinct steps (``secrets``: not predictable from earlier challenges)."""
    pool = list(STEPS)
    out = []
    for _ in range(min(length, len(pool))):
        out.append(pool.pop(secrets.randbelow(len(pool))))
    return out


@dataclass
class Reading:
    """One frame's main face: its pose measures and descriptor (None when no face was found)."""

    index: int
    pose: Pose | None
    descriptor: np.ndarray | None = field(default=None, repr=False)
    box: tuple[int, int, int, int] | None = None


def read_frames(frames: Sequence[np.ndarray]) -> list[Reading]:
    """Detect the largest face of each RGB frame, measure its 68 landmarks, describe it."""
    from trustface import engine

    readings = []
    for i, pixels in enumerate(frames):
        faces = engine.detect(pixels, method="hog", min_face=MIN_FACE)
        if not faces:
            readings.append(Reading(i, None))
            continue
        face = faces[0]
        points = engine.landmarks(pixels, face, 68)
        descriptor = engine.describe(pixels, [face], flip=False)[0]
        readings.append(Reading(i, measure(points), descriptor, face.box))
    return readings


@dataclass
class ActiveResult:
    passed: bool
    steps: list[str]
    done: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    max_distance: float | None = None

    def to_dict(self) -> dict:
        return {"passed": self.passed, "steps": list(self.steps), "steps_done": list(self.done),
                "reasons": list(self.reasons)}


def _same_face_limit() -> float:
    from trustface.engine import threshold

    return threshold("1e-2")[1]


def _hit(step: str, pose: Pose, ref: Pose) -> bool:
    if step == "blink":
        return pose.ear <= min(BLINK_EAR, BLINK_RATIO * ref.ear)
    if step == "turn_left":
        return pose.yaw - ref.yaw >= TURN_DELTA and pose.yaw >= TURN_MIN
    if step == "turn_right":
        return ref.yaw - pose.yaw >= TURN_DELTA and pose.yaw <= -TURN_MIN
    if step == "look_up":
        return ref.pitch - pose.pitch >= LOOK_UP_DELTA and abs(pose.yaw) <= LOOK_UP_MAX_YAW
    if step == "open_mouth":
        return pose.mar >= max(MOUTH_MAR, ref.mar + MOUTH_DELTA)
    raise ValueError(f"unknown step {step!r}")


def evaluate(steps: Sequence[str], readings: Sequence[Reading]) -> ActiveResult:
    """Whether the readings perform ``steps`` in order with one face throughout."""
    result = ActiveResult(False, list(steps))
    if len(readings) < len(steps) + 1:
        result.reasons.append(f"send at least {len(steps) + 1} frames: one facing the camera, then one per step")
        return result
    missing = [r.index for r in readings if r.pose is None]
    if missing:
        result.reasons.append(f"no face in frame {missing[0]}")
        return result
    poses = [r.pose for r in readings if r.pose is not None]
    ref_pose = poses[0]
    if abs(ref_pose.yaw) > MAX_START_YAW:
        result.reasons.append("the first frame must face the camera")
        return result
    limit = _same_face_limit()
    vectors = [r.descriptor for r in readings if r.descriptor is not None]
    distances = [float(np.linalg.norm(v - vectors[0])) for v in vectors[1:]]
    result.max_distance = max(distances) if distances else 0.0
    for r, d in zip(readings[1:], distances, strict=False):
        if d > limit:
            result.reasons.append(f"a different face in frame {r.index}")
            return result
    position = 0
    for step in steps:
        found = next((r for r in readings[position + 1:] if r.pose is not None and _hit(step, r.pose, ref_pose)), None)
        if found is not None and step == "blink":
            reopened = any(r.pose is not None and r.pose.ear >= REOPEN_RATIO * ref_pose.ear
                           for r in readings[found.index + 1:])
            if not reopened:
                found = None
        if found is None:
            result.reasons.append(f"step {step!r} was not performed after the steps before it")
            return result
        result.done.append({"step": step, "frame_index": found.index})
        position = found.index
    result.passed = True
    return result
