"""Describe photos given as file paths: decode, find the main face, describe it.

Module-level functions over lists of paths, so they can run in worker processes
(``trustface.bench.parallel.map_chunks``); each worker loads the models once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trustface import imaging
from trustface.engine.descriptor import describe
from trustface.engine.detector import PORTRAIT_MIN_FACE, Face, central_face, detect
from trustface.errors import E_NO_FACE, TrustfaceError


@dataclass(frozen=True)
class PhotoResult:
    """path; face: the main face (nearest the centre) or None; faces: how many were found;
    descriptor: (128,) float32 or None; error: {"code", "message"} when the photo failed."""

    path: str
    face: Face | None
    faces: int
    descriptor: np.ndarray | None
    error: dict | None


def describe_file(path: str, *, method: str = "auto") -> PhotoResult:
    try:
        image = imaging.load_image(path)
        faces = detect(image, method=method, min_face=PORTRAIT_MIN_FACE)
        face = central_face(faces, image.shape)
        if face is None:
            raise TrustfaceError(E_NO_FACE, "no face was found in the photo.")
        return PhotoResult(path, face, len(faces), describe(image, [face])[0], None)
    except TrustfaceError as exc:
        return PhotoResult(path, None, 0, None, {"code": exc.code, "message": exc.message})


def describe_files(paths: Sequence[str]) -> list[PhotoResult]:
    """Worker entry point: one PhotoResult per path, in order."""
    return [describe_file(p) for p in paths]
