"""Continuity: the frames of a burst must be one capture, not a set of photos (issue 17).

The active challenge (:mod:`.active`) checks that the prompted poses appear in order with one face
throughout. Five public photos of a resident, taken at different events and chosen for their poses,
pass that. A live capture at a kiosk differs from such a set in ways a photo set cannot fake
without becoming a video of the person (which the replay checks and a PAD model are for):

* **time**: every frame carries its capture time; the times increase, no gap between consecutive
  frames exceeds :data:`MAX_GAP_MS`, and the burst lasts long enough for the steps asked;
* **motion**: the face box moves little and smoothly from frame to frame (centre shift at most
  :data:`MAX_SHIFT` of the box width plus :data:`SHIFT_PER_S` per second of gap) and its scale
  changes little (:data:`MAX_SCALE`);
* **scene**: the area outside the face (the fixed kiosk camera's background) keeps its mean colour
  (:data:`MAX_BACKGROUND`, RGB distance on 0-255) and its layout (:data:`MAX_LAYOUT`: mean absolute
  grey difference of 24x24 thumbnails with the face masked, brightness-normalised);
* **light**: the face's mean brightness changes little (:data:`MAX_LIGHT`, ratio);
* **identity**: each face is close to the one before it (:data:`MAX_STEP_DISTANCE`), beside the
  active check's bound against frame 0;
* **order**: each prompted step is performed after the step before it, at least
  :data:`MIN_STEP_GAP_MS` later (:func:`check` takes the frames the active check found).

The thresholds were read off the real data (docs/liveness.md, "Continuity"): consecutive sampled
frames of the data set's video against bursts of different LFW photos of one person. Pure
computation on arrays: no database, no face work beyond what :mod:`.active` already did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

#: the longest gap between two consecutive frames of one capture (a kiosk takes one every ~0.35 s,
#: with ~0.7 s before the first frame of each step)
MAX_GAP_MS = 1500.0
#: a person needs at least this long per prompted step
MIN_STEP_GAP_MS = 100.0
#: face box centre shift between consecutive frames, in box widths: a base plus a rate per second
MAX_SHIFT = 0.45
SHIFT_PER_S = 0.60
#: face box width ratio between consecutive frames
MAX_SCALE = 1.30
#: mean background colour change between consecutive frames (RGB distance, 0-255 scale)
MAX_BACKGROUND = 25.0
#: background layout change (mean |difference| of brightness-normalised grey thumbnails, 0-255)
MAX_LAYOUT = 25.0
#: face brightness ratio between consecutive frames
MAX_LIGHT = 1.35
#: descriptor distance between consecutive faces (a sanity bound: frame 0 is the identity anchor of
#: the active check; consecutive video frames of the data set reach 0.51 on profiles)
MAX_STEP_DISTANCE = 0.6

_THUMB = 24


@dataclass(frozen=True)
class Look:
    """What continuity reads of one frame: the face box, the background's mean colour and layout,
    the face's brightness. Numbers only, never kept."""

    box: tuple[int, int, int, int] | None
    background: np.ndarray = field(repr=False)
    layout: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    light: float = 0.0


def _face_mask(shape: tuple[int, int], box: tuple[int, int, int, int] | None, grow: float = 0.35) -> np.ndarray:
    """True outside the face box (grown by ``grow`` of its size on each side, for hair and neck)."""
    h, w = shape
    mask = np.ones((h, w), dtype=bool)
    if box is not None:
        left, top, right, bottom = box
        bw, bh = right - left, bottom - top
        x0, x1 = max(0, int(left - grow * bw)), min(w, int(right + grow * bw))
        y0, y1 = max(0, int(top - grow * bh)), min(h, int(bottom + 2 * grow * bh))
        mask[y0:y1, x0:x1] = False
    return mask


def look(pixels: np.ndarray, box: tuple[int, int, int, int] | None) -> Look:
    """The continuity measures of one RGB frame whose main face is ``box`` (or None)."""
    h, w = pixels.shape[:2]
    mask = _face_mask((h, w), box)
    if mask.sum() < 0.1 * h * w:  # the face fills the frame: take its border as background
        mask = np.zeros((h, w), dtype=bool)
        edge = max(2, min(h, w) // 12)
        mask[:edge], mask[-edge:], mask[:, :edge], mask[:, -edge:] = True, True, True, True
    background = pixels[mask].reshape(-1, 3).mean(axis=0)
    grey = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).convert("L").resize((_THUMB, _THUMB),
                                                                                         Image.Resampling.BILINEAR),
                      dtype=np.float64)
    small_mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((_THUMB, _THUMB),
                                                                                 Image.Resampling.NEAREST)) > 0
    light = 0.0
    if box is not None:
        left, top, right, bottom = (max(0, v) for v in box)
        face = pixels[top:bottom, left:right]
        light = float(face.mean()) if face.size else 0.0
    return Look(box, background, grey, small_mask, light)


def layout_change(a: Look, b: Look) -> float:
    """Mean absolute difference of two background thumbnails (face areas of both masked), each
    normalised to the same mean and spread first, so a change of exposure alone does not count."""
    both = a.mask & b.mask
    if both.sum() < 12:
        return 0.0
    x, y = a.layout[both], b.layout[both]
    x = (x - x.mean()) / (x.std() + 8.0) * 40.0
    y = (y - y.mean()) / (y.std() + 8.0) * 40.0
    return float(np.abs(x - y).mean())


@dataclass
class Finding:
    """Why a burst is not one capture (``reasons`` empty when it is), with the measures read."""

    reasons: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.reasons


def _pairs(n: int) -> range:
    return range(1, n)


def check(times_ms: Sequence[float | None], looks: Sequence[Look], descriptors: Sequence[np.ndarray | None], *,
          steps: int, step_frames: Sequence[int] = ()) -> Finding:
    """Whether the frames are one continuous capture (module doc). ``times_ms`` are the client's
    capture times, ``looks`` from :func:`look`, ``descriptors`` each frame's face descriptor (None
    where no face was found; the active check reports those), ``step_frames`` the indices of the
    frames in which the active check found each step, in order."""
    out = Finding()
    n = len(looks)
    if any(t is None for t in times_ms) or len(times_ms) != n:
        out.reasons.append("the frames carry no capture times: a live capture sends one per frame")
        return out
    times = [float(t) for t in times_ms if t is not None]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if gaps and max(gaps) > MAX_GAP_MS:
        out.reasons.append(f"{max(gaps) / 1000:.1f} s pass between two frames: not one capture")
    if n >= 2 and times[-1] - times[0] < MIN_STEP_GAP_MS * steps:
        out.reasons.append("the frames span less time than the steps take to perform")
    worst = {"shift": 0.0, "scale": 1.0, "background": 0.0, "layout": 0.0, "light": 1.0, "distance": 0.0}
    for i in _pairs(n):
        a, b = looks[i - 1], looks[i]
        gap_s = max(0.0, gaps[i - 1]) / 1000.0 if gaps else 0.0
        if a.box is not None and b.box is not None:
            wa, wb = a.box[2] - a.box[0], b.box[2] - b.box[0]
            ca = np.array([(a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2])
            cb = np.array([(b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2])
            shift = float(np.linalg.norm(cb - ca)) / max(1.0, (wa + wb) / 2)
            worst["shift"] = max(worst["shift"], shift - SHIFT_PER_S * gap_s)
            scale = max(wa, wb) / max(1.0, min(wa, wb))
            worst["scale"] = max(worst["scale"], scale)
            if a.light > 0 and b.light > 0:
                worst["light"] = max(worst["light"], max(a.light, b.light) / min(a.light, b.light))
        worst["background"] = max(worst["background"], float(np.linalg.norm(a.background - b.background)))
        worst["layout"] = max(worst["layout"], layout_change(a, b))
        da, db = descriptors[i - 1], descriptors[i]
        if da is not None and db is not None:
            worst["distance"] = max(worst["distance"], float(np.linalg.norm(da - db)))
    out.measures = {k: round(v, 3) for k, v in worst.items()}
    if worst["shift"] > MAX_SHIFT:
        out.reasons.append("the face jumps between frames instead of moving")
    if worst["scale"] > MAX_SCALE:
        out.reasons.append("the face's size jumps between frames")
    if worst["background"] > MAX_BACKGROUND or worst["layout"] > MAX_LAYOUT:
        out.reasons.append("the background changes between frames: not one camera")
    if worst["light"] > MAX_LIGHT:
        out.reasons.append("the lighting on the face jumps between frames")
    if worst["distance"] > MAX_STEP_DISTANCE:
        out.reasons.append("the face changes more between two frames than one person's does in a capture")
    for k, (a_i, b_i) in enumerate(zip([0, *step_frames], step_frames, strict=False)):
        if times[b_i] - times[a_i] < MIN_STEP_GAP_MS:
            out.reasons.append(f"step {k + 1} came sooner after the one before it than a person can perform it")
            break
    return out
