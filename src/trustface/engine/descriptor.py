"""Landmarks, aligned chips and 128-D descriptors (dlib ResNet, 99.38% on LFW as published).

A descriptor is a float32 vector of shape (128,); two photos of one person lie closer than
about 0.5 (Euclidean) at the default operating point (see ``thresholds``).

The network runs on one of three backends, the first that works (``descriptor_backend()``
says which and why; ``trustface doctor`` prints it):

* ``onnxruntime``: the same dlib network, weights read from the model file and converted to
  ONNX (``onnx_net``), verified against dlib on real faces before first use;
* ``dlib-blas`` / ``dlib-bin``: dlib itself (``_dlib``).

``TRUSTFACE_DESCRIPTOR_BACKEND`` = ``auto`` (default), ``onnx``, ``blas`` or ``bin`` forces one
(``onnx`` fails where it cannot run); where it is unset, ``TRUSTFACE_DLIB_BACKEND=blas|bin``
still forces that dlib build for the descriptor too. Landmarks, detection and chips always
run on dlib.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

import numpy as np

from trustface.engine import models
from trustface.engine._dlib import BACKEND as DLIB_BACKEND
from trustface.engine._dlib import BACKEND_REASON as DLIB_BACKEND_REASON
from trustface.engine._dlib import dlib
from trustface.engine.detector import Face

DESCRIPTOR_DIM = 128

_BACKEND_LOCK = threading.Lock()
_backend: dict | None = None  # name, reason, session (onnxruntime only), record, record_path


def _wanted() -> str:
    wanted = os.environ.get("TRUSTFACE_DESCRIPTOR_BACKEND")
    if not wanted:
        legacy = os.environ.get("TRUSTFACE_DLIB_BACKEND", "auto")
        wanted = legacy if legacy in ("blas", "bin") else "auto"
    if wanted not in ("auto", "onnx", "blas", "bin"):
        raise RuntimeError(f"TRUSTFACE_DESCRIPTOR_BACKEND={wanted!r}: use auto, onnx, blas or bin")
    return wanted


def _dlib_backend(why: str) -> dict:
    return {"name": DLIB_BACKEND, "reason": f"{why}; dlib: {DLIB_BACKEND_REASON}", "session": None}


def _onnx_reason(record: dict, graph) -> str:
    return (f"dlib ResNet converted to ONNX ({graph}), verified against {record['against']} on "
            f"{record['faces']} real faces (max abs {record['max_abs']:.1e} <= {record['tolerance']:.0e}); "
            f"onnxruntime {record['onnxruntime']}, 1 thread")


def _select() -> dict:
    wanted = _wanted()
    if wanted in ("blas", "bin"):
        if DLIB_BACKEND != f"dlib-{wanted}":
            raise RuntimeError(f"descriptor backend {wanted} asked for, but dlib is {DLIB_BACKEND}: {DLIB_BACKEND_REASON}")
        return _dlib_backend(f"dlib asked for by the environment ({wanted})")
    try:
        import onnxruntime  # noqa: F401

        from trustface.engine import onnx_net

        graph, record = onnx_net.prepare()
        session = onnx_net.session(graph)
    except Exception as error:  # noqa: BLE001 - any failure means: use the next backend, and say why
        why = f"onnxruntime backend unavailable ({type(error).__name__}: {error})"
        if wanted == "onnx":
            raise RuntimeError(f"TRUSTFACE_DESCRIPTOR_BACKEND=onnx but the {why}") from error
        return _dlib_backend(why)
    _, record_path = onnx_net.cached_paths()
    if record.get("verified"):
        return {"name": "onnxruntime", "reason": _onnx_reason(record, graph), "session": session}
    if record.get("verified") is None:  # no real faces at conversion: verified on the first chips described
        return {"name": "onnxruntime", "reason": "verification pending (first chips described)", "session": session,
                "pending": True, "graph": graph, "record": record, "record_path": record_path}
    why = f"the ONNX graph differs from dlib (max abs {record.get('max_abs')}, record {record_path})"
    if wanted == "onnx":
        raise RuntimeError(f"TRUSTFACE_DESCRIPTOR_BACKEND=onnx but {why}")
    return _dlib_backend(why)


def _current() -> dict:
    global _backend
    if _backend is None:
        with _BACKEND_LOCK:
            if _backend is None:
                _backend = _select()
    return _backend


def descriptor_backend() -> tuple[str, str]:
    """(name, reason): which backend computes descriptors in this process, and why.

    name is ``onnxruntime``, ``dlib-blas`` or ``dlib-bin``. The first call picks it (and, for
    onnxruntime, converts and verifies the network where the cache lacks it: a few seconds once).
    """
    backend = _current()
    return backend["name"], backend["reason"]


def _verify_pending(backend: dict, batch: list[np.ndarray]) -> np.ndarray:
    """The first chips described when no real faces were at hand at conversion: check them."""
    global _backend
    from trustface.engine import onnx_net

    with _BACKEND_LOCK:
        if _backend is not backend:  # another thread checked meanwhile
            return onnx_net.dlib_descriptors(batch)
        record = onnx_net.verify(backend["session"], batch, "first chips described")
        record.update(sha256=backend["record"].get("sha256"), model_file=backend["record"].get("model_file"))
        onnx_net._atomic_write(backend["record_path"], json.dumps(record, indent=2).encode())
        if record["verified"]:
            _backend = {"name": "onnxruntime", "reason": _onnx_reason(record, backend["graph"]),
                        "session": backend["session"]}
        else:
            _backend = _dlib_backend(f"the ONNX graph differs from dlib (max abs {record['max_abs']})")
    return onnx_net.dlib_descriptors(batch)


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
    backend = _current()
    if backend["session"] is not None and jitter == 0:  # dlib's random jitter stays on dlib
        if backend.get("pending"):
            vectors = _verify_pending(backend, batch)
        else:
            from trustface.engine.onnx_net import run

            vectors = run(backend["session"], batch)
    else:
        with models.DLIB_LOCK:
            vectors = np.array(models.face_encoder().compute_face_descriptor(batch, jitter), dtype=np.float32)
    if flip:
        n = len(chips)
        vectors = (vectors[:n] + vectors[n:]) / 2
    return vectors


def describe(image: np.ndarray, faces: Sequence[Face], *, flip: bool = True, jitter: int = 0) -> np.ndarray:
    """Descriptors for the given faces of an RGB uint8 image: shape (len(faces), 128), float32."""
    return describe_chips(aligned_chips(image, faces), flip=flip, jitter=jitter)
