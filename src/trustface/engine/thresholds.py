"""Operating points and comparisons.

An operating point is a Euclidean distance threshold chosen so that a target share of
impostor comparisons (false-match rate, FMR) fall below it. They are calibrated on LFW
impostor pairs (``trustface bench lfw --calibrate``; method in docs/engine.md) and stored
in ``thresholds.json`` with the model version and pipeline they belong to.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustface.engine.models import MODEL_VERSION
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

THRESHOLDS_FILE = "thresholds.json"


@functools.cache
def calibration() -> dict[str, Any]:
    """The stored calibration: model, pipeline, operating points, default, provenance."""
    data: dict[str, Any] = json.loads(resources.files("trustface.engine").joinpath(THRESHOLDS_FILE).read_text())
    if data["model"] != MODEL_VERSION:
        raise RuntimeError(f"thresholds.json was calibrated for {data['model']}, not {MODEL_VERSION}")
    return data


def operating_points() -> dict[str, float]:
    """Target FMR (as "1e-3") -> distance threshold."""
    return dict(calibration()["operating_points"])


def threshold(fmr: str | None = None) -> tuple[str, float]:
    """(operating point name, distance threshold); None picks the default operating point."""
    points = operating_points()
    name = fmr or calibration()["default"]
    if name not in points:
        raise TrustfaceError(
            E_INVALID_ARGUMENT, f"unknown operating point {name!r}: choose one of {', '.join(points)}."
        )
    return name, points[name]


@dataclass(frozen=True)
class Comparison:
    """distance: Euclidean, >= 0; similarity in [0, 1] (0.5 exactly at the threshold);
    same: distance <= threshold; operating_point: target FMR used; threshold: its distance."""

    distance: float
    similarity: float
    same: bool
    operating_point: str
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "distance": round(self.distance, 6),
            "similarity": round(self.similarity, 6),
            "same": self.same,
            "operating_point": self.operating_point,
            "threshold": self.threshold,
        }


def similarity(distance: float | NDArray[np.floating[Any]], at_threshold: float) -> float | NDArray[np.float64]:
    """Map a distance to [0, 1]: 1 at distance 0, 0.5 at the threshold, 0 at twice it.

    Linear so that it reads as "how far inside the threshold", never as a probability.
    """
    return np.clip(1.0 - np.asarray(distance) / (2.0 * at_threshold), 0.0, 1.0)


def compare(a: NDArray[np.floating[Any]], b: NDArray[np.floating[Any]], fmr: str | None = None) -> Comparison:
    """Compare two 128-D descriptors at an operating point (default: the calibrated default)."""
    first = np.asarray(a, dtype=np.float32).reshape(-1)
    second = np.asarray(b, dtype=np.float32).reshape(-1)
    if first.shape != (128,) or second.shape != (128,):
        raise TrustfaceError(E_INVALID_ARGUMENT, "descriptors must have 128 values each.")
    name, limit = threshold(fmr)
    distance = float(np.linalg.norm(first - second))
    return Comparison(distance, float(similarity(distance, limit)), distance <= limit, name, limit)
