"""Per-face quality (size, sharpness, frontalness) and the enrolment gate.

The gate decides whether a photo is good enough to become someone's template. Floors are
in ``QUALITY_FLOORS``; docs/engine.md says how they were chosen on real images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustface.engine.descriptor import aligned_chips, landmarks
from trustface.engine.detector import Face, detect
from trustface.errors import E_FACE_QUALITY, E_MULTIPLE_FACES, E_NO_FACE, TrustfaceError

#: Enrolment floors. size: shorter box side in px; sharpness: variance of the Laplacian of
#: the aligned grey chip; frontalness: 1 frontal .. 0 profile.
QUALITY_FLOORS = {"size": 60, "sharpness": 20.0, "frontalness": 0.5}

#: A second face at least this fraction of the main face's side counts as another person
#: in the frame (smaller ones are distant bystanders and are never described).
COMPETING_FACE_RATIO = 0.5


@dataclass(frozen=True)
class Quality:
    """size in px, sharpness (Laplacian variance, >= 0), frontalness in [0, 1], roll in degrees."""

    size: int
    sharpness: float
    frontalness: float
    roll_degrees: float

    def failures(self, floors: dict[str, float] = QUALITY_FLOORS) -> list[str]:
        """Names of the measures below their floor (empty when the face is good enough)."""
        return [name for name, floor in floors.items() if getattr(self, name) < floor]

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _laplacian_variance(chip: NDArray[np.uint8]) -> float:
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    )
    return float(lap.var())


def _pose(points5: NDArray[np.float32]) -> tuple[float, float]:
    """Frontalness and roll from the 5 points (two eye-corner pairs and the nose base)."""
    eye_a = points5[0:2].mean(axis=0)
    eye_b = points5[2:4].mean(axis=0)
    nose = points5[4]
    axis = eye_b - eye_a
    eye_distance = float(np.linalg.norm(axis)) or 1.0
    # The nose base drifts sideways from the eyes' midpoint as the head turns (yaw).
    offset = float(np.dot(nose - (eye_a + eye_b) / 2, axis / eye_distance)) / eye_distance
    frontalness = float(np.clip(1.0 - abs(offset) / 0.5, 0.0, 1.0))
    roll = float(np.degrees(np.arctan2(axis[1], axis[0])))
    if roll > 90:
        roll -= 180
    elif roll < -90:
        roll += 180
    return frontalness, roll


def assess(image: NDArray[np.uint8], face: Face) -> Quality:
    """Quality of one detected face in an RGB uint8 image."""
    chip = aligned_chips(image, [face])[0]
    frontalness, roll = _pose(landmarks(image, face, 5))
    return Quality(face.size, _laplacian_variance(chip), frontalness, roll)


def enrolment_face(image: NDArray[np.uint8]) -> tuple[Face, Quality]:
    """The single face of an enrolment photo and its quality, or a refusal.

    Raises E_NO_FACE, E_MULTIPLE_FACES (another face of comparable size: enrolment must not
    capture a bystander, PIPL-6) or E_FACE_QUALITY (too small, blurred or turned away).
    """
    faces = detect(image, method="hog")
    if not faces:
        raise TrustfaceError(E_NO_FACE, "No face was found in the photo; use a frontal, well-lit portrait.")
    main = faces[0]
    competing = [f for f in faces[1:] if f.size >= COMPETING_FACE_RATIO * main.size]
    if competing:
        raise TrustfaceError(
            E_MULTIPLE_FACES, f"{len(competing) + 1} faces were found; an enrolment photo must show one person."
        )
    quality = assess(image, main)
    failed = quality.failures()
    if failed:
        details = ", ".join(f"{name} {getattr(quality, name):.3g} < {QUALITY_FLOORS[name]:g}" for name in failed)
        raise TrustfaceError(E_FACE_QUALITY, f"The face is not good enough to enrol ({details}).")
    return main, quality
