"""Landmarks, aligned chips and 128-D descriptors (dlib ResNet, 99.38% on LFW as published).

A descriptor is a float32 vector of shape (128,); two photos of one person lie closer than
about 0.5 (Euclidean) at the default operating point (see ``thresholds``).

Landmarks, detection and chips always run on dlib; the network runs on the descriptor backend
this process chose (``backends``: onnxruntime, dlib-blas or dlib-bin, one setting,
``TRUSTFACE_DESCRIPTOR_BACKEND``). ``descriptor_backend()`` says which and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustface.engine import models
from trustface.engine._dlib import dlib
from trustface.engine.backends import current_backend
from trustface.engine.detector import Face
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

DESCRIPTOR_DIM = models.DESCRIPTOR_DIM


def descriptor_backend() -> tuple[str, str]:
    """(name, reason): which backend computes descriptors in this process, and why.

    name is ``onnxruntime``, ``dlib-blas`` or ``dlib-bin``. The first call picks it (and, for
    onnxruntime, converts and verifies the network where the cache lacks it: a few seconds once).
    """
    backend = current_backend()
    return backend.name, backend.reason


def _shape(image: NDArray[np.uint8], face: Face, points: int) -> Any:
    with models.DLIB_LOCK:  # loading included: two threads must not load a model at once either
        predictor = models.landmarks_5() if points == 5 else models.landmarks_68()
        return predictor(image, face.rect())


def landmarks(image: NDArray[np.uint8], face: Face, points: int = 5) -> NDArray[np.float32]:
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


def aligned_chips(image: NDArray[np.uint8], faces: Sequence[Face]) -> list[NDArray[np.uint8]]:
    """One aligned 150x150x3 uint8 chip per face (rotated, scaled and cropped on the landmarks)."""
    if not faces:
        return []
    with models.DLIB_LOCK:  # re-entrant: _shape takes it too
        shapes = dlib().full_object_detections()
        for face in faces:
            shapes.append(_shape(image, face, ALIGNMENT_POINTS))
        return list(dlib().get_face_chips(image, shapes, size=models.CHIP_SIZE, padding=models.CHIP_PADDING))


def _chip_batch(chips: Sequence[NDArray[np.uint8]] | NDArray[np.uint8]) -> NDArray[np.uint8]:
    try:
        batch = np.asarray(chips) if len(chips) else np.zeros((0, models.CHIP_SIZE, models.CHIP_SIZE, 3), np.uint8)
    except ValueError:  # chips of different shapes
        batch = np.zeros((0,), np.uint8)
    if batch.dtype != np.uint8 or batch.shape[1:] != (models.CHIP_SIZE, models.CHIP_SIZE, 3):
        raise TrustfaceError(E_INVALID_ARGUMENT, f"chips must be {models.CHIP_SIZE}x{models.CHIP_SIZE} RGB uint8 "
                                                 f"(as aligned_chips() cuts them), got {batch.dtype} {batch.shape}.")
    return batch


def describe_chips(chips: Sequence[NDArray[np.uint8]] | NDArray[np.uint8], *, flip: bool = True,
                   jitter: int = 0) -> NDArray[np.float32]:
    """Descriptors of aligned chips (each 150x150x3 uint8 RGB), shape (len(chips), 128), float32.

    flip: also describe the mirrored chip and average the two (test-time augmentation; it
    doubles the cost: see docs/engine.md for what it buys on LFW).
    jitter: dlib's random jitters per chip (each costs one more network pass; always on dlib).
    """
    batch = _chip_batch(chips)
    if not len(batch):
        return np.zeros((0, DESCRIPTOR_DIM), dtype=np.float32)
    if flip:
        batch = np.concatenate([batch, batch[:, :, ::-1]])  # a fresh C-contiguous array
    else:
        batch = np.ascontiguousarray(batch)
    if jitter:  # dlib's random jitter has no ONNX counterpart
        vectors = models.dlib_descriptors(batch, jitter)
    else:
        vectors = current_backend().describe_chips(batch)
    if flip:
        n = len(batch) // 2
        vectors = ((vectors[:n] + vectors[n:]) / 2).astype(np.float32, copy=False)
    return vectors


def describe(image: NDArray[np.uint8], faces: Sequence[Face], *, flip: bool = True,
             jitter: int = 0) -> NDArray[np.float32]:
    """Descriptors for the given faces of an RGB uint8 image: shape (len(faces), 128), float32."""
    return describe_chips(aligned_chips(image, faces), flip=flip, jitter=jitter)
