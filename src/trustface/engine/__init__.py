"""The recognition engine: pure functions over image arrays. No storage, no policy.

Images are RGB uint8 arrays of shape (H, W, 3) (see ``trustface.imaging.load_image``);
descriptors are float32 arrays of shape (128,) or (N, 128).

>>> from trustface import imaging, engine
>>> image = imaging.load_image("obama.jpg")
>>> faces = engine.detect(image)                   # [Face(box=(l, t, r, b), score, detector)]
>>> vectors = engine.describe(image, faces)        # (len(faces), 128) float32
>>> engine.compare(vectors[0], other).same         # at the default operating point
>>> engine.analyze_face(image, ["face_count", "head_pose"])  # {"face_count": 1, "head_pose": {...}}
>>> engine.current_backend().name                  # "onnxruntime", "dlib-blas" or "dlib-bin"
>>> engine.select_backend("bin")                   # as TRUSTFACE_DESCRIPTOR_BACKEND=bin would

Importing the engine loads no model and no dlib and changes neither ``os.environ`` nor
``sys.path``: all of that happens at first use (``backends``, ``_dlib``, ``models``).

This package never sees a subject id: who may be compared with whom is the policy gate's
business (ARCHITECTURE.md, "doors between rooms").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from trustface.engine import analysis
from trustface.engine.analysis import analyze as analyze_face
from trustface.engine.backends import DescriptorBackend, current_backend, select_backend
from trustface.engine.descriptor import DESCRIPTOR_DIM, aligned_chips, describe, describe_chips, landmarks
from trustface.engine.detector import PORTRAIT_MIN_FACE, Face, Method, central_face, detect
from trustface.engine.models import MODEL_VERSION
from trustface.engine.quality import QUALITY_FLOORS, Quality, assess, enrolment_face
from trustface.engine.thresholds import Comparison, compare, operating_points, similarity, threshold

__all__ = [
    "DESCRIPTOR_DIM", "MODEL_VERSION", "QUALITY_FLOORS", "Comparison", "DescriptorBackend", "Face", "Quality",
    "aligned_chips", "analysis", "analyze_face", "assess", "central_face", "compare", "current_backend", "describe",
    "describe_chips", "detect", "enrolment_face", "landmarks", "operating_points", "portrait_descriptor",
    "select_backend", "similarity", "threshold",
]


def portrait_descriptor(image: NDArray[np.uint8], *,
                        method: Method = "auto") -> tuple[Face | None, NDArray[np.float32] | None]:
    """The descriptor of the main face of a portrait: the face nearest the centre.

    Returns (face, descriptor of shape (128,)) or (None, None) when no face is found.
    """
    faces = detect(image, method=method, min_face=PORTRAIT_MIN_FACE)
    face = central_face(faces, image.shape)
    if face is None:
        return None, None
    return face, describe(image, [face])[0]
