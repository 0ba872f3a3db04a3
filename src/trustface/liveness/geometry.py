"""Measures on 68-point landmarks (iBUG layout, ``engine.landmarks(image, face, 68)``).

* eye aspect ratio (EAR, Soukupova & Cech 2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|) per eye,
  averaged over both eyes; about 0.25-0.35 open, below about 0.2 closed.
* mouth aspect ratio (MAR): mean inner-lip opening (61-67, 62-66, 63-65) over the inner mouth
  width (60-64); about 0 closed, above about 0.3 with the mouth wide open.
* yaw: where the nose tip (point 30) sits between the two jaw ends (points 0 and 16), from -1
  to 1; 0 is frontal. Positive means the nose moved towards the image's right, which on a camera
  frame that is *not mirrored* means the person turned to *their* left.
* pitch: the nose tip's height between the eye line and the chin (point 8), 0 at the eyes, 1 at
  the chin; about 0.40-0.50 frontal, smaller when the head tilts back (looking up).

All are ratios of distances, so they do not depend on the face's size in the frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)


def _eye_ratio(eye: np.ndarray) -> float:
    p1, p2, p3, p4, p5, p6 = eye
    width = float(np.linalg.norm(p1 - p4)) or 1.0
    return (float(np.linalg.norm(p2 - p6)) + float(np.linalg.norm(p3 - p5))) / (2.0 * width)


def eye_aspect_ratio(points: np.ndarray) -> float:
    return (_eye_ratio(points[_LEFT_EYE]) + _eye_ratio(points[_RIGHT_EYE])) / 2.0


def mouth_aspect_ratio(points: np.ndarray) -> float:
    inner = points[60:68]
    width = float(np.linalg.norm(inner[0] - inner[4])) or 1.0
    opening = sum(float(np.linalg.norm(inner[i] - inner[8 - i])) for i in (1, 2, 3))
    return opening / (3.0 * width)


def yaw(points: np.ndarray) -> float:
    left, right, nose = points[0], points[16], points[30]
    axis = right - left
    length = float(np.dot(axis, axis)) or 1.0
    t = float(np.dot(nose - left, axis)) / length  # 0 at point 0, 1 at point 16
    return float(np.clip(2.0 * t - 1.0, -1.0, 1.0))


def pitch(points: np.ndarray) -> float:
    eyes = (points[_LEFT_EYE].mean(axis=0) + points[_RIGHT_EYE].mean(axis=0)) / 2.0
    chin, nose = points[8], points[30]
    axis = chin - eyes
    length = float(np.dot(axis, axis)) or 1.0
    return float(np.dot(nose - eyes, axis)) / length


@dataclass(frozen=True)
class Pose:
    """The four measures of one frame's face."""

    ear: float
    mar: float
    yaw: float
    pitch: float

    def to_dict(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def measure(points: np.ndarray) -> Pose:
    """EAR, MAR, yaw and pitch of one face's 68 landmarks (array of shape (68, 2))."""
    if points.shape != (68, 2):
        raise ValueError("measure() needs 68 landmarks of shape (68, 2)")
    pts = points.astype(np.float64)
    return Pose(eye_aspect_ratio(pts), mouth_aspect_ratio(pts), yaw(pts), pitch(pts))
