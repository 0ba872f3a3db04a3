"""Score fusion of the two descriptors: dlib's ResNet and SFace, each by cosine similarity.

Each model's cosine of a pair is standardised on impostor pairs, z = (cos - mean) / std, with
the mean and standard deviation of that model's cosine over all pairs of LFW images of two
different people (stored in the model's calibration file: ``thresholds.json`` for dlib,
``thresholds-sface.json`` for SFace); the fused score is the sum of the two z-scores. Its
operating points (a fused score at each target false-match rate) are in
``thresholds-fused.json``, calibrated the same way as dlib's (``trustface bench lfw
--calibrate``; method in docs/engine.md). A pair is "same" when its score is >= the threshold.

Standardising on impostors puts both models on one scale (standard deviations above a typical
stranger), so the sum weighs them equally without fitting a weight on the test data.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustface.engine.models import MODEL_VERSION as DLIB_MODEL
from trustface.engine.sface import MODEL_VERSION as SFACE_MODEL
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

FUSED_MODEL = f"{DLIB_MODEL}+{SFACE_MODEL}"

__all__ = [
    "DLIB_MODEL", "FILES", "FUSED_MODEL", "SFACE_MODEL", "FusedComparison", "calibration", "compare", "compare_photos",
    "cosine", "decisive_dlib", "fused_scores", "impostor_stats", "standardised", "threshold",
]
FILES = {DLIB_MODEL: "thresholds.json", SFACE_MODEL: "thresholds-sface.json", FUSED_MODEL: "thresholds-fused.json"}


@functools.cache
def calibration(model: str) -> dict[str, Any]:
    """The calibration file of ``model`` (one of :data:`FILES`), checked to be that model's."""
    data: dict[str, Any] = json.loads(resources.files("trustface.engine").joinpath(FILES[model]).read_text())
    if data["model"] != model:
        raise RuntimeError(f"{FILES[model]} was calibrated for {data['model']}, not {model}")
    return data


def impostor_stats(model: str) -> tuple[float, float]:
    """(mean, std) of the model's cosine similarity over LFW impostor pairs."""
    stats = calibration(model)["impostor_cosine"]
    return float(stats["mean"]), float(stats["std"])


def cosine(a: NDArray[np.floating[Any]], b: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """Row-wise cosine similarity of two (N, D) or (D,) arrays."""
    a64, b64 = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.asarray(np.sum(a64 * b64, axis=1) / np.maximum(norms, 1e-12))


def standardised(model: str, cosines: NDArray[np.floating[Any]] | float) -> NDArray[np.float64]:
    """z-scores of a model's cosines: how many impostor standard deviations above the impostor mean."""
    mean, std = impostor_stats(model)
    return (np.asarray(cosines, np.float64) - mean) / std


def fused_scores(dlib_cosine: NDArray[np.floating[Any]] | float,
                 sface_cosine: NDArray[np.floating[Any]] | float) -> NDArray[np.float64]:
    """The fused score: the sum of the two standardised cosines."""
    return standardised(DLIB_MODEL, dlib_cosine) + standardised(SFACE_MODEL, sface_cosine)


def threshold(model: str, fmr: str | None = None) -> tuple[str, float]:
    """(operating point, score threshold) of SFace's cosine or the fused score; None: the default."""
    data = calibration(model)
    name = fmr or str(data["default"])
    points: dict[str, float] = data["operating_points"]
    if name not in points:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"unknown operating point {name!r}: choose one of {', '.join(points)}.")
    return name, float(points[name])


@dataclass(frozen=True)
class FusedComparison:
    """score: the fused score (higher: more alike); same: score >= threshold; the two cosines
    it was made of; operating_point: target FMR; threshold: its fused score."""

    score: float
    same: bool
    operating_point: str
    threshold: float
    dlib_cosine: float
    sface_cosine: float

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 6), "same": self.same, "operating_point": self.operating_point,
                "threshold": self.threshold, "dlib_cosine": round(self.dlib_cosine, 6),
                "sface_cosine": round(self.sface_cosine, 6), "engine": "fused"}


def compare(dlib_a: NDArray[np.floating[Any]], dlib_b: NDArray[np.floating[Any]],
            sface_a: NDArray[np.floating[Any]], sface_b: NDArray[np.floating[Any]],
            fmr: str | None = None) -> FusedComparison:
    """Compare two faces, each described by both models, at a fused operating point."""
    for vector in (dlib_a, dlib_b, sface_a, sface_b):
        if np.asarray(vector).reshape(-1).shape != (128,):
            raise TrustfaceError(E_INVALID_ARGUMENT, "descriptors must have 128 values each.")
    name, limit = threshold(FUSED_MODEL, fmr)
    dlib_cos, sface_cos = float(cosine(dlib_a, dlib_b)[0]), float(cosine(sface_a, sface_b)[0])
    score = float(fused_scores(dlib_cos, sface_cos))
    return FusedComparison(score, score >= limit, name, limit, dlib_cos, sface_cos)


def decisive_dlib(dlib_cosine: float) -> bool | None:
    """The cost control for 1:1 at the default operating point: the decision from dlib's cosine
    alone where it lies outside the band of dlib z-scores in which SFace changed a fused decision
    on LFW (``cascade`` in thresholds-fused.json); None where SFace must run too."""
    cascade = calibration(FUSED_MODEL)["cascade"]
    z = float(standardised(DLIB_MODEL, dlib_cosine))
    if z < float(cascade["dlib_z_low"]):
        return False
    if z > float(cascade["dlib_z_high"]):
        return True
    return None


def compare_photos(image_a: NDArray[np.uint8], image_b: NDArray[np.uint8], *, fmr: str | None = None,
                   cascade: bool = False) -> dict[str, Any]:
    """Compare the main faces of two portraits with the fused engine: dlib's pipeline and SFace's
    (``engine.sface.portrait_descriptor``). With ``cascade``, SFace runs only where dlib's cosine
    lies in the band where it can change the decision (:func:`decisive_dlib`, default point only).

    Returns the fused comparison as a dict plus ``decided_by`` (``fused`` or ``dlib``); raises
    TrustfaceError(E_NO_FACE) naming the photo where a pipeline finds no face."""
    from trustface.engine import portrait_descriptor, sface
    from trustface.errors import E_NO_FACE

    dlib_vectors = []
    for label, image in (("first", image_a), ("second", image_b)):
        _, vector = portrait_descriptor(image)
        if vector is None:
            raise TrustfaceError(E_NO_FACE, f"no face was found in the {label} photo.")
        dlib_vectors.append(vector)
    if cascade and fmr in (None, calibration(FUSED_MODEL)["cascade"]["operating_point"]):
        dlib_cos = float(cosine(dlib_vectors[0], dlib_vectors[1])[0])
        decided = decisive_dlib(dlib_cos)
        if decided is not None:
            name, limit = threshold(FUSED_MODEL, fmr)
            return {"same": decided, "operating_point": name, "threshold": limit, "dlib_cosine": round(dlib_cos, 6),
                    "engine": "fused", "decided_by": "dlib"}
    sface_vectors = []
    for label, image in (("first", image_a), ("second", image_b)):
        _, vector = sface.portrait_descriptor(image)
        if vector is None:
            raise TrustfaceError(E_NO_FACE, f"no face was found in the {label} photo (SFace's detector).")
        sface_vectors.append(vector)
    result = compare(dlib_vectors[0], dlib_vectors[1], sface_vectors[0], sface_vectors[1], fmr)
    return {**result.to_dict(), "decided_by": "fused"}
