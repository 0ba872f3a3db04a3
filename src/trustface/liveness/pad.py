"""Where a presentation-attack-detection (PAD) model plugs in, and the small built-in one.

A PAD model looks at the pixels of a presentation and answers an attack score. Any object with
the :class:`PadModel` shape can be handed to :func:`trustface.liveness.service.check_burst` (and
set as the deployment-wide default with :func:`set_default_model`); trustface refuses a burst whose
score reaches the model's threshold with ``E_LIVENESS_FAILED`` and names the model and its version
in the audit event. A learned model (a CNN trained on a PAD database such as OULU-NPU or
CASIA-SURF) is what a production door needs; none ships here, because no such weights can be
installed from a package registry with a licence that allows it.

:class:`MoireModel` is the built-in example: it looks for the periodic interference pattern
(moire) that appears when a camera re-captures a print or a screen, as a sharp peak in the
high-frequency spectrum of the grey frame. It is a heuristic, tuned on simulated re-captures
(docs/benchmarks.md, "PAD"); it says nothing about masks or about screens without moire.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class PadModel(Protocol):
    """The interface of a PAD model.

    ``name`` and ``version`` are recorded with every decision (thresholds are versioned with the
    model, ISO/IEC 30107-3). ``score(frames)`` takes the burst's RGB uint8 frames (H, W, 3) and
    returns an attack score in [0, 1]; ``threshold`` is the score from which a burst is refused.
    The model must not keep the frames.
    """

    name: str
    version: str
    threshold: float

    def score(self, frames: Sequence[np.ndarray]) -> float: ...


_SIDE = 256


def _hann(n: int) -> np.ndarray:
    return np.hanning(n).astype(np.float64)


def moire_peak(pixels: np.ndarray) -> float:
    """log10 of the strongest spectral peak over the median magnitude at its radius.

    Taken on the central 256 x 256 pixels of the grey frame at native resolution (scaling would
    blur the finest patterns away), Hann-windowed, in the band from 0.12 to 0.45 cycles per pixel,
    leaving out the two axes and the 8-pixel JPEG block lattice (compression, not moire). About
    0.6-1.2 on the real photos and video frames of the data set, 1.25-2.9 on simulated re-captures.
    """
    grey = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).convert("L"), dtype=np.float64)
    # the central 256 x 256 at native resolution: scaling would blur away the finest patterns
    h, w = grey.shape
    top, left = max(0, (h - _SIDE) // 2), max(0, (w - _SIDE) // 2)
    g = grey[top:top + _SIDE, left:left + _SIDE]
    g = g - g.mean()
    h, w = g.shape
    window = np.outer(_hann(h), _hann(w))
    spec = np.abs(np.fft.fftshift(np.fft.fft2(g * window)))
    fy = (np.arange(h) - h // 2)[:, None] / h
    fx = (np.arange(w) - w // 2)[None, :] / w
    radius = np.sqrt(fx ** 2 + fy ** 2)
    band = (radius >= 0.12) & (radius <= 0.45)
    band &= (np.abs(fx) > 2.5 / w) & (np.abs(fy) > 2.5 / h)
    near_x = np.abs(fx * 8 - np.round(fx * 8)) * w / 8 <= 1.5
    near_y = np.abs(fy * 8 - np.round(fy * 8)) * h / 8 <= 1.5
    band &= ~(near_x & near_y)
    if not band.any():
        return 0.0
    # whiten: divide by the median magnitude at the same radius (natural images fall off as 1/f)
    rings = np.minimum((radius * 100).astype(int), 100)
    medians = np.ones(101)
    for r in np.unique(rings[band]):
        medians[r] = float(np.median(spec[band & (rings == r)])) or 1e-9
    ratio = spec[band] / medians[rings[band]]
    return float(np.log10(float(ratio.max())))


class MoireModel:
    """Attack score from moire: the largest :func:`moire_peak` of the burst, mapped to [0, 1]
    linearly between ``low`` (score 0) and ``high`` (score 1); the default threshold 0.5 refuses a
    peak of 1.3 or more."""

    name = "trustface-moire"
    version = "1"

    def __init__(self, threshold: float = 0.5, low: float = 1.0, high: float = 1.6):
        self.threshold, self.low, self.high = threshold, low, high

    def score(self, frames: Sequence[np.ndarray]) -> float:
        if not frames:
            return 0.0
        peak = max(moire_peak(f) for f in frames)
        return float(np.clip((peak - self.low) / (self.high - self.low), 0.0, 1.0))


_DEFAULT: PadModel | None = MoireModel()


def default_model() -> PadModel | None:
    """The PAD model bursts are checked with when the caller names none: :class:`MoireModel` unless
    :func:`set_default_model` chose another (or None: no PAD model)."""
    return _DEFAULT


def set_default_model(model: PadModel | None) -> None:
    global _DEFAULT
    if model is not None and not isinstance(model, PadModel):
        raise TypeError("a PAD model has name, version, threshold and score(frames)")
    _DEFAULT = model
