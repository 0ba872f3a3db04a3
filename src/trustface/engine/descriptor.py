"""Landmarks, aligned chips and 128-D descriptors (dlib ResNet, 99.38% on LFW as published).

A descriptor is a float32 vector of shape (128,); two photos of one person lie closer than
about 0.5 (Euclidean) at the default operating point (see ``thresholds``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trustface.engine import models
from trustface.engine._dlib import dlib
from trustface.engine.detector import Face

DESCRIPTOR_DIM = 128


def _shape(image: np.ndarray, face: Face, points: int) -> "dlib.full_object_detection":
    with models.DLIB_LOCK:  # loading included: two threads must not load a model at once either
        predictor = models.landmarks_5() if points == 5 else models.landmarks_68()
        return predictor(image, face.rect())


def landmarks(image: np.ndarray, face: Face, points: int = 5) -> np.ndarray:
    """Landmarks of one face as an array of shape (points, 2): x, y in pixels.

    points: 5 (eye corners and nose base, used for alignment) or 68 (iBUG layout, for
    liveness and analysis).
    """
    if points not in (5, 68):
        raise ValueError("points must be 5 or 68")
    with models.DLIB_LOCK:
        shape = _shape(image, face, points)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


#: Landmarks the chip is aligned on. 68 points beat 5 on LFW with the same network (99.12% vs
#: 99.00% 10-fold, flip on; docs/engine.md) for 0.3 ms more per face.
ALIGNMENT_POINTS = 68


def aligned_chips(image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
    """One aligned 150x150x3 uint8 chip per face (rotated, scaled and cropped on the landmarks)."""
    if not faces:
        return []
    with models.DLIB_LOCK:  # re-entrant: _shape takes it too
        shapes = dlib.full_object_detections()
        for face in faces:
            shapes.append(_shape(image, face, ALIGNMENT_POINTS))
        return list(dlib.get_face_chips(image, shapes, size=models.CHIP_SIZE, padding=models.CHIP_PADDING))


def describe_chips(chips: Sequence[np.ndarray], *, flip: bool = True, jitter: int = 0) -> np.ndarray:
    """Descriptors of aligned chips, shape (len(chips), 128), float32.

    flip: also describe the mirrored chip and average the two (test-time augmentation; it
    doubles the cost: see docs/engine.md for what it buys on LFW).
    jitter: dlib's random jitters per chip (each costs one more network pass).
    """
    if not chips:
        return np.zeros((0, DESCRIPTOR_DIM), dtype=np.float32)
    batch = [np.ascontiguousarray(c) for c in chips]
    if flip:
        batch += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
    with models.DLIB_LOCK:
        vectors = np.array(models.face_encoder().compute_face_descriptor(batch, jitter), dtype=np.float32)
    if flip:
        n = len(chips)
        vectors = (vectors[:n] + vectors[n:]) / 2
    return vectors


def describe(image: np.ndarray, faces: Sequence[Face], *, flip: bool = True, jitter: int = 0) -> np.ndarray:
    """Descriptors for the given faces of an RGB uint8 image: shape (len(faces), 128), float32."""
    return describe_chips(aligned_chips(image, faces), flip=flip, jitter=jitter)
