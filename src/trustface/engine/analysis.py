"""Face analysis: only what the shipped dlib models really measure (R19).

``analyze(image, attributes)`` answers three attributes:

* ``face_count``: how many faces the HOG detector finds (upsampling chosen from the image size
  so faces down to :data:`MIN_FACE_PX` px are found; see ``detector.auto_upsample``).
* ``head_pose``: yaw, pitch and roll of the main face in degrees, from its 68 landmarks.
* ``image_quality``: size, sharpness, frontalness and roll of the main face
  (:func:`trustface.engine.quality.assess`) and which enrolment floors it misses.

The policy allow-list (``trustface.policy.vocab.ALLOWED_ATTRIBUTES``) also names ``age_estimate``,
``mask``, ``glasses`` and ``emotion``. No model for them ships with trustface, so asking for one
raises ``E_ATTRIBUTE_UNSUPPORTED``: an honest refusal, never a made-up value. Any other name is
``E_INVALID_ARGUMENT`` (the deny-list, e.g. "race", is the policy gate's business: it refuses
those with ``E_PROHIBITED_INFERENCE`` before an image ever reaches this module).

This module is pure computation: it never sees a subject id or a grant. Callers that analyse a
person's face go through :func:`trustface.analysis.analyze`, which needs a Grant (R19, SPC-2(7)).

Head-pose conventions (degrees, camera view, RGB image with y pointing down):

* yaw > 0: the face turns towards the image's right (the subject's own left); mirroring the
  image flips the sign.
* pitch > 0: chin up (the subject looks above the camera); pitch < 0: chin down.
* roll > 0: the face is rotated clockwise in the image (the image-right eye is lower), the same
  convention as ``Quality.roll_degrees``.

The estimate is geometric and approximate: it was checked for sign and mirror symmetry on real
photos, not calibrated against measured head angles, so expect errors of several degrees, growing
past ~40 degrees of yaw where the 68-point model loses the far side of the face. It assumes weak
perspective (no camera model) and a generic head, the 3-D reference points widely used with
solvePnP (nose tip at the origin; outer eye corners at (+-225, 170, -135), mouth corners at (+-150, -150, -125), arbitrary units):

* yaw: the nose tip sits 135 units in front of the eye corners, so its sideways offset from the
  facial midline (the line through the mid-points of the eyes and of the mouth), divided by half
  the outer eye-corner distance, is ``(135/225) tan(yaw)``.
* pitch: where the nose tip falls between the eye line (0) and the mouth line (1) moves with
  pitch because the nose protrudes; the level-head ratio is :data:`LEVEL_NOSE_RATIO`, measured.
* roll: the angle of the line through the two eye centres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustface.engine.descriptor import landmarks
from trustface.engine.detector import Face, detect
from trustface.engine.quality import COMPETING_FACE_RATIO, QUALITY_FLOORS, assess
from trustface.errors import E_ATTRIBUTE_UNSUPPORTED, E_INVALID_ARGUMENT, E_NO_FACE, TrustfaceError

__all__ = [
    "MIN_FACE_PX", "SUPPORTED_ATTRIBUTES", "UNSUPPORTED_ATTRIBUTES", "analyze", "check_attributes",
    "head_pose", "main_face",
]

#: Attributes this module computes, in the order results are listed.
SUPPORTED_ATTRIBUTES = ("face_count", "head_pose", "image_quality")

#: Attributes the policy allow-list names but no shipped model supports, and why.
UNSUPPORTED_ATTRIBUTES = {
    "age_estimate": "no age model ships with trustface (dlib's models detect, align and describe faces only)",
    "mask": "no mask classifier ships with trustface",
    "glasses": "no eyeglasses classifier ships with trustface",
    "emotion": "no expression model ships with trustface",
}

#: Smallest face side (px) counted or analysed; detect() upsamples small images to reach it.
MIN_FACE_PX = 40

#: Attributes that need a face: without one they raise E_NO_FACE.
_NEEDS_FACE = frozenset({"head_pose", "image_quality"})

# iBUG 68-point indices (image-left / image-right as seen in the photo).
_EYE_OUTER_LEFT, _EYE_OUTER_RIGHT = 36, 45
_EYE_LEFT, _EYE_RIGHT = slice(36, 42), slice(42, 48)
_NOSE_TIP = 30
_MOUTH_LEFT, _MOUTH_RIGHT = 48, 54

# Generic head (see module docstring): depth of the eye corners / mouth corners behind the nose tip
# and their heights, in the reference model's units.
_EYE_HALF_SPAN = 225.0
_EYE_DEPTH = 135.0
_MOUTH_DEPTH = 125.0
_EYE_TO_MOUTH = 320.0

#: Where the nose tip lies between the eye line (0) and the mouth line (1) on a level head: the
#: median over 299 LFW photos (random *_0001.jpg, central face; quartiles 0.41 / 0.57).
#: The generic head gives 0.53; the measured value calibrates pitch 0 to how people face a camera.
LEVEL_NOSE_RATIO = 0.50


def check_attributes(attributes: Sequence[str]) -> tuple[str, ...]:
    """The requested attributes, de-duplicated in order, or a refusal.

    Raises E_INVALID_ARGUMENT (empty, not strings, or unknown names) and E_ATTRIBUTE_UNSUPPORTED
    (allowed by policy, but no model here). Cheap: callers run it before decoding an image.
    """
    if isinstance(attributes, str) or not isinstance(attributes, Sequence | set | frozenset):
        raise TrustfaceError(E_INVALID_ARGUMENT, "attributes must be a list of attribute names.")
    names: list[str] = []
    for name in attributes:
        if not isinstance(name, str):
            raise TrustfaceError(E_INVALID_ARGUMENT, f"attribute names are strings, got {type(name).__name__}.")
        if name not in names:
            names.append(name)
    if not names:
        raise TrustfaceError(E_INVALID_ARGUMENT, "name at least one attribute to analyse.")
    unknown = [n for n in names if n not in SUPPORTED_ATTRIBUTES and n not in UNSUPPORTED_ATTRIBUTES]
    if unknown:
        known = ", ".join(SUPPORTED_ATTRIBUTES)
        raise TrustfaceError(E_INVALID_ARGUMENT, f"unknown attribute(s) {', '.join(map(repr, unknown))}; "
                                                 f"this engine computes {known}.")
    unsupported = [n for n in names if n in UNSUPPORTED_ATTRIBUTES]
    if unsupported:
        reasons = "; ".join(f"{n}: {UNSUPPORTED_ATTRIBUTES[n]}" for n in unsupported)
        raise TrustfaceError(E_ATTRIBUTE_UNSUPPORTED, f"cannot analyse {', '.join(unsupported)} ({reasons}).")
    return tuple(names)


def main_face(faces: Sequence[Face], shape: tuple[int, ...]) -> Face | None:
    """The face an analysis is about: among faces at least half the side of the largest (the
    people in front, not distant bystanders), the one whose centre is nearest the image centre."""
    if not faces:
        return None
    largest = max(f.size for f in faces)
    near = [f for f in faces if f.size >= COMPETING_FACE_RATIO * largest]
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(near, key=lambda f: ((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2)


def head_pose(points68: NDArray[np.floating[Any]]) -> dict[str, float]:
    """Yaw, pitch and roll in degrees from 68 landmarks (array of shape (68, 2), x/y in px).

    Conventions and accuracy: see the module docstring. Rounded to 0.1 degree.
    """
    pts = np.asarray(points68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise TrustfaceError(E_INVALID_ARGUMENT, "head_pose() needs landmarks of shape (68, 2).")
    # Roll from the eye centres (six points each: steadier than two corners).
    eye_l, eye_r = pts[_EYE_LEFT].mean(axis=0), pts[_EYE_RIGHT].mean(axis=0)
    roll = math.degrees(math.atan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))

    # A face frame that turns with roll: u along the outer eye corners, v down the face.
    corner_l, corner_r = pts[_EYE_OUTER_LEFT], pts[_EYE_OUTER_RIGHT]
    span = float(np.linalg.norm(corner_r - corner_l)) or 1.0
    u = (corner_r - corner_l) / span
    v = np.array([-u[1], u[0]])
    eyes = (corner_l + corner_r) / 2
    mouth = (pts[_MOUTH_LEFT] + pts[_MOUTH_RIGHT]) / 2
    nose = pts[_NOSE_TIP] - eyes
    mouth_uv = np.array([(mouth - eyes) @ u, (mouth - eyes) @ v])
    nose_uv = np.array([nose @ u, nose @ v])
    if mouth_uv[1] <= 0:  # mouth above the eyes: not a face the 68-point model fitted
        raise TrustfaceError(E_NO_FACE, "the landmarks do not form an upright face; head pose is undefined.")

    # Yaw: sideways offset of the nose tip from the midline at the nose's height.
    along = nose_uv[1] / mouth_uv[1]
    offset = nose_uv[0] - mouth_uv[0] * along
    yaw = math.degrees(math.atan2(offset / (span / 2), _EYE_DEPTH / _EYE_HALF_SPAN))

    # Pitch: with eyes at height a, depth -De and mouth at height -b, depth -Dm (nose tip at the
    # origin), chin-up by p moves the ratio to t = (a c - De s) / ((a + b) c - (De - Dm) s), so
    # tan p = ((a + b) t - a) / ((De - Dm) t - De). The denominator stays negative for any t < 13.
    a = LEVEL_NOSE_RATIO * _EYE_TO_MOUTH
    tan_pitch = (_EYE_TO_MOUTH * along - a) / ((_EYE_DEPTH - _MOUTH_DEPTH) * along - _EYE_DEPTH)
    pitch = math.degrees(math.atan(tan_pitch))
    return {"yaw": round(yaw, 1), "pitch": round(pitch, 1), "roll": round(roll, 1)}


def _image_quality(image: NDArray[np.uint8], face: Face) -> dict[str, Any]:
    quality = assess(image, face)
    failures = quality.failures()
    return {**quality.to_dict(), "failures": failures, "enrolment_ready": not failures,
            "floors": dict(QUALITY_FLOORS)}


def analyze(image: NDArray[np.uint8], attributes: Sequence[str]) -> dict[str, Any]:
    """Compute the requested attributes of an RGB uint8 image of shape (H, W, 3).

    Returns a dict keyed by attribute, in request order:

    * ``face_count``: int, faces of at least :data:`MIN_FACE_PX` px (0 is an answer, not an error);
    * ``head_pose``: ``{"yaw", "pitch", "roll"}`` in degrees, of the main face (:func:`main_face`);
    * ``image_quality``: ``{"size" (px), "sharpness" (Laplacian variance), "frontalness" (0..1),
      "roll_degrees", "failures" (names below the enrolment floors), "enrolment_ready", "floors"}``.

    Raises E_INVALID_ARGUMENT / E_ATTRIBUTE_UNSUPPORTED (see :func:`check_attributes`) before any
    pixel is looked at, and E_NO_FACE when head_pose or image_quality is asked and no face is found.
    Results hold no landmarks or descriptors: they cannot re-identify anyone.
    """
    names = check_attributes(attributes)
    faces = detect(image, method="hog", min_face=MIN_FACE_PX)
    face = main_face(faces, image.shape)
    if face is None and _NEEDS_FACE.intersection(names):
        raise TrustfaceError(E_NO_FACE, "no face was found; head pose and image quality need one.")
    result: dict[str, Any] = {}
    for name in names:
        if name == "face_count":
            result[name] = len(faces)
        elif face is None:  # unreachable: the attributes that need a face were checked above
            raise AssertionError(name)
        elif name == "head_pose":
            result[name] = head_pose(landmarks(image, face, 68))
        elif name == "image_quality":
            result[name] = _image_quality(image, face)
    return result
