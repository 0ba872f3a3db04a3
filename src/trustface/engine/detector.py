"""Face detection: dlib HOG by default, the MMOD CNN as an option or a last resort.

Boxes are ``(left, top, right, bottom)`` in pixels of the input image, clipped to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from trustface.engine import models
from trustface.engine._dlib import dlib
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

Method = Literal["hog", "cnn", "auto"]

#: HOG's sliding window: faces smaller than this (px) are found only after upsampling.
HOG_WINDOW_PX = 80

#: Automatic upsampling stops before the upsampled image exceeds this many pixels (each
#: doubling costs 4x; a 1080p photo is not upsampled, a 500x375 group photo is, once).
UPSAMPLE_PIXEL_BUDGET = 4_000_000

#: A portrait's subject fills a good part of the frame: no upsampling unless nothing is found.
PORTRAIT_MIN_FACE = 80

#: A small image where nothing was found at the chosen scale is retried upsampled once.
UPSAMPLE_BELOW_PX = 1000

#: Share of the side added on each edge before retrying a tight crop (ID photos,
#: pre-aligned crops), where the face fills the frame and HOG sees no context.
TIGHT_CROP_PAD = 0.4


@dataclass(frozen=True)
class Face:
    """One detected face.

    box: (left, top, right, bottom) in pixels; score: detector confidence (HOG SVM margin
    or CNN confidence, higher is surer); detector: which pass found it.
    """

    box: tuple[int, int, int, int]
    score: float
    detector: str

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> int:
        """The shorter side of the box, in pixels."""
        return min(self.width, self.height)

    def rect(self) -> Any:
        """The box as a ``dlib.rectangle``."""
        return dlib().rectangle(*self.box)

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": round(self.score, 4), "detector": self.detector}


def _clip(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    left, top, right, bottom = box
    return (max(0, left), max(0, top), min(w, right), min(h, bottom))


def _hog(image: NDArray[np.uint8], upsample: int, label: str, offset: int = 0) -> list[Face]:
    with models.DLIB_LOCK:  # dlib is not safe to enter from two threads (models.DLIB_LOCK)
        rects, scores, _ = models.hog_detector().run(image, upsample, 0.0)
        faces = []
        for r, s in zip(rects, scores, strict=False):
            box = (r.left() - offset, r.top() - offset, r.right() - offset, r.bottom() - offset)
            faces.append(Face(box, float(s), label))
    return faces


def _cnn(image: NDArray[np.uint8], upsample: int) -> list[Face]:
    with models.DLIB_LOCK:
        found = models.cnn_detector()(image, upsample)
        return [Face((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence), "cnn") for d in found]


def auto_upsample(shape: tuple[int, ...], min_face: int) -> int:
    """Doublings needed to find faces of ``min_face`` px, within the pixel budget."""
    pixels = shape[0] * shape[1]
    upsample = 0
    while HOG_WINDOW_PX / 2**upsample > min_face and pixels * 4 ** (upsample + 1) <= UPSAMPLE_PIXEL_BUDGET:
        upsample += 1
    return upsample


def detect(
    image: NDArray[np.uint8], *, method: Method = "hog", upsample: int | None = None, min_face: int = 40
) -> list[Face]:
    """Find faces in an RGB uint8 image of shape (H, W, 3), largest first.

    method: "hog" (fast, frontal faces), "cnn" (MMOD, ~20x slower on CPU, finds turned and
    occluded faces) or "auto" (HOG, then the CNN only when HOG finds nothing).
    upsample: how many times to double the image before detecting; None picks it from
    ``min_face`` (the smallest face side to find, px) within a pixel budget, and retries a
    small image once more upsampled when nothing is found. A tight crop where the face
    fills the frame is retried with a padded border.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise TrustfaceError(E_INVALID_ARGUMENT, "detect() needs an RGB uint8 array of shape (H, W, 3).")
    if method not in ("hog", "cnn", "auto"):
        raise TrustfaceError(E_INVALID_ARGUMENT, f"unknown detection method {method!r}: use hog, cnn or auto.")
    if upsample is not None and not 0 <= upsample <= 3:
        raise TrustfaceError(E_INVALID_ARGUMENT, "upsample must be between 0 and 3.")

    if method == "cnn":
        faces = _cnn(image, auto_upsample(image.shape, min_face) if upsample is None else upsample)
    else:
        faces = _hog_cascade(image, upsample, min_face)
        if not faces and method == "auto":
            # the CNN sees faces down to about the HOG window at 1x (measured on LFW crops), so it
            # needs the same upsampling for min_face; each doubling costs ~4x (0.6 s -> 2.3 s at 250 px)
            faces = _cnn(image, auto_upsample(image.shape, min_face) if upsample is None else upsample)
    faces = [Face(_clip(f.box, image.shape), f.score, f.detector) for f in faces]
    faces = [f for f in faces if f.width > 0 and f.height > 0]
    return sorted(faces, key=lambda f: f.width * f.height, reverse=True)


def _hog_cascade(image: NDArray[np.uint8], upsample: int | None, min_face: int) -> list[Face]:
    if upsample is not None:
        return _hog(image, upsample, "hog")
    chosen = auto_upsample(image.shape, min_face)
    faces = _hog(image, chosen, "hog")
    if faces:
        return faces
    if chosen == 0 and min(image.shape[:2]) < UPSAMPLE_BELOW_PX:
        faces = _hog(image, 1, "hog-upsampled")
        if faces:
            return faces
    pad = int(TIGHT_CROP_PAD * max(image.shape[:2]))
    if max(image.shape[:2]) <= 600:  # only plausible tight crops; padding a big photo costs much
        padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        return _hog(padded, 0, "hog-padded", offset=pad)
    return []


def central_face(faces: list[Face], shape: tuple[int, ...]) -> Face | None:
    """The face whose centre is nearest the image centre (the subject of a portrait)."""
    if not faces:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2

    def distance(f: Face) -> float:
        return ((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2

    return min(faces, key=distance)
